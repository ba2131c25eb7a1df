"""Interoperability in a real browser: an admin imports O*NET task statements, an author
cites one, the public coverage page counts them, and an operator downloads a suite as an
Inspect AI task."""

import io
import os
import re
import zipfile
from pathlib import PurePosixPath

import pytest

from tests.authoring import write_draft
from tests.browser import unavailable_reason

if reason := unavailable_reason():
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

from playwright.sync_api import expect

from occupations.models import TaskStatement, Taxonomy
from tests.browser import save_screenshot

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

DRAFT_TITLE = "Chronology of the Harlow matter"

# Shares chronology, event, client, file, date, source, document, entry and supervising with
# the draft's text (tests.authoring.GOOD_INSTRUCTIONS and the fields write_draft gives).
MATCHING = (
    "Prepare a chronology of the events in a client file, giving the date and source "
    "document of every entry, for the supervising attorney."
)
# These share no word with the draft, so that only MATCHING is suggested.
LIBRARY = "Keep law libraries current by ordering and shelving new volumes."
RESEARCH = "Research statutes, regulations and published decisions for attorneys."
TRAVEL = "Arrange travel for witnesses appearing in court."

OCCUPATION_DATA = (
    "O*NET-SOC Code\tTitle\tDescription\n"
    "23-2011.00\tParalegals and Legal Assistants\t"
    "Assist lawyers with research, documents and the preparation of cases.\n"
)
STATEMENT_HEADER = (
    "O*NET-SOC Code\tTask ID\tTask\tTask Type\tIncumbents Responding\tDate\tDomain Source\n"
)
STATEMENTS = [
    (90001, MATCHING, "Core"),
    (90002, LIBRARY, "Core"),
    (90003, RESEARCH, "Core"),
    (90004, TRAVEL, "Supplemental"),
]
CORE_STATEMENTS = sum(1 for *_, kind in STATEMENTS if kind == "Core")


def onet_files(directory) -> list:
    """The two required files of an O*NET text release, small, written into `directory`."""
    occupations = directory / "Occupation Data.txt"
    occupations.write_text(OCCUPATION_DATA, encoding="utf-8")
    statements = directory / "Task Statements.txt"
    statements.write_text(
        STATEMENT_HEADER
        + "".join(
            f"23-2011.00\t{task_id}\t{text}\t{kind}\t12\t07/2024\tIncumbent\n"
            for task_id, text, kind in STATEMENTS
        ),
        encoding="utf-8",
    )
    return [occupations, statements]


def field(page, label: str):
    """The form field with this label (Django ends labels with a colon)."""
    return page.get_by_label(re.compile(rf"^{re.escape(label)}:?$"))


def statement_checkbox(page, text: str, *, suggested: bool):
    prefix = "suggested " if suggested else ""
    return page.get_by_role("checkbox", name=re.compile(rf"^{prefix}{re.escape(text)}"))


