"""Forms of the operator's pages. They check input; runs/services.py does the work."""

from __future__ import annotations

import json
from decimal import Decimal

from django import forms
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from evalbuilder.forms import RecordsField
from occupations.models import Suite
from runs.cron import parse_cron
from runs.models import ModelEndpoint, Schedule

JSON_KINDS = {
    list: "a list",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "true or false",
    type(None): "null",
}

# An environment variable's name, so that a pasted key ("sk-...") is refused, never stored.
ENV_NAME = RegexValidator(
    r"^[A-Za-z_][A-Za-z0-9_]*$",
    "Give the name of the environment variable (letters, digits and _), not the key itself: "
    "keys are never stored here.",
)


def budget_field(**kwargs) -> forms.DecimalField:
    return forms.DecimalField(
        max_digits=12,
        decimal_places=4,
        min_value=Decimal("0"),
        required=False,
        **kwargs,
    )


def samples_field(**kwargs) -> forms.IntegerField:
    return forms.IntegerField(min_value=1, max_value=100, label="Samples per task", **kwargs)


class SuiteChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Suite) -> str:
        return f"{obj.name} ({obj.slug})"


class EndpointsField(RecordsField):
    widget = forms.CheckboxSelectMultiple

    def label_from_instance(self, obj: ModelEndpoint) -> str:
        inactive = "" if obj.is_active else ", inactive"
        return f"{obj}: {obj.model_id}{inactive}"


def endpoint_formfield(field, **kwargs) -> forms.Field | None:
    if isinstance(field, models.URLField):
        kwargs["assume_scheme"] = "https"  # a server address typed without a scheme
    return field.formfield(**kwargs)


class ModelEndpointForm(forms.ModelForm):
    """Register or edit a model endpoint; parameters are typed as JSON text."""

    parameters = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text=ModelEndpoint._meta.get_field("parameters").help_text,
    )

    class Meta:
        model = ModelEndpoint
        fields = [
            "display_name",
            "slug",
            "provider",
            "model_id",
            "family",
            "lab",
            "release_date",
            "base_url",
            "api_key_env",
            "parameters",
            "input_price_per_mtok",
            "output_price_per_mtok",
            "max_concurrency",
            "is_active",
        ]
        labels = {
            "slug": "Short name",
            "model_id": "Model id",
            "base_url": "Base URL",
            "api_key_env": "API key environment variable",
            "input_price_per_mtok": "Input price per million tokens",
            "output_price_per_mtok": "Output price per million tokens",
            "is_active": "Active",
        }
        help_texts = {
            "slug": "Used in URLs and in manage.py run_suite --model.",
            "api_key_env": "The name of the environment variable that holds the key, e.g. "
            "OPENAI_API_KEY; blank for the provider's default. The key itself is never "
            "stored: set it in the workers' environment.",
        }
        widgets = {"release_date": forms.DateInput(attrs={"type": "date"})}
        formfield_callback = endpoint_formfield

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["api_key_env"].validators.append(ENV_NAME)
        if not self.is_bound:
            self.initial["parameters"] = json.dumps(
                self.instance.parameters or {}, indent=2, sort_keys=True
            )
        if self.instance.provider != ModelEndpoint.Provider.IMPORTED:
            # Imported results come in through an eval log import, never from this form.
            self.fields["provider"].choices = [
                choice
                for choice in self.fields["provider"].choices
                if choice[0] != ModelEndpoint.Provider.IMPORTED
            ]
        if self.instance.pk and self.instance.runs.exists():
            # Results already measured belong to this provider and model id.
            for name in ("provider", "model_id"):
                field = self.fields[name]
                field.disabled = True
                field.help_text = "Fixed once the model has runs: register a new model instead."

    def clean_parameters(self) -> dict:
        text = self.cleaned_data["parameters"].strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(
                f"The parameters are not valid JSON: {error.msg} "
                f"(line {error.lineno}, column {error.colno})."
            ) from None
        if not isinstance(value, dict):
            raise forms.ValidationError(
                f'The parameters must be a JSON object, such as {{"temperature": 0.2}}, '
                f"not {JSON_KINDS.get(type(value), 'that')}."
            )
        return value


