"""Agreement statistics between a grader's and an expert's criterion verdicts."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graders import agreement

T, F = True, False


def pairs_from_table(both: int, label_only: int, reference_only: int, neither: int) -> list:
    """Verdict pairs with the given 2x2 counts (label first, reference second)."""
    return [(T, T)] * both + [(T, F)] * label_only + [(F, T)] * reference_only + [(F, F)] * neither


def test_known_table_gives_hand_computed_figures():
    # 2x2 table: both met 20, grader only 5, expert only 10, neither 15 (n = 50).
    pairs = pairs_from_table(20, 5, 10, 15)
    # Agreement: (20 + 15) / 50 = 0.7.
    assert agreement.percent_agreement(pairs) == pytest.approx(0.7)
    # Grader says met 25/50 = 0.5, expert 30/50 = 0.6.
    # Chance: 0.5 * 0.6 + 0.5 * 0.4 = 0.5; kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4.
    assert agreement.cohens_kappa(pairs) == pytest.approx(0.4)
    # F1 met: 2*20 / (2*20 + 5 + 10) = 40/55 = 8/11.
    # F1 not met: 2*15 / (2*15 + 10 + 5) = 30/45 = 2/3.
    # Macro: (8/11 + 2/3) / 2 = (24/33 + 22/33) / 2 = 23/33.
    assert agreement.macro_f1(pairs) == pytest.approx(23 / 33)
    assert agreement.measure(pairs).as_dict() == pytest.approx(
        {"items": 50, "agreement": 0.7, "kappa": 0.4, "macro_f1": 23 / 33}
    )


def test_kappa_below_zero_when_raters_disagree_more_than_chance():
    # Always opposite: agreement 0; each says met half the time, chance 0.5;
    # kappa = (0 - 0.5) / 0.5 = -1. F1 of both classes is 0.
    pairs = pairs_from_table(0, 3, 3, 0)
    assert agreement.percent_agreement(pairs) == 0.0
    assert agreement.cohens_kappa(pairs) == pytest.approx(-1.0)
    assert agreement.macro_f1(pairs) == 0.0


def test_kappa_is_zero_when_agreement_is_what_chance_gives():
    # Both say met half the time, independently: 1, 1, 1, 1 in the table.
    # Agreement 0.5, chance 0.5 * 0.5 + 0.5 * 0.5 = 0.5, kappa 0.
    assert agreement.cohens_kappa(pairs_from_table(1, 1, 1, 1)) == pytest.approx(0.0)


def test_a_grader_that_always_says_met_is_found_out_by_kappa_and_macro_f1():
    # The expert says met 9 times out of 10; the grader always says met.
    pairs = pairs_from_table(9, 1, 0, 0)
    # Agreement 0.9 looks good, but chance is 1.0 * 0.9 + 0 * 0.1 = 0.9, so kappa 0.
    assert agreement.percent_agreement(pairs) == pytest.approx(0.9)
    assert agreement.cohens_kappa(pairs) == pytest.approx(0.0)
    # F1 met: 18 / (18 + 1 + 0) = 18/19; F1 not met: 0 / (0 + 0 + 1) = 0; macro 9/19.
    assert agreement.macro_f1(pairs) == pytest.approx(9 / 19)


@pytest.mark.parametrize("verdict", [True, False])
def test_raters_constant_and_equal_agree_perfectly(verdict):
    pairs = [(verdict, verdict)] * 4
    # Chance agreement is 1 (0/0 in the formula): kappa is defined as 1.
    assert agreement.cohens_kappa(pairs) == 1.0
    # The class nobody used is left out: macro-F1 is the F1 of the other class, 1.
    assert agreement.macro_f1(pairs) == 1.0
    assert agreement.percent_agreement(pairs) == 1.0


def test_raters_constant_but_different_have_kappa_zero():
    # Grader always met, expert never: chance 1 * 0 + 0 * 1 = 0, agreement 0, kappa 0.
    pairs = [(T, F)] * 3
    assert agreement.cohens_kappa(pairs) == 0.0
    assert agreement.macro_f1(pairs) == 0.0


def test_no_pairs_cannot_be_measured():
    for function in (agreement.percent_agreement, agreement.cohens_kappa, agreement.macro_f1):
        with pytest.raises(ValueError, match="no verdict pairs"):
            function([])
    assert agreement.measure([]) == agreement.Agreement(0, None, None, None)


def test_figures_survive_a_round_trip_through_json_fields():
    figures = agreement.measure(pairs_from_table(2, 1, 0, 1))
    assert agreement.Agreement.from_dict(figures.as_dict()) == figures


verdict_pairs = st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=60)


@given(verdict_pairs)
def test_figures_stay_in_their_bounds(pairs):
    figures = agreement.measure(pairs)
    assert figures.items == len(pairs)
    assert 0.0 <= figures.agreement <= 1.0
    assert -1.0 - 1e-12 <= figures.kappa <= 1.0 + 1e-12
    assert 0.0 <= figures.macro_f1 <= 1.0


@given(verdict_pairs)
def test_swapping_label_and_reference_changes_nothing(pairs):
    swapped = [(reference, label) for label, reference in pairs]
    assert agreement.measure(swapped).agreement == pytest.approx(agreement.measure(pairs).agreement)
    assert agreement.cohens_kappa(swapped) == pytest.approx(agreement.cohens_kappa(pairs))
    assert agreement.macro_f1(swapped) == pytest.approx(agreement.macro_f1(pairs))


@given(verdict_pairs)
def test_flipping_every_verdict_changes_nothing(pairs):
    # Which class is called "met" is arbitrary: all three measures treat both alike.
    flipped = [(not label, not reference) for label, reference in pairs]
    assert agreement.measure(flipped).as_dict() == pytest.approx(agreement.measure(pairs).as_dict())


@given(st.lists(st.booleans(), min_size=1, max_size=60))
def test_perfect_agreement_gives_one(verdicts):
    figures = agreement.measure([(verdict, verdict) for verdict in verdicts])
    assert figures.agreement == 1.0
    assert figures.kappa == pytest.approx(1.0)
    assert figures.macro_f1 == pytest.approx(1.0)


@given(verdict_pairs)
def test_order_of_the_pairs_does_not_matter(pairs):
    reversed_figures = agreement.measure(list(reversed(pairs))).as_dict()
    assert reversed_figures == pytest.approx(agreement.measure(pairs).as_dict())
