"""Forms of the expert grading pages. They check input; graders/experts.py does the work."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django import forms

from graders.experts import COMMENT_MAX_LENGTH, ExpertVerdict, enqueueable_runs
from graders.models import Grader
from occupations.models import RubricCriterion
from runs.models import Run


class RunChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Run) -> str:
        return (
            f"#{obj.pk}: {obj.suite.name} on {obj.endpoint}, "
            f"{obj.created_at:%Y-%m-%d} ({obj.done} finished samples)"
        )


class EnqueueForm(forms.Form):
    """Add samples of one run to a human grader's queue."""

    run = RunChoiceField(
        queryset=Run.objects.none(), help_text="Finished samples are drawn from this run."
    )
    count = forms.IntegerField(
        label="Number of samples",
        min_value=1,
        max_value=100_000,
        required=False,
        help_text="Drawn at random; blank queues every finished sample not queued yet.",
    )

    def __init__(self, *args, grader: Grader, **kwargs) -> None:
        # One form per grader on the same page: ids differ, field names stay plain.
        kwargs.setdefault("auto_id", f"id_%s_{grader.pk}")
        super().__init__(*args, **kwargs)
        self.grader = grader
        self.fields["run"].queryset = enqueueable_runs()


@dataclass(frozen=True)
class CriterionRow:
    """One rubric criterion with its verdict box and comment box, as the page lays it out."""

    number: int
    criterion: RubricCriterion
    met: forms.BoundField
    comment: forms.BoundField


class VerdictsForm(forms.Form):
    """A verdict (check box) and an optional comment per criterion, and an overall comment.

    A box left unticked means "not met" (for a negative criterion: the undesirable
    behaviour is absent), so every criterion always gets a verdict.
    """

    comment = forms.CharField(
        label="Overall comment",
        required=False,
        max_length=COMMENT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Optional: anything about the output as a whole.",
    )

    def __init__(
        self,
        *args,
        criteria: list[RubricCriterion],
        initial_verdicts: dict[int, bool] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.criteria = criteria
        initial_verdicts = initial_verdicts or {}
        for number, criterion in enumerate(criteria, start=1):
            self.fields[f"met_{criterion.pk}"] = forms.BooleanField(
                required=False,
                initial=initial_verdicts.get(criterion.pk, False),
                label=(
                    "The undesirable behaviour is present"
                    if criterion.points < 0
                    else "The output meets this criterion"
                ),
            )
            self.fields[f"comment_{criterion.pk}"] = forms.CharField(
                label=f"Comment on criterion {number}",
                required=False,
                max_length=COMMENT_MAX_LENGTH,
                widget=forms.Textarea(attrs={"rows": 2}),
            )

    def rows(self) -> Iterator[CriterionRow]:
        for number, criterion in enumerate(self.criteria, start=1):
            yield CriterionRow(
                number,
                criterion,
                self[f"met_{criterion.pk}"],
                self[f"comment_{criterion.pk}"],
            )

    def verdicts(self) -> dict[int, ExpertVerdict]:
        """The cleaned verdicts, by criterion id."""
        data = self.cleaned_data
        return {
            c.pk: ExpertVerdict(met=data[f"met_{c.pk}"], comment=data[f"comment_{c.pk}"])
            for c in self.criteria
        }
