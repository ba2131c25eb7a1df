"""What every taxonomy import shares: problems, the report, reading tables, writing
occupations in bulk, and the record of each import.

An import reads and checks every record first and collects every problem; it raises one
TaxonomyImportError listing them all and writes nothing unless everything is valid. It then
writes in one transaction, in bulk, and records a TaxonomyImport row and one audit event.
With dry_run it does the same checks and computes the same report, and writes nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from audit import trail
from occupations.models import Occupation, Taxonomy, TaxonomyImport

MAX_PRINTED_PROBLEMS = 200
BATCH_SIZE = 2000
LEVELS = tuple(Occupation.Level.values)  # major, minor, broad, detailed: top to bottom

# The largest values the fields hold: a figure above them is a problem, never a crash.
MAX_BIG_INTEGER = 2**63 - 1  # PositiveBigIntegerField (employment)
MAX_INTEGER = 2**31 - 1  # PositiveIntegerField (O*NET Task ID, incumbents responding)
WAGE_LIMIT = Decimal(10) ** 10  # DecimalField(max_digits=12, decimal_places=2): below this
CENTS = Decimal("0.01")


@dataclass(frozen=True)
class ImportProblem:
    """One invalid value: the file, its line (1 = the header) and column, and what is wrong."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file} line {self.line}" if self.line else self.file
        column = f"field '{self.field}': " if self.field else ""
        return f"{where}: {column}{self.message}"


class TaxonomyImportError(ValueError):
    """One or more records of an import are invalid; nothing was written."""

    def __init__(self, problems: Sequence[ImportProblem]) -> None:
        self.problems = list(problems)
        shown = [f"  {problem}" for problem in self.problems[:MAX_PRINTED_PROBLEMS]]
        if len(self.problems) > MAX_PRINTED_PROBLEMS:
            shown.append(f"  and {len(self.problems) - MAX_PRINTED_PROBLEMS} more")
        super().__init__(
            f"{len(self.problems)} problem(s), nothing was written:\n" + "\n".join(shown)
        )


@dataclass
class RecordCounts:
    """What an import did to one type of record."""

    added: int = 0
    changed: int = 0
    unchanged: int = 0
    skipped: int = 0
    removed: int = 0

    def __str__(self) -> str:
        parts = [f"{self.added} added", f"{self.changed} changed", f"{self.unchanged} unchanged"]
        if self.skipped:
            parts.append(f"{self.skipped} skipped")
        if self.removed:
            parts.append(f"{self.removed} removed")
        return ", ".join(parts)


