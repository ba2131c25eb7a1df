"""Validating an LLM grader against experts: the figures, the verdict, the page and the gate.

The world: an LLM grader ("Judge") and a human grader ("Expert panel") with experts Alice
and Bob. Two samples are graded by all three on two criteria each, so four items with two
experts; a third sample only Alice graded adds two items with one expert:

    item                          judge  alice  bob
    paralegal 1 (accuracy)          met    met    met
    paralegal 4 (completeness)      met    not    not
    nurse 1 (accuracy)              not    not    met
    nurse 3 (safety)                not    not    not
    paralegal 1, Alice only         met    not     -
    paralegal 4, Alice only         met    met     -

The verdict compares both on the four items with two experts:

Grader vs experts, 8 pairs (judge, expert): both met 2, judge only 2, expert only 1, neither 3.
  Agreement 5/8. Chance: judge met 4/8, experts met 3/8 -> 4/8*3/8 + 4/8*5/8 = 1/2;
  kappa (5/8 - 1/2) / (1/2) = 1/4.
  F1 met 2*2 / (4 + 2 + 1) = 4/7; F1 not met 2*3 / (6 + 1 + 2) = 2/3; macro 13/21 = 0.619.
Experts vs experts, 8 ordered pairs: both met 2, one only 1 each way, neither 4.
  Agreement 6/8. Chance 3/8*3/8 + 5/8*5/8 = 34/64; kappa (48 - 34) / (64 - 34) = 7/15.
  F1 met 4 / (4 + 1 + 1) = 2/3; F1 not met 8 / (8 + 1 + 1) = 4/5; macro 11/15 = 0.733.
Context, grader vs experts on all six items, 10 pairs: both met 3, judge only 3, expert
only 1, neither 3.
  Agreement 6/10. Chance: judge met 6/10, experts met 4/10 -> 0.24 + 0.24 = 0.48;
  kappa (0.6 - 0.48) / 0.52 = 3/13.
  F1 met 6 / (6 + 3 + 1) = 3/5; F1 not met 6 / (6 + 1 + 3) = 3/5; macro 3/5.
"""

import csv
import datetime
import html
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from graders import validation
from graders.models import CriterionVerdict, Grade, Grader, GraderValidation
from occupations.models import Suite, Task
from runs import services as run_services
from runs.models import Sample
from tests.authoring import make_user

pytestmark = pytest.mark.django_db

GRADER_F1 = 13 / 21
EXPERT_F1 = 11 / 15
GRADER_ALL_ITEMS_F1 = 3 / 5


def grade(sample, grader, verdicts, *, expert=None, reconciled=False, status="scored"):
    """A grade with the given criterion verdicts ({criterion: met})."""
    given = Grade.objects.create(
        sample=sample,
        grader=grader,
        expert=expert,
        is_reconciled=reconciled,
        status=status,
        score=None if status == "unscored" else 0.5,
        unscored_reason="judge reply unreadable" if status == "unscored" else "",
    )
    CriterionVerdict.objects.bulk_create(
        CriterionVerdict(grade=given, criterion=criterion, met=met)
        for criterion, met in verdicts.items()
    )
    return given


