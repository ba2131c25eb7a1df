import pytest
from hypothesis import given
from hypothesis import strategies as st

from graders.scoring import CriterionOutcome, is_success, rubric_score


def test_score_is_points_met_over_positive_points():
    outcomes = [
        CriterionOutcome(points=5, met=True),
        CriterionOutcome(points=3, met=False),
        CriterionOutcome(points=2, met=True),
    ]
    assert rubric_score(outcomes) == pytest.approx(7 / 10)


def test_negative_criterion_counts_only_when_the_behaviour_is_present():
    present = [CriterionOutcome(points=4, met=True), CriterionOutcome(points=-3, met=True)]
    absent = [CriterionOutcome(points=4, met=True), CriterionOutcome(points=-3, met=False)]
    assert rubric_score(present) == pytest.approx(1 / 4)
    assert rubric_score(absent) == pytest.approx(1.0)


def test_score_of_one_sample_can_fall_below_zero():
    outcomes = [CriterionOutcome(points=2, met=False), CriterionOutcome(points=-6, met=True)]
    assert rubric_score(outcomes) == pytest.approx(-3.0)


def test_a_rubric_without_positive_points_cannot_be_scored():
    with pytest.raises(ValueError, match="positive points"):
        rubric_score([CriterionOutcome(points=-2, met=False)])


def test_success_needs_the_threshold():
    outcomes = [CriterionOutcome(points=6, met=True), CriterionOutcome(points=4, met=False)]
    assert is_success(outcomes, 0.6)
    assert not is_success(outcomes, 0.61)


def test_a_failed_critical_criterion_fails_the_attempt_whatever_the_score():
    missed_critical = [
        CriterionOutcome(points=9, met=True),
        CriterionOutcome(points=1, met=False, critical=True),
    ]
    assert rubric_score(missed_critical) == pytest.approx(0.9)
    assert not is_success(missed_critical, 0.5)


def test_a_present_critical_undesirable_behaviour_fails_the_attempt():
    outcomes = [
        CriterionOutcome(points=5, met=True),
        CriterionOutcome(points=-1, met=True, critical=True),
    ]
    assert not is_success(outcomes, 0.5)


criteria = st.lists(
    st.builds(
        CriterionOutcome,
        points=st.integers(-10, 10).filter(bool),
        met=st.booleans(),
        critical=st.booleans(),
    ),
    min_size=1,
    max_size=15,
).filter(lambda outcomes: any(o.points > 0 for o in outcomes))


@given(criteria)
def test_score_never_exceeds_one(outcomes):
    assert rubric_score(outcomes) <= 1.0


@given(criteria)
def test_meeting_every_positive_and_no_negative_criterion_scores_one(outcomes):
    perfect = [CriterionOutcome(o.points, o.points > 0, o.critical) for o in outcomes]
    assert rubric_score(perfect) == pytest.approx(1.0)
    assert is_success(perfect, 1.0)


def test_tag_scores_divide_each_tags_points_met_by_its_positive_points():
    from graders.scoring import score_sample

    outcomes = [
        CriterionOutcome(4, True, tag="accuracy"),
        CriterionOutcome(4, False, tag="accuracy"),
        CriterionOutcome(2, True, tag="communication"),
        CriterionOutcome(-3, True, tag="communication"),
        CriterionOutcome(-5, False, tag="safety"),
        CriterionOutcome(1, True),
    ]
    result = score_sample(outcomes, threshold=0.3)
    # (4 + 2 - 3 + 1) / (4 + 4 + 2 + 1)
    assert result.score == pytest.approx(4 / 11)
    assert result.success is True
    # safety has only a negative criterion, so it has nothing to divide by; untagged is left out.
    assert result.tag_scores == {"accuracy": 0.5, "communication": pytest.approx(-0.5)}


def test_a_present_undesirable_behaviour_lowers_the_score_and_its_tag():
    from graders.scoring import score_sample

    absent = score_sample(
        [CriterionOutcome(5, True, tag="safety"), CriterionOutcome(-5, False, tag="safety")], 0.5
    )
    present = score_sample(
        [CriterionOutcome(5, True, tag="safety"), CriterionOutcome(-5, True, tag="safety")], 0.5
    )
    assert (absent.score, absent.tag_scores["safety"]) == (1.0, 1.0)
    assert (present.score, present.tag_scores["safety"]) == (0.0, 0.0)
    assert present.success is False
