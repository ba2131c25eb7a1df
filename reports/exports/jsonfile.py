"""A release as one JSON document for machines.

Figures are JSON numbers (dates ISO 8601 strings) or null; each row's `missing` says why a
null has no figure, with the codes of `missing_codes`. Keys are sorted, so the same release
gives the same bytes, until a correction of it is approved: the catalogue record then names
the release that replaces it.
"""

from __future__ import annotations

import json
from typing import Any

from reports.exports.base import ExportFile, metadata, status_line
from reports.exports.dcat import catalogue_record
from reports.models import Release
from reports.release_tables import MISSING_CODES, TABLES, Column, Table

CONTENT_TYPE = "application/json; charset=utf-8"

LAYOUT_VERSION = 1
"""Version of this document's layout; it changes when a key changes meaning."""


def _column(column: Column) -> dict[str, Any]:
    return {
        "key": column.key,
        "header": column.header,
        "description": column.description,
        "type": column.type,
        "role": column.role,
        "unit": column.unit,
        "bound_of": column.bound_of,
        "sdmx": column.sdmx,
        "suppressible": column.suppressible,
    }


def _table(release: Release, spec: Table, notes: dict[int, str]) -> dict[str, Any]:
    rows = release.tables.get(spec.id, [])
    keys = [column.key for column in spec.columns]
    return {
        "id": spec.id,
        "title": spec.title,
        "description": spec.description,
        "notes": [{"number": n, "text": notes[n]} for n in spec.notes if n in notes],
        "columns": [_column(column) for column in spec.columns],
        "rows": [{key: row["values"].get(key) for key in keys} for row in rows],
        "missing": [dict(row["missing"]) for row in rows],
        "suppression": [row.get("suppression") for row in rows],
    }


def document(release: Release) -> dict[str, Any]:
    """The JSON document: metadata, catalogue record, methodology, revisions and tables.

    `tables[i].rows[j]` holds the figures of a row by column key, `tables[i].missing[j]` the
    code of each null figure, and `tables[i].suppression[j]` whether the row was withheld
    for disclosure control (null, "C" primary or "D" secondary).
    """
    notes = {note["number"]: note["text"] for note in release.methodology.get("notes", [])}
    return {
        "layout_version": LAYOUT_VERSION,
        "status": status_line(release),
        "metadata": metadata(release),
        "dcat": catalogue_record(release),
        "methodology": release.methodology,
        "changes": release.changes,
        "missing_codes": dict(MISSING_CODES),
        "tables": [_table(release, spec, notes) for spec in TABLES],
    }


def build_json(release: Release) -> ExportFile:
    """The release as UTF-8 JSON with sorted keys."""
    text = (
        json.dumps(document(release), ensure_ascii=False, indent=2, sort_keys=True, allow_nan=False)
        + "\n"
    )
    return ExportFile(f"{release.identifier}.json", CONTENT_TYPE, text.encode("utf-8"))
