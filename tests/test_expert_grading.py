"""Blind expert grading: queues, independent grades, disagreements and reconciliation."""

from __future__ import annotations

import html
import io
import random
from dataclasses import dataclass

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from graders import experts
from graders.experts import ExpertGradingError, ExpertVerdict
from graders.models import CriterionVerdict, ExpertQueueItem, Grade, Grader
from occupations.models import Panel, PanelMembership, Suite, Task, TaskVersion
from runs.models import ModelEndpoint, Run, Sample
from tests.authoring import make_user, make_world

pytestmark = pytest.mark.django_db

RUN_PK = 48213
OUTPUT = (
    "## Chronology\n\n| Date | Event |\n|---|---|\n| 2 February 2024 | Dismissal letter |\n\n"
    "The hearing dates conflict.<script>alert('x')</script>"
)


@dataclass
class Setting:
    users: dict
    grader: Grader
    endpoint: ModelEndpoint
    run: Run
    legal: TaskVersion
    nursing: TaskVersion


def add_samples(run: Run, version: TaskVersion, count: int, *, first: int = 0) -> list[Sample]:
    return [
        Sample.objects.create(
            run=run,
            task_version=version,
            attempt=first + n,
            status=Sample.Status.DONE,
            output=f"{OUTPUT}\n\nAttempt {first + n}.",
            input_tokens=1234,
            output_tokens=5678,
        )
        for n in range(count)
    ]


@pytest.fixture
def setting(seeded, make_endpoint) -> Setting:
    """A human grader wanting two grades per sample, legal and nursing experts, and a run
    of a distinctively named model."""
    world = make_world()
    users = world.users
    users["reviewer_b"] = make_user("reviewer_b", "reviewer")
    PanelMembership.objects.create(
        panel=world.panel_b, user=users["reviewer_b"], role=Panel.Role.REVIEWER
    )
    users["reviewer_c"] = make_user("reviewer_c", "reviewer")
    PanelMembership.objects.create(
        panel=world.panel_a, user=users["reviewer_c"], role=Panel.Role.REVIEWER
    )
    endpoint = make_endpoint(
        "zephyr-9000",
        display_name="Zephyr Nine Thousand",
        model_id="zephyr-9000-preview-0412",
        family="Zephyrian",
        lab="Zephyr Labs",
    )
    run = Run.objects.create(
        pk=RUN_PK,
        suite=Suite.objects.get(slug="demo"),
        endpoint=endpoint,
        status=Run.Status.COMPLETED,
    )
    grader = Grader.objects.create(name="Expert panel", kind=Grader.Kind.HUMAN)
    legal = Task.objects.get(slug="paralegal-chronology").latest_version()
    nursing = Task.objects.get(slug="nurse-shift-handover").latest_version()
    assert nursing.task.is_held_out and not legal.task.is_held_out
    return Setting(users, grader, endpoint, run, legal, nursing)


def queue(setting: Setting, samples: list[Sample]) -> list[ExpertQueueItem]:
    return [ExpertQueueItem.objects.create(grader=setting.grader, sample=s) for s in samples]


def criteria_of(version: TaskVersion):
    return list(version.criteria.order_by("order"))


def all_good(version: TaskVersion, **comments: str) -> dict[int, ExpertVerdict]:
    """Every positive criterion met, no undesirable behaviour present."""
    return {
        c.pk: ExpertVerdict(met=c.points > 0, comment=comments.get(f"c{c.order}", ""))
        for c in criteria_of(version)
    }


def form_data(version: TaskVersion, verdicts: dict[int, ExpertVerdict], comment: str = "") -> dict:
    data = {"comment": comment}
    for pk, verdict in verdicts.items():
        if verdict.met:
            data[f"met_{pk}"] = "on"
        data[f"comment_{pk}"] = verdict.comment
    return data


# --- the blind grading page ---------------------------------------------------------------


