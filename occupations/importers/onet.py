"""The O*NET database (text release): occupations, task statements and detailed work
activities, into the taxonomy 'O*NET-SOC <release>'.

Files, tab-separated UTF-8 with a header line, from a folder or the official .zip:
Occupation Data.txt and Task Statements.txt (required), Tasks to DWAs.txt and DWA
Reference.txt (optional), Read Me.txt (names the release). Each release is a taxonomy of its
own: importing 27.0 never touches 26.3. Nothing is ever deleted: statements and occupations a
newer file lacks are kept (task versions may cite them) and listed in the report.
"""

from __future__ import annotations

import datetime
import io
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.db import transaction

from occupations.importers.core import (
    BATCH_SIZE,
    MAX_INTEGER,
    ImportProblem,
    ImportReport,
    OccupationRow,
    Row,
    TaxonomyImportError,
    chunks,
    decode_text,
    file_record,
    find_taxonomy,
    kept_note,
    label_problems,
    plan_occupations,
    plan_taxonomy,
    read_table,
    record_import,
    save_taxonomy,
    whole_number,
    write_occupations,
)
from occupations.models import (
    Crosswalk,
    CrosswalkLink,
    Occupation,
    TaskStatement,
    TaskStatementCitation,
    Taxonomy,
    TaxonomyImport,
    WorkActivity,
)

TAXONOMY_NAME = "O*NET-SOC"
SOURCE = "O*NET Resource Center, USDOL/ETA"
LICENCE = "CC BY 4.0"

OCCUPATIONS_FILE = "Occupation Data.txt"
STATEMENTS_FILE = "Task Statements.txt"
LINKS_FILE = "Tasks to DWAs.txt"
ACTIVITIES_FILE = "DWA Reference.txt"
README_FILE = "Read Me.txt"
FILE_NAMES = (OCCUPATIONS_FILE, STATEMENTS_FILE, LINKS_FILE, ACTIVITIES_FILE, README_FILE)
REQUIRED_FILES = (OCCUPATIONS_FILE, STATEMENTS_FILE)

CODE = "O*NET-SOC Code"
TASK_ID = "Task ID"
DWA_ID = "DWA ID"
COLUMNS = {
    OCCUPATIONS_FILE: (CODE, "Title", "Description"),
    STATEMENTS_FILE: (
        CODE,
        TASK_ID,
        "Task",
        "Task Type",
        "Incumbents Responding",
        "Date",
        "Domain Source",
    ),
    LINKS_FILE: (CODE, TASK_ID, DWA_ID),
    ACTIVITIES_FILE: ("Element ID", "IWA ID", DWA_ID, "DWA Title"),
}

ONET_CODE = re.compile(r"\d{2}-\d{4}\.\d{2}")
RELEASE_IN_README = re.compile(r"O\*NET\s+(\d+\.\d+)\s+Database")
MONTH = re.compile(r"(\d{2})/(\d{4})")
FIRST_YEAR = 1900  # O*NET began in 1998; an earlier month is a typing error
NOT_GIVEN = {"", "n/a"}
TASK_TYPES = {
    "Core": TaskStatement.TaskType.CORE,
    "Supplemental": TaskStatement.TaskType.SUPPLEMENTAL,
    "": "",
    "n/a": "",
}

# SOC 2018 major groups: the parents of O*NET-SOC occupations, titled from the SOC taxonomy
# when it is imported, else from this table of the standard titles.
SOC_2018_MAJOR_GROUPS = {
    "11-0000": "Management Occupations",
    "13-0000": "Business and Financial Operations Occupations",
    "15-0000": "Computer and Mathematical Occupations",
    "17-0000": "Architecture and Engineering Occupations",
    "19-0000": "Life, Physical, and Social Science Occupations",
    "21-0000": "Community and Social Service Occupations",
    "23-0000": "Legal Occupations",
    "25-0000": "Educational Instruction and Library Occupations",
    "27-0000": "Arts, Design, Entertainment, Sports, and Media Occupations",
    "29-0000": "Healthcare Practitioners and Technical Occupations",
    "31-0000": "Healthcare Support Occupations",
    "33-0000": "Protective Service Occupations",
    "35-0000": "Food Preparation and Serving Related Occupations",
    "37-0000": "Building and Grounds Cleaning and Maintenance Occupations",
    "39-0000": "Personal Care and Service Occupations",
    "41-0000": "Sales and Related Occupations",
    "43-0000": "Office and Administrative Support Occupations",
    "45-0000": "Farming, Fishing, and Forestry Occupations",
    "47-0000": "Construction and Extraction Occupations",
    "49-0000": "Installation, Maintenance, and Repair Occupations",
    "51-0000": "Production Occupations",
    "53-0000": "Transportation and Material Moving Occupations",
    "55-0000": "Military Specific Occupations",
}