class World:
    def __init__(self, make_endpoint):
        self.judge = Grader.objects.create(name="Judge", judge=make_endpoint("sim-judge"))
        self.panel = Grader.objects.create(name="Expert panel", kind=Grader.Kind.HUMAN)
        self.alice = make_user("alice", "reviewer")
        self.bob = make_user("bob", "reviewer")
        run = run_services.create_run(Suite.objects.get(slug="demo"), make_endpoint("sim-model"))
        legal = Task.objects.get(slug="paralegal-chronology").latest_version()
        nurse = Task.objects.get(slug="nurse-shift-handover").latest_version()
        accounts = Task.objects.get(slug="accountant-bank-reconciliation").latest_version()
        assert nurse.task.is_held_out and not legal.task.is_held_out

        def sample(version, attempt=0):
            return Sample.objects.create(
                run=run, task_version=version, attempt=attempt, status="done", output="answer"
            )

        self.sample, self.legal = sample, legal

        self.legal_sample, self.nurse_sample = sample(legal), sample(nurse)
        self.p1, self.p2, _, self.p4 = legal.criteria.order_by("order")[:4]
        self.n1, _, self.n3 = nurse.criteria.order_by("order")[:3]
        tags = [c.tag for c in (self.p1, self.p4, self.n1, self.n3)]
        assert tags == ["accuracy", "completeness", "accuracy", "safety"]

        grade(self.legal_sample, self.judge, {self.p1: True, self.p4: True})
        grade(self.nurse_sample, self.judge, {self.n1: False, self.n3: False})
        for expert, verdicts in (
            (self.alice, {self.p1: True, self.p4: False, self.n1: False, self.n3: False}),
            (self.bob, {self.p1: True, self.p4: False, self.n1: True, self.n3: False}),
        ):
            grade(
                self.legal_sample,
                self.panel,
                {c: verdicts[c] for c in (self.p1, self.p4)},
                expert=expert,
            )
            grade(
                self.nurse_sample,
                self.panel,
                {c: verdicts[c] for c in (self.n1, self.n3)},
                expert=expert,
            )

        # One expert only: the grader's context figures count it, the verdict does not.
        self.single_sample = sample(legal, attempt=2)
        grade(self.single_sample, self.judge, {self.p1: True, self.p4: True})
        grade(self.single_sample, self.panel, {self.p1: False, self.p4: True}, expert=self.alice)

        # Everything below must be left out of the figures.
        # A reconciliation is not an independent grade.
        grade(self.legal_sample, self.panel, {self.p4: True}, expert=self.alice, reconciled=True)
        # A criterion the judge gave no verdict on cannot be compared.
        CriterionVerdict.objects.create(
            grade=Grade.objects.get(sample=self.legal_sample, expert=self.bob, is_reconciled=False),
            criterion=self.p2,
            met=True,
        )
        # A sample the judge could not score.
        unscored = sample(legal, attempt=1)
        grade(unscored, self.judge, {self.p1: False}, status="unscored")
        grade(unscored, self.panel, {self.p1: True}, expert=self.alice)
        grade(unscored, self.panel, {self.p1: True}, expert=self.bob)
        # A sample no expert graded.
        grade(sample(accounts), self.judge, {accounts.criteria.first(): True})
        # Another human grader's experts.
        other = Grader.objects.create(name="Other panel", kind=Grader.Kind.HUMAN)
        grade(
            self.legal_sample,
            other,
            {self.p1: False, self.p4: True},
            expert=make_user("carol", "reviewer"),
        )


@pytest.fixture
def world(seeded, make_endpoint, settings) -> World:
    settings.EVALBUILDER_VALIDATION_MIN_SAMPLES = 2
    settings.EVALBUILDER_VALIDATION_MARGIN = 0.05
    settings.EVALBUILDER_RELEASE_REQUIRES_VALIDATION = True
    return World(make_endpoint)


# --- the figures -------------------------------------------------------------------------


def test_items_are_the_criteria_the_grader_and_an_independent_expert_both_judged(world):
    items = validation.collect_items(world.judge, world.panel)
    with_two_experts = {
        (world.legal_sample.pk, world.p1.pk),
        (world.legal_sample.pk, world.p4.pk),
        (world.nurse_sample.pk, world.n1.pk),
        (world.nurse_sample.pk, world.n3.pk),
    }
    with_one_expert = {(world.single_sample.pk, world.p1.pk), (world.single_sample.pk, world.p4.pk)}
    assert set(items) == with_two_experts | with_one_expert
    assert {key for key, item in items.items() if item.has_expert_baseline} == with_two_experts
    item = items[(world.nurse_sample.pk, world.n1.pk)]
    assert item.grader_met is False
    assert item.expert_verdicts == {world.alice.pk: False, world.bob.pk: True}
    # The reconciliation (met) did not replace Alice's independent verdict (not met).
    assert items[(world.legal_sample.pk, world.p4.pk)].expert_verdicts[world.alice.pk] is False