def test_the_grading_page_shows_the_task_and_output_but_not_which_model_wrote_it(client, setting):
    (sample,) = add_samples(setting.run, setting.legal, 1)
    (item,) = queue(setting, [sample])
    judge = ModelEndpoint.objects.create(
        slug="judge-x", display_name="Judge X", model_id="judge-x", release_date="2025-01-01"
    )
    llm = Grader.objects.create(name="LLM judge", judge=judge)
    Grade.objects.create(
        sample=sample, grader=llm, status=Grade.Status.SCORED, score=0.4, comment="LLM-NOTE-77"
    )
    other = experts.record_expert_grade(
        item, setting.users["reviewer_a2"], all_good(setting.legal), "OTHER-EXPERT-NOTE-31"
    )
    client.force_login(setting.users["reviewer_a"])

    response = client.get(reverse("graders:expert_next", args=[setting.grader.pk]))
    assert response["Location"] == reverse("graders:expert_grade", args=[item.pk])
    page = client.get(response["Location"]).content.decode()

    assert "Dismissal letter" in page and "<table>" in page  # the output, rendered
    assert "<script>alert" not in page  # and rendered safely
    assert html.escape(setting.legal.deliverable.strip().splitlines()[0]) in page
    assert "The undesirable behaviour is present" in page
    assert "+6 points" in page
    for identity in (
        setting.endpoint.display_name,
        setting.endpoint.model_id,
        setting.endpoint.slug,
        setting.endpoint.family,
        setting.endpoint.lab,
        str(RUN_PK),
        "Judge X",
        "LLM-NOTE-77",
        "OTHER-EXPERT-NOTE-31",
        "1234",
        "5678",
        f"{other.score:.2f}",
    ):
        assert identity not in page, identity


def test_an_expert_grade_is_scored_with_the_rubric_and_records_the_grader(client, setting):
    (sample,) = add_samples(setting.run, setting.legal, 1)
    (item,) = queue(setting, [sample])
    criteria = criteria_of(setting.legal)
    verdicts = all_good(setting.legal, c1="Conflict is flagged in row 14.")
    first = criteria[0]
    verdicts[first.pk] = ExpertVerdict(met=False, comment="The conflict is not flagged.")
    client.force_login(setting.users["reviewer_a"])

    response = client.post(
        reverse("graders:expert_grade", args=[item.pk]),
        form_data(setting.legal, verdicts, "Solid, but misses the key conflict."),
    )

    assert response.status_code == 302
    grade = Grade.objects.get(sample=sample, grader=setting.grader)
    positive = sum(c.points for c in criteria if c.points > 0)
    assert grade.status == Grade.Status.SCORED and not grade.is_reconciled
    assert grade.expert == setting.users["reviewer_a"]
    assert grade.score == pytest.approx((positive - first.points) / positive)
    assert grade.success is False  # the first criterion is critical and failed
    assert set(grade.tag_scores) >= {"accuracy", "completeness"}
    assert grade.tag_scores["accuracy"] < 1 == grade.tag_scores["completeness"]
    assert grade.comment == "Solid, but misses the key conflict."
    assert grade.grader_config == setting.grader.config()
    verdict = grade.verdicts.get(criterion=first)
    assert not verdict.met and verdict.explanation == "The conflict is not flagged."
    assert grade.verdicts.count() == len(criteria)


# --- queue order, quota and double grading ----------------------------------------------


def test_each_expert_walks_the_queue_in_a_shuffled_order_of_their_own(setting):
    samples = add_samples(setting.run, setting.legal, 14)
    queue(setting, samples)
    reviewer_a, reviewer_a2 = setting.users["reviewer_a"], setting.users["reviewer_a2"]

    order_a = [i.sample_id for i in experts.open_items(setting.grader, reviewer_a)]
    order_a2 = [i.sample_id for i in experts.open_items(setting.grader, reviewer_a2)]

    assert sorted(order_a) == sorted(order_a2) == [s.pk for s in samples]
    assert order_a != order_a2
    assert order_a != sorted(order_a)  # not the run's order
    assert experts.next_item(setting.grader, reviewer_a).sample_id == order_a[0]
    # The order is the expert's own and stays put between visits.
    assert [i.sample_id for i in experts.open_items(setting.grader, reviewer_a)] == order_a


