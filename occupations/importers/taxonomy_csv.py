"""Any occupational classification as a CSV: ISCO-08, UK SOC 2020, ESCO, a national one.

Columns code, title, level, parent (header required); optional description, employment,
mean_annual_wage. Level is major, minor, broad or detailed (or 1 to 4). Parent is blank for a
top-level group (a job category), else a code of the file, in any order, or one already in
the taxonomy.
"""

from __future__ import annotations

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
    wage,
    whole_number,
    write_occupations,
)
from occupations.models import Occupation, Taxonomy, TaxonomyImport

REQUIRED = ("code", "title", "level", "parent")
LEVEL_NUMBERS = {str(number): level for number, level in enumerate(LEVELS, 1)}


def _optional_figures(row: Row, name: str, problems: list[ImportProblem]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "description" in row.cells:
        values["description"] = row["description"]
    if "employment" in row.cells:
        values["employment"] = whole_number(row, "employment", name, problems)
    if "mean_annual_wage" in row.cells:
        values["mean_annual_wage"] = wage(row, "mean_annual_wage", name, problems)
    return values


def _in_parent_order(
    name: str,
    rows: list[OccupationRow],
    stored_parents: dict[str, str],
    problems: list[ImportProblem],
) -> list[OccupationRow]:
    """The rows with every parent before its children; cycles are problems.

    Parents are those of the file, else those stored (`stored_parents`, code to parent
    code): a file that names a stored occupation as a parent cannot close a loop through
    the stored ones either."""
    by_code = {row.code: row for row in rows}
    parent_of = {**stored_parents, **{row.code: row.parent for row in rows}}
    ordered: list[OccupationRow] = []
    state: dict[str, str] = {}  # "visiting" while its ancestors are walked, then "done"
    for start in rows:
        path: list[str] = []
        code: str = start.code
        while code and code not in state:
            state[code] = "visiting"
            path.append(code)
            code = parent_of.get(code, "")
        if code and state.get(code) == "visiting":
            cycle = path[path.index(code) :]
            where = by_code.get(code) or start
            message = f"parents form a cycle: {' -> '.join([*cycle, code])}"
            problems.append(ImportProblem(name, where.line, "parent", message))
        for item in reversed(path):
            state[item] = "done"
            if item in by_code:
                ordered.append(by_code[item])
    return ordered


def import_taxonomy_csv(
    name: str,
    data: bytes,
    *,
    taxonomy_name: str,
    version: str,
    country: str = "",
    description: str = "",
    source: str = "",
    licence: str = "",
    credit: str = "",
    dry_run: bool = False,
    user: Any = None,
) -> ImportReport:
    """Import a taxonomy CSV (see the module docstring) into '<taxonomy_name> <version>',
    created when absent; the other options set the taxonomy's fields when given.

    Raises TaxonomyImportError listing every problem; nothing is written then, nor with
    dry_run.
    """
    problems = label_problems(name, {"name": taxonomy_name, "version": version}, Taxonomy)
    if len(country) > 2:
        message = f"the country must be an ISO 3166 two-letter code, got {country!r}"
        problems.append(ImportProblem(name, None, "country", message))
    optional = {"source": source, "licence": licence}
    problems += label_problems(
        name, {key: value for key, value in optional.items() if value}, Taxonomy
    )
    if problems:
        raise TaxonomyImportError(problems)
    text = decode_text(name, data, problems)
    rows = read_table(name, text, REQUIRED, problems) if text is not None else None
    if rows is None or problems:
        raise TaxonomyImportError(problems)
    report = ImportReport(f"{taxonomy_name} {version}", TaxonomyImport.Kind.TAXONOMY, dry_run)
    report.files = [file_record(name, data)]
    existing = Taxonomy.objects.filter(name=taxonomy_name, version=version).first()
    stored = (
        dict(Occupation.objects.filter(taxonomy=existing).values_list("code", "parent__code"))
        if existing
        else {}
    )
    occupations: list[OccupationRow] = []
    first_line: dict[str, int] = {}
    for row in rows:
        count = len(problems)
        code, title, parent = row["code"], row["title"], row["parent"]
        level = LEVEL_NUMBERS.get(row["level"], row["level"].lower())
        if not code:
            problems.append(ImportProblem(name, row.line, "code", "is blank"))
        elif len(code) > 32:
            problems.append(ImportProblem(name, row.line, "code", "is longer than 32 characters"))
        elif code in first_line:
            message = f"{code} is listed twice (first on line {first_line[code]})"
            problems.append(ImportProblem(name, row.line, "code", message))
        else:
            first_line[code] = row.line
        if not title:
            problems.append(ImportProblem(name, row.line, "title", "is blank"))
        elif len(title) > 255:
            message = f"is {len(title)} characters long, more than 255"
            problems.append(ImportProblem(name, row.line, "title", message))
        if level not in LEVELS:
            message = f"must be one of {', '.join(LEVELS)} (or 1 to 4), got {row['level']!r}"
            problems.append(ImportProblem(name, row.line, "level", message))
        if parent and parent == code:
            problems.append(ImportProblem(name, row.line, "parent", "is the occupation itself"))
        values = _optional_figures(row, name, problems)
        if len(problems) == count:
            occupations.append(OccupationRow(code, title, level, parent, values, row.line))
    codes = {row.code for row in occupations} | set(first_line)
    for row in occupations:
        if row.parent and row.parent not in codes and row.parent not in stored:
            message = f"{row.parent!r} is neither in the file nor in {taxonomy_name} {version}"
            problems.append(ImportProblem(name, row.line, "parent", message))
    parents = {code: parent or "" for code, parent in stored.items()}
    occupations = _in_parent_order(name, occupations, parents, problems)
    if problems:
        raise TaxonomyImportError(problems)
    values = {
        "country": country.upper(),
        "description": description,
        "source": source,
        "licence": licence,
        "credit": credit,
    }
    with transaction.atomic():
        taxonomy, changes = plan_taxonomy(taxonomy_name, version, values, report)
        save_taxonomy(taxonomy, changes)
        plan = plan_occupations(taxonomy, occupations, report)
        if dry_run:
            transaction.set_rollback(True)
        else:
            write_occupations(taxonomy, plan)
            record_import(taxonomy, report, user)
    return report