def test_overall_figures_match_the_hand_computed_ones(world):
    result = validation.compute(world.judge, world.panel)
    assert (result.samples, result.items, result.expert_count) == (2, 4, 2)
    assert (result.all_samples, result.all_items) == (3, 6)
    assert (result.overall.items, result.overall.all_items) == (4, 6)
    grader, experts = result.overall.grader, result.overall.experts
    assert grader.items == 8
    assert grader.agreement == pytest.approx(5 / 8)
    assert grader.kappa == pytest.approx(1 / 4)
    assert grader.macro_f1 == pytest.approx(GRADER_F1)
    assert experts.items == 8
    assert experts.agreement == pytest.approx(6 / 8)
    assert experts.kappa == pytest.approx(7 / 15)
    assert experts.macro_f1 == pytest.approx(EXPERT_F1)
    context = result.overall.grader_all_items
    assert context.items == 10
    assert context.agreement == pytest.approx(6 / 10)
    assert context.kappa == pytest.approx(3 / 13)
    assert context.macro_f1 == pytest.approx(GRADER_ALL_ITEMS_F1)


def test_breakdowns_by_tag_job_category_and_criterion(world):
    result = validation.compute(world.judge, world.panel)
    by_tag = {group.key: group for group in result.by_tag}
    assert list(by_tag) == ["accuracy", "completeness", "safety"]
    # Accuracy: paralegal 1 and nurse 1. Judge pairs (met, met) x2, (not, not), (not, met).
    assert by_tag["accuracy"].items == 2
    assert by_tag["accuracy"].grader.agreement == pytest.approx(3 / 4)
    # With Alice's lone paralegal 1 (not met against the judge's met): 3 of 5 pairs agree.
    assert by_tag["accuracy"].all_items == 3
    assert by_tag["accuracy"].grader_all_items.agreement == pytest.approx(3 / 5)
    # Experts: paralegal 1 agrees both ways, nurse 1 disagrees both ways.
    assert by_tag["accuracy"].experts.agreement == pytest.approx(2 / 4)
    assert by_tag["completeness"].grader.agreement == 0.0
    assert by_tag["completeness"].experts.agreement == 1.0

    by_category = {group.key: group for group in result.by_job_category}
    assert set(by_category) == {"23-0000", "29-0000"}
    assert by_category["23-0000"].label == "Legal Occupations"
    assert by_category["23-0000"].grader.agreement == pytest.approx(2 / 4)
    assert by_category["23-0000"].experts.agreement == 1.0
    assert by_category["29-0000"].grader.agreement == pytest.approx(3 / 4)
    assert by_category["29-0000"].experts.agreement == pytest.approx(2 / 4)

    # Lowest grader agreement first: paralegal 4 (0), nurse 1 (1/2), then the agreeing two,
    # paralegal 1 first as it agrees less on every item (2 of 3 pairs).
    keys = [int(group.key) for group in result.by_criterion]
    assert keys == [world.p4.pk, world.n1.pk, world.p1.pk, world.n3.pk]
    assert all(group.items == 1 for group in result.by_criterion)
    by_criterion = {int(group.key): group for group in result.by_criterion}
    assert by_criterion[world.p1.pk].all_items == 2
    assert by_criterion[world.p1.pk].grader_all_items.agreement == pytest.approx(2 / 3)


def test_three_experts_give_every_ordered_pair(world):
    carol = make_user("carol2", "reviewer")
    grade(world.legal_sample, world.panel, {world.p1: True, world.p4: True}, expert=carol)
    result = validation.compute(world.judge, world.panel)
    by_criterion = {int(group.key): group for group in result.by_criterion}
    # Three experts on paralegal 1: three judge pairs, 3 x 2 ordered expert pairs.
    assert by_criterion[world.p1.pk].grader.items == 3
    assert by_criterion[world.p1.pk].experts.items == 6
    # Paralegal 4: Carol (met) against Alice and Bob (not met): 2 of 6 ordered pairs agree.
    assert by_criterion[world.p4.pk].experts.agreement == pytest.approx(2 / 6)
    assert result.expert_count == 3