def test_a_sample_takes_only_as_many_independent_grades_as_the_grader_wants(client, setting):
    (sample,) = add_samples(setting.run, setting.legal, 1)
    (item,) = queue(setting, [sample])
    verdicts = all_good(setting.legal)
    experts.record_expert_grade(item, setting.users["reviewer_a"], verdicts)
    experts.record_expert_grade(item, setting.users["reviewer_a2"], verdicts)
    third = setting.users["reviewer_c"]

    assert experts.next_item(setting.grader, third) is None
    with pytest.raises(ExpertGradingError, match="2 expert grades already"):
        experts.record_expert_grade(item, third, verdicts)
    client.force_login(third)
    response = client.post(
        reverse("graders:expert_grade", args=[item.pk]), form_data(setting.legal, verdicts)
    )
    assert response["Location"] == reverse("graders:expert_next", args=[setting.grader.pk])
    assert Grade.objects.filter(sample=sample).count() == 2
    summary = experts.queue_summary(setting.grader)
    assert (summary.queued, summary.complete, summary.grades) == (1, 1, 2)


def test_an_expert_cannot_grade_the_same_sample_twice(client, setting):
    samples = add_samples(setting.run, setting.legal, 2)
    first, second = queue(setting, samples)
    expert = setting.users["reviewer_a"]
    client.force_login(expert)
    url = reverse("graders:expert_grade", args=[first.pk])
    data = form_data(setting.legal, all_good(setting.legal))

    assert client.post(url, data).status_code == 302
    again = client.post(url, data)

    assert again["Location"] == reverse("graders:expert_next", args=[setting.grader.pk])
    assert Grade.objects.filter(sample=first.sample, expert=expert).count() == 1
    with pytest.raises(ExpertGradingError, match="graded this sample already"):
        experts.record_expert_grade(first, expert, all_good(setting.legal))
    assert experts.next_item(setting.grader, expert) == second
    assert experts.graded_by(setting.grader, expert) == 1


def test_held_out_tasks_are_offered_only_to_experts_who_may_see_them(client, setting):
    (legal,) = add_samples(setting.run, setting.legal, 1)
    (nursing,) = add_samples(setting.run, setting.nursing, 1)
    legal_item, nursing_item = queue(setting, [legal, nursing])
    reviewer_a, reviewer_b = setting.users["reviewer_a"], setting.users["reviewer_b"]

    assert list(experts.open_items(setting.grader, reviewer_a)) == [legal_item]
    assert list(experts.open_items(setting.grader, reviewer_b)) == [nursing_item]
    client.force_login(reviewer_a)
    assert client.get(reverse("graders:expert_grade", args=[nursing_item.pk])).status_code == 404
    with pytest.raises(ExpertGradingError, match="may not see this task"):
        experts.record_expert_grade(nursing_item, reviewer_a, all_good(setting.nursing))
    assert not Grade.objects.filter(sample=nursing).exists()
    client.force_login(reviewer_b)
    page = client.get(reverse("graders:expert_grade", args=[nursing_item.pk]))
    assert page.status_code == 200
    assert setting.nursing.task.canary_string in page.content.decode()


# --- bad input ----------------------------------------------------------------------------


