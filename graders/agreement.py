"""Agreement between two raters' yes/no verdicts: pure functions, no database.

Every function takes a sequence of (label, reference) pairs of booleans: `label` is the
verdict under test (a grader's), `reference` the one taken as truth (an expert's). "True"
means the criterion was met (for a negative criterion: the undesirable behaviour was
present). All three measures are symmetric: swapping label and reference in every pair
leaves them unchanged, so comparing experts with each other needs no choice of a "truth".

Degenerate cases, decided once here:
- No pairs: nothing can be measured; the functions raise ValueError, and `measure`
  returns figures of None.
- Cohen's kappa when both raters gave one and the same verdict throughout: the chance
  agreement is 1 and the usual formula is 0/0. The raters agree perfectly, so kappa is 1.
  (When each rater is constant but they differ, the formula is defined and gives 0.)
- Macro-F1 when one class ("met" or "not met") appears in neither rater's verdicts: that
  class is left out of the mean, as it carries no evidence. This only happens when both
  raters said the other verdict throughout, so every pair agrees and macro-F1 is 1;
  counting the absent class as an F1 of 1 would give the same answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

VerdictPair = tuple[bool, bool]
"""(label, reference): the verdict under test and the verdict taken as truth."""


@dataclass(frozen=True)
class Agreement:
    """How far two raters agree over a set of verdict pairs."""

    items: int
    """How many (label, reference) verdict pairs were compared."""
    agreement: float | None
    """Share of pairs where both verdicts are the same; None without pairs."""
    kappa: float | None
    """Cohen's kappa: agreement beyond what the raters' base rates give by chance."""
    macro_f1: float | None
    """Mean of the F1 of the "met" and the "not met" class, the reference as truth."""

    def as_dict(self) -> dict[str, int | float | None]:
        return asdict(self)

    @classmethod
    def from_dict(cls, figures: dict) -> Agreement:
        return cls(
            items=int(figures.get("items", 0)),
            agreement=figures.get("agreement"),
            kappa=figures.get("kappa"),
            macro_f1=figures.get("macro_f1"),
        )


@dataclass(frozen=True)
class ConfusionCounts:
    """The four cells of the 2x2 table of label against reference, "met" as positive."""

    both_met: int
    label_only: int
    """Label says met, reference says not met."""
    reference_only: int
    """Label says not met, reference says met."""
    neither: int

    @property
    def total(self) -> int:
        return self.both_met + self.label_only + self.reference_only + self.neither


def confusion(pairs: Sequence[VerdictPair]) -> ConfusionCounts:
    """Count the pairs into the 2x2 table; raises on no pairs."""
    if not pairs:
        raise ValueError("no verdict pairs to compare")
    both = label_only = reference_only = neither = 0
    for label, reference in pairs:
        if label and reference:
            both += 1
        elif label:
            label_only += 1
        elif reference:
            reference_only += 1
        else:
            neither += 1
    return ConfusionCounts(both, label_only, reference_only, neither)


def percent_agreement(pairs: Sequence[VerdictPair]) -> float:
    """Share of pairs where label and reference are the same (0..1, not a percentage)."""
    counts = confusion(pairs)
    return (counts.both_met + counts.neither) / counts.total


def cohens_kappa(pairs: Sequence[VerdictPair]) -> float:
    """Cohen's kappa: (observed - chance agreement) / (1 - chance agreement), in [-1, 1].

    Chance agreement comes from each rater's own share of "met" verdicts. When both raters
    gave one and the same verdict throughout, chance agreement is 1 and kappa is defined
    as 1 (perfect agreement; see the module docstring).
    """
    counts = confusion(pairs)
    n = counts.total
    observed = (counts.both_met + counts.neither) / n
    label_met = (counts.both_met + counts.label_only) / n
    reference_met = (counts.both_met + counts.reference_only) / n
    chance = label_met * reference_met + (1 - label_met) * (1 - reference_met)
    if chance >= 1.0:
        return 1.0
    return (observed - chance) / (1 - chance)


def class_f1(true_positives: int, false_positives: int, false_negatives: int) -> float | None:
    """F1 of one class: 2TP / (2TP + FP + FN); None when the class appears nowhere."""
    denominator = 2 * true_positives + false_positives + false_negatives
    if denominator == 0:
        return None
    return 2 * true_positives / denominator


def macro_f1(pairs: Sequence[VerdictPair]) -> float:
    """Mean F1 of the "met" and the "not met" class, with the reference as truth.

    A class that neither rater used is left out of the mean (see the module docstring).
    """
    counts = confusion(pairs)
    met = class_f1(counts.both_met, counts.label_only, counts.reference_only)
    # For the "not met" class the roles of the off-diagonal cells swap.
    not_met = class_f1(counts.neither, counts.reference_only, counts.label_only)
    present = [f1 for f1 in (met, not_met) if f1 is not None]
    return sum(present) / len(present)


def measure(pairs: Sequence[VerdictPair]) -> Agreement:
    """All three measures of the pairs; figures of None when there are no pairs."""
    if not pairs:
        return Agreement(items=0, agreement=None, kappa=None, macro_f1=None)
    return Agreement(
        items=len(pairs),
        agreement=percent_agreement(pairs),
        kappa=cohens_kappa(pairs),
        macro_f1=macro_f1(pairs),
    )