def test_figures_are_loaded_in_a_few_queries_whatever_the_number_of_samples(
    world, django_assert_max_num_queries
):
    with django_assert_max_num_queries(4):
        validation.compute(world.judge, world.panel)


def test_only_an_llm_grader_is_validated_and_only_against_human_graders(world):
    with pytest.raises(validation.ValidationInputError, match=r"^experts: Judge v1"):
        validation.compute(world.judge, world.judge)
    with pytest.raises(validation.ValidationInputError, match=r"^grader: Expert panel v1"):
        validation.compute(world.panel, world.panel)


# --- the verdict -------------------------------------------------------------------------


def test_a_grader_too_far_below_the_experts_does_not_pass(world):
    record = validation.validate(world.judge, world.panel, world.alice)
    assert not record.passed
    assert record.figures["reason"] == (
        "Not good enough for a release: on the 4 criteria of 2 samples that at least two "
        "experts graded, macro-F1 0.62 against the experts, experts agree with each other "
        "at 0.73; the grader may be at most 0.05 below the experts."
    )
    assert (record.samples, record.items, record.margin) == (2, 4, 0.05)
    assert (record.figures["all_samples"], record.figures["all_items"]) == (3, 6)
    assert record.computed_by == world.alice
    assert record.figures["overall"]["grader"]["macro_f1"] == pytest.approx(GRADER_F1)


def test_a_grader_within_the_margin_passes(world, settings):
    settings.EVALBUILDER_VALIDATION_MARGIN = 0.15
    record = validation.validate(world.judge, world.panel, None)
    assert record.passed
    assert record.figures["reason"] == (
        "Good enough for a release: on the 4 criteria of 2 samples that at least two "
        "experts graded, macro-F1 0.62 against the experts, experts agree with each other "
        "at 0.73, within the 0.15 margin."
    )


def test_too_few_samples_with_two_experts_cannot_pass(world, settings):
    settings.EVALBUILDER_VALIDATION_MARGIN = 0.5
    settings.EVALBUILDER_VALIDATION_MIN_SAMPLES = 3
    result = validation.compute(world.judge, world.panel)
    assert not result.passed
    # Three samples have an expert grade, but only two have two.
    assert result.all_samples == 3
    assert result.reason.startswith(
        "Not enough samples graded by two or more experts: 2 samples graded by the grader "
        "and by at least two experts, and a validation needs at least 3."
    )


def test_samples_one_expert_graded_do_not_count_towards_the_minimum(world, settings):
    # One sample with two experts, many with one: a baseline of two pairs cannot pass.
    settings.EVALBUILDER_VALIDATION_MARGIN = 0.5
    settings.EVALBUILDER_VALIDATION_MIN_SAMPLES = 3
    Grade.objects.filter(grader=world.panel, expert=world.bob, sample=world.nurse_sample).delete()
    for attempt in (3, 4):
        extra = world.sample(world.legal, attempt=attempt)
        grade(extra, world.judge, {world.p1: True})
        grade(extra, world.panel, {world.p1: True}, expert=world.alice)
    result = validation.compute(world.judge, world.panel)
    assert (result.samples, result.all_samples) == (1, 5)
    assert result.overall.experts.items == 4  # paralegal 1 and 4, both orders
    assert not result.passed
    assert result.reason.startswith("Not enough samples graded by two or more experts: 1 sample ")


def test_a_grader_that_agrees_on_single_expert_items_is_still_held_to_the_shared_ones(world):
    # Alice alone grades six more samples and the judge agrees with her every time.
    for attempt, met in zip(range(3, 9), (True, False) * 3, strict=True):
        extra = world.sample(world.legal, attempt=attempt)
        grade(extra, world.judge, {world.p1: met, world.p4: met})
        grade(extra, world.panel, {world.p1: met, world.p4: met}, expert=world.alice)
    result = validation.compute(world.judge, world.panel)
    # On every expert-graded item the grader would clear the experts' 0.73 less 0.05 ...
    assert result.overall.grader_all_items.macro_f1 == pytest.approx(9 / 11)
    assert result.overall.grader_all_items.macro_f1 > EXPERT_F1 - result.margin
    # ... but on the items the baseline is measured on it does not.
    assert result.overall.grader.macro_f1 == pytest.approx(GRADER_F1)
    assert result.overall.experts.macro_f1 == pytest.approx(EXPERT_F1)
    assert not result.passed
    assert result.reason.startswith("Not good enough for a release: on the 4 criteria of 2")


