"""The CSV export of a release: one tidy UTF-8 file per table and a README, in a zip that
is the same byte for byte every time it is built."""

import csv
import io
import zipfile

import pytest

from reports import releases
from reports.exports import build
from reports.exports.base import ZIP_DATE
from reports.exports.csvfiles import README
from reports.release_tables import MISSING_CODES, TABLES, format_code

pytestmark = pytest.mark.django_db


def members(data: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name).decode("utf-8") for name in archive.namelist()}


def assert_csv_files_hold_the_stored_figures(release, files: dict[str, str]) -> set[str]:
    """Every stored cell reads back from its CSV file; the short codes met on the way."""
    codes = set()
    for spec in TABLES:
        rows = list(csv.reader(io.StringIO(files[f"{spec.id}.csv"])))
        assert rows[0] == [column.key for column in spec.columns]
        stored = release.tables[spec.id]
        assert len(rows) - 1 == len(stored)
        for row, cells in zip(stored, rows[1:], strict=True):
            for column, text in zip(spec.columns, cells, strict=True):
                value = row["values"][column.key]
                if value is None:
                    assert text == format_code(row["missing"][column.key]), (spec.id, column.key)
                    codes.add(text)
                elif isinstance(value, int | float):
                    assert float(text) == value, (spec.id, column.key)
                else:
                    assert text == value, (spec.id, column.key)
            if row["suppression"]:
                assert all(
                    text == "[c]"
                    for column, text in zip(spec.columns, cells, strict=True)
                    if column.suppressible
                ), (spec.id, cells)
    return codes


def test_each_table_is_a_csv_file_of_the_stored_figures_described_in_the_readme(
    approved_release, make_release, users, unsuppressed_release
):
    files = members(build(approved_release, "csv").data)
    assert sorted(files) == sorted([README, *(f"{spec.id}.csv" for spec in TABLES)])
    assert "[c]" in assert_csv_files_hold_the_stored_figures(approved_release, files)
    # A release without suppression publishes horizons beyond the longest task ([b]) and
    # intervals without a limit on one side ([u]).
    unsuppressed = unsuppressed_release
    codes = assert_csv_files_hold_the_stored_figures(
        unsuppressed, members(build(unsuppressed, "csv").data)
    )
    assert {"[b]", "[u]"} <= codes and "[c]" not in codes

    text = files[README]
    assert text.startswith(f"# {approved_release.title}")
    assert f"Official release {approved_release.identifier}" in text
    assert approved_release.checksum in text
    assert "Creative Commons Attribution 4.0" in text
    for spec in TABLES:
        assert f"{spec.id}.csv: {spec.title}" in text
        for column in spec.columns:
            assert f"`{column.key}` | {column.header} |" in text, column.key
    for code, meaning in MISSING_CODES.items():
        assert f"`{format_code(code)}`: {meaning}" in text
    for note in approved_release.methodology["notes"]:
        assert f"[note {note['number']}] {note['text']}" in text
    for section in approved_release.methodology["sections"]:
        assert f"### {section['heading']}" in text
        assert all(paragraph in text for paragraph in section["paragraphs"])


def test_the_same_release_gives_the_same_zip_bytes_and_a_draft_correction_says_draft(
    approved_release, users
):
    assert build(approved_release, "csv").filename == f"{approved_release.identifier}-csv.zip"
    reason = "One task was scored against an outdated rubric."
    draft = releases.correct(approved_release, user=users["analyst"], reason=reason)
    first, second = build(draft, "csv"), build(draft, "csv")
    assert first.data == second.data
    assert first.filename == f"{draft.identifier}-csv-DRAFT.zip"
    with zipfile.ZipFile(io.BytesIO(first.data)) as archive:
        assert {info.date_time for info in archive.infolist()} == {ZIP_DATE}
    readme = members(first.data)[README]
    assert f"**DRAFT {draft.identifier}: not approved, not for publication.**" in readme
    assert "- Approved by: not approved (draft)" in readme
    assert f"- Supersedes: {approved_release.identifier}" in readme
    assert f"- Reason for the correction: {reason}" in readme