def credit_line(release: str) -> str:
    """The attribution O*NET's licence page (onetcenter.org/license_db.html) gives for
    modified content, followed by what was modified."""
    return (
        f"This product includes information from the O*NET {release} Database by the U.S. "
        "Department of Labor, Employment and Training Administration (USDOL/ETA). Used under "
        "the CC BY 4.0 license. O*NET® is a trademark of USDOL/ETA. evalbuilder has modified "
        "all or some of this information. USDOL/ETA has not approved, endorsed, or tested "
        "these modifications. evalbuilder adds the SOC major groups above the O*NET-SOC "
        "occupations, links them to SOC occupations and links the task statements to its own "
        "tasks; the text of the statements is as published."
    )


# --- reading the files ----------------------------------------------------------------------


def read_onet_files(path: Path) -> dict[str, bytes]:
    """The O*NET files in a folder or in the official .zip text release, by file name.

    Raises TaxonomyImportError when the zip cannot be read."""
    if path.is_dir():
        return {name: (path / name).read_bytes() for name in FILE_NAMES if (path / name).is_file()}
    return files_from_zip(path.name, path.read_bytes())


def files_from_zip(archive_name: str, data: bytes) -> dict[str, bytes]:
    """The O*NET files inside a .zip (at any folder depth), by file name; the other files of
    the release are not read. Each file is read up to the unpacked-size limit.

    Raises TaxonomyImportError when the archive cannot be read, a file is too large, or a
    file name is in it twice (two releases in one archive)."""
    limit = settings.EVALBUILDER_MAX_ATTACHMENT_UNPACKED_BYTES
    found: dict[str, bytes] = {}
    first: dict[str, str] = {}
    problems: list[ImportProblem] = []
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.infolist():
                name = PurePosixPath(member.filename).name
                if name not in FILE_NAMES or member.is_dir():
                    continue
                if name in first:
                    message = f"is in the archive twice ({first[name]} and {member.filename})"
                    problems.append(ImportProblem(f"{archive_name}/{name}", None, "", message))
                    continue
                first[name] = member.filename
                with archive.open(member) as part:
                    content = part.read(limit + 1)
                if len(content) > limit:
                    message = f"unpacks to more than {limit:,} bytes"
                    problems.append(ImportProblem(f"{archive_name}/{name}", None, "", message))
                    continue
                found[name] = content
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        EOFError,
        OSError,
        RuntimeError,
        ValueError,
        NotImplementedError,
    ) as error:
        message = f"is not a readable .zip archive: {error}"
        raise TaxonomyImportError([ImportProblem(archive_name, None, "", message)]) from error
    if problems:
        raise TaxonomyImportError(problems)
    return found


def release_from_readme(files: dict[str, bytes]) -> str | None:
    """The release named in Read Me.txt ('O*NET 26.3 Database'), if it is there."""
    data = files.get(README_FILE)
    if not data:
        return None
    match = RELEASE_IN_README.search(data.decode("utf-8-sig", errors="replace"))
    return match.group(1) if match else None


# --- checking -------------------------------------------------------------------------------


@dataclass
class Statement:
    code: str
    statement_id: int
    values: dict[str, Any]
    line: int