def test_without_two_experts_on_any_item_there_is_no_baseline(world, settings):
    settings.EVALBUILDER_VALIDATION_MARGIN = 0.5
    Grade.objects.filter(grader=world.panel, expert=world.bob).delete()
    result = validation.compute(world.judge, world.panel)
    assert result.overall.experts.items == 0
    assert result.overall.grader.items == 0
    assert result.overall.grader_all_items.items == 6
    assert (result.samples, result.all_samples) == (0, 3)
    assert not result.passed
    assert "no expert baseline" in result.reason
    assert "have at least 2 samples graded by at least two experts" in result.reason


# --- the release gate --------------------------------------------------------------------


def test_release_gate_needs_a_passing_latest_validation(world, settings):
    allowed, reason = validation.release_gate(world.judge)
    assert not allowed
    assert "never been validated" in reason

    settings.EVALBUILDER_VALIDATION_MARGIN = 0.15
    validation.validate(world.judge, world.panel)
    allowed, reason = validation.release_gate(world.judge)
    assert allowed
    assert "passed its latest validation" in reason

    # A later failing validation is the one that counts.
    settings.EVALBUILDER_VALIDATION_MARGIN = 0.05
    validation.validate(world.judge, world.panel)
    allowed, reason = validation.release_gate(world.judge)
    assert not allowed
    assert "did not pass" in reason and "Not good enough" in reason


def test_release_gate_lets_human_graders_through(world):
    allowed, reason = validation.release_gate(world.panel)
    assert allowed
    assert "human expert grader" in reason


def test_release_gate_is_open_when_validation_is_not_required(world, settings):
    settings.EVALBUILDER_RELEASE_REQUIRES_VALIDATION = False
    allowed, reason = validation.release_gate(world.judge)
    assert allowed
    assert "do not require" in reason


def test_the_latest_validation_is_the_newest_and_the_later_one_on_a_tie(world):
    never = Grader.objects.create(name="Unvalidated judge", judge=world.judge.judge)
    first = validation.validate(world.judge, world.panel)
    second = validation.validate(world.judge, world.panel)
    GraderValidation.objects.filter(pk=second.pk).update(passed=True)
    GraderValidation.objects.filter(pk=first.pk).update(computed_at=second.computed_at)
    assert validation.latest_validation(world.judge) == second
    assert validation.latest_validation(never) is None

    listed = {
        grader.pk: grader for grader in validation.with_latest_validation(Grader.objects.all())
    }
    assert listed[world.judge.pk].latest_validation_id == second.pk
    assert listed[world.judge.pk].latest_validation_passed is True
    assert listed[world.judge.pk].latest_validation_at == second.computed_at
    assert listed[never.pk].latest_validation_id is None
    assert listed[never.pk].latest_validation_passed is None
    assert listed[never.pk].latest_validation_at is None

    # A later validation, not a larger pk, wins when the times differ.
    later = second.computed_at + datetime.timedelta(minutes=1)
    GraderValidation.objects.filter(pk=first.pk).update(computed_at=later)
    assert validation.latest_validation(world.judge) == first
    annotated = validation.with_latest_validation(Grader.objects.filter(pk=world.judge.pk)).get()
    assert (annotated.latest_validation_id, annotated.latest_validation_passed) == (first.pk, False)


# --- the page, the CSV and the command ----------------------------------------------------


def page_url(world) -> str:
    return reverse("graders:validation", kwargs={"pk": world.judge.pk})


def csv_url(world) -> str:
    return reverse("graders:validation_export", kwargs={"pk": world.judge.pk})


