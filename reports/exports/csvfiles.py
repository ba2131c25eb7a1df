"""A release as CSV: one tidy UTF-8 table per file, with a README, in one zip.

The zip is deterministic: the same release always gives the same bytes, so a published
file can be checked against a rebuilt one.
"""

from __future__ import annotations

import io
import zipfile

from reports.exports.base import (
    DEFAULT_DESCRIPTION,
    MISSING_VALUES,
    ExportFile,
    add_zip_member,
    csv_filename,
    metadata,
    release_facts,
    status_line,
    table_csv,
)
from reports.models import Release
from reports.release_tables import MISSING_CODES, TABLES, Table, format_code

README = "README.md"


def _column_lines(spec: Table) -> list[str]:
    lines = ["| Column | Header (unit) | Type | Description |", "|---|---|---|---|"]
    for column in spec.columns:
        description = column.description or column.header
        if column.bound_of:
            description += f" (a bound of `{column.bound_of}`)"
        cells = [f"`{column.key}`", column.header, column.type, description]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return lines


def readme(release: Release) -> str:
    """The README of the CSV files: the release, its methodology, notes and every column."""
    data = metadata(release)
    licence = data["licence"]
    lines = [
        f"# {release.title}",
        "",
        release.description or DEFAULT_DESCRIPTION,
        "",
        f"**{status_line(release)}**",
        "",
        "## About this release",
        "",
        *(f"- {label}: {text}" for label, text in release_facts(release)),
        f"- Licence: {licence['title']} ({licence['name']})"
        + (f", {licence['path']}" if licence["path"] else ""),
        f"- Release page: {data['url']}",
    ]
    lines += [
        "",
        "## The files",
        "",
        "Every file is UTF-8 CSV with a header row of column names, then one row per record "
        "(tidy data: one observation per row, one variable per column). Figures are "
        "numbers with a point as decimal separator; dates are ISO 8601 (YYYY-MM-DD); "
        "percentages run from 0 to 100.",
        "",
    ]
    lines += [f"- `{csv_filename(spec)}`: {spec.title}" for spec in TABLES]
    lines += [
        "",
        "## Cells without a figure",
        "",
        "A cell with no figure holds a short code instead; read "
        + ", ".join(f"`{v}`" for v in MISSING_VALUES if v)
        + " as missing values.",
        "",
    ]
    lines += [f"- `{format_code(code)}`: {meaning}" for code, meaning in MISSING_CODES.items()]
    lines += ["", "## Notes", ""]
    lines += [f"- [note {n['number']}] {n['text']}" for n in release.methodology.get("notes", [])]
    lines += ["", "## Methodology", ""]
    for section in release.methodology.get("sections", []):
        lines += [f"### {section['heading']}", ""]
        for paragraph in section["paragraphs"]:
            lines += [paragraph, ""]
    lines += ["## Tables", ""]
    for spec in TABLES:
        notes = " ".join(f"[note {n}]" for n in spec.notes)
        lines += [
            f"### {csv_filename(spec)}: {spec.title}",
            "",
            spec.description + (f" Notes: {notes}." if notes else ""),
            "",
            f"Rows: {len(release.tables.get(spec.id, []))}.",
            "",
            *_column_lines(spec),
            "",
        ]
    return "\n".join(lines)


def build_csv_zip(release: Release) -> ExportFile:
    """The release as a zip of CSV files, one per table, with a README."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        add_zip_member(archive, README, readme(release).encode("utf-8"))
        for spec in TABLES:
            add_zip_member(archive, csv_filename(spec), table_csv(release, spec))
    return ExportFile(f"{release.identifier}-csv.zip", "application/zip", out.getvalue())