@dataclass
class Checked:
    """The files' records, every one of them valid."""

    occupations: list[OccupationRow]
    statements: list[Statement]
    activities: dict[str, dict[str, str]]
    links: list[tuple[str, int, str]]


def _task_id(row: Row, file: str, problems: list[ImportProblem]) -> int | None:
    return whole_number(row, TASK_ID, file, problems, minimum=1, maximum=MAX_INTEGER, blank=())


def _too_long(row: Row, column: str, limit: int, file: str, problems: list[ImportProblem]) -> bool:
    if len(row[column]) > limit:
        message = f"is {len(row[column])} characters long, more than {limit}"
        problems.append(ImportProblem(file, row.line, column, message))
        return True
    return False


def _check_occupations(
    rows: list[Row], major_titles: dict[str, str], problems: list[ImportProblem]
) -> list[OccupationRow]:
    file = OCCUPATIONS_FILE
    detailed: list[OccupationRow] = []
    first_line: dict[str, int] = {}
    majors: dict[str, OccupationRow] = {}
    for row in rows:
        code = row[CODE]
        if not ONET_CODE.fullmatch(code):
            message = f"must look like 11-1011.00, got {code!r}"
            problems.append(ImportProblem(file, row.line, CODE, message))
            continue
        if code in first_line:
            message = f"{code} is listed twice (first on line {first_line[code]})"
            problems.append(ImportProblem(file, row.line, CODE, message))
            continue
        first_line[code] = row.line
        if not row["Title"]:
            problems.append(ImportProblem(file, row.line, "Title", "is blank"))
            continue
        _too_long(row, "Title", 255, file, problems)
        major = f"{code[:2]}-0000"
        if major not in major_titles:
            message = f"{code} is in no SOC major group ({major} is not one)"
            problems.append(ImportProblem(file, row.line, CODE, message))
            continue
        if major not in majors:
            majors[major] = OccupationRow(major, major_titles[major], Occupation.Level.MAJOR, "")
        detailed.append(
            OccupationRow(
                code,
                row["Title"],
                Occupation.Level.DETAILED,
                major,
                {"description": row["Description"]},
                row.line,
            )
        )
    return [majors[code] for code in sorted(majors)] + detailed


def _check_statements(
    rows: list[Row], codes: set[str], problems: list[ImportProblem]
) -> list[Statement]:
    file = STATEMENTS_FILE
    statements: list[Statement] = []
    first_line: dict[tuple[str, int], int] = {}
    for row in rows:
        count = len(problems)
        code = row[CODE]
        if code not in codes:
            message = f"{code!r} is not an occupation in {OCCUPATIONS_FILE}"
            problems.append(ImportProblem(file, row.line, CODE, message))
        statement_id = _task_id(row, file, problems)
        if not row["Task"]:
            problems.append(ImportProblem(file, row.line, "Task", "is blank"))
        task_type = TASK_TYPES.get(row["Task Type"])
        if task_type is None:
            message = f"must be Core, Supplemental or n/a, got {row['Task Type']!r}"
            problems.append(ImportProblem(file, row.line, "Task Type", message))
        incumbents = whole_number(
            row,
            "Incumbents Responding",
            file,
            problems,
            maximum=MAX_INTEGER,
            blank=tuple(NOT_GIVEN),
            also="n/a",
        )
        dated = None
        if row["Date"] not in NOT_GIVEN:
            match = MONTH.fullmatch(row["Date"])
            if match and 1 <= int(match.group(1)) <= 12 and int(match.group(2)) >= FIRST_YEAR:
                dated = datetime.date(int(match.group(2)), int(match.group(1)), 1)
            else:
                message = f"must be a month as MM/YYYY from {FIRST_YEAR} on, got {row['Date']!r}"
                problems.append(ImportProblem(file, row.line, "Date", message))
        _too_long(row, "Domain Source", 64, file, problems)
        if statement_id is not None:
            key = (code, statement_id)
            if key in first_line:
                message = (
                    f"task {statement_id} of {code} is listed twice "
                    f"(first on line {first_line[key]})"
                )
                problems.append(ImportProblem(file, row.line, TASK_ID, message))
            else:
                first_line[key] = row.line
        if len(problems) > count or statement_id is None:
            continue
        statements.append(
            Statement(
                code,
                statement_id,
                {
                    "text": row["Task"],
                    "task_type": task_type,
                    "incumbents_responding": incumbents,
                    "dated": dated,
                    "domain_source": row["Domain Source"],
                },
                row.line,
            )
        )
    return statements


