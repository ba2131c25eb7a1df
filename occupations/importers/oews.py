"""BLS Occupational Employment and Wage Statistics (OEWS), national file: employment and
wages of every SOC occupation, into a SOC taxonomy (default 'SOC 2018').

The file is the XLSX BLS publishes (national_M2024_dl.xlsx) or the same table as CSV.
Occupations are updated in place by code (tasks point at them) or created; the parent of
each is the nearest higher-level row of the file whose code, trailing zeros stripped, starts
this code (15-1211 -> 15-1210 -> 15-1200 -> 15-0000), never across major groups.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction

from occupations.importers.core import (
    LEVELS,
    ImportProblem,
    ImportReport,
    OccupationRow,
    Row,
    TaxonomyImportError,
    decode_text,
    file_record,
    label_problems,
    plan_occupations,
    plan_taxonomy,
    read_table,
    record_import,
    save_taxonomy,
    split_label,
    wage,
    whole_number,
    write_occupations,
)
from occupations.models import Occupation, Taxonomy, TaxonomyImport

# The symbols BLS puts in a cell instead of a figure, in the words of the file's own notes.
SYMBOLS = {
    "*": "a wage estimate is not available",
    "**": "an employment estimate is not available",
    "#": "a wage equal to or greater than $115.00 per hour or $239,200 per year (top-coded)",
    "~": "the percent of establishments reporting the occupation is less than 0.5%",
}
REQUIRED = ("OCC_CODE", "OCC_TITLE", "O_GROUP", "TOT_EMP", "A_MEAN", "A_MEDIAN")
SOC_CODE = re.compile(r"\d{2}-\d{4}")
FILE_DATE = re.compile(r"_M(\d{4})_", re.IGNORECASE)


def source_from_name(file_name: str) -> str | None:
    """'BLS OEWS May 2024' from 'national_M2024_dl.xlsx' (OEWS estimates are for May)."""
    match = FILE_DATE.search(Path(file_name).stem + "_")
    return f"BLS OEWS May {match.group(1)}" if match else None


# --- reading --------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _xlsx_rows(name: str, data: bytes, problems: list[ImportProblem]) -> list[Row] | None:
    from openpyxl import load_workbook

    from occupations.attachments import AttachmentError, _check_office_archive

    try:
        _check_office_archive(data, name)
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except AttachmentError as error:
        problems.append(ImportProblem(name, None, "", error.problem))
        return None
    except Exception as error:  # openpyxl fails on a broken workbook in many ways
        problems.append(ImportProblem(name, None, "", f"is not a readable Excel file: {error}"))
        return None
    try:
        # The data is on the first sheet whose header has OCC_CODE (notes are on others).
        for sheet in workbook.worksheets:
            lines = sheet.iter_rows(values_only=True)
            header = [_cell(value).upper() for value in next(lines, ())]
            if "OCC_CODE" not in header:
                continue
            missing = [column for column in REQUIRED if column not in header]
            for column in missing:
                message = f"column is missing (sheet {sheet.title!r})"
                problems.append(ImportProblem(name, 1, column, message))
            if missing:
                return None
            rows = []
            for number, values in enumerate(lines, 2):
                cells = {
                    column: _cell(value) for column, value in zip(header, values, strict=False)
                }
                if any(cells.values()):
                    rows.append(Row(number, cells))
            return rows
    finally:
        workbook.close()
    problems.append(ImportProblem(name, 1, "OCC_CODE", "no sheet has this column"))
    return None


def _csv_rows(name: str, data: bytes, problems: list[ImportProblem]) -> list[Row] | None:
    text = decode_text(name, data, problems)
    if text is None:
        return None
    first, _, rest = text.partition("\n")
    # Older national files name their columns in lower case.
    return read_table(name, first.upper() + "\n" + rest, REQUIRED, problems)


# --- checking -------------------------------------------------------------------------------


@dataclass
class Figure:
    value: Any
    flag: str


def _figure(row: Row, column: str, name: str, whole: bool, problems: list[ImportProblem]):
    """The figure of a cell, or its symbol as the flag; None with a problem when invalid."""
    if row[column] in SYMBOLS:
        return Figure(None, row[column])
    symbols = f"one of {' '.join(SYMBOLS)}"
    count = len(problems)
    if whole:
        value = whole_number(row, column, name, problems, blank=(), also=symbols)
    else:
        value = wage(row, column, name, problems, blank=(), also=symbols)
    return None if len(problems) > count else Figure(value, "")


def _digits(code: str) -> str:
    return code.replace("-", "")


def _stem(code: str) -> str:
    """The code's digits without trailing zeros: what its descendants' codes start with."""
    return _digits(code).rstrip("0")


def _check(name: str, rows: list[Row], source: str, problems: list[ImportProblem], report):
    occupations: dict[str, OccupationRow] = {}
    for row in rows:
        count = len(problems)
        if "AREA_TYPE" in row.cells and row["AREA_TYPE"] not in ("", "1"):
            report.skip("occupations", "not national estimates (AREA_TYPE other than 1)")
            continue
        if "I_GROUP" in row.cells and row["I_GROUP"] not in ("", "cross-industry"):
            report.skip("occupations", "not cross-industry estimates (I_GROUP)")
            continue
        code, level = row["OCC_CODE"], row["O_GROUP"].lower()
        if not code and not level:
            report.skip("occupations", "notes rows without an occupation code")
            continue
        if level == "total" or code == "00-0000":
            report.skip("occupations", "national total, not an occupation")
            continue
        if not SOC_CODE.fullmatch(code):
            message = f"must be an SOC code like 15-1252, got {code!r}"
            problems.append(ImportProblem(name, row.line, "OCC_CODE", message))
        if level not in LEVELS:
            message = f"must be one of total, {', '.join(LEVELS)}, got {row['O_GROUP']!r}"
            problems.append(ImportProblem(name, row.line, "O_GROUP", message))
        title = row["OCC_TITLE"]
        if not title:
            problems.append(ImportProblem(name, row.line, "OCC_TITLE", "is blank"))
        elif len(title) > 255:
            message = f"is {len(title)} characters long, more than 255"
            problems.append(ImportProblem(name, row.line, "OCC_TITLE", message))
        employment = _figure(row, "TOT_EMP", name, True, problems)
        mean = _figure(row, "A_MEAN", name, False, problems)
        median = _figure(row, "A_MEDIAN", name, False, problems)
        if len(problems) > count:
            continue
        values = {
            "employment": employment.value,
            "employment_flag": employment.flag,
            "mean_annual_wage": mean.value,
            "wage_flag": mean.flag,
            "median_annual_wage": median.value,
            "median_wage_flag": median.flag,
            "source": source,
        }
        found = OccupationRow(code, title, level, "", values, row.line)
        earlier = occupations.get(code)
        if earlier is None:
            occupations[code] = found
        elif {earlier.level, level} == {"broad", "detailed"}:
            # OEWS publishes some broad occupations at the detailed level too, under the same
            # code: kept once, as detailed, the unit national figures are summed over.
            occupations[code] = found if level == "detailed" else earlier
            report.skip("occupations", "broad rows also listed as detailed (same code): kept once")
        else:
            message = f"{code} is listed twice (first on line {earlier.line})"
            problems.append(ImportProblem(name, row.line, "OCC_CODE", message))
    _derive_parents(name, occupations, problems)
    return list(occupations.values())


def _derive_parents(
    name: str, occupations: dict[str, OccupationRow], problems: list[ImportProblem]
) -> None:
    """Set each row's parent: the nearest higher-level row whose stem starts its code."""
    by_stem: dict[str, OccupationRow] = {}
    for row in sorted(occupations.values(), key=lambda r: LEVELS.index(r.level)):
        by_stem.setdefault(_stem(row.code), row)
    for row in occupations.values():
        if row.level == "major":
            continue
        rank, digits = LEVELS.index(row.level), _digits(row.code)
        for length in range(len(digits) - 1, 1, -1):
            candidate = by_stem.get(digits[:length])
            if (
                candidate is not None
                and candidate.code != row.code
                and LEVELS.index(candidate.level) < rank
                and candidate.code[:2] == row.code[:2]
            ):
                row.parent = candidate.code
                break
        else:
            message = f"{row.code} ({row.level}) has no higher-level row of its major group"
            problems.append(ImportProblem(name, row.line, "OCC_CODE", message))


