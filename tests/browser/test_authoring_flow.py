"""The expert authoring flow in a real browser, with the editor's JavaScript running."""

import os
import re

import pytest

from tests.authoring import write_draft
from tests.browser import unavailable_reason

if reason := unavailable_reason():
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

from playwright.sync_api import expect

from tests.browser import save_screenshot

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TITLE = "Build a chronology of the Harlow matter"

INSTRUCTIONS = (
    "You are the paralegal on the Harlow matter. The supervising solicitor needs a "
    "chronology of every event in the client file before Thursday's conference, with the "
    "source document for each entry, so that she can check the limitation date and the "
    "sequence of the employer's warnings. Put the events in date order."
)

# The simulated judge marks a criterion met when most of its content words are in the
# answer: this reference meets every positive criterion and never invents an offer.
REFERENCE = (
    "A table of every event ordered by date, with date, event and source columns. "
    "14 March: termination letter (source document: the letter). 2 April: email giving the "
    "hearing on 30 January, which conflicts with the other hearing dates; the conflicting "
    "dates are flagged. Every entry gives its source document."
)

# (text, points, tag, critical): six rows, one negative and one critical.
CRITERIA = [
    ("Lists the 14 March termination letter as an event", "5", "accuracy", True),
    ("Gives the source document of every entry", "3", "completeness", False),
    ("Orders the events by date", "2", "accuracy", False),
    ("Flags the conflicting hearing dates", "4", "reasoning", False),
    ("Uses a table with date, event and source", "1", "instruction_following", False),
    ("Invents a settlement offer that is not in the client file", "-6", "accuracy", False),
]

LEDGER = b"date,event,source\n2026-03-14,termination letter,letter\n"


def field(page, label: str):
    """The form field with this label (Django ends labels with a colon)."""
    return page.get_by_label(re.compile(rf"^{re.escape(label)}:?$"))


