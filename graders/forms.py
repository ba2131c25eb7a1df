"""Forms of the grader pages. They check input; graders/regrading.py does the work."""

from __future__ import annotations

from django import forms

from evalbuilder.forms import RecordsField
from graders import prompts
from graders.models import Grader
from graders.regrading import EXPERT_SETTINGS, has_changes, regradable_runs
from runs.models import ModelEndpoint, Run


def prompt_versions() -> list[str]:
    """Judge prompt versions this installation can send, the current one first; a grader
    asking for another one would leave every grade unscored."""
    return sorted(prompts.PROMPTS, key=lambda v: (v != prompts.PROMPT_VERSION, v))


class JudgeChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: ModelEndpoint) -> str:
        return f"{obj} ({obj.model_id}{', ' + obj.family if obj.family else ''})"


class JudgesField(RecordsField):
    widget = forms.CheckboxSelectMultiple

    def label_from_instance(self, obj: ModelEndpoint) -> str:
        return f"{obj} ({obj.model_id})"


class GraderForm(forms.ModelForm):
    """A grader's configuration: a new grader, or a grader still without grades."""

    prompt_version = forms.ChoiceField(
        label="Judge prompt version",
        help_text="The prompt the judge is sent; validation results hold for this version only.",
    )

    class Meta:
        model = Grader
        fields = [
            "name",
            "kind",
            "judge",
            "extra_judges",
            "mode",
            "prompt_version",
            "allow_same_family",
            "prefilter",
            "grades_per_sample",
        ]
        labels = {
            "judge": "Judge model",
            "extra_judges": "More judges (ensemble)",
            "allow_same_family": "Let judges grade models of their own family",
            "prefilter": "Pre-filter empty and refusal-only answers",
            "grades_per_sample": "Expert grades per sample",
        }
        field_classes = {"judge": JudgeChoiceField, "extra_judges": JudgesField}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["prompt_version"].choices = [(v, v) for v in prompt_versions()]
        self.fields["judge"].required = False
        self.fields["judge"].empty_label = "None (human grader)"
        # A model that holds imported results has no API to call, so it cannot judge.
        for name in ("judge", "extra_judges"):
            field = self.fields[name]
            field.queryset = field.queryset.exclude(provider=ModelEndpoint.Provider.IMPORTED)
        if "grades_per_sample" in self.fields:
            self.fields["grades_per_sample"].min_value = 1
            self.fields["grades_per_sample"].widget.attrs["min"] = 1

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        others = Grader.objects.filter(name=name)
        if self.instance.pk:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise forms.ValidationError(
                "A grader has this name already: make a new version of it instead."
            )
        return name

    def clean(self) -> dict:
        data = super().clean()
        kind = data.get("kind")
        judge = data.get("judge")
        extra = list(data.get("extra_judges") or [])
        if kind == Grader.Kind.HUMAN:
            if extra:
                self.add_error("extra_judges", "A human grader has no judges.")
        elif kind == Grader.Kind.LLM_RUBRIC and judge is not None and judge in extra:
            self.add_error("extra_judges", f"{judge} is the main judge already.")
        return data

    def changes(self) -> dict[str, object]:
        """The configuration as regrading.new_version and change_grader take it."""
        data = self.cleaned_data
        changes: dict[str, object] = {f: data[f] for f in Grader.CONFIG_FIELDS if f in data}
        changes["extra_judges"] = list(data.get("extra_judges") or [])
        return changes


class GraderVersionForm(GraderForm):
    """The configuration of an LLM grader's next version: the name stays. Expert grades per
    sample belong to human graders, which have no versions (ExpertSettingsForm)."""

    class Meta(GraderForm.Meta):
        fields = [f for f in GraderForm.Meta.fields if f not in ("name", "grades_per_sample")]

    def __init__(self, *args, current: Grader, **kwargs) -> None:
        kwargs.setdefault("initial", self.initial_for(current))
        super().__init__(*args, **kwargs)
        self.current = current

    @staticmethod
    def initial_for(grader: Grader) -> dict:
        initial: dict[str, object] = {f: getattr(grader, f) for f in Grader.CONFIG_FIELDS}
        initial["judge"] = grader.judge_id
        initial["extra_judges"] = [e.pk for e in grader.extra_judges.all()]
        if grader.prompt_version not in prompt_versions():
            initial["prompt_version"] = prompts.PROMPT_VERSION
        return initial

    def _post_clean(self) -> None:
        # The version is built by regrading.new_version, which validates the whole record.
        pass

    def clean(self) -> dict:
        data = super().clean()
        if data.get("kind") == Grader.Kind.LLM_RUBRIC and data.get("judge") is None:
            self.add_error("judge", "An LLM rubric grader needs a judge model.")
        if data.get("kind") == Grader.Kind.HUMAN and data.get("judge") is not None:
            self.add_error("judge", "A human grader has no judge model.")
        if not self.errors and not has_changes(self.current, self.changes()):
            raise forms.ValidationError(
                "Nothing changed: a new version needs a different configuration."
            )
        return data


class ExpertSettingsForm(forms.Form):
    """What may change of a human grader, graded or not (regrading.EXPERT_SETTINGS)."""

    grades_per_sample = forms.IntegerField(
        label="Expert grades per sample",
        min_value=1,
        help_text="Independent expert grades each queued sample takes, from different experts.",
    )
    is_active = forms.BooleanField(
        required=False,
        label="Collects expert grades",
        help_text="Only an active human grader takes new samples into its queue.",
    )

    def __init__(self, *args, current: Grader, **kwargs) -> None:
        kwargs.setdefault("initial", {f: getattr(current, f) for f in EXPERT_SETTINGS})
        super().__init__(*args, **kwargs)

    def changes(self) -> dict[str, object]:
        """The settings as regrading.change_grader takes them."""
        return {f: self.cleaned_data[f] for f in EXPERT_SETTINGS}


class RunsField(RecordsField):
    widget = forms.CheckboxSelectMultiple

    def label_from_instance(self, obj: Run) -> str:
        status = obj.get_status_display().lower()
        return f"#{obj.pk} {obj.endpoint.display_name} on {obj.suite.name} ({status})"


class RegradeForm(forms.Form):
    runs = RunsField(
        queryset=Run.objects.none(),
        label="Runs to grade",
        help_text="Their done samples that this version has not graded yet are queued.",
    )
    only_unscored = forms.BooleanField(
        required=False,
        label="Only grade again what this version left unscored",
        help_text="Its unscored grades of these runs (judge failures) are removed and graded "
        "again.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["runs"].queryset = regradable_runs()