@dataclass
class ImportReport:
    """What an import wrote, or with dry_run what it would write."""

    taxonomy: str
    """The taxonomy release imported into, e.g. 'O*NET-SOC 26.3'."""
    kind: str
    """A TaxonomyImport.Kind value."""
    dry_run: bool
    counts: dict[str, RecordCounts] = field(default_factory=dict)
    """Counts per record type ('occupations', 'statements', 'work activities', 'links')."""
    skipped_reasons: Counter = field(default_factory=Counter)
    """How many records of a type were skipped for a reason: (type, reason) -> count."""
    notes: list[str] = field(default_factory=list)
    """Other things worth knowing: absent optional files, records kept though no longer in
    the source."""
    files: list[dict] = field(default_factory=list)
    """Name and SHA-256 of each file read."""
    record_id: int | None = None
    """The TaxonomyImport written for it (None for a dry run)."""

    def of(self, record_type: str) -> RecordCounts:
        """The counts of one record type, created empty on first use."""
        return self.counts.setdefault(record_type, RecordCounts())

    def skip(self, record_type: str, reason: str, count: int = 1) -> None:
        """Count `count` records of a type as skipped, with the reason shown in the report."""
        if count:
            self.of(record_type).skipped += count
            self.skipped_reasons[(record_type, reason)] += count

    def _total(self, name: str) -> int:
        return sum(getattr(counts, name) for counts in self.counts.values())

    @property
    def added(self) -> int:
        return self._total("added")

    @property
    def changed(self) -> int:
        return self._total("changed")

    @property
    def unchanged(self) -> int:
        return self._total("unchanged")

    @property
    def skipped(self) -> int:
        return self._total("skipped")

    def reasons(self) -> list[str]:
        """Each skip reason as a sentence: '3 links: no SOC 2018 occupation with that code'."""
        return [
            f"{count} {record_type}: {reason}"
            for (record_type, reason), count in self.skipped_reasons.items()
        ]

    def details(self) -> dict:
        """The report as JSON, for TaxonomyImport.details and the audit event."""
        return {
            "counts": {name: vars(counts).copy() for name, counts in self.counts.items()},
            "skipped": self.reasons(),
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        label = TaxonomyImport.Kind(self.kind).label
        outcome = "dry run, nothing was written" if self.dry_run else "imported"
        lines = [f"{label} into {self.taxonomy}: {outcome}"]
        lines += [f"  {name}: {counts}" for name, counts in self.counts.items()]
        lines += [f"  skipped {reason}" for reason in self.reasons()]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


# --- reading --------------------------------------------------------------------------------


def file_record(name: str, data: bytes) -> dict:
    """The name and SHA-256 of a file read, as TaxonomyImport.files holds it."""
    return {"name": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def decode_text(name: str, data: bytes, problems: list[ImportProblem]) -> str | None:
    """The file as text (UTF-8, a byte order mark accepted), or None with a problem."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        problems.append(ImportProblem(name, line, "", "is not UTF-8 text"))
        return None


@dataclass(frozen=True)
class Row:
    """One record of a table: its line in the file and its cells by column name."""

    line: int
    cells: dict[str, str]

    def __getitem__(self, column: str) -> str:
        return self.cells.get(column, "")


def read_table(
    name: str,
    text: str,
    required: Iterable[str],
    problems: list[ImportProblem],
    *,
    tab_separated: bool = False,
) -> list[Row] | None:
    """The records of a CSV or tab-separated file, checked against its required columns.

    Lines are numbered as in the file (1 = the header); blank lines are left out. Cells are
    stripped. Returns None, with a problem per missing column, when the header lacks one.
    """
    if tab_separated:
        # O*NET text files quote nothing, and their statements contain quotation marks.
        reader = csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(io.StringIO(text))
    try:
        header = [cell.strip() for cell in next(reader)]
    except StopIteration:
        problems.append(ImportProblem(name, None, "", "is empty: it needs a header line"))
        return None
    except csv.Error as error:
        problems.append(ImportProblem(name, 1, "", f"cannot be read: {error}"))
        return None
    missing = [column for column in required if column not in header]
    for column in missing:
        has = ", ".join(repr(cell) for cell in header if cell)
        problems.append(ImportProblem(name, 1, column, f"column is missing (the header has {has})"))
    if missing:
        return None
    rows: list[Row] = []
    line = 1
    try:
        for cells in reader:
            start, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header) :]):
                message = f"has {len(cells)} cells, the header has {len(header)}"
                problems.append(ImportProblem(name, start, "", message))
                continue
            rows.append(
                Row(
                    start,
                    {column: cell.strip() for column, cell in zip(header, cells, strict=False)},
                )
            )
    except csv.Error as error:
        problems.append(ImportProblem(name, line + 1, "", f"cannot be read: {error}"))
    return rows


def whole_number(
    row: Row,
    column: str,
    file: str,
    problems: list[ImportProblem],
    *,
    minimum: int = 0,
    maximum: int = MAX_BIG_INTEGER,
    blank: Sequence[str] = ("",),
    also: str = "",
) -> int | None:
    """The cell as a whole number from `minimum` to `maximum` (ASCII digits, commas between
    thousands allowed), or None: silently for a value in `blank`, else with a problem.

    `also` names the other values the caller accepts, for the message ('n/a')."""
    raw = row[column]
    if raw in blank:
        return None
    alternatives = f" or {also}" if also else ""
    digits = raw.replace(",", "")
    # str.isdigit() is also true of '²' and other digits int() refuses.
    if not (digits.isascii() and digits.isdigit()):
        message = f"must be a whole number{alternatives}, got {raw!r}"
    elif not minimum <= int(digits) <= maximum:
        message = f"must be a whole number from {minimum:,} to {maximum:,}, got {raw!r}"
    else:
        return int(digits)
    problems.append(ImportProblem(file, row.line, column, message))
    return None


def wage(
    row: Row,
    column: str,
    file: str,
    problems: list[ImportProblem],
    *,
    blank: Sequence[str] = ("",),
    also: str = "",
) -> Decimal | None:
    """The cell as an amount of money of 0 or more, in cents, below 10,000,000,000 (what a
    wage field holds), or None: silently for a value in `blank`, else with a problem."""
    raw = row[column]
    if raw in blank:
        return None
    alternatives = f" or {also}" if also else ""
    try:
        amount = Decimal(raw.replace(",", ""))
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        message = f"must be a number{alternatives}, got {raw!r}"
    elif not 0 <= amount < WAGE_LIMIT or amount.quantize(CENTS) >= WAGE_LIMIT:
        message = f"must be a number from 0 to less than {WAGE_LIMIT:,.0f}, got {raw!r}"
    else:
        return amount.quantize(CENTS)
    problems.append(ImportProblem(file, row.line, column, message))
    return None


def label_problems(file: str, values: dict[str, str], model: type) -> list[ImportProblem]:
    """Problems with labels given as options ({'name': 'SOC', 'version': '2018'}) that would
    be stored in `model`'s fields of those names: each is required and must fit its field."""
    problems = []
    for name, value in values.items():
        limit = model._meta.get_field(name).max_length
        if not value.strip():
            message = f"the {model._meta.verbose_name}'s {name} is blank: give one"
            problems.append(ImportProblem(file, None, name, message))
        elif limit is not None and len(value) > limit:
            message = (
                f"the {model._meta.verbose_name}'s {name} {value!r} is {len(value)} characters "
                f"long, more than {limit}"
            )
            problems.append(ImportProblem(file, None, name, message))
    return problems


# --- taxonomies -----------------------------------------------------------------------------


def split_label(label: str) -> tuple[str, str]:
    """('SOC', '2018') from 'SOC 2018': a taxonomy release is named '<name> <version>'."""
    name, _, version = label.strip().rpartition(" ")
    return (name.strip(), version) if name else (version, "")


def find_taxonomy(label: str) -> Taxonomy | None:
    """The taxonomy release named '<name> <version>', e.g. 'SOC 2018', or None."""
    name, version = split_label(label)
    return Taxonomy.objects.filter(name=name, version=version).first()


def plan_taxonomy(
    name: str,
    version: str,
    values: dict[str, str],
    report: ImportReport,
    *,
    update: bool = True,
) -> tuple[Taxonomy, list[str]]:
    """The taxonomy release (unsaved when new) with `values` applied, and the fields that
    change; counts it as a 'taxonomies' record. Blank values leave a stored field as it is,
    and so do all values with update=False (they only fill a new taxonomy)."""
    taxonomy = Taxonomy.objects.filter(name=name, version=version).first()
    if taxonomy is None:
        report.of("taxonomies").added += 1
        return Taxonomy(name=name, version=version, **values), list(values)
    changed = [
        key for key, value in values.items() if update and value and getattr(taxonomy, key) != value
    ]
    for key in changed:
        setattr(taxonomy, key, values[key])
    if changed:
        report.of("taxonomies").changed += 1
    else:
        report.of("taxonomies").unchanged += 1
    return taxonomy, changed


def save_taxonomy(taxonomy: Taxonomy, changed: list[str]) -> None:
    if taxonomy.pk is None:
        taxonomy.save()
    elif changed:
        taxonomy.save(update_fields=changed)


# --- occupations ----------------------------------------------------------------------------


@dataclass
class OccupationRow:
    """An occupation as a source gives it, its parent named by code."""

    code: str
    title: str
    level: str
    parent: str
    """The parent's code in the same taxonomy; blank for a top-level group (job category)."""
    values: dict[str, Any] = field(default_factory=dict)
    """Other fields the source sets (description, employment, wages, flags, source)."""
    line: int | None = None


@dataclass
class OccupationPlan:
    """What writing a list of occupations into a taxonomy adds and changes."""

    rows: list[OccupationRow]
    existing: dict[str, Occupation]
    new: list[OccupationRow] = field(default_factory=list)
    changed: list[OccupationRow] = field(default_factory=list)
    value_fields: set[str] = field(default_factory=set)
    kept: list[str] = field(default_factory=list)
    """Codes stored in the taxonomy that the source no longer has."""


def plan_occupations(
    taxonomy: Taxonomy, rows: list[OccupationRow], report: ImportReport
) -> OccupationPlan:
    """Compare the source's occupations with those stored, counting added, changed and
    unchanged; nothing is written. Rows must list parents before their children or name
    parents already stored."""
    stored = list(Occupation.objects.filter(taxonomy=taxonomy)) if taxonomy.pk else []
    existing = {occupation.code: occupation for occupation in stored}
    code_of = {occupation.pk: occupation.code for occupation in stored}
    plan = OccupationPlan(rows, existing)
    counts = report.of("occupations")
    for row in rows:
        plan.value_fields |= set(row.values)
        occupation = existing.get(row.code)
        if occupation is None:
            plan.new.append(row)
            counts.added += 1
            continue
        same = (
            occupation.title == row.title
            and occupation.level == row.level
            and code_of.get(occupation.parent_id, "") == row.parent
            and all(getattr(occupation, key) == value for key, value in row.values.items())
        )
        if same:
            counts.unchanged += 1
        else:
            plan.changed.append(row)
            counts.changed += 1
    in_source = {row.code for row in rows}
    plan.kept = sorted(code for code in existing if code not in in_source)
    if plan.kept:
        report.notes.append(kept_note(len(plan.kept), "occupations", plan.kept))
    return plan


def kept_note(count: int, what: str, examples: Sequence[str]) -> str:
    """The report's line about stored records a newer source no longer has (never deleted)."""
    shown = ", ".join(examples[:5]) + (", ..." if count > 5 else "")
    return f"kept: {count} {what} no longer in the source ({shown})"


def write_occupations(taxonomy: Taxonomy, plan: OccupationPlan) -> dict[str, int]:
    """Create and update the planned occupations in bulk, parents first; returns the primary
    key of every occupation of the taxonomy by code.

    Bulk writes skip Occupation.save, so the job categories (each occupation's top-level
    ancestor) are then set here for the whole taxonomy: a moved group moves its unchanged
    descendants to another job category too.
    """
    pk_of = {code: occupation.pk for code, occupation in plan.existing.items()}
    by_code = {row.code: row for row in plan.rows}
    depth: dict[str, int] = {}

    def depth_of(code: str) -> int:
        if code not in depth:
            row = by_code.get(code)
            depth[code] = 0 if row is None or not row.parent else depth_of(row.parent) + 1
        return depth[code]

    changed_codes = {row.code for row in plan.changed}
    pending = plan.new + plan.changed
    to_update: list[Occupation] = []
    fields = ["title", "level", "parent", *sorted(plan.value_fields)]
    for level in sorted({depth_of(row.code) for row in pending}):
        at_level = [row for row in pending if depth_of(row.code) == level]
        created = Occupation.objects.bulk_create(
            [
                Occupation(
                    taxonomy=taxonomy,
                    code=row.code,
                    title=row.title,
                    level=row.level,
                    parent_id=pk_of.get(row.parent),
                    **row.values,
                )
                for row in at_level
                if row.code not in changed_codes
            ],
            batch_size=BATCH_SIZE,
        )
        for occupation in created:
            pk_of[occupation.code] = occupation.pk
        for row in at_level:
            if row.code not in changed_codes:
                continue
            occupation = plan.existing[row.code]
            occupation.title, occupation.level = row.title, row.level
            occupation.parent_id = pk_of.get(row.parent)
            for key, value in row.values.items():
                setattr(occupation, key, value)
            to_update.append(occupation)
    if to_update:
        Occupation.objects.bulk_update(to_update, fields, batch_size=BATCH_SIZE)
    set_job_categories(taxonomy)
    return pk_of


def set_job_categories(taxonomy: Taxonomy) -> int:
    """Set every occupation's job category of the taxonomy to its top-level ancestor, in one
    read and one bulk update of those that differ; returns how many changed."""
    stored = list(
        Occupation.objects.filter(taxonomy=taxonomy).values_list(
            "pk", "parent_id", "job_category_id"
        )
    )
    parent_of = {pk: parent for pk, parent, _ in stored}
    top: dict[int, int] = {}

    def top_of(pk: int) -> int:
        path = []
        while pk not in top and parent_of.get(pk) is not None and len(path) <= len(parent_of):
            path.append(pk)
            pk = parent_of[pk]
        found = top.get(pk, pk)
        for item in path:
            top[item] = found
        top[pk] = found
        return found

    wrong = [
        Occupation(pk=pk, job_category_id=top_of(pk))
        for pk, _, job_category in stored
        if job_category != top_of(pk)
    ]
    Occupation.objects.bulk_update(wrong, ["job_category"], batch_size=BATCH_SIZE)
    return len(wrong)


# --- the record of an import ----------------------------------------------------------------


def record_import(taxonomy: Taxonomy, report: ImportReport, user: Any = None) -> TaxonomyImport:
    """The TaxonomyImport row and the audit event of an import that was written."""
    imported = TaxonomyImport.objects.create(
        taxonomy=taxonomy,
        kind=report.kind,
        files=report.files,
        added=report.added,
        changed=report.changed,
        unchanged=report.unchanged,
        skipped=report.skipped,
        details=report.details(),
        imported_by=user if user is not None and user.is_authenticated else None,
    )
    report.record_id = imported.pk
    trail.record(
        trail.Action.IMPORT,
        target=imported,
        actor=user,
        details={
            "kind": report.kind,
            "taxonomy": str(taxonomy),
            "files": [item["name"] for item in report.files],
            "added": report.added,
            "changed": report.changed,
            "unchanged": report.unchanged,
            "skipped": report.skipped,
        },
    )
    return imported


def chunks(items: Sequence[Any], size: int = BATCH_SIZE) -> Iterator[Sequence[Any]]:
    """`items` in slices of at most `size`, for queries with many parameters."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