def test_an_expert_writes_a_task_that_reviewers_publish_and_an_operator_puts_in_a_suite(
    world, sign_in
):
    # 1. The author starts a task for paralegals.
    page = sign_in("author_a")
    page.get_by_role("link", name="Write a new task").click()
    expect(page.get_by_role("heading", name="Write a new task")).to_be_visible()
    occupation = field(page, "Occupation")
    expect(occupation.locator("option", has_text="23-1011 Lawyers")).to_have_count(1)
    search = page.get_by_label("Find the occupation by code or title")
    search.fill("paralegal")
    # Typing filters the list in place (see the test below); Find filters on the server.
    page.get_by_role("button", name="Find").click()
    expect(occupation.locator("option", has_text="23-1011 Lawyers")).to_have_count(0)
    occupation.select_option(label="23-2011 Paralegals and Legal Assistants")
    field(page, "Title").fill(TITLE)
    expect(page.get_by_label("Public")).to_be_checked()
    page.get_by_role("button", name="Create the task").click()

    # 2. The editor: every field, six criteria, a live points total.
    expect(page.get_by_role("heading", name="Edit version 1")).to_be_visible()
    edit_url = page.url
    slug = re.search(r"/tasks/([^/]+)/edit/$", edit_url).group(1)
    expect(field(page, "Title")).to_have_value(TITLE)
    expect(page.get_by_label("Public")).to_be_checked()
    field(page, "Instructions").fill(INSTRUCTIONS)
    field(page, "Input material").fill(
        "Letter of 14 March: termination. Email of 2 April: hearing on 30 January."
    )
    field(page, "Deliverable").fill("A table: date, event, source document.")
    field(page, "Estimated minutes").fill("90")
    field(page, "How the minutes were estimated").fill("Timed two paralegals")
    field(page, "Reference solution").fill(REFERENCE)
    field(page, "Pass threshold").fill("0.7")

    rows = page.locator("#criteria .criterion-row")
    expect(rows).to_have_count(2)
    total = page.locator("#positive-total")
    expect(total).to_have_text("0")
    add = page.get_by_role("button", name="Add a criterion")
    running_total = 0
    for index, (text, points, tag, critical) in enumerate(CRITERIA):
        if index >= 2:
            add.click()
            expect(rows).to_have_count(index + 1)
            expect(page.locator(f"#id_criteria-{index}-text")).to_be_focused()
        page.locator(f"#id_criteria-{index}-text").fill(text)
        # The tag before the points: leaving the tag closes its datalist suggestions, whose
        # native popup can otherwise swallow the next click.
        page.locator(f"#id_criteria-{index}-tag").fill(tag)
        page.locator(f"#id_criteria-{index}-points").fill(points)
        if critical:
            page.locator(f"#id_criteria-{index}-critical").check()
        running_total += max(int(points), 0)
        expect(total).to_have_text(str(running_total))
    assert running_total == 15
    save_screenshot(page, "editor")
    page.get_by_role("button", name="Save the draft").click()
    expect(page.get_by_text("Draft saved (version 1).")).to_be_visible()
    # Only calibration stands between the saved draft and review now.
    problems = page.locator("#problems li")
    expect(problems).to_have_text(["Calibrate the rubric on the current text before submitting."])
    expect(rows).to_have_count(8, timeout=1000)  # six saved rows and two empty ones
    expect(total).to_have_text("15")
    expect(page.locator("#id_criteria-0-critical")).to_be_checked()
    expect(page.locator("#id_criteria-5-points")).to_have_value("-6")

    # Attaching posts its own form, so it comes after the save.
    field(page, "File").set_input_files(
        files=[{"name": "ledger.csv", "mimeType": "text/csv", "buffer": LEDGER}]
    )
    page.get_by_role("button", name="Attach the file").click()
    expect(page.get_by_text("Attached ledger.csv.")).to_be_visible()
    attachments = page.locator("section", has=page.get_by_role("heading", name="Attachments"))
    expect(attachments.get_by_role("link", name="ledger.csv")).to_be_visible()
    expect(attachments).to_contain_text("CSV")
    expect(attachments).to_contain_text("text extracted")

    page.get_by_role("button", name="Calibrate the rubric").click()
    expect(page.get_by_role("heading", name="Calibration of version 1")).to_be_visible()
    verdicts = page.locator("table tbody tr")
    expect(verdicts).to_have_count(6)
    expect(page.locator("table tbody tr td:last-child")).to_have_text(["as expected"] * 6)
    expect(page.get_by_text("The rubric behaves")).to_be_visible()
    page.get_by_role("link", name="Back to the editor").click()
    expect(page).to_have_url(edit_url)
    expect(page.get_by_role("heading", name="Before you can submit")).to_have_count(0)
    page.get_by_role("button", name="Save and submit for review").click()
    expect(page.get_by_text("Submitted for review. The version is now frozen.")).to_be_visible()
    expect(page.get_by_role("heading", name=TITLE)).to_be_visible()
    expect(page.locator(".meta .status")).to_have_text("In review")
    task_url = page.url
    assert task_url.endswith(f"/tasks/{slug}/")

    # 3. Two reviewers of the legal panel approve; the second publishes.
    for reviewer, approvals in (("reviewer_a", 1), ("reviewer_a2", 2)):
        page = sign_in(reviewer)
        page.get_by_role("link", name="Review queue (1)").click()
        page.get_by_role("link", name=TITLE).click()
        expect(page).to_have_url(task_url)
        page.get_by_label("Approve: it is ready to publish").check()
        page.get_by_role("button", name="Record your review").click()
        expect(page.get_by_text("Review recorded: approve.")).to_be_visible()
        expect(page.get_by_text(f"{approvals} of 2 independent approvals.")).to_be_visible()
        expect(page.get_by_role("button", name="Record your review")).to_have_count(0)
    expect(page.locator(".meta .status")).to_have_text("Approved")
    page.get_by_role("button", name="Publish version 1").click()
    expect(page.get_by_text("Version 1 is published.")).to_be_visible()
    expect(page.locator(".meta .status")).to_have_text("Published")
    expect(page.locator(".meta")).to_contain_text("published")

    # 4. An operator puts the published version in a new suite.
    page = sign_in("operator")
    page.get_by_role("link", name="Suites").click()
    page.get_by_role("link", name="Assemble a new suite").click()
    field(page, "Name").fill("Legal 2026")
    field(page, "Slug").fill("legal-2026")
    choice = page.get_by_label(f"23-2011 {TITLE} (v1)")
    choice.check()
    page.get_by_role("button", name="Save the suite").click()
    expect(page.get_by_text("Suite Legal 2026 saved.")).to_be_visible()
    expect(page.get_by_label(f"23-2011 {TITLE} (v1)")).to_be_checked()
    page.get_by_role("link", name="Suites").first.click()
    row = page.locator("tr", has=page.get_by_role("link", name="Legal 2026"))
    expect(row.locator("td")).to_have_text(
        ["Legal 2026", "1", "0", "open", "Inspect AI task · HealthBench · GDPval"]
    )

    # 5. An author of another panel cannot even tell that the task exists.
    page = sign_in("author_b")
    response = page.goto(task_url)
    assert response.status == 404
    expect(page.get_by_text(TITLE)).to_have_count(0)