def import_oews(
    name: str,
    data: bytes,
    *,
    taxonomy: str = "SOC 2018",
    source: str | None = None,
    dry_run: bool = False,
    user: Any = None,
) -> ImportReport:
    """Import an OEWS national file (`name` ending .xlsx or .csv, its bytes) into the SOC
    taxonomy named '<name> <version>', created (country US) when absent.

    `source` labels the figures (default from the file name: 'BLS OEWS May 2024'). Raises
    TaxonomyImportError listing every problem; nothing is written then, nor with dry_run.
    """
    problems: list[ImportProblem] = []
    source = (source or "").strip() or source_from_name(name)
    if not source:
        message = "the name does not say the release (national_M2024_dl): give --source"
        raise TaxonomyImportError([ImportProblem(name, None, "", message)])
    name_part, version = split_label(taxonomy)
    problems += label_problems(name, {"name": name_part, "version": version}, Taxonomy)
    problems += label_problems(name, {"source": source}, Occupation)
    if problems:
        raise TaxonomyImportError(problems)
    if name.lower().endswith((".xlsx", ".xlsm")):
        rows = _xlsx_rows(name, data, problems)
    else:
        rows = _csv_rows(name, data, problems)
    if rows is None or problems:
        raise TaxonomyImportError(problems)
    report = ImportReport(f"{name_part} {version}", TaxonomyImport.Kind.OEWS, dry_run)
    report.files = [file_record(name, data)]
    occupations = _check(name, rows, source, problems, report)
    if problems:
        raise TaxonomyImportError(problems)
    occupations.sort(key=lambda row: (LEVELS.index(row.level), row.code))
    flagged = sum(
        1
        for row in occupations
        if row.values["employment_flag"]
        or row.values["wage_flag"]
        or row.values["median_wage_flag"]
    )
    if flagged:
        report.notes.append(
            f"{flagged} occupations have a figure replaced by a symbol, kept as its flag: "
            + "; ".join(f"{symbol} {meaning}" for symbol, meaning in SYMBOLS.items())
        )
    with transaction.atomic():
        stored, changes = plan_taxonomy(name_part, version, {"country": "US"}, report, update=False)
        save_taxonomy(stored, changes)
        plan = plan_occupations(stored, occupations, report)
        if not dry_run:
            write_occupations(stored, plan)
            record_import(stored, report, user)
        else:
            transaction.set_rollback(True)
    return report