@pytest.mark.parametrize("role", ["author", "reviewer"])
def test_people_without_the_permission_cannot_see_validations(client, world, role):
    client.force_login(make_user(f"someone-{role}", role))
    assert client.get(page_url(world)).status_code == 403
    assert client.get(csv_url(world)).status_code == 403
    assert client.post(page_url(world), {"experts": world.panel.pk}).status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in(client, world):
    response = client.get(page_url(world))
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_an_analyst_computes_a_validation_and_reads_the_verdict(client, world):
    analyst = make_user("analyst", "analyst")
    client.force_login(analyst)
    before = client.get(page_url(world))
    assert before.status_code == 200
    assert "has not been validated against experts yet" in before.content.decode()
    assert "Release gate not met: Judge v1 has never been validated" in before.content.decode()

    response = client.post(page_url(world), {"experts": world.panel.pk})
    assert response.status_code == 302
    record = GraderValidation.objects.get()
    assert (record.grader, record.experts, record.computed_by) == (
        world.judge,
        world.panel,
        analyst,
    )

    page = client.get(page_url(world)).content.decode()
    assert html.escape(record.figures["reason"]) in page
    assert "Not passed" in page
    assert "Not met: this grader\u2019s scores may not enter an official release" in page
    assert "those that at least two experts graded" in page
    assert "2 samples that at least two experts graded, 4 criterion verdicts" in page
    assert "3 samples, 6 criterion verdicts, grader macro-F1 against experts 0.60" in page
    # Overall, grader vs experts (62.5 %, 0.25, 0.62) beside experts (75.0 %, 0.47, 0.73),
    # and the grader on every item for context (60.0 %, 0.23, 0.60).
    for figure in ("62.5 %", "0.25", "0.62", "75.0 %", "0.47", "0.73", "60.0 %", "0.23", "0.60"):
        assert figure in page
    assert "Context: grader vs experts on every expert-graded item" in page
    assert "Legal Occupations" in page
    assert "Safety" in page
    # The public task's criterion is shown; the held-out one only by its id.
    assert html.escape(world.p1.text) in page
    assert html.escape(world.n1.text) not in page
    assert f"Criterion #{world.n1.pk} of a held-out task" in page
    assert "Past validations" in page


def test_an_operator_reads_held_out_criteria_but_cannot_validate(client, world):
    validation.validate(world.judge, world.panel)
    client.force_login(make_user("operator", "operator"))
    page = client.get(page_url(world)).content.decode()
    assert html.escape(world.n1.text) in page
    assert "Compute a new validation" not in page
    assert client.post(page_url(world), {"experts": world.panel.pk}).status_code == 403
    assert GraderValidation.objects.count() == 1


def test_the_reference_must_be_a_human_grader(client, world):
    client.force_login(make_user("analyst", "analyst"))
    response = client.post(page_url(world), {"experts": world.judge.pk})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not GraderValidation.objects.exists()


def test_the_csv_has_a_row_per_level_and_group_with_both_comparisons(client, world):
    client.force_login(make_user("analyst", "analyst"))
    assert client.get(csv_url(world)).status_code == 404
    validation.validate(world.judge, world.panel)
    response = client.get(csv_url(world))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="validation-judge-v1.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    levels = [row["level"] for row in rows]
    assert levels == ["overall"] + ["tag"] * 3 + ["job_category"] * 2 + ["criterion"] * 4
    overall = rows[0]
    assert overall["grader_macro_f1"] == f"{GRADER_F1:.6f}"
    assert overall["expert_macro_f1"] == f"{EXPERT_F1:.6f}"
    assert overall["grader_kappa"] == "0.250000"
    assert (overall["items"], overall["grader_pairs"], overall["expert_pairs"]) == ("4", "8", "8")
    assert (overall["all_items"], overall["all_items_grader_pairs"]) == ("6", "10")
    assert overall["all_items_grader_macro_f1"] == f"{GRADER_ALL_ITEMS_F1:.6f}"
    criteria = {row["group"]: row for row in rows if row["level"] == "criterion"}
    assert criteria[str(world.p1.pk)]["label"].endswith(world.p1.text)
    assert world.n1.text not in response.content.decode()
    assert criteria[str(world.n3.pk)]["tag"] == "Safety"


