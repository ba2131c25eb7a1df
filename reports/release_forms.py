"""Forms of the release pages. They check input and offer choices; reports/releases.py
prepares, approves and corrects releases.

Field names are those of prepare_release and correct, so that a ReleaseError's field
errors land on the field they are about (add_release_errors)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Min, QuerySet
from django.utils import timezone

from evalbuilder.forms import RecordsField
from graders.models import Grader
from occupations.models import Suite, Taxonomy
from reports.models import Release, TaskResult
from reports.selectors import default_grader, default_taxonomy, primary_key, report_graders
from runs.models import ModelEndpoint

DATE_WIDGET = {"type": "date"}
MAX_DISCLOSURE_MIN_TASKS = 1000
"""Highest disclosure threshold the form takes: more tasks than any suite holds."""


def suites_with_results() -> QuerySet[Suite]:
    """Suites some model has graded results on."""
    return Suite.objects.filter(pk__in=TaskResult.objects.values("suite")).order_by("name")


def models_with_results(suite: Suite | None = None, grader: Grader | None = None):
    """Models with graded results (on the suite, by the grader, where given), oldest first."""
    results = TaskResult.objects.all()
    if suite is not None:
        results = results.filter(suite=suite)
    if grader is not None:
        results = results.filter(grader=grader)
    return ModelEndpoint.objects.filter(pk__in=results.values("endpoint")).order_by(
        "release_date", "display_name"
    )


def add_release_errors(form: forms.Form, error: ValidationError) -> None:
    """Put a ReleaseError on the form: on the field it names where the form has that field,
    else above the form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for field, problems in error.message_dict.items():
        form.add_error(field if field in form.fields else None, problems)


class GraderChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Grader) -> str:
        retired = "" if obj.is_active else ", retired"
        return f"{obj.label} ({obj.prompt_version}{retired})"


class ModelsField(RecordsField):
    widget = forms.CheckboxSelectMultiple

    def label_from_instance(self, obj: ModelEndpoint) -> str:
        return f"{obj} (released {obj.release_date:%Y-%m-%d})"


class ReleaseForm(forms.Form):
    """What a new release covers: its series and wording, the suite, grader version, models,
    classification, reference period and disclosure threshold."""

    series = forms.SlugField(
        max_length=80,
        help_text="A short name in lower case with hyphens, such as ai-and-work. The first "
        "release of a series is published as ai-and-work-v1; each correction takes the next "
        "version.",
    )
    title = forms.CharField(max_length=200)
    description = forms.CharField(
        required=False,
        widget=forms.Textarea({"rows": 3}),
        help_text="One or two sentences for catalogues and the cover sheet.",
    )
    suite = forms.ModelChoiceField(
        queryset=Suite.objects.none(), help_text="Suites with graded results."
    )
    grader = GraderChoiceField(
        queryset=Grader.objects.none(),
        label="Grader version",
        help_text="Its scores are the ones published. Official releases may require a grader "
        "that passed validation against experts.",
    )
    endpoints = ModelsField(
        queryset=ModelEndpoint.objects.none(),
        label="Models",
        help_text="Models with graded results. Only those released within the period count.",
    )
    taxonomy = forms.ModelChoiceField(
        queryset=Taxonomy.objects.none(), label="Occupational classification"
    )
    period_start = forms.DateField(
        label="Models released from",
        widget=forms.DateInput(DATE_WIDGET, format="%Y-%m-%d"),
    )
    period_end = forms.DateField(
        label="Models released to",
        widget=forms.DateInput(DATE_WIDGET, format="%Y-%m-%d"),
        help_text="The reference date of the figures.",
    )
    disclosure_min_tasks = forms.IntegerField(
        min_value=1,
        max_value=MAX_DISCLOSURE_MIN_TASKS,
        label="Disclosure threshold (tasks)",
        help_text="Figures based on fewer tasks than this are suppressed and shown as [c].",
    )

    def __init__(self, data: Mapping[str, Any] | None = None, *, query: Mapping[str, Any]):
        """`query` may prefill the suite (?suite=<slug>), grader (?grader=<id>) and models
        (?model=<slug>, repeated), so that a run's page can link here."""
        super().__init__(data)
        self.fields["suite"].queryset = suites_with_results()
        self.fields["grader"].queryset = report_graders()
        self.fields["endpoints"].queryset = models_with_results()
        self.fields["taxonomy"].queryset = Taxonomy.objects.order_by("name", "version")
        if data is None:
            self.initial = self._defaults(query)

    def _defaults(self, query: Mapping[str, Any]) -> dict[str, Any]:
        suites = self.fields["suite"].queryset
        graders = self.fields["grader"].queryset
        suite = suites.filter(slug=query.get("suite", "")).first() or suites.first()
        asked = primary_key(query.get("grader"))
        grader = (graders.filter(pk=asked).first() if asked is not None else None) or (
            default_grader()
        )
        if grader is not None and not graders.filter(pk=grader.pk).exists():
            grader = graders.first()
        slugs = query.getlist("model") if hasattr(query, "getlist") else []
        models = models_with_results()
        chosen = models.filter(slug__in=slugs) if slugs else models_with_results(suite, grader)
        earliest = (chosen if chosen.exists() else models).aggregate(first=Min("release_date"))
        return {
            "suite": suite,
            "grader": grader,
            "endpoints": list(chosen),
            "taxonomy": default_taxonomy(),
            "period_start": earliest["first"],
            "period_end": timezone.localdate(),
            "disclosure_min_tasks": settings.EVALBUILDER_DISCLOSURE_MIN_TASKS,
        }


class CorrectionForm(forms.Form):
    """Why a release is corrected, and optionally the newer grader version to use."""

    correction_reason = forms.CharField(
        label="What is corrected, and why",
        widget=forms.Textarea({"rows": 4}),
        help_text="Published with the new version in its revisions table.",
    )
    grader = GraderChoiceField(
        queryset=Grader.objects.none(),
        required=False,
        label="Grader version",
        empty_label="The same grader version",
        help_text="A newer version of the release's grader, where the correction is a re-grading.",
    )

    def __init__(self, data: Mapping[str, Any] | None = None, *, release: Release):
        super().__init__(data)
        self.fields["grader"].queryset = report_graders().filter(
            name=release.grader.name, version__gt=release.grader.version
        )