class RegisterModelForm(ModelEndpointForm):
    """A new model endpoint and, if asked, its first run."""

    run_suite = SuiteChoiceField(
        queryset=Suite.objects.order_by("name"),
        required=False,
        label="Run a suite on it now",
        empty_label="Do not run it now",
        help_text="Preselected: the suite of the latest enabled schedule (else the newest suite).",
    )
    samples_per_task = samples_field(initial=1)
    budget = budget_field(help_text="Cost cap of that run; blank for no cap.")


class ScheduleForm(forms.Form):
    name = forms.CharField(max_length=200)
    suite = SuiteChoiceField(queryset=Suite.objects.order_by("name"))
    endpoints = EndpointsField(
        queryset=ModelEndpoint.objects.none(),
        label="Models",
        help_text="Inactive models are skipped when the schedule fires.",
    )
    cron = forms.CharField(
        max_length=100,
        initial="0 2 * * 1",
        label="When (cron)",
        help_text="Five fields: minute hour day-of-month month day-of-week, in the server's "
        "time zone. '0 2 * * 1' is 02:00 every Monday.",
    )
    samples_per_task = samples_field(initial=3)
    budget_per_run = budget_field(
        label="Budget per run", help_text="Cost cap of each run it starts; blank for no cap."
    )
    use_batch = forms.BooleanField(
        required=False,
        label="Use the provider's batch API",
        help_text="Half price; answers come within 24 hours. Simulated models sample live, "
        "and held-out tasks too unless the installation allows them in batches.",
    )
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, schedule: Schedule | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.schedule = schedule
        # A schedule's inactive models stay choosable, so saving it does not drop them.
        held = schedule.endpoints.values("pk") if schedule is not None else []
        self.fields["endpoints"].queryset = ModelEndpoint.objects.filter(
            Q(is_active=True) | Q(pk__in=held)
        ).exclude(provider=ModelEndpoint.Provider.IMPORTED)

    @classmethod
    def initial_for(cls, schedule: Schedule) -> dict:
        return {
            "name": schedule.name,
            "suite": schedule.suite,
            "endpoints": list(schedule.endpoints.all()),
            "cron": schedule.cron,
            "samples_per_task": schedule.samples_per_task,
            "budget_per_run": schedule.budget_per_run,
            "use_batch": schedule.use_batch,
            "enabled": schedule.enabled,
        }

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        others = Schedule.objects.filter(name=name)
        if self.schedule is not None:
            others = others.exclude(pk=self.schedule.pk)
        if others.exists():
            raise forms.ValidationError("Another schedule has this name.")
        return name

    def clean_cron(self) -> str:
        cron = " ".join(self.cleaned_data["cron"].split())
        try:
            parse_cron(cron)
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None
        return cron


class RunForm(forms.Form):
    """A one-off run of a suite on one or more models."""

    suite = SuiteChoiceField(queryset=Suite.objects.order_by("name"))
    endpoints = EndpointsField(
        queryset=ModelEndpoint.objects.filter(is_active=True).exclude(
            provider=ModelEndpoint.Provider.IMPORTED
        ),
        label="Models",
        help_text="One run is queued for each model.",
    )
    samples_per_task = samples_field(initial=1)
    budget = budget_field(
        help_text="Cost cap of each run: it pauses when reached, and can be resumed with more. "
        "Blank for no cap."
    )
    fresh_samples = forms.BooleanField(
        required=False,
        label="Fresh samples",
        help_text="Ask the models again even where identical calls were answered before "
        "(otherwise those answers are reused at no cost).",
    )
    use_batch = forms.BooleanField(
        required=False,
        label="Use the provider's batch API",
        help_text="Half price; answers come within 24 hours. Simulated models sample live, "
        "and held-out tasks too unless the installation allows them in batches.",
    )


class ResumeForm(forms.Form):
    budget = budget_field(label="New budget", help_text="Blank keeps the current budget.")