def test_onet_statements_imported_in_the_admin_reach_the_editor_coverage_and_exports(
    world, sign_in, new_page, tmp_path
):
    uploads = onet_files(tmp_path)
    draft = write_draft(world.users["author_a"], world.occupation_a, title=DRAFT_TITLE)
    slug = draft.task.slug

    # 1. The admin imports the O*NET files from the taxonomy list: a check first, then for real.
    page = sign_in("admin")
    page.goto("/admin/")
    page.get_by_role("link", name="Taxonomies", exact=True).click()
    page.get_by_role("link", name="Import official files").click()
    expect(page.get_by_role("heading", name="Import official files")).to_be_visible()
    field(page, "Kind").select_option(label="O*NET database (text release)")
    field(page, "Files").set_input_files(uploads)
    field(page, "Release").fill("26.3")
    expect(field(page, "Check only (dry run)")).to_be_checked()
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("heading", name="Check only: nothing was written")).to_be_visible()
    report = page.locator("#content-main pre")
    expect(report).to_contain_text("O*NET database into O*NET-SOC 26.3: dry run")
    expect(report).to_contain_text("statements: 4 added")
    expect(report).to_contain_text("crosswalk links: 1 added")
    assert not TaskStatement.objects.exists()
    assert not Taxonomy.objects.filter(name="O*NET-SOC").exists()

    # The browser keeps no file across the answer: they are chosen again.
    field(page, "Files").set_input_files(uploads)
    field(page, "Check only (dry run)").uncheck()
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_text("O*NET database into O*NET-SOC 26.3: imported")).to_be_visible()
    expect(page.locator("#content-main pre")).to_contain_text("statements: 4 added")
    assert TaskStatement.objects.count() == 4

    page.goto("/admin/")
    page.get_by_role("link", name="Task statements", exact=True).click()
    expect(page.get_by_role("link", name="90001")).to_be_visible()
    credit = page.locator("p.credit")
    expect(credit).to_contain_text("O*NET 26.3 Database")
    expect(credit).to_contain_text("CC BY 4.0")
    save_screenshot(page, "admin-statements")

    # 2. The author cites the suggested statement in the draft's editor.
    page = sign_in("author_a")
    page.get_by_role("link", name=DRAFT_TITLE).click()
    page.get_by_role("link", name="Edit the draft").click()
    expect(page.get_by_role("heading", name="Edit version 1")).to_be_visible()
    statements = page.get_by_role("group", name="Task statements")
    expect(statements.get_by_role("checkbox")).to_have_count(4)
    matching = statement_checkbox(statements, MATCHING, suggested=True)
    expect(matching).not_to_be_checked()
    for text in (LIBRARY, RESEARCH, TRAVEL):
        expect(statement_checkbox(statements, text, suggested=False)).to_have_count(1)
    expect(statements.locator("p.credit")).to_contain_text("O*NET 26.3 Database")
    save_screenshot(page, "editor-statements")
    matching.check()
    page.get_by_role("button", name="Save the draft").click()
    expect(page.get_by_text("Draft saved (version 1).")).to_be_visible()
    expect(statement_checkbox(page, MATCHING, suggested=True)).to_be_checked()

    page.goto(f"/tasks/{slug}/")
    cited = page.locator("section", has=page.get_by_role("heading", name="Task statements"))
    expect(cited.locator("tbody tr td")).to_have_text(["90001", MATCHING, "23-2011.00", "Core"])
    expect(cited.locator("p.credit")).to_contain_text("CC BY 4.0")

    # 3. Anyone sees the paralegals' core statements; a draft's citation covers none of them.
    page = new_page()
    page.goto("/coverage/statements/")
    expect(page.get_by_role("heading", name="Task statement coverage")).to_be_visible()
    row = page.locator("tr", has=page.get_by_role("link", name="Paralegals and Legal Assistants"))
    expect(row.locator("td").nth(0)).to_have_text("23-2011")
    expect(row.locator("td").nth(2)).to_have_text(str(CORE_STATEMENTS))
    expect(row.locator("td").nth(3)).to_have_text("0")
    expect(row.locator("td").nth(4)).to_have_text("0 %")
    expect(page.locator("p.credit")).to_contain_text("O*NET 26.3 Database")

    # 4. An operator downloads the demo suite as an Inspect AI task.
    page = sign_in("operator")
    page.get_by_role("link", name="Suites").click()
    page.get_by_role("link", name="Demo suite").click()
    downloads = page.locator("section", has=page.get_by_role("heading", name="Download the suite"))
    with page.expect_download() as answer:
        downloads.get_by_role("link", name="Inspect AI task", exact=True).click()
    download = answer.value
    assert download.suggested_filename == "demo-inspect.zip"
    archive = zipfile.ZipFile(io.BytesIO(download.path().read_bytes()))
    names = {PurePosixPath(name).name for name in archive.namelist()}
    assert {"dataset.jsonl", "task.py"} <= names
    dataset = next(name for name in archive.namelist() if name.endswith("dataset.jsonl"))
    assert archive.read(dataset).decode().count("\n") >= 1
