"""The spreadsheets open in a real spreadsheet program (LibreOffice), where one is installed.

LibreOffice converts each sheet to CSV; every table sheet must come back with its title,
its header row and one line per stored row. Skipped where `soffice` is not installed.
"""

import csv
import shutil
import subprocess

import pytest

from reports import exports
from reports.exports.base import cell
from reports.release_tables import TABLES

pytestmark = pytest.mark.django_db

SOFFICE = shutil.which("soffice")
# Field separator, text delimiter, UTF-8, first line, ..., every sheet to its own file.
EVERY_SHEET_AS_CSV = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1"


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed")
@pytest.mark.parametrize("key", ["xlsx", "ods"])
def test_libreoffice_opens_every_table_sheet_with_its_title_header_and_rows(
    approved_release, tmp_path, key
):
    file = exports.build(approved_release, key)
    source = tmp_path / file.filename
    source.write_bytes(file.data)
    subprocess.run(
        [SOFFICE, "--headless", "-env:UserInstallation=file://" + str(tmp_path / "profile"),
         "--convert-to", EVERY_SHEET_AS_CSV, "--outdir", str(tmp_path / "out"), str(source)],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    stem = source.stem
    for number, spec in enumerate(TABLES, start=1):
        with (tmp_path / "out" / f"{stem}-Table_{number}.csv").open(encoding="utf-8") as f:
            lines = [row for row in csv.reader(f) if any(row)]
        assert lines[0][0] == f"Table {number}: {spec.title}"
        header_at = next(i for i, row in enumerate(lines) if row[0] == spec.columns[0].header)
        assert lines[header_at][: len(spec.columns)] == [c.header for c in spec.columns]
        body = lines[header_at + 1 :]
        stored = approved_release.tables[spec.id]
        assert len(body) == len(stored)
        for shown, row in zip(body, stored, strict=True):
            # Codes such as [c] come back as typed; labels (the first column) exactly.
            assert shown[0] == str(cell(row, spec.columns[0].key))
            for column, value in zip(spec.columns, shown, strict=False):
                if str(cell(row, column.key)).startswith("["):
                    assert value == cell(row, column.key)
