"""The GET forms of the report pages. They only display choices: what a page shows is read
from the query string by ReportFilters.from_query (and national_options), which ignore
unknown values, so a form is never bound and never shows an error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms

from occupations.models import Occupation, Suite, Taxonomy
from reports.selectors import ReportFilters, primary_key, report_graders
from runs.models import ModelEndpoint

SUCCESS_LEVELS = (50, 80)
"""Success levels (percent) the national index may be computed at."""
MIN_TASKS = (1, 2, 3, 5, 10, 20)
"""Published tasks an occupation may need before it counts as covered."""
DEFAULT_SUCCESS, DEFAULT_MIN_TASKS = 50, 5


def national_options(query: Mapping[str, Any]) -> tuple[int, int]:
    """(success level in percent, minimum published tasks) from ?success=&min_tasks=;
    the defaults for a missing or unknown value."""
    success = primary_key(query.get("success"))
    min_tasks = primary_key(query.get("min_tasks"))
    return (
        success if success in SUCCESS_LEVELS else DEFAULT_SUCCESS,
        min_tasks if min_tasks in MIN_TASKS else DEFAULT_MIN_TASKS,
    )


def reported_models():
    """Models that have been run, for the comparison pickers (judges that never ran are not)."""
    return (
        ModelEndpoint.objects.filter(runs__isnull=False)
        .distinct()
        .order_by("release_date", "display_name")
    )


class ReportFilterForm(forms.Form):
    """Suite, taxonomy and its level, release dates, model families and grader version. The
    taxonomy is offered only where there are two or more."""

    grader = forms.ChoiceField(label="Grader version", required=False)
    suite = forms.ChoiceField(label="Suite", required=False)
    taxonomy = forms.ChoiceField(label="Taxonomy", required=False)
    level = forms.ChoiceField(label="Occupations at", required=False)
    released_from = forms.DateField(
        label="Models released from",
        required=False,
        widget=forms.DateInput({"type": "date"}, format="%Y-%m-%d"),
    )
    released_to = forms.DateField(
        label="to", required=False, widget=forms.DateInput({"type": "date"}, format="%Y-%m-%d")
    )
    family = forms.MultipleChoiceField(
        label="Model families", required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, filters: ReportFilters, **kwargs):
        super().__init__(
            initial={
                "grader": filters.grader.pk if filters.grader else "",
                "suite": filters.suite.pk if filters.suite else "",
                "taxonomy": filters.taxonomy.pk if filters.taxonomy else "",
                "level": filters.level or "",
                "released_from": filters.released_from,
                "released_to": filters.released_to,
                "family": list(filters.families),
            },
            **kwargs,
        )
        self.fields["grader"].choices = [
            (g.pk, f"{g.label} ({g.prompt_version}{'' if g.is_active else ', retired'})")
            for g in report_graders()
        ]
        self.fields["suite"].choices = [("", "Every suite")] + [
            (s.pk, s.name) for s in Suite.objects.order_by("name")
        ]
        taxonomies = [(t.pk, str(t)) for t in Taxonomy.objects.order_by("name", "version")]
        if len(taxonomies) >= 2:
            self.fields["taxonomy"].choices = taxonomies
        else:
            del self.fields["taxonomy"]
        self.fields["level"].choices = [("", "Detailed (default)")] + [
            (value, label)
            for value, label in Occupation.Level.choices
            if value != Occupation.Level.DETAILED
        ]
        families = (
            ModelEndpoint.objects.exclude(family="")
            .values_list("family", flat=True)
            .distinct()
            .order_by("family")
        )
        self.fields["family"].choices = [(f, f) for f in families]

    def add_prefix(self, field_name: str) -> str:
        """The query string keeps the names ReportFilters reads (?from=&to=)."""
        return {"released_from": "from", "released_to": "to"}.get(field_name, field_name)


class NationalFilterForm(ReportFilterForm):
    """The report filters, and the success level and coverage rule of the national index."""

    success = forms.TypedChoiceField(
        label="Success level",
        coerce=int,
        choices=[(p, f"{p} %") for p in SUCCESS_LEVELS],
        required=False,
    )
    min_tasks = forms.TypedChoiceField(
        label="Published tasks for coverage",
        coerce=int,
        choices=[(n, f"at least {n}") for n in MIN_TASKS],
        required=False,
    )

    def __init__(self, filters: ReportFilters, success: int, min_tasks: int, **kwargs):
        super().__init__(filters, **kwargs)
        self.initial.update(success=success, min_tasks=min_tasks)
