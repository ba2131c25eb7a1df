"""Grader pages: the list, a new grader, one grader with its versions, costs and regrading.

Viewing needs graders.view_grader; creating, new versions (for a human grader, its expert
settings) and regrading need graders.add_grader and graders.change_grader (operators have
them).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from graders import costs, regrading, validation
from graders.forms import ExpertSettingsForm, GraderForm, GraderVersionForm, RegradeForm
from graders.models import Grade, Grader

PROGRESS_RUNS = 50
"""Runs shown in a grader's progress table and regrade form, newest first."""


def _add_errors(form, error: ValidationError) -> None:
    """Put a service's field errors on the form's fields where the form has them."""
    for field, problems in error.message_dict.items():
        form.add_error(field if field in form.fields else None, problems)


@login_required
@permission_required("graders.view_grader", raise_exception=True)
def grader_list(request):
    graders = list(
        validation.with_latest_validation(
            Grader.objects.select_related("judge", "superseded_by")
            .prefetch_related("extra_judges")
            .annotate(
                grade_count=Count("grades", distinct=True),
                unscored_count=Count(
                    "grades", filter=Q(grades__status=Grade.Status.UNSCORED), distinct=True
                ),
            )
        ).order_by("name", "-version")
    )
    judge_costs = costs.grader_costs(graders)
    rows = [(grader, judge_costs.get(grader.pk)) for grader in graders]
    return render(request, "graders/graders/grader_list.html", {"rows": rows})


@login_required
@permission_required(["graders.add_grader"], raise_exception=True)
def grader_create(request):
    form = GraderForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        grader = form.save()
        messages.success(request, f"Grader {grader.label} created.")
        return redirect("graders:grader", pk=grader.pk)
    return render(request, "graders/graders/grader_form.html", {"form": form, "grader": None})


@login_required
@permission_required("graders.view_grader", raise_exception=True)
def grader_detail(request, pk: int):
    grader = get_object_or_404(
        Grader.objects.select_related("judge", "supersedes").prefetch_related("extra_judges"),
        pk=pk,
    )
    versions = (
        Grader.objects.filter(name=grader.name)
        .select_related("judge")
        .annotate(grade_count=Count("grades"))
        .order_by("-version")
    )
    runs = regrading.regradable_runs()[:PROGRESS_RUNS]
    progress = regrading.grading_progress(grader, runs)
    form = RegradeForm()
    form.fields["runs"].queryset = regrading.regradable_runs().filter(
        pk__in=[row.run.pk for row in progress]
    )
    return render(
        request,
        "graders/graders/grader_detail.html",
        {
            "grader": grader,
            "versions": versions,
            "latest": versions[0] if versions else grader,
            "cost": costs.grader_cost(grader),
            "savings": costs.batching_savings(grader),
            "progress": progress,
            "form": form,
            "validation": validation.latest_validation(grader),
            "can_change": request.user.has_perms(["graders.add_grader", "graders.change_grader"]),
        },
    )


@login_required
@permission_required(["graders.add_grader", "graders.change_grader"], raise_exception=True)
def grader_new_version(request, pk: int):
    grader = get_object_or_404(Grader.objects.prefetch_related("extra_judges"), pk=pk)
    latest = regrading.latest_version(grader)
    if latest.pk != grader.pk:
        messages.info(
            request, f"{grader.label} was replaced: the new version starts from {latest.label}."
        )
        return redirect("graders:new_version", pk=latest.pk)
    # A human grader has no grading configuration to version: its page edits its settings.
    form_class = ExpertSettingsForm if grader.is_human else GraderVersionForm
    form = form_class(request.POST or None, current=grader)
    if request.method == "POST" and form.is_valid():
        try:
            saved, is_new = regrading.change_grader(grader, form.changes(), request.user)
        except ValidationError as error:
            _add_errors(form, error)
        else:
            if is_new:
                messages.success(
                    request,
                    f"{saved.label} replaces {grader.label}: new samples are graded by it. "
                    "Grade past runs again below to compare.",
                )
            elif saved.is_human:
                messages.success(
                    request,
                    f"{saved.label} now takes {saved.grades_per_sample} expert grades per "
                    "sample; its queue and grades stay with it.",
                )
            else:
                messages.success(
                    request, f"{saved.label} had graded nothing yet, so it was changed in place."
                )
            return redirect("graders:grader", pk=saved.pk)
    template = "expert_settings_form.html" if grader.is_human else "grader_form.html"
    return render(
        request,
        f"graders/graders/{template}",
        {"form": form, "grader": grader, "is_graded": grader.grades.exists()},
    )


@login_required
@permission_required(["graders.add_grader", "graders.change_grader"], raise_exception=True)
@require_POST
def regrade(request, pk: int):
    grader = get_object_or_404(Grader, pk=pk)
    form = RegradeForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(
            f"{form.fields[name].label}: {error}" if name in form.fields else error
            for name, errors in form.errors.items()
            for error in errors
        )
        messages.error(request, f"Nothing was queued: {problems}")
        return redirect("graders:grader", pk=grader.pk)
    try:
        queued = regrading.regrade(
            grader, form.cleaned_data["runs"], only_unscored=form.cleaned_data["only_unscored"]
        )
    except ValidationError as error:
        messages.error(request, f"Nothing was queued: {' '.join(error.messages)}")
        return redirect("graders:grader", pk=grader.pk)
    runs = ", ".join(f"#{pk}" for pk in queued.runs)
    if queued.samples:
        removed = (
            f" after removing {queued.deleted_unscored} unscored grades"
            if queued.deleted_unscored
            else ""
        )
        messages.success(
            request,
            f"{queued.samples} samples of run(s) {runs} queued for {grader.label}{removed}.",
        )
    else:
        messages.info(request, f"{grader.label} has nothing left to grade in run(s) {runs}.")
    return redirect("graders:grader", pk=grader.pk)
