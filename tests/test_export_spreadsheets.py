"""The release spreadsheets (XLSX and ODS), read back with independent readers (openpyxl,
python-calamine) and checked against the figures stored on the release."""

import io
import re
import zipfile
from datetime import date, datetime

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from reports import releases
from reports.exports import FORMATS, build
from reports.release_tables import MISSING_CODES, TABLES, Table, format_code

pytestmark = pytest.mark.django_db

SHEETS = ["Cover", "Contents", "Notes", *(f"Table_{n}" for n in range(1, len(TABLES) + 1))]
HEADER_ROW = 4
"""Row (from 1) of every table sheet's header: title, a line on notes, one on codes."""
CODE = re.compile(r"\[[a-z]\]")
REASON = "One task was scored against an outdated rubric."
DRAFT_FILE_NAMES = {
    "xlsx": "{}-DRAFT.xlsx",
    "ods": "{}-DRAFT.ods",
    "csv": "{}-csv-DRAFT.zip",
    "sdmx": "{}-sdmx-DRAFT.csv",
    "sdmx-structure": "{}-sdmx-structure-DRAFT.xml",
    "datapackage": "{}-datapackage-DRAFT.zip",
    "dcat": "{}-dcat-DRAFT.jsonld",
    "json": "{}-DRAFT.json",
    "html": "{}-DRAFT.html",
    "pdf": "{}-DRAFT.pdf",
}
"""What a draft's file is called in every format ({} is the release identifier)."""


