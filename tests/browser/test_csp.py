"""The Content Security Policy in a real browser: every page of the site, the admin and the
API documentation work under it, and Chromium reports no violation on any of them.

One test: the graded models behind the report pages must exist before Chromium starts.
"""

from __future__ import annotations

import os

import pytest
from django.urls import reverse

from tests.authoring import write_draft
from tests.browser import unavailable_reason

if reason := unavailable_reason():
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

from playwright.sync_api import expect

from occupations.models import Occupation, Panel, PanelMembership
from reports.models import Release
from runs.models import Run

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# The words Chromium's console messages about a blocked script, style, image, frame or form
# always contain.
VIOLATION = "Content Security Policy"


@pytest.fixture
def browser(approved_release, browser):
    """The module's Chromium, started only once the models are graded and a release is
    approved: the engine makes its model calls with asyncio.run, which cannot start inside
    Playwright's running loop."""
    return browser


class ViolationWatch:
    """Collects, for one page, every console message about the policy and every uncaught
    script error (a blocked script often shows only as the error it leaves behind)."""

    def __init__(self, page) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"{page.url}: {error}"))

    def _console(self, message) -> None:
        if VIOLATION in message.text:
            self.problems.append(f"{self.page.url}: {message.text}")

    def visit(self, url: str) -> None:
        response = self.page.goto(url)
        assert response is not None, url
        assert response.status == 200, f"{url} answered {response.status}"
        assert response.headers.get("content-security-policy"), f"{url} has no policy"
        self.page.wait_for_load_state("load")


def site_pages(release: Release, run: Run, author) -> list[str]:
    """One address of every kind of page a signed-in admin can open, with data behind it."""
    occupation = Occupation.objects.get(code="23-2011")
    task = write_draft(author, occupation).task
    panel = Panel.objects.create(name="Legal panel", slug="legal")
    panel.occupations.add(occupation.job_category)
    PanelMembership.objects.create(panel=panel, user=author, role=Panel.Role.AUTHOR)
    return [
        reverse("reports:home"),
        reverse("reports:job_category", args=[occupation.job_category.pk]),
        reverse("reports:occupation", args=[occupation.pk]),
        reverse("reports:model", args=[run.endpoint.slug]),
        reverse("reports:compare"),
        reverse("reports:release_list"),
        reverse("reports:release", args=[release.identifier]),
        reverse("reports:release_new"),
        reverse("occupations:my_tasks"),
        reverse("occupations:new_task"),
        reverse("occupations:import"),
        reverse("interop:import_tasks"),
        reverse("reports:statement_coverage"),
        reverse("occupations:task", args=[task.slug]),
        reverse("occupations:edit", args=[task.slug]),
        reverse("occupations:review_queue"),
        reverse("occupations:panel", args=[panel.slug]),
        reverse("occupations:suites"),
        reverse("occupations:new_suite"),
        reverse("occupations:suite", args=[release.suite.slug]),
        reverse("runs:models"),
        reverse("runs:new_model"),
        reverse("runs:edit_model", args=[run.endpoint.slug]),
        reverse("runs:schedules"),
        reverse("runs:new_schedule"),
        reverse("runs:new_run"),
        reverse("interop:import_eval_log"),
        reverse("admin:occupations_taxonomy_import"),
        reverse("graders:run_list"),
        reverse("graders:run", args=[run.pk]),
        reverse("graders:grader_list"),
        reverse("graders:grader_create"),
        reverse("graders:grader", args=[release.grader_id]),
        reverse("graders:validation", args=[release.grader_id]),
        reverse("graders:expert_queues"),
        reverse("audit:events"),
        reverse("mfa:manage"),
        reverse("password_change"),
    ]


def test_no_page_of_the_site_the_admin_or_the_api_docs_breaks_the_policy(
    approved_release, graded_models, users, sign_in, new_page
):
    pages = site_pages(approved_release, graded_models[0], users["author"])
    page = sign_in("admin")
    watch = ViolationWatch(page)
    for url in pages:
        watch.visit(url)

    # An operator's first sign-in: the set-up page with its QR code.
    operator = new_page()
    enrolment = ViolationWatch(operator)
    enrolment.visit(reverse("login"))
    operator.get_by_label("Username").fill("operator")
    operator.get_by_label("Password").fill("pw-operator")
    operator.get_by_role("button", name="Sign in").click()
    expect(operator.get_by_role("heading", name="Set up two-step sign-in")).to_be_visible()
    expect(operator.locator("figure svg")).to_be_visible()

    visitor = new_page()
    public = ViolationWatch(visitor)
    public.visit(reverse("reports:home"))
    # Each job category's success is a bar as wide as its rate, drawn with no inline style.
    bar = visitor.locator("svg.bar").first
    fill = visitor.locator("svg.bar rect.bar-fill").first
    expect(fill).to_be_visible()
    bar_box, fill_box = bar.bounding_box(), fill.bounding_box()
    assert bar_box and fill_box and 0 < fill_box["width"] <= bar_box["width"]

    watch.visit(reverse("admin:index"))
    # Every list and every add form the admin offers, then a change form with its widgets.
    links = page.locator("#content-main a").evaluate_all(
        "links => links.map(link => link.getAttribute('href'))"
    )
    assert len(links) > 10
    for href in dict.fromkeys(links):
        watch.visit(href)
    watch.visit(reverse("admin:auth_user_change", args=[users["admin"].pk]))
    expect(page.get_by_role("heading", name="Change user")).to_be_visible()

    watch.visit(reverse("api:docs"))
    # Swagger UI draws the operations from the schema only once its scripts have run.
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    expect(page.get_by_role("heading", name="evalbuilder API")).to_be_visible()
    assert watch.problems + enrolment.problems + public.problems == []
