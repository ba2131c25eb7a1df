"""Every file format a release is published in, built from the release's stored tables.

Each format is a function `build(release) -> ExportFile` in one module of this package,
registered in FORMATS by dotted path so that a format's dependencies load only when it is
asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from importlib import import_module
from typing import TYPE_CHECKING

from reports.exports.base import ExportFile

if TYPE_CHECKING:
    from reports.models import Release


@dataclass(frozen=True)
class Format:
    key: str
    """Name in URLs, the API and `manage.py export_release --format`."""
    label: str
    builder: str
    """'module:function' building the file from a release."""
    description: str
    media_type: str
    """IANA media type of the file (without parameters)."""
    format_name: str
    """Short name of the file format, as catalogue records give it."""


FORMATS: dict[str, Format] = {
    f.key: f
    for f in (
        Format("xlsx", "Spreadsheet (XLSX)", "reports.exports.spreadsheets:build_xlsx",
               "Excel workbook: cover, contents, notes and one table per sheet.",
               "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "XLSX"),
        Format("ods", "Spreadsheet (ODS)", "reports.exports.spreadsheets:build_ods",
               "OpenDocument spreadsheet: cover, contents, notes and one table per sheet.",
               "application/vnd.oasis.opendocument.spreadsheet", "ODS"),
        Format("csv", "CSV (zip)", "reports.exports.csvfiles:build_csv_zip",
               "One UTF-8 CSV file per table, with a README.",
               "application/zip", "ZIP of CSV files"),
        Format("sdmx", "SDMX-CSV 2.0", "reports.exports.sdmx:build_sdmx_data",
               "Every figure as an SDMX observation.",
               "application/vnd.sdmx.data+csv", "SDMX-CSV 2.0"),
        Format("sdmx-structure", "SDMX structure (SDMX-ML 3.0)",
               "reports.exports.sdmx:build_sdmx_structure",
               "The data structure definition and code lists of the SDMX data.",
               "application/vnd.sdmx.structure+xml", "SDMX-ML 3.0 structure"),
        Format("datapackage", "Frictionless Data Package (zip)",
               "reports.exports.datapackage:build_datapackage",
               "datapackage.json with a Table Schema per table, and the CSV files.",
               "application/zip", "Frictionless Data Package (ZIP)"),
        Format("dcat", "DCAT catalogue record (JSON-LD)", "reports.exports.dcat:build_dcat",
               "Catalogue metadata: title, publisher, dates, licence and distributions.",
               "application/ld+json", "JSON-LD"),
        Format("json", "JSON", "reports.exports.jsonfile:build_json",
               "The release's metadata, methodology and tables for machines.",
               "application/json", "JSON"),
        Format("html", "Printable report (HTML)", "reports.exports.printable:build_html",
               "The report with charts, summaries and methodology, styled for print.",
               "text/html", "HTML"),
        Format("pdf", "Printable report (PDF)", "reports.exports.printable:build_pdf",
               "The printable report as a PDF document.",
               "application/pdf", "PDF"),
    )
}  # fmt: skip


def build(release: Release, key: str) -> ExportFile:
    """The release in the format `key` (a key of FORMATS). A draft's file names say DRAFT,
    so that no copy of a draft passes for the release (a discarded draft's version number
    is used again by the next one)."""
    module, function = FORMATS[key].builder.split(":")
    file = getattr(import_module(module), function)(release)
    if release.is_approved:
        return file
    stem, dot, extension = file.filename.partition(".")
    return replace(file, filename=f"{stem}-DRAFT{dot}{extension}")


__all__ = ["FORMATS", "ExportFile", "Format", "build"]