def _check_activities(rows: list[Row], problems: list[ImportProblem]) -> dict[str, dict]:
    file = ACTIVITIES_FILE
    activities: dict[str, dict] = {}
    first_line: dict[str, int] = {}
    for row in rows:
        count = len(problems)
        activity_id = row[DWA_ID]
        if not activity_id:
            problems.append(ImportProblem(file, row.line, DWA_ID, "is blank"))
        elif activity_id in first_line:
            message = f"{activity_id} is listed twice (first on line {first_line[activity_id]})"
            problems.append(ImportProblem(file, row.line, DWA_ID, message))
        first_line.setdefault(activity_id, row.line)
        if not row["DWA Title"]:
            problems.append(ImportProblem(file, row.line, "DWA Title", "is blank"))
        for column, limit in ((DWA_ID, 32), ("IWA ID", 32), ("Element ID", 32), ("DWA Title", 255)):
            _too_long(row, column, limit, file, problems)
        if len(problems) == count:
            activities[activity_id] = {
                "title": row["DWA Title"],
                "group_id": row["IWA ID"],
                "element_id": row["Element ID"],
            }
    return activities


def _check_links(
    rows: list[Row],
    statements: set[tuple[str, int]],
    activities: set[str],
    activities_named: bool,
    problems: list[ImportProblem],
    report: ImportReport,
) -> list[tuple[str, int, str]]:
    file = LINKS_FILE
    links: list[tuple[str, int, str]] = []
    seen: set[tuple[str, int, str]] = set()
    repeated = 0
    for row in rows:
        count = len(problems)
        code = row[CODE]
        statement_id = _task_id(row, file, problems)
        if statement_id is not None and (code, statement_id) not in statements:
            message = f"task {statement_id} of {code} is not in {STATEMENTS_FILE}"
            problems.append(ImportProblem(file, row.line, TASK_ID, message))
        if row[DWA_ID] not in activities:
            where = ACTIVITIES_FILE if activities_named else "the stored work activities"
            message = f"{row[DWA_ID]!r} is not in {where}"
            problems.append(ImportProblem(file, row.line, DWA_ID, message))
        if len(problems) > count or statement_id is None:
            continue
        key = (code, statement_id, row[DWA_ID])
        if key in seen:
            repeated += 1
            continue
        seen.add(key)
        links.append(key)
    report.skip("statement links", "listed more than once in Tasks to DWAs.txt", repeated)
    return links


def _check_cited_statements(
    taxonomy: Taxonomy, statements: list[Statement], problems: list[ImportProblem]
) -> None:
    """A statement cited by a submitted task version is part of that version's content,
    which never changes: its text and type must stay as stored."""
    cited = TaskStatementCitation.objects.filter(task_version__submitted_at__isnull=False)
    stored = {
        (code, statement_id): (text, task_type)
        for code, statement_id, text, task_type in TaskStatement.objects.filter(
            occupation__taxonomy=taxonomy, pk__in=cited.values("task_statement")
        ).values_list("occupation__code", "statement_id", "text", "task_type")
    }
    for statement in statements:
        found = stored.get((statement.code, statement.statement_id))
        if found is None:
            continue
        for column, key, value in (
            ("Task", "text", found[0]),
            ("Task Type", "task_type", found[1]),
        ):
            if statement.values[key] != value:
                message = (
                    f"statement {statement.statement_id} is cited by submitted task versions "
                    "and cannot change: import the file as a new release"
                )
                problems.append(ImportProblem(STATEMENTS_FILE, statement.line, column, message))


# --- the import -----------------------------------------------------------------------------


