"""A grader's validation against experts: the latest figures, their history, a CSV export."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods

from audit.trail import record_held_out_accesses
from evalbuilder.csv_cells import spreadsheet_safe
from evalbuilder.downloads import file_response
from graders import validation as validation_service
from graders.models import Grader, GraderValidation
from occupations import permissions
from occupations.models import RubricCriterion, Task


class ValidationForm(forms.Form):
    experts = forms.ModelChoiceField(
        queryset=Grader.objects.filter(kind=Grader.Kind.HUMAN).order_by("name", "-version"),
        label="Expert grades to compare with",
        help_text="The human grader whose independent expert grades are the reference.",
        empty_label=None,
    )


@dataclass(frozen=True)
class BreakdownRow:
    """One group of a breakdown as shown: its figures and a label the reader may see."""

    key: str
    label: str
    tag: str
    items: int
    """Items with two or more expert verdicts, which both comparisons cover."""
    grader: dict
    experts: dict
    all_items: int
    """Every expert-graded item of the group."""
    grader_all_items: dict
    """Grader vs experts on every item: context, not part of the verdict."""

    @property
    def comparisons(self) -> tuple[dict, dict]:
        """Grader vs experts, then experts vs experts: the order of the table's columns."""
        return self.grader, self.experts


@dataclass(frozen=True)
class Breakdown:
    level: str
    """Machine name of the breakdown, as in the CSV: overall, tag, job_category, criterion."""
    title: str
    group_heading: str
    rows: list[BreakdownRow]


def _shown(comparison: dict) -> dict:
    """The stored figures of one comparison, with the agreement as a percentage to show."""
    share = comparison.get("agreement")
    return {**comparison, "agreement_percent": None if share is None else f"{share * 100:.1f} %"}


def readable_criteria(record: GraderValidation, user) -> tuple[dict[int, str], set[int]]:
    """The label with text of each criterion of `record` the user may read, and the held-out
    tasks among theirs (whose text a page or file showing these labels hands out).

    A criterion of a task the user may not view (a held-out task outside their panels) is
    left out: it is shown by its id and tag only.
    """
    criteria = record.figures.get("by_criterion", [])
    task_ids = {row["task"] for row in criteria}
    visible = set(
        permissions.visible_tasks(user).filter(pk__in=task_ids).values_list("pk", flat=True)
    )
    readable: dict[int, str] = {}
    held_out: set[int] = set()
    for pk, task_id, visibility, title, number, order, text in RubricCriterion.objects.filter(
        pk__in=[row["criterion"] for row in criteria], task_version__task_id__in=visible
    ).values_list(
        "pk",
        "task_version__task_id",
        "task_version__task__visibility",
        "task_version__task__title",
        "task_version__number",
        "order",
        "text",
    ):
        readable[pk] = f"{title} (v{number}), criterion {order}: {text}"
        if visibility == Task.Visibility.HELD_OUT:
            held_out.add(task_id)
    return readable, held_out


def breakdowns(record: GraderValidation, readable: dict[int, str]) -> list[Breakdown]:
    """The stored figures in display order, with criterion text only for the criteria in
    `readable` (readable_criteria)."""
    figures = record.figures
    criteria = figures.get("by_criterion", [])

    def row(group: dict, label: str | None = None, tag: str = "") -> BreakdownRow:
        return BreakdownRow(
            key=str(group["key"]),
            label=label if label is not None else group["label"],
            tag=tag,
            items=group["items"],
            grader=_shown(group["grader"]),
            experts=_shown(group["experts"]),
            all_items=group["all_items"],
            grader_all_items=_shown(group["grader_all_items"]),
        )

    return [
        Breakdown("overall", "Overall", "Criteria", [row(figures["overall"])]),
        Breakdown("tag", "By criterion tag", "Tag", [row(g) for g in figures.get("by_tag", [])]),
        Breakdown(
            "job_category",
            "By job category",
            "Job category",
            [
                row(g, g["label"] if g["key"] == "none" else f"{g['key']} {g['label']}")
                for g in figures.get("by_job_category", [])
            ],
        ),
        Breakdown(
            "criterion",
            "By criterion (lowest grader agreement first)",
            "Criterion",
            [
                row(
                    g,
                    readable.get(g["criterion"], f"Criterion #{g['criterion']} of a held-out task"),
                    validation_service.tag_label(g["tag"]),
                )
                for g in criteria
            ],
        ),
    ]