def test_signing_in_with_the_keyboard_alone_reaches_your_tasks(world, new_page):
    page = new_page()
    page.goto("/tasks/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/tasks/$"))
    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.type("author_a")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type("pw-author_a")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/tasks/$"))
    expect(page.get_by_role("heading", name="Your tasks")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out author_a")).to_be_visible()


def test_the_editor_links_each_error_to_the_field_that_needs_fixing(world, sign_in):
    version = write_draft(world.users["author_a"], world.occupation_a)
    page = sign_in("author_a")
    page.goto(f"/tasks/{version.task.slug}/edit/")
    page.locator("#id_criteria-0-points").fill("0")
    page.get_by_role("button", name="Save the draft").click()
    summary = page.get_by_role("alert")
    expect(summary.get_by_role("heading", name="There is a problem")).to_be_visible()
    link = summary.get_by_role(
        "link", name="Criterion 1, points: Points cannot be 0: give a positive or negative value."
    )
    field(page, "Title").focus()
    link.click()
    expect(page.locator("#id_criteria-0-points")).to_be_focused()
    expect(page.locator("#id_criteria-0-points")).to_have_value("0")


def test_the_occupation_search_filters_the_list_while_typing(world, sign_in):
    page = sign_in("author_a")
    page.goto("/tasks/new/")
    page.get_by_label("Find the occupation by code or title").fill("paralegal")
    lawyers = field(page, "Occupation").locator("option", has_text="23-1011 Lawyers")
    expect(lawyers).to_have_js_property("hidden", True, timeout=1000)


def test_signing_in_from_the_home_page_lands_on_your_tasks_and_signing_out_goes_home(
    world, new_page
):
    page = new_page()
    page.goto("/")
    page.get_by_role("link", name="Sign in").click()
    page.get_by_label("Username").fill("author_a")
    page.get_by_label("Password").fill("pw-author_a")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/tasks/$"))
    expect(page.get_by_role("heading", name="Your tasks")).to_be_visible()
    page.get_by_role("button", name="Sign out author_a").click()
    expect(page).to_have_url(re.compile(r"^http://[^/]+/$"))
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()


def test_attaching_a_file_keeps_unsaved_edits_in_the_editor(world, sign_in):
    version = write_draft(world.users["author_a"], world.occupation_a)
    page = sign_in("author_a")
    page.goto(f"/tasks/{version.task.slug}/edit/")
    field(page, "Deliverable").fill("A table with a source for every entry.")
    field(page, "File").set_input_files(
        files=[{"name": "ledger.csv", "mimeType": "text/csv", "buffer": LEDGER}]
    )
    page.get_by_role("button", name="Attach the file").click()
    expect(page.get_by_text("Attached ledger.csv.")).to_be_visible()
    expect(field(page, "Deliverable")).to_have_value(
        "A table with a source for every entry.", timeout=2000
    )
    page.get_by_role("button", name="Save the draft").click()
    expect(page.get_by_text("Draft saved (version 1).")).to_be_visible()