def import_onet(
    files: dict[str, bytes],
    *,
    release: str | None = None,
    soc: str = "SOC 2018",
    dry_run: bool = False,
    user: Any = None,
    origin: str = "",
) -> ImportReport:
    """Import an O*NET text release given as {file name: bytes}; see the module docstring.

    `release` defaults to the one Read Me.txt names; `soc` names the SOC taxonomy that
    titles the major groups and that the crosswalk leads to; `origin` prefixes the file
    names recorded (the .zip they came from). Raises TaxonomyImportError listing every
    problem; nothing is written then, nor with dry_run.
    """
    problems: list[ImportProblem] = []
    named = release_from_readme(files)
    release = (release or "").strip() or named
    if not release:
        message = "does not name the release: give it (--release 26.3)"
        problems.append(ImportProblem(README_FILE, None, "", message))
    elif named and release != named:
        # The credit line names the release: it must be the one the files are from.
        message = f"names the O*NET {named} Database, not release {release}"
        problems.append(ImportProblem(README_FILE, None, "", message))
    else:
        problems += label_problems(README_FILE, {"version": release}, Taxonomy)
    for name in REQUIRED_FILES:
        if name not in files:
            problems.append(ImportProblem(name, None, "", "is missing: it is required"))
    if problems:
        raise TaxonomyImportError(problems)
    label = f"{TAXONOMY_NAME} {release}"
    report = ImportReport(label, TaxonomyImport.Kind.ONET, dry_run)
    prefix = f"{origin}/" if origin else ""
    report.files = [file_record(prefix + name, data) for name, data in files.items()]

    tables: dict[str, list[Row] | None] = {}
    for name, columns in COLUMNS.items():
        if name not in files:
            continue
        text = decode_text(name, files[name], problems)
        if text is not None:
            tables[name] = read_table(name, text, columns, problems, tab_separated=True)
    if ACTIVITIES_FILE not in files and LINKS_FILE not in files:
        report.notes.append(
            f"{ACTIVITIES_FILE} and {LINKS_FILE} are absent: no work activities or links were read"
        )
    elif ACTIVITIES_FILE not in files:
        report.notes.append(
            f"{ACTIVITIES_FILE} is absent: the links were read against the stored work activities"
        )
    elif LINKS_FILE not in files:
        report.notes.append(f"{LINKS_FILE} is absent: no statement links were read")
    if problems:
        raise TaxonomyImportError(problems)

    soc_taxonomy = find_taxonomy(soc)
    major_titles = dict(SOC_2018_MAJOR_GROUPS)
    if soc_taxonomy is not None:
        major_titles.update(
            Occupation.objects.filter(taxonomy=soc_taxonomy, code__endswith="-0000")
            .exclude(code="00-0000")
            .values_list("code", "title")
        )
    occupations = _check_occupations(tables[OCCUPATIONS_FILE] or [], major_titles, problems)
    codes = {row.code for row in occupations if row.level == Occupation.Level.DETAILED}
    statements = _check_statements(tables[STATEMENTS_FILE] or [], codes, problems)

    taxonomy, taxonomy_changes = plan_taxonomy(
        TAXONOMY_NAME,
        release,
        {
            "country": "US",
            "description": f"O*NET-SOC occupations of the O*NET {release} Database",
            "source": SOURCE,
            "licence": LICENCE,
            "credit": credit_line(release),
        },
        report,
    )
    activities: dict[str, dict] = {}
    if ACTIVITIES_FILE in tables:
        activities = _check_activities(tables[ACTIVITIES_FILE] or [], problems)
    links: list[tuple[str, int, str]] = []
    if LINKS_FILE in tables:
        known = set(activities)
        if ACTIVITIES_FILE not in tables and taxonomy.pk:
            known = set(
                WorkActivity.objects.filter(taxonomy=taxonomy).values_list("activity_id", flat=True)
            )
        statement_keys = {(s.code, s.statement_id) for s in statements}
        links = _check_links(
            tables[LINKS_FILE] or [],
            statement_keys,
            known,
            ACTIVITIES_FILE in tables,
            problems,
            report,
        )
    if taxonomy.pk:
        _check_cited_statements(taxonomy, statements, problems)
    if problems:
        raise TaxonomyImportError(problems)

    checked = Checked(occupations, statements, activities, links)
    with transaction.atomic():
        _write(taxonomy, taxonomy_changes, checked, soc, soc_taxonomy, report)
        if dry_run:
            transaction.set_rollback(True)
        else:
            record_import(taxonomy, report, user)
    return report


