"""A run's page in a real browser: its controls, and progress followed live by JavaScript."""

import os
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from runs import services
from runs.models import Run, Sample
from tests.browser import unavailable_reason

if reason := unavailable_reason():
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

from playwright.sync_api import expect

from tests.browser import save_screenshot

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def write_samples(run: Run, *samples: dict) -> None:
    for (version_id, attempt), fields in zip(services.work_items(run), samples, strict=False):
        values = {"status": Sample.Status.DONE, **fields}
        Sample.objects.create(run=run, task_version_id=version_id, attempt=attempt, **values)


def test_the_run_page_follows_progress_live_and_announces_status_changes(
    world, sign_in, small_suite, make_endpoint
):
    # No worker runs here: the test moves the run along itself, as a worker would.
    run = services.create_run(small_suite, make_endpoint("sim-model"), samples_per_task=2)
    page = sign_in("operator")
    page.goto(f"/runs/{run.pk}/")
    status = page.locator("[data-progress-status]")
    expect(status).to_have_text("Queued")
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    expect(page.get_by_role("button", name="Resume")).to_be_hidden()

    Run.objects.filter(pk=run.pk).update(
        status=Run.Status.RUNNING, started_at=timezone.now(), concurrency=3
    )
    write_samples(
        run,
        {"cost": Decimal("0.0125"), "input_tokens": 1500, "output_tokens": 400},
        {"status": Sample.Status.FAILED, "error_kind": "rate_limit", "tries": 4},
    )
    expect(status).to_have_text("Running")
    expect(page.locator('[data-progress="written"]')).to_have_text("2")
    expect(page.locator("progress").first).to_have_attribute("value", "2")
    expect(page.locator("[data-progress-errors]")).to_have_text("rate_limit: 1")
    expect(page.locator('[data-progress="cost"]')).to_have_text("0.0125")
    expect(page.locator('[data-progress="input_tokens"]')).to_have_text("1,500")
    expect(page.locator('[data-progress="concurrency"]')).to_have_text("3")

    services.pause_run(run, reason="Stopped: budget of 0.01 reached.")
    expect(status).to_have_text("Paused")
    expect(page.get_by_text("Stopped: budget of 0.01 reached.")).to_be_visible()
    expect(page.get_by_role("button", name="Pause")).to_be_hidden()
    expect(page.get_by_role("button", name="Resume")).to_be_visible()
    save_screenshot(page, "run-paused")

    services.cancel_run(run)
    expect(status).to_have_text("Cancelled")
    expect(page.get_by_role("link", name="reload the page")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel the run")).to_be_hidden()


def test_an_operator_pauses_resumes_and_cancels_a_run_with_its_buttons(
    world, sign_in, small_suite, make_endpoint
):
    run = services.create_run(small_suite, make_endpoint("sim-model"))
    page = sign_in("operator")
    page.goto(f"/runs/{run.pk}/")
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_text(f"Run #{run.pk} is paused.")).to_be_visible()

    page.get_by_label(re.compile("^New budget")).fill("2.5")
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_text(f"Run #{run.pk} resumes from its missing samples.")).to_be_visible()
    run.refresh_from_db()
    assert (run.status, run.budget) == (Run.Status.RUNNING, Decimal("2.5"))

    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Cancel the run").click()
    run.refresh_from_db()
    assert run.status == Run.Status.RUNNING  # the confirmation was declined
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel the run").click()
    expect(page.get_by_text(f"Run #{run.pk} is cancelled.")).to_be_visible()
    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED
