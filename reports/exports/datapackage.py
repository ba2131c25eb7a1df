"""A release as a Frictionless Tabular Data Package (v1): datapackage.json and one CSV file
per table, in one zip.

Each CSV file holds exactly the bytes of the CSV export (base.table_csv); its Table Schema
names, types and describes every column and declares the short codes ([c], [x], ...) as
missing values, so that a reader gets a figure or nothing. The catalogue record travels
with the package under "dcat".
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import Any

from django.conf import settings

from reports.exports.base import (
    MISSING_VALUES,
    ExportFile,
    add_zip_member,
    csv_filename,
    licence,
    metadata,
    status_line,
    table_csv,
)
from reports.exports.dcat import KEYWORDS, catalogue_record
from reports.models import Release
from reports.release_tables import MISSING_CODES, TABLES, Column, Table, format_code

DESCRIPTOR = "datapackage.json"
DATA_FOLDER = "data"


def package_name(release: Release) -> str:
    """The package name: the release identifier in the characters a v1 name allows."""
    return re.sub(r"[^a-z0-9._/-]", "-", release.identifier.lower())


def primary_key(spec: Table) -> list[str]:
    """The columns a row is known by (Table.identity), the same in every release."""
    return list(spec.identity)


def _field(column: Column) -> dict[str, Any]:
    description = column.description or column.header
    if column.bound_of:
        description += f" Bound of the column {column.bound_of}."
    field: dict[str, Any] = {
        "name": column.key,
        "title": column.header,
        "description": description,
        "type": column.type,
    }
    if column.type == "date":
        field["format"] = "default"
    return field


def table_schema(release: Release, spec: Table) -> dict[str, Any]:
    """The Table Schema of one table: its fields, missing values and primary key."""
    schema: dict[str, Any] = {
        "fields": [_field(column) for column in spec.columns],
        "missingValues": list(MISSING_VALUES),
    }
    key = primary_key(spec)
    if key:
        schema["primaryKey"] = key
    return schema


def _resource(release: Release, spec: Table, notes: dict[int, str]) -> dict[str, Any]:
    description = spec.description
    if spec.notes:
        description += " " + " ".join(f"[note {n}] {notes[n]}" for n in spec.notes if n in notes)
    return {
        "name": spec.id,
        "path": f"{DATA_FOLDER}/{csv_filename(spec)}",
        "profile": "tabular-data-resource",
        "title": spec.title,
        "description": description,
        "format": "csv",
        "mediatype": "text/csv",
        "encoding": "utf-8",
        "schema": table_schema(release, spec),
    }


def descriptor(release: Release) -> dict[str, Any]:
    """The content of datapackage.json."""
    data = metadata(release)
    notes = {note["number"]: note["text"] for note in release.methodology.get("notes", [])}
    codes = "; ".join(f"{format_code(code)}: {meaning}" for code, meaning in MISSING_CODES.items())
    terms = licence()
    package_licence = {"name": terms["name"], "title": terms["title"]}
    if terms["path"]:
        package_licence["path"] = terms["path"]
    return {
        "profile": "tabular-data-package",
        "name": package_name(release),
        "id": data["url"],
        "title": release.title,
        "description": (
            f"{release.description or release.title} {status_line(release)} "
            f"Cells without a figure hold a short code, read as missing: {codes}"
        ),
        "version": f"{release.version}.0.0",
        "created": (release.approved_at or release.prepared_at).isoformat(timespec="seconds"),
        "homepage": data["url"],
        "licenses": [package_licence],
        "sources": [
            {
                "title": f"{settings.EVALBUILDER_PUBLISHER}: release {release.identifier}",
                "path": data["url"],
            }
        ],
        "contributors": [{"title": settings.EVALBUILDER_PUBLISHER, "role": "publisher"}],
        "keywords": [*KEYWORDS, data["taxonomy"]],
        "dcat": catalogue_record(release),
        "resources": [_resource(release, spec, notes) for spec in TABLES],
    }


def build_datapackage(release: Release) -> ExportFile:
    """The data package as a zip: datapackage.json at the top, the CSV files in data/."""
    out = io.BytesIO()
    text = (
        json.dumps(
            descriptor(release), ensure_ascii=False, indent=2, sort_keys=True, allow_nan=False
        )
        + "\n"
    )
    with zipfile.ZipFile(out, "w") as archive:
        add_zip_member(archive, DESCRIPTOR, text.encode("utf-8"))
        for spec in TABLES:
            add_zip_member(archive, f"{DATA_FOLDER}/{csv_filename(spec)}", table_csv(release, spec))
    return ExportFile(f"{release.identifier}-datapackage.zip", "application/zip", out.getvalue())