def _write(
    taxonomy,
    taxonomy_changes: list[str],
    checked: Checked,
    soc: str,
    soc_taxonomy,
    report: ImportReport,
) -> None:
    """Compare with what is stored and write; the caller rolls back a dry run.

    A dry run writes inside a transaction that is rolled back, so that it computes exactly
    the counts the real import would (new occupations need keys for their statements)."""
    save_taxonomy(taxonomy, taxonomy_changes)
    plan = plan_occupations(taxonomy, checked.occupations, report)
    pk_of = write_occupations(taxonomy, plan)
    statement_pks = _write_statements(taxonomy, checked.statements, pk_of, report)
    if checked.activities:
        activity_pks = _write_activities(taxonomy, checked.activities, report)
    else:
        activity_pks = dict(
            WorkActivity.objects.filter(taxonomy=taxonomy).values_list("activity_id", "pk")
        )
    if checked.links:
        _write_links(taxonomy, checked.links, statement_pks, activity_pks, report)
    if soc_taxonomy is None:
        report.notes.append(
            f"no {soc} taxonomy: no crosswalk was made; import it (import_oews) and then "
            "import O*NET again"
        )
        return
    detailed = [row.code for row in checked.occupations if row.level == Occupation.Level.DETAILED]
    _write_crosswalk(taxonomy, soc_taxonomy, detailed, pk_of, report)


def _write_statements(taxonomy, statements: list[Statement], pk_of: dict[str, int], report):
    counts = report.of("statements")
    stored = {
        (statement.occupation.code, statement.statement_id): statement
        for statement in TaskStatement.objects.filter(occupation__taxonomy=taxonomy).select_related(
            "occupation"
        )
    }
    fields = ["text", "task_type", "incumbents_responding", "dated", "domain_source"]
    new, changed = [], []
    for statement in statements:
        existing = stored.get((statement.code, statement.statement_id))
        if existing is None:
            new.append(
                TaskStatement(
                    occupation_id=pk_of[statement.code],
                    statement_id=statement.statement_id,
                    **statement.values,
                )
            )
            counts.added += 1
        elif all(getattr(existing, key) == statement.values[key] for key in fields):
            counts.unchanged += 1
        else:
            for key in fields:
                setattr(existing, key, statement.values[key])
            changed.append(existing)
            counts.changed += 1
    TaskStatement.objects.bulk_create(new, batch_size=BATCH_SIZE)
    TaskStatement.objects.bulk_update(changed, fields, batch_size=BATCH_SIZE)
    in_source = {(s.code, s.statement_id) for s in statements}
    kept = sorted(key for key in stored if key not in in_source)
    if kept:
        examples = [f"{code} task {statement_id}" for code, statement_id in kept]
        report.notes.append(kept_note(len(kept), "statements", examples))
    code_of = {pk: code for code, pk in pk_of.items()}
    pks = {key: statement.pk for key, statement in stored.items()}
    pks.update({(code_of[s.occupation_id], s.statement_id): s.pk for s in new})
    return pks


def _write_activities(taxonomy, activities: dict[str, dict], report) -> dict[str, int]:
    counts = report.of("work activities")
    stored = {a.activity_id: a for a in WorkActivity.objects.filter(taxonomy=taxonomy)}
    fields = ["title", "group_id", "element_id"]
    new, changed = [], []
    for activity_id, values in activities.items():
        existing = stored.get(activity_id)
        if existing is None:
            new.append(WorkActivity(taxonomy=taxonomy, activity_id=activity_id, **values))
            counts.added += 1
        elif all(getattr(existing, key) == values[key] for key in fields):
            counts.unchanged += 1
        else:
            for key in fields:
                setattr(existing, key, values[key])
            changed.append(existing)
            counts.changed += 1
    WorkActivity.objects.bulk_create(new, batch_size=BATCH_SIZE)
    WorkActivity.objects.bulk_update(changed, fields, batch_size=BATCH_SIZE)
    kept = sorted(activity_id for activity_id in stored if activity_id not in activities)
    if kept:
        report.notes.append(kept_note(len(kept), "work activities", kept))
    pks = {activity_id: activity.pk for activity_id, activity in stored.items()}
    pks.update({activity.activity_id: activity.pk for activity in new})
    return pks


