"""An expert grades a model output blind, in a real browser, by ticking the rubric's boxes."""

import os
import re

import pytest

from graders.models import ExpertQueueItem, Grade, Grader
from occupations.models import Suite, Task
from runs.models import Run, Sample
from tests.browser import unavailable_reason

if reason := unavailable_reason():
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

from playwright.sync_api import expect

from tests.browser import save_screenshot

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_an_expert_grades_a_sample_by_ticking_the_criteria_it_meets(world, sign_in, make_endpoint):
    endpoint = make_endpoint("zephyr-9000", display_name="Zephyr Nine Thousand")
    run = Run.objects.create(
        suite=Suite.objects.get(slug="demo"), endpoint=endpoint, status=Run.Status.COMPLETED
    )
    version = Task.objects.get(slug="paralegal-chronology").latest_version()
    sample = Sample.objects.create(
        run=run,
        task_version=version,
        attempt=0,
        status=Sample.Status.DONE,
        output="| Date | Event |\n|---|---|\n| 31 January 2024 | Hearing (DOC 2 says 30 January) |",
    )
    grader = Grader.objects.create(name="Legal experts", kind=Grader.Kind.HUMAN)
    ExpertQueueItem.objects.create(grader=grader, sample=sample)
    criteria = list(version.criteria.order_by("order"))

    page = sign_in("reviewer_a")
    page.get_by_role("link", name="Expert grading").click()
    page.get_by_role("link", name="Grade the next sample of Legal experts v1").click()
    expect(page.get_by_role("heading", name="Grade a sample")).to_be_visible()
    expect(page.get_by_role("cell", name="Hearing (DOC 2 says 30 January)")).to_be_visible()
    expect(page.get_by_text("Zephyr")).to_have_count(0)

    first = page.get_by_role("group", name=re.compile(r"^Criterion 1 "))
    first.get_by_label("The output meets this criterion").check()
    first.get_by_label("Comment on criterion 1").fill("The conflict is flagged in the table.")
    page.get_by_label("Overall comment").fill("Short, but right on the key conflict.")
    save_screenshot(page, "expert-grading")
    page.get_by_role("button", name="Save and grade the next sample").click()

    expect(page.get_by_text("Grade saved.")).to_be_visible()
    expect(page.get_by_text("Nothing in Legal experts v1 waits for you now")).to_be_visible()
    grade = Grade.objects.get(sample=sample, grader=grader)
    assert grade.expert.username == "reviewer_a"
    assert grade.comment == "Short, but right on the key conflict."
    met = {v.criterion_id for v in grade.verdicts.filter(met=True)}
    assert met == {criteria[0].pk}
    positive = sum(c.points for c in criteria if c.points > 0)
    assert grade.score == criteria[0].points / positive
