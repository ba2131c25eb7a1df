"""What every export shares: the file it returns, the release's metadata, and each table as
rows of published cells (figures, or short codes where there is no figure)."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.urls import reverse

from reports.models import Release
from reports.release_tables import MISSING_CODES, TABLES, Table, format_code


@dataclass(frozen=True)
class ExportFile:
    filename: str
    content_type: str
    data: bytes


LICENCES: dict[str, tuple[str, str]] = {
    "CC-BY-4.0": (
        "Creative Commons Attribution 4.0",
        "https://creativecommons.org/licenses/by/4.0/",
    ),
    "OGL-UK-3.0": (
        "Open Government Licence v3.0",
        "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/",
    ),
    "CC0-1.0": ("Creative Commons Zero 1.0", "https://creativecommons.org/publicdomain/zero/1.0/"),
}
"""Licences by SPDX id: (title, address). Others are published by id alone."""


def licence() -> dict[str, str]:
    """The release licence (EVALBUILDER_RELEASE_LICENCE): SPDX name, title and path (URL)."""
    name = settings.EVALBUILDER_RELEASE_LICENCE
    title, path = LICENCES.get(name, (name, ""))
    return {"name": name, "title": title, "path": path}


def absolute_url(path: str) -> str:
    return settings.EVALBUILDER_PUBLIC_URL.rstrip("/") + path


def download_url(release: Release, key: str) -> str:
    """Absolute address of the release in the format `key`."""
    return absolute_url(reverse("reports:release_download", args=[release.identifier, key]))


def _person(user) -> str | None:
    if user is None:
        return None
    return user.get_full_name() or user.get_username()


def metadata(release: Release) -> dict[str, Any]:
    """The release's identity and provenance, as every format states it."""
    return {
        "identifier": release.identifier,
        "series": release.series,
        "version": release.version,
        "title": release.title,
        "description": release.description,
        "status": release.status,
        "release_date": release.release_date.isoformat() if release.release_date else None,
        "approved_by": _person(release.approved_by),
        "prepared_by": _person(release.prepared_by),
        "prepared_at": release.prepared_at.isoformat(),
        "publisher": settings.EVALBUILDER_PUBLISHER,
        "licence": licence(),
        "checksum_sha256": release.checksum,
        "suite": release.scope["suite"],
        "grader": release.scope["grader"],
        "taxonomy": release.scope["taxonomy"],
        "reference_area": release.scope["reference_area"],
        "period": {
            "start": release.period_start.isoformat(),
            "end": release.period_end.isoformat(),
            "meaning": "Models released between these dates, inclusive.",
        },
        # As they stood when the release was prepared, ordered by release date, then name.
        "models": [
            {"code": m["code"], "name": m["name"], "release_date": m["release_date"]}
            for m in release.scope["models"]
        ],
        "disclosure_min_tasks": release.disclosure_min_tasks,
        "supersedes": release.supersedes.identifier if release.supersedes else None,
        "correction_reason": release.correction_reason or None,
        "url": absolute_url(release.get_absolute_url()),
    }


def status_line(release: Release) -> str:
    """One line saying whether the file is official: drafts must never pass for releases."""
    if release.is_approved:
        return f"Official release {release.identifier}, published {release.release_date}."
    return f"DRAFT {release.identifier}: not approved, not for publication."


def cell(row: dict, key: str) -> Any:
    """A published cell: the figure, or its short code such as [c] where there is none."""
    value = row["values"].get(key)
    if value is None:
        return format_code(row["missing"].get(key, "x"))
    return value


def table_cells(release: Release, spec: Table) -> Iterator[list[Any]]:
    """The table's rows as lists of published cells, in column order."""
    for row in release.tables.get(spec.id, []):
        yield [cell(row, column.key) for column in spec.columns]


def table_csv(release: Release, spec: Table) -> bytes:
    """One tidy table as UTF-8 CSV: a header of column keys, then one line per row, with
    short codes in cells that have no figure (a Table Schema declares them missing)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([column.key for column in spec.columns])
    writer.writerows(table_cells(release, spec))
    return out.getvalue().encode("utf-8")


DEFAULT_DESCRIPTION = (
    "Figures of AI models on expert-written tasks from the occupations of the economy, by "
    "job category, occupation and model."
)


def release_facts(release: Release) -> list[tuple[str, str]]:
    """The release's identity and provenance as (label, text) pairs, in the order the
    README and the spreadsheet cover give them (the licence and release page aside)."""
    data = metadata(release)
    facts = [
        ("Release identifier",
         f"{data['identifier']} (version {data['version']} of the series {data['series']})"),
        ("Release date", data["release_date"] or "not released (draft)"),
        ("Approved by", data["approved_by"] or "not approved (draft)"),
        ("Prepared by", f"{data['prepared_by']}, on {release.prepared_at:%Y-%m-%d}"),
        ("Publisher", data["publisher"]),
        ("Reference period", f"models released from {data['period']['start']} to "
         f"{data['period']['end']}, inclusive"),
        ("Reference area", data["reference_area"] or "not stated"),
        ("Occupational classification", data["taxonomy"]),
        ("Task suite", f"{data['suite']['name']} ({data['suite']['slug']})"),
        ("Grader", data["grader"]),
        ("Models", "; ".join(
            f"{m['name']} ({m['code']}, released {m['release_date']})" for m in data["models"]
        )),
        ("Minimum tasks behind a published figure", str(data["disclosure_min_tasks"])),
        ("Checksum (SHA-256 of the figures and methodology)", data["checksum_sha256"]),
    ]  # fmt: skip
    if data["supersedes"]:
        facts += [
            ("Supersedes", data["supersedes"]),
            ("Reason for the correction", data["correction_reason"] or "not given"),
            (f"Figures changed from {data['supersedes']}",
             f"{len(release.changes)} (the release page lists every change)"),
        ]  # fmt: skip
    return facts


ZIP_DATE = (1980, 1, 1, 0, 0, 0)
"""Timestamp of every member: the earliest a zip can record, so builds are byte-identical."""


def add_zip_member(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    """Add a file to a zip with a fixed timestamp and permissions (reproducible bytes)."""
    member = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    member.compress_type = zipfile.ZIP_DEFLATED
    member.external_attr = 0o644 << 16
    archive.writestr(member, data)


def csv_filename(spec: Table) -> str:
    return f"{spec.id}.csv"


MISSING_VALUES = ["", *(format_code(code) for code in MISSING_CODES)]
"""What machine readers must read as 'no figure' in CSV cells."""

__all__ = [
    "DEFAULT_DESCRIPTION",
    "MISSING_VALUES",
    "TABLES",
    "ZIP_DATE",
    "ExportFile",
    "absolute_url",
    "add_zip_member",
    "cell",
    "csv_filename",
    "download_url",
    "licence",
    "metadata",
    "release_facts",
    "status_line",
    "table_cells",
    "table_csv",
]