def _write_links(taxonomy, links, statement_pks, activity_pks, report) -> None:
    counts = report.of("statement links")
    through = TaskStatement.work_activities.through
    stored = set(
        through.objects.filter(taskstatement__occupation__taxonomy=taxonomy).values_list(
            "taskstatement_id", "workactivity_id"
        )
    )
    wanted = [
        (statement_pks[(code, statement_id)], activity_pks[activity_id])
        for code, statement_id, activity_id in links
    ]
    new = [pair for pair in wanted if pair not in stored]
    counts.added += len(new)
    counts.unchanged += len(wanted) - len(new)
    for batch in chunks(new):
        through.objects.bulk_create(
            [through(taskstatement_id=s, workactivity_id=a) for s, a in batch]
        )
    kept = len(stored - set(wanted))
    if kept:
        report.notes.append(f"kept: {kept} statement links no longer in the source")


def soc_match(code: str, soc_codes: set[str]) -> str | None:
    """The SOC occupation an O*NET-SOC occupation belongs to: the one with the code's first 7
    characters (11-1011.03 to 11-1011), else its nearest group by trimmed code, broad then
    minor (31-1121.00 to 31-1120; 21-1011.00 to 21-1010), never the major group.

    OEWS publishes some detailed occupations only summed into their broad or minor group,
    and a SOC taxonomy imported from OEWS has that group in their place."""
    detailed = code[:7]
    for candidate in (detailed, detailed[:6] + "0", detailed[:5] + "00"):
        if candidate in soc_codes:
            return candidate
    return None


def _write_crosswalk(taxonomy, soc_taxonomy, codes: list[str], pk_of, report) -> None:
    """Each O*NET-SOC occupation to its SOC occupation (see soc_match): how task statements
    reach tasks written against SOC occupations."""
    counts = report.of("crosswalk links")
    crosswalk, _ = Crosswalk.objects.get_or_create(
        source=taxonomy,
        target=soc_taxonomy,
        defaults={"description": "Each O*NET-SOC occupation to its SOC occupation."},
    )
    soc_pks = dict(
        Occupation.objects.filter(taxonomy=soc_taxonomy)
        .exclude(code__endswith="-0000")
        .values_list("code", "pk")
    )
    soc_codes = set(soc_pks)
    stored = set(crosswalk.links.values_list("source_id", "target_id"))
    new = []
    unlinked: list[str] = []
    to_group: list[str] = []
    for code in codes:
        target_code = soc_match(code, soc_codes)
        if target_code is None:
            unlinked.append(code)
            continue
        if target_code != code[:7]:
            to_group.append(f"{code} to {target_code}")
        pair = (pk_of[code], soc_pks[target_code])
        if pair in stored:
            counts.unchanged += 1
        else:
            new.append(CrosswalkLink(crosswalk=crosswalk, source_id=pair[0], target_id=pair[1]))
            counts.added += 1
    if to_group:
        report.notes.append(
            f"{len(to_group)} occupations linked to their {soc_taxonomy} broad or minor group, "
            f"which has no detailed occupation of their code: {', '.join(to_group)}"
        )
    report.skip(
        "crosswalk links",
        f"no {soc_taxonomy} occupation of their code or its broad or minor group",
        len(unlinked),
    )
    if unlinked:
        report.notes.append(f"not linked to {soc_taxonomy}: {', '.join(unlinked)}")
    CrosswalkLink.objects.bulk_create(new, batch_size=BATCH_SIZE)