def _grader_for(pk: int) -> Grader:
    return get_object_or_404(Grader, pk=pk)


def _shown_breakdowns(request, record: GraderValidation, what: str) -> list[Breakdown]:
    """The breakdowns the user may read; the held-out tasks whose criterion text they show
    are recorded in the trail, one event each."""
    readable, held_out = readable_criteria(record, request.user)
    record_held_out_accesses(request, Task.objects.filter(pk__in=held_out), what)
    return breakdowns(record, readable)


@login_required
@permission_required("graders.view_gradervalidation", raise_exception=True)
@require_http_methods(["GET", "POST"])
def validation(request, pk: int):
    """The latest validation with its breakdowns, past validations, and a form for a new one."""
    grader = _grader_for(pk)
    may_validate = request.user.has_perm("graders.add_gradervalidation")
    latest = validation_service.latest_validation(grader)
    form = ValidationForm(initial={"experts": latest.experts_id} if latest else None)
    if request.method == "POST":
        if not may_validate:
            raise PermissionDenied
        if grader.is_human:
            messages.error(
                request, "Human expert graders are the reference; they are not validated."
            )
            return redirect("graders:validation", pk=grader.pk)
        form = ValidationForm(request.POST)
        if form.is_valid():
            experts = form.cleaned_data["experts"]
            record = validation_service.validate(grader, experts, request.user)
            messages.success(
                request, f"Validated {grader.label} against the grades of {experts.label}."
            )
            return redirect("graders:validation", pk=record.grader_id)
    history = grader.validations.select_related("experts", "computed_by").order_by(
        *validation_service.LATEST_FIRST
    )[:50]
    return render(
        request,
        "graders/validation.html",
        {
            "grader": grader,
            "latest": latest,
            "breakdowns": _shown_breakdowns(request, latest, "grader validation page")
            if latest
            else [],
            "history": history,
            "form": form,
            "may_validate": may_validate and not grader.is_human,
            "gate": validation_service.release_gate(grader),
            "validation_required": settings.EVALBUILDER_RELEASE_REQUIRES_VALIDATION,
        },
    )


CSV_COLUMNS = [
    "grader",
    "reference",
    "computed_at",
    "level",
    "group",
    "label",
    "tag",
    "items",
    "grader_pairs",
    "grader_agreement",
    "grader_kappa",
    "grader_macro_f1",
    "expert_pairs",
    "expert_agreement",
    "expert_kappa",
    "expert_macro_f1",
    "all_items",
    "all_items_grader_pairs",
    "all_items_grader_agreement",
    "all_items_grader_kappa",
    "all_items_grader_macro_f1",
]


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


@login_required
@permission_required("graders.view_gradervalidation", raise_exception=True)
@require_GET
def validation_export(request, pk: int):
    """The latest validation as a tidy CSV: one row per breakdown level and group."""
    grader = _grader_for(pk)
    latest = validation_service.latest_validation(grader)
    if latest is None:
        raise Http404("This grader has not been validated yet.")
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(CSV_COLUMNS)
    computed_at = latest.computed_at.isoformat(timespec="seconds")
    shown = _shown_breakdowns(request, latest, "export of the grader validation as CSV")
    for breakdown in shown:
        for row in breakdown.rows:
            writer.writerow(
                [
                    spreadsheet_safe(grader.label),
                    spreadsheet_safe(latest.experts.label),
                    computed_at,
                    breakdown.level,
                    spreadsheet_safe(row.key),
                    spreadsheet_safe(row.label),
                    spreadsheet_safe(row.tag),
                    row.items,
                    row.grader["items"],
                    _number(row.grader["agreement"]),
                    _number(row.grader["kappa"]),
                    _number(row.grader["macro_f1"]),
                    row.experts["items"],
                    _number(row.experts["agreement"]),
                    _number(row.experts["kappa"]),
                    _number(row.experts["macro_f1"]),
                    row.all_items,
                    row.grader_all_items["items"],
                    _number(row.grader_all_items["agreement"]),
                    _number(row.grader_all_items["kappa"]),
                    _number(row.grader_all_items["macro_f1"]),
                ]
            )
    return file_response(
        table.getvalue(),
        filename=f"validation-{slugify(grader.name)}-v{grader.version}.csv",
        content_type="text/csv; charset=utf-8",
    )