def test_a_bad_grading_form_writes_nothing_and_names_the_field(client, setting):
    (sample,) = add_samples(setting.run, setting.legal, 1)
    (item,) = queue(setting, [sample])
    verdicts = all_good(setting.legal, c2="x" * (experts.COMMENT_MAX_LENGTH + 1))
    client.force_login(setting.users["reviewer_a"])

    response = client.post(
        reverse("graders:expert_grade", args=[item.pk]), form_data(setting.legal, verdicts)
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "There is a problem" in page and "Comment on criterion 2:" in page
    assert not Grade.objects.exists() and not CriterionVerdict.objects.exists()


def test_verdicts_must_cover_exactly_the_rubric_of_the_sample(setting):
    (sample,) = add_samples(setting.run, setting.legal, 1)
    (item,) = queue(setting, [sample])
    expert = setting.users["reviewer_a"]
    verdicts = all_good(setting.legal)
    last = criteria_of(setting.legal)[-1]
    missing = {pk: v for pk, v in verdicts.items() if pk != last.pk}
    foreign = criteria_of(setting.nursing)[0]

    with pytest.raises(ExpertGradingError, match=f"none for criterion {last.order}"):
        experts.record_expert_grade(item, expert, missing)
    with pytest.raises(ExpertGradingError, match="not in this task's rubric"):
        experts.record_expert_grade(item, expert, {**verdicts, foreign.pk: ExpertVerdict(True)})
    with pytest.raises(ExpertGradingError) as too_long:
        experts.record_expert_grade(item, expert, verdicts, "y" * 5000)
    assert too_long.value.field == "comment"
    assert not Grade.objects.exists()


# --- disagreements and reconciliation -----------------------------------------------------


def split_on_first_criterion(setting: Setting) -> tuple[Sample, Sample]:
    """Two samples graded by two experts: they split on one and agree on the other."""
    split, agreed = add_samples(setting.run, setting.legal, 2)
    split_item, agreed_item = queue(setting, [split, agreed])
    first = criteria_of(setting.legal)[0]
    good = all_good(setting.legal)
    a, a2 = setting.users["reviewer_a"], setting.users["reviewer_a2"]
    experts.record_expert_grade(
        split_item,
        a,
        {**good, first.pk: ExpertVerdict(True, "Row 14 flags it.")},
        "Complete.",
    )
    experts.record_expert_grade(
        split_item,
        a2,
        {**good, first.pk: ExpertVerdict(False, "Only one date is given.")},
        "Misses the conflict.",
    )
    experts.record_expert_grade(agreed_item, a, good)
    experts.record_expert_grade(agreed_item, a2, good)
    return split, agreed


def test_disagreements_show_how_the_experts_split_on_each_criterion(client, setting):
    split, agreed = split_on_first_criterion(setting)
    viewer = setting.users["reviewer_c"]

    rows = experts.disagreements(setting.grader, viewer)
    assert [(r.sample, r.experts, r.split_criteria, r.reconciled) for r in rows] == [
        (split, 2, 1, False)
    ]
    detail = experts.disagreement(setting.grader, split)
    first = detail.splits[0]
    assert (first.met, first.not_met, first.disagrees) == (1, 1, True)
    assert all(s.met == 2 or s.not_met == 2 for s in detail.splits[1:])
    assert experts.disagreement(setting.grader, agreed) is None
    assert experts.disagreements(setting.grader, setting.users["reviewer_b"]) == []

    client.force_login(viewer)
    listing = client.get(reverse("graders:disagreements", args=[setting.grader.pk]))
    assert reverse("graders:reconcile", args=[setting.grader.pk, split.pk]) in (
        listing.content.decode()
    )
    page = client.get(reverse("graders:reconcile", args=[setting.grader.pk, split.pk]))
    body = page.content.decode()
    assert page.status_code == 200
    assert "Expert 1: met" in body and "Expert 2: not met" in body
    assert "Row 14 flags it." in body and "Only one date is given." in body
    assert "1 of 2 experts" in body
    for hidden in ("reviewer_a", setting.endpoint.display_name, str(RUN_PK)):
        assert hidden not in body
    agreeing = reverse("graders:reconcile", args=[setting.grader.pk, agreed.pk])
    assert client.get(agreeing).status_code == 404


def test_a_reconciling_expert_records_the_final_verdicts_once(client, setting):
    split, _ = split_on_first_criterion(setting)
    client.force_login(setting.users["reviewer_c"])
    url = reverse("graders:reconcile", args=[setting.grader.pk, split.pk])
    first = criteria_of(setting.legal)[0]
    final = {**all_good(setting.legal), first.pk: ExpertVerdict(True, "Row 14 does flag it.")}

    response = client.post(url, form_data(setting.legal, final, "Agreed after discussion."))

    assert response["Location"] == reverse("graders:disagreements", args=[setting.grader.pk])
    reconciled = Grade.objects.get(sample=split, is_reconciled=True)
    assert reconciled.expert == setting.users["reviewer_c"]
    assert reconciled.score == pytest.approx(1.0) and reconciled.success is True
    assert reconciled.verdicts.get(criterion=first).explanation == "Row 14 does flag it."
    # A second reconciliation is refused, on the page and in the service.
    client.post(url, form_data(setting.legal, all_good(setting.legal)))
    with pytest.raises(ExpertGradingError, match="reconciled already"):
        experts.reconcile(setting.grader, split, setting.users["reviewer_a"], final)
    assert Grade.objects.filter(sample=split, is_reconciled=True).count() == 1
    # Reconciliation is not one more independent grade.
    assert experts.queue_summary(setting.grader).grades == 4
    rows = experts.disagreements(setting.grader, setting.users["reviewer_c"])
    assert [r.reconciled for r in rows] == [True]
    assert "Agreed after discussion." in client.get(url).content.decode()


def test_an_agreeing_sample_cannot_be_reconciled(setting):
    _, agreed = split_on_first_criterion(setting)
    with pytest.raises(ExpertGradingError, match="nothing to reconcile"):
        experts.reconcile(
            setting.grader, agreed, setting.users["reviewer_c"], all_good(setting.legal)
        )
    assert not Grade.objects.filter(is_reconciled=True).exists()


def split_below_quota(setting: Setting) -> tuple[ExpertQueueItem, dict[int, ExpertVerdict]]:
    """A sample of a grader wanting three grades, split by the two experts who graded it."""
    setting.grader.grades_per_sample = 3
    setting.grader.save()
    (sample,) = add_samples(setting.run, setting.legal, 1)
    (item,) = queue(setting, [sample])
    first = criteria_of(setting.legal)[0]
    good = all_good(setting.legal)
    experts.record_expert_grade(
        item, setting.users["reviewer_a"], {**good, first.pk: ExpertVerdict(True, "VOTE-MET-71")}
    )
    experts.record_expert_grade(
        item,
        setting.users["reviewer_a2"],
        {**good, first.pk: ExpertVerdict(False, "VOTE-NOT-MET-72")},
        "OVERALL-NOTE-73",
    )
    return item, good


def test_an_expert_still_to_grade_a_split_sample_cannot_see_or_post_its_reconciliation(
    client, setting
):
    item, good = split_below_quota(setting)
    third = setting.users["reviewer_c"]
    assert experts.next_item(setting.grader, third) == item
    client.force_login(third)
    url = reverse("graders:reconcile", args=[setting.grader.pk, item.sample.pk])

    page = client.get(url)
    posted = client.post(url, form_data(setting.legal, good, "Reconciled early."))

    assert page.status_code == posted.status_code == 404
    for vote in ("VOTE-MET-71", "VOTE-NOT-MET-72", "OVERALL-NOTE-73"):
        assert vote not in page.content.decode()
    assert not Grade.objects.filter(is_reconciled=True).exists()
    assert experts.disagreements(setting.grader, third) == []
    listing = client.get(reverse("graders:disagreements", args=[setting.grader.pk]))
    assert url not in listing.content.decode()
    # The sample is still theirs to grade, blind.
    assert experts.next_item(setting.grader, third) == item


def test_reconciling_waits_until_the_sample_has_all_its_independent_grades(client, setting):
    item, good = split_below_quota(setting)
    reconciler = setting.users["reviewer_a"]
    url = reverse("graders:reconcile", args=[setting.grader.pk, item.sample.pk])

    with pytest.raises(ExpertGradingError, match="has 2 of its 3 independent expert grades"):
        experts.reconcile(setting.grader, item.sample, reconciler, good)
    client.force_login(reconciler)
    assert client.get(url).status_code == 404
    assert client.post(url, form_data(setting.legal, good)).status_code == 404
    assert not Grade.objects.filter(is_reconciled=True).exists()

    experts.record_expert_grade(item, setting.users["reviewer_c"], good)

    rows = experts.disagreements(setting.grader, reconciler)
    assert [(r.sample, r.experts, r.split_criteria) for r in rows] == [(item.sample, 3, 1)]
    assert "2 of 3 experts" in client.get(url).content.decode()
    assert client.post(url, form_data(setting.legal, good))["Location"] == reverse(
        "graders:disagreements", args=[setting.grader.pk]
    )
    assert Grade.objects.get(is_reconciled=True).expert == reconciler


# --- changing the number of grades per sample ---------------------------------------------


def test_lowering_the_grades_per_sample_completes_samples_at_or_above_the_new_number(
    client, setting
):
    setting.grader.grades_per_sample = 3
    setting.grader.save()
    graded_twice, graded_thrice, graded_once = add_samples(setting.run, setting.legal, 3)
    twice, thrice, once = queue(setting, [graded_twice, graded_thrice, graded_once])
    good = all_good(setting.legal)
    a, a2, c = (setting.users[u] for u in ("reviewer_a", "reviewer_a2", "reviewer_c"))
    for expert in (a, a2):
        experts.record_expert_grade(twice, expert, good)
    for expert in (a, a2, c):
        experts.record_expert_grade(thrice, expert, good)
    experts.record_expert_grade(once, a, good)
    assert experts.queue_summary(setting.grader).complete == 1

    setting.grader.grades_per_sample = 2
    setting.grader.save()

    assert list(experts.open_items(setting.grader, c)) == [once]
    assert list(experts.open_items(setting.grader, a2)) == [once]
    summary = experts.queue_summary(setting.grader)
    assert (summary.queued, summary.complete, summary.grades) == (3, 2, 6)
    with pytest.raises(ExpertGradingError, match="has its 2 expert grades already"):
        experts.record_expert_grade(twice, c, good)
    client.force_login(c)
    response = client.post(
        reverse("graders:expert_grade", args=[twice.pk]), form_data(setting.legal, good)
    )
    assert response["Location"] == reverse("graders:expert_next", args=[setting.grader.pk])
    assert Grade.objects.filter(sample=graded_twice).count() == 2
    assert Grade.objects.filter(sample=graded_thrice).count() == 3


def test_a_split_sample_completed_by_lowering_the_grades_per_sample_can_be_reconciled(setting):
    item, good = split_below_quota(setting)
    reconciler = setting.users["reviewer_c"]
    assert experts.disagreements(setting.grader, reconciler) == []

    setting.grader.grades_per_sample = 2
    setting.grader.save()

    assert [r.sample for r in experts.disagreements(setting.grader, reconciler)] == [item.sample]
    assert experts.next_item(setting.grader, reconciler) is None
    grade = experts.reconcile(setting.grader, item.sample, reconciler, good)
    assert grade.is_reconciled


def test_raising_the_grades_per_sample_reopens_complete_samples_to_other_experts(client, setting):
    split, agreed = split_on_first_criterion(setting)
    third = setting.users["reviewer_c"]
    assert experts.next_item(setting.grader, third) is None
    assert experts.queue_summary(setting.grader).complete == 2

    setting.grader.grades_per_sample = 3
    setting.grader.save()

    assert {i.sample for i in experts.open_items(setting.grader, third)} == {split, agreed}
    assert experts.next_item(setting.grader, setting.users["reviewer_a"]) is None
    assert experts.queue_summary(setting.grader).complete == 0
    # The reopened split is hidden again from the expert who may now grade it.
    assert experts.disagreements(setting.grader, third) == []
    reconcile_url = reverse("graders:reconcile", args=[setting.grader.pk, split.pk])
    client.force_login(third)
    assert client.get(reconcile_url).status_code == 404

    item = ExpertQueueItem.objects.get(sample=split)
    response = client.post(
        reverse("graders:expert_grade", args=[item.pk]),
        form_data(setting.legal, all_good(setting.legal)),
    )

    assert response.status_code == 302
    assert experts.independent_grades(setting.grader).filter(sample=split).count() == 3
    assert {i.sample for i in experts.open_items(setting.grader, third)} == {agreed}
    assert experts.queue_summary(setting.grader).complete == 1
    assert [r.sample for r in experts.disagreements(setting.grader, third)] == [split]
    assert client.get(reconcile_url).status_code == 200


# --- queues -------------------------------------------------------------------------------


def test_an_operator_queues_a_random_subset_of_a_run_and_never_a_sample_twice(client, setting):
    done = add_samples(setting.run, setting.legal, 10)
    Sample.objects.create(
        run=setting.run, task_version=setting.nursing, attempt=0, status=Sample.Status.FAILED
    )
    client.force_login(setting.users["operator"])
    url = reverse("graders:expert_enqueue", args=[setting.grader.pk])

    assert client.post(url, {"run": RUN_PK, "count": 4}).status_code == 302
    first = set(ExpertQueueItem.objects.values_list("sample_id", flat=True))
    assert len(first) == 4 and first <= {s.pk for s in done}
    assert client.post(url, {"run": RUN_PK}).status_code == 302  # blank: every one left
    assert ExpertQueueItem.objects.count() == 10
    assert set(ExpertQueueItem.objects.values_list("sample_id", flat=True)) == {s.pk for s in done}
    assert ExpertQueueItem.objects.filter(added_by=setting.users["operator"]).count() == 10

    full = client.post(url, {"run": RUN_PK, "count": 3})
    assert full.status_code == 200
    assert "Run: Run #48213 has no finished samples that are not in this queue" in (
        html.unescape(full.content.decode())
    )
    zero = client.post(url, {"run": RUN_PK, "count": 0})
    assert "Number of samples:" in zero.content.decode()
    assert ExpertQueueItem.objects.count() == 10


def test_queueing_draws_a_random_subset(setting):
    done = add_samples(setting.run, setting.legal, 20)
    picks = [
        {i.sample_id for i in experts.enqueue_run(grader, setting.run, count=5, rng=rng)}
        for grader, rng in (
            (setting.grader, random.Random(1)),
            (Grader.objects.create(name="Other", kind=Grader.Kind.HUMAN), random.Random(2)),
        )
    ]
    assert all(len(p) == 5 for p in picks) and picks[0] != picks[1]
    assert picks[0] != {s.pk for s in done[:5]}


def test_only_active_human_graders_take_queued_samples(setting, simulated_grader):
    add_samples(setting.run, setting.legal, 1)
    with pytest.raises(ExpertGradingError, match="Only a human grader") as error:
        experts.enqueue_run(simulated_grader, setting.run)
    assert error.value.field == "grader"
    setting.grader.is_active = False
    setting.grader.save()
    with pytest.raises(ExpertGradingError, match="no longer collects grades"):
        experts.enqueue_run(setting.grader, setting.run)
    assert not ExpertQueueItem.objects.exists()


def test_the_queue_list_shows_each_person_what_concerns_them(client, setting):
    samples = add_samples(setting.run, setting.legal, 3)
    items = queue(setting, samples)
    experts.record_expert_grade(items[0], setting.users["reviewer_a"], all_good(setting.legal))
    url = reverse("graders:expert_queues")

    client.force_login(setting.users["reviewer_a"])
    row = client.get(url).context["rows"][0]
    assert (row.waiting, row.graded, row.form) == (2, 1, None)

    client.force_login(setting.users["operator"])
    response = client.get(url)
    row = response.context["rows"][0]
    assert row.summary.queued == 3 and row.summary.grades == 1 and row.form is not None
    assert "Add samples to Expert panel v1" in response.content.decode()


def test_next_sample_says_when_nothing_waits(client, setting):
    client.force_login(setting.users["reviewer_a"])
    response = client.get(reverse("graders:expert_next", args=[setting.grader.pk]), follow=True)
    assert "Nothing in Expert panel v1 waits for you now" in response.content.decode()


@pytest.mark.parametrize(
    ("role", "queues", "grading", "enqueue"),
    [
        ("author_a", 403, 403, 403),
        ("reviewer_a", 200, 200, 403),
        ("operator", 200, 403, 302),
        ("analyst", 200, 403, 302),
        ("admin", 200, 200, 302),
    ],
)
def test_who_may_use_the_expert_grading_pages(client, setting, role, queues, grading, enqueue):
    (sample,) = add_samples(setting.run, setting.legal, 1)
    add_samples(setting.run, setting.legal, 1, first=1)
    (item,) = queue(setting, [sample])
    client.force_login(setting.users[role])
    assert client.get(reverse("graders:expert_queues")).status_code == queues
    assert client.get(reverse("graders:expert_grade", args=[item.pk])).status_code == grading
    enqueue_url = reverse("graders:expert_enqueue", args=[setting.grader.pk])
    assert client.post(enqueue_url, {"run": RUN_PK, "count": 1}).status_code == enqueue
    assert client.get(enqueue_url).status_code in {403, 405}


def test_signed_out_visitors_are_sent_to_sign_in(client, setting):
    response = client.get(reverse("graders:expert_queues"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_command_queues_samples_of_a_run_for_the_newest_grader_version(setting):
    add_samples(setting.run, setting.legal, 5)
    out = io.StringIO()

    call_command("enqueue_expert_grading", grader="Expert panel", run=RUN_PK, count=2, stdout=out)

    assert "2 samples of run 48213 added to Expert panel v1." in out.getvalue()
    assert ExpertQueueItem.objects.filter(grader=setting.grader).count() == 2
    with pytest.raises(CommandError, match="--count: Queue at least one sample"):
        call_command("enqueue_expert_grading", grader="Expert panel", run=RUN_PK, count=0)
    with pytest.raises(CommandError, match="--grader: no grader 'Nobody'"):
        call_command("enqueue_expert_grading", grader="Nobody", run=RUN_PK)
