"""Official releases in a real browser: an analyst turns graded runs into a release, approves
it, downloads every format, corrects it, and the public sees the revision."""

import os

import pytest

from reports import exports
from runs.models import ModelEndpoint
from tests.browser import unavailable_reason

if reason := unavailable_reason():
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

from playwright.sync_api import expect

from tests.browser import save_screenshot

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser(graded_models, browser):
    """The module's Chromium, started only once the models are graded: the engine makes its
    model calls with asyncio.run, which cannot start inside Playwright's running loop."""
    return browser


def accept_confirmations(page) -> None:
    """Say yes to the confirmation the approve and discard buttons ask for."""
    page.on("dialog", lambda dialog: dialog.accept())


def test_an_analyst_prepares_approves_downloads_and_corrects_a_release(
    browser, world, sign_in, new_page, settings
):
    settings.EVALBUILDER_RELEASE_REQUIRES_VALIDATION = False
    page = sign_in("analyst")
    accept_confirmations(page)
    page.get_by_role("link", name="Releases").click()
    expect(page.get_by_role("heading", name="Official releases")).to_be_visible()
    page.get_by_role("link", name="Prepare a release").click()

    page.get_by_label("Series").fill("ai-and-work")
    page.get_by_label("Title").fill("AI models and the work of the nation")
    for model in ("Sim Early", "Sim Mid", "Sim Late"):
        expect(page.get_by_label(f"{model} (simulated)", exact=False)).to_be_checked()
    page.get_by_label("Models released from").fill("2023-01-01")
    page.get_by_label("Disclosure threshold (tasks)").fill("2")
    page.get_by_role("button", name="Prepare the draft").click()

    # Celery runs eagerly here, so the figures are in by the time the page loads.
    expect(page.get_by_role("heading", name="Draft: not approved")).to_be_visible()
    expect(page.get_by_text("ai-and-work-v1 is being prepared")).to_be_visible()
    save_screenshot(page, "release-draft")
    page.get_by_role("button", name="Approve and publish").click()
    expect(page.get_by_text("ai-and-work-v1 is approved and published")).to_be_visible()
    expect(page.get_by_role("heading", name="Draft: not approved")).to_be_hidden()

    downloads = page.get_by_role("region", name="Download").get_by_role("link")
    expect(downloads).to_have_count(len(exports.FORMATS))
    for link in downloads.all():
        response = page.request.get(link.get_attribute("href"))
        assert response.status == 200, link.inner_text()
        assert response.body(), link.inner_text()

    renamed = ModelEndpoint.objects.get(slug="sim-late")
    renamed.display_name = "Sim Late II"
    renamed.save()
    page.get_by_role("link", name="Correct this release").click()
    page.get_by_label("What is corrected, and why").fill("The latest model's name was wrong.")
    page.get_by_role("button", name="Prepare the correction").click()
    expect(page.get_by_role("heading", name="Figures changed from ai-and-work-v1")).to_be_visible()
    revisions = page.get_by_role("table", name="Every version of the series ai-and-work")
    expect(revisions.get_by_role("row")).to_have_count(3)  # the header and two versions
    expect(revisions).to_contain_text("The latest model's name was wrong.")
    page.get_by_role("button", name="Approve and publish").click()
    expect(page.get_by_text("ai-and-work-v2 is approved and published")).to_be_visible()
    save_screenshot(page, "release-correction")

    public = new_page()
    public.goto("/releases/ai-and-work-v1/")
    expect(public.get_by_role("heading", name="Corrected by ai-and-work-v2")).to_be_visible()
    expect(public.get_by_role("button", name="Approve and publish")).to_have_count(0)