def test_the_command_prints_and_keeps_the_validation(world):
    out = io.StringIO()
    call_command("validate_grader", "--grader", "Judge", "--experts", "Expert panel", stdout=out)
    printed = out.getvalue()
    assert (
        "Judge v1 against Expert panel v1: 2 samples and 4 criterion verdicts graded by at "
        "least two experts (of 3 samples and 6 criterion verdicts graded by any expert)"
    ) in printed
    assert "overall" in printed and "0.60" in printed
    assert "Not good enough for a release" in printed
    assert "23-0000 Legal Occupations" in printed
    assert GraderValidation.objects.get().computed_by is None

    call_command(
        "validate_grader",
        "--grader",
        "Judge",
        "--experts",
        "Expert panel",
        "--dry-run",
        stdout=io.StringIO(),
    )
    assert GraderValidation.objects.count() == 1


def test_the_command_names_the_option_it_cannot_resolve(world):
    with pytest.raises(CommandError, match="--grader: no grader 'Judge' version 7"):
        call_command("validate_grader", "--grader", "Judge", "--version", "7", "--experts", "x")
    with pytest.raises(CommandError, match="--experts: no grader 'Nobody'"):
        call_command("validate_grader", "--grader", "Judge", "--experts", "Nobody")
    with pytest.raises(CommandError, match=r"^experts: Judge v1 is not a human grader"):
        call_command("validate_grader", "--grader", "Judge", "--experts", "Judge")


def test_the_command_takes_the_newest_expert_version_or_the_one_named(world):
    Grader.objects.create(
        name="Expert panel", version=2, kind=Grader.Kind.HUMAN, supersedes=world.panel
    )
    out = io.StringIO()
    call_command(
        "validate_grader", "--grader", "Judge", "--experts", "Expert panel", "--dry-run", stdout=out
    )
    assert "Judge v1 against Expert panel v2: 0 samples" in out.getvalue()

    out = io.StringIO()
    call_command(
        "validate_grader",
        "--grader",
        "Judge",
        "--experts",
        "Expert panel",
        "--experts-version",
        "1",
        stdout=out,
    )
    assert "Judge v1 against Expert panel v1: 2 samples" in out.getvalue()
    assert GraderValidation.objects.get().experts == world.panel
    with pytest.raises(CommandError, match="--experts: no grader 'Expert panel' version 9"):
        call_command(
            "validate_grader",
            "--grader",
            "Judge",
            "--experts",
            "Expert panel",
            "--experts-version",
            "9",
        )


def test_the_page_states_the_release_gate_of_a_passing_grader(client, world, settings):
    settings.EVALBUILDER_VALIDATION_MARGIN = 0.15
    validation.validate(world.judge, world.panel)
    client.force_login(make_user("analyst", "analyst"))
    page = client.get(page_url(world)).content.decode()
    assert "Met: this grader\u2019s scores may enter an official release" in page

    settings.EVALBUILDER_RELEASE_REQUIRES_VALIDATION = False
    settings.EVALBUILDER_VALIDATION_MARGIN = 0.05
    validation.validate(world.judge, world.panel)
    page = client.get(page_url(world)).content.decode()
    assert "Not passed" in page
    assert (
        "Met: this grader\u2019s scores may enter an official release (Official releases do" in page
    )


def test_an_admin_reads_the_page_and_the_csv_of_a_human_grader_without_a_form(client, world):
    client.force_login(make_user("admin", "admin", superuser=True))
    url = reverse("graders:validation", kwargs={"pk": world.panel.pk})
    page = client.get(url).content.decode()
    assert "is not validated itself" in page
    assert "Compute a new validation" not in page
    assert client.post(url, {"experts": world.panel.pk}).status_code == 302
    assert not GraderValidation.objects.exists()
    validation.validate(world.judge, world.panel)
    assert client.get(csv_url(world)).status_code == 200
    assert "Compute a new validation" in client.get(page_url(world)).content.decode()