def published(value):
    """A value as a reader gives it, as the release stores it: dates as ISO text."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def expected_row(spec: Table, row: dict) -> list:
    """A stored row as its cells should read: the figure, or [code] where there is none."""
    return [
        format_code(row["missing"][c.key]) if row["values"][c.key] is None else row["values"][c.key]
        for c in spec.columns
    ]


def assert_same_cells(spec: Table, stored: list[dict], read: list[list]) -> None:
    assert len(read) == len(stored), spec.id
    for row, cells in zip(stored, read, strict=True):
        expected = expected_row(spec, row)
        assert [published(v) for v in cells] == expected, spec.id
        for column, value, figure in zip(spec.columns, cells, expected, strict=True):
            if column.type == "date" and not CODE.fullmatch(str(figure)):
                assert isinstance(value, date), (spec.id, column.key, value)
            elif isinstance(figure, int | float):
                assert isinstance(value, int | float), (spec.id, column.key, value)


def xlsx(release) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(build(release, "xlsx").data))


def ods(release) -> tuple[CalamineWorkbook, bytes]:
    data = build(release, "ods").data
    return CalamineWorkbook.from_filelike(io.BytesIO(data)), data


def ods_rows(book: CalamineWorkbook, name: str) -> list[list]:
    return book.get_sheet_by_name(name).to_python(skip_empty_area=False)


def suppressed_rows(release) -> list[tuple[Table, int]]:
    return [
        (spec, index)
        for spec in TABLES
        for index, row in enumerate(release.tables[spec.id])
        if row["suppression"]
    ]


def test_the_xlsx_workbook_has_a_cover_contents_notes_then_each_table_as_an_excel_table(
    approved_release,
):
    book = xlsx(approved_release)
    assert book.sheetnames == SHEETS
    cover = [row[0] for row in book["Cover"].iter_rows(values_only=True)]
    assert cover[0] == approved_release.title
    assert f"Official release {approved_release.identifier}" in cover[2]
    assert (
        f"Checksum (SHA-256 of the figures and methodology): {approved_release.checksum}" in cover
    )
    assert "Approved by: analyst" in cover
    for section in approved_release.methodology["sections"]:
        assert section["heading"] in cover and section["paragraphs"][0] in cover
    assert all(
        f"{format_code(code)}: {meaning}" in cover for code, meaning in MISSING_CODES.items()
    )
    assert book.properties.title == approved_release.title
    assert book.properties.creator

    contents = list(book["Contents"].iter_rows(values_only=True))
    assert contents[0][0] == "Contents"
    assert contents[2] == ("Sheet name", "Table title", "Notes")
    assert [row[0] for row in contents[3:]] == SHEETS[2:]
    links = {cell.value: cell.hyperlink.location for cell in book["Contents"]["B"][3:]}
    assert links[TABLES[0].title] == "'Table_1'!A1"

    notes = list(book["Notes"].iter_rows(min_row=3, values_only=True))
    assert notes[0] == ("Note number", "Note text")
    assert notes[1:] == [
        (f"note {note['number']}", note["text"]) for note in approved_release.methodology["notes"]
    ]

    assert "contents" in book["Contents"].tables and "notes" in book["Notes"].tables
    for sheet in book.worksheets:
        assert not sheet.merged_cells.ranges, sheet.title
    for number, spec in enumerate(TABLES, start=1):
        sheet = book[f"Table_{number}"]
        stored = approved_release.tables[spec.id]
        assert sheet["A1"].value == f"Table {number}: {spec.title}"
        assert sheet["A2"].value.startswith("This worksheet contains one table.")
        assert all(f"[note {n}]" in sheet["A2"].value for n in spec.notes)
        header = [c.value for c in sheet[HEADER_ROW]]
        assert header == [c.header for c in spec.columns]
        # Nothing below or beside the table: no blank rows or columns inside it.
        assert sheet.max_row == HEADER_ROW + len(stored)
        assert sheet.max_column == len(spec.columns)
        rows = [list(r) for r in sheet.iter_rows(min_row=HEADER_ROW + 1, values_only=True)]
        assert_same_cells(spec, stored, rows)
        for column in spec.columns:
            if column.type in ("number", "integer"):
                for value in (r[spec.columns.index(column)] for r in rows):
                    assert isinstance(value, int | float) or CODE.fullmatch(value)
        table = sheet.tables[spec.id]
        last = openpyxl.utils.get_column_letter(len(spec.columns))
        assert table.ref == f"A{HEADER_ROW}:{last}{HEADER_ROW + len(stored)}"
        assert sheet.freeze_panes == f"A{HEADER_ROW + 1}"


def test_the_ods_spreadsheet_holds_the_same_sheets_and_figures_without_merged_cells(
    approved_release,
):
    book, data = ods(approved_release)
    assert book.sheet_names == SHEETS
    cover = [row[0] for row in ods_rows(book, "Cover")]
    assert cover[0] == approved_release.title
    assert f"Official release {approved_release.identifier}" in cover[2]
    notes = ods_rows(book, "Notes")
    assert notes[2][:2] == ["Note number", "Note text"]
    assert [row[:2] for row in notes[3:]] == [
        [f"note {note['number']}", note["text"]] for note in approved_release.methodology["notes"]
    ]
    contents = ods_rows(book, "Contents")
    assert [row[0] for row in contents[3:]] == SHEETS[2:]
    for number, spec in enumerate(TABLES, start=1):
        rows = ods_rows(book, f"Table_{number}")
        stored = approved_release.tables[spec.id]
        assert rows[0][0] == f"Table {number}: {spec.title}"
        assert rows[1][0].startswith("This worksheet contains one table.")
        assert rows[HEADER_ROW - 1] == [c.header for c in spec.columns]
        assert len(rows) == HEADER_ROW + len(stored)
        assert_same_cells(spec, stored, rows[HEADER_ROW:])

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        content = archive.read("content.xml").decode()
        properties = archive.read("meta.xml").decode()
    spans = re.findall(r'table:number-(?:columns|rows)-spanned="(\d+)"', content)
    assert all(int(span) <= 1 for span in spans)
    assert 'xlink:href="#Table_1.A1"' in content
    assert "<dc:language>en-GB</dc:language>" in properties
    assert f"<dc:title>{approved_release.title}</dc:title>" in properties


def test_short_codes_read_back_in_both_spreadsheets_and_each_sheet_explains_its_codes(
    approved_release, make_release, users, unsuppressed_release
):
    suppressed = suppressed_rows(approved_release)
    assert suppressed, "the fixture release suppresses some figures"
    workbook = xlsx(approved_release)
    calamine, _ = ods(approved_release)
    for spec, index in suppressed:
        number = TABLES.index(spec) + 1
        sheet = workbook[f"Table_{number}"]
        xlsx_row = [c.value for c in sheet[HEADER_ROW + 1 + index]]
        ods_row = ods_rows(calamine, f"Table_{number}")[HEADER_ROW + index]
        for position, column in enumerate(spec.columns):
            if column.suppressible:
                assert xlsx_row[position] == "[c]", (spec.id, column.key)
                assert ods_row[position] == "[c]", (spec.id, column.key)
        assert "[c] suppressed for disclosure control" in sheet["A3"].value

    # Nothing suppressed: horizons beyond the longest task ([b]), intervals unbounded on one
    # side ([u]) and projected dates are published.
    release = unsuppressed_release
    workbook = xlsx(release)
    calamine, _ = ods(release)
    codes = set()
    for number, spec in enumerate(TABLES, start=1):
        stored = release.tables[spec.id]
        sheet = workbook[f"Table_{number}"]
        rows = [list(r) for r in sheet.iter_rows(min_row=HEADER_ROW + 1, values_only=True)]
        assert_same_cells(spec, stored, rows)
        assert_same_cells(spec, stored, ods_rows(calamine, f"Table_{number}")[HEADER_ROW:])
        used = {code for row in stored for code in row["missing"].values()}
        assert all(format_code(code) in sheet["A3"].value for code in used), spec.id
        codes |= used
    assert {"b", "u"} <= codes and "c" not in codes
    models = workbook[f"Table_{next(n for n, t in enumerate(TABLES, 1) if t.id == 'models')}"]
    assert "[b] beyond the longest task measured" in models["A3"].value
    assert "[u] unbounded" in models["A3"].value


def test_a_draft_correction_says_draft_in_every_file_name_and_table_and_why_it_corrects(
    approved_release, users
):
    draft = releases.correct(approved_release, user=users["analyst"], reason=REASON)
    files = {key: build(draft, key) for key in FORMATS}
    assert {key: file.filename for key, file in files.items()} == {
        key: name.format(draft.identifier) for key, name in DRAFT_FILE_NAMES.items()
    }

    workbook = openpyxl.load_workbook(io.BytesIO(files["xlsx"].data))
    cover = [row[0] for row in workbook["Cover"].iter_rows(values_only=True)]
    assert cover[2].startswith("DRAFT") and "not for publication" in cover[2]
    assert "Approved by: not approved (draft)" in cover
    assert f"Supersedes: {approved_release.identifier}" in cover
    assert f"Reason for the correction: {REASON}" in cover
    book = CalamineWorkbook.from_filelike(io.BytesIO(files["ods"].data))
    ods_cover = [row[0] for row in ods_rows(book, "Cover")]
    assert ods_cover[2].startswith("DRAFT")
    assert f"Reason for the correction: {REASON}" in ods_cover
    for number, spec in enumerate(TABLES, start=1):
        title = f"DRAFT: Table {number}: {spec.title}"
        assert workbook[f"Table_{number}"]["A1"].value == title
        assert ods_rows(book, f"Table_{number}")[0][0] == title
