"""The printable report of a release: one self-contained HTML document styled for print, and
the same content as a PDF.

Both are drawn from the release's stored tables and methodology, never from the results in
the database, so the report shows exactly the figures that were approved: a title page with
the release's identity and provenance, a summary in words, charts with text alternatives,
every table, the notes and symbols, the methodology and the revisions.
"""

from __future__ import annotations

import io
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from fpdf import FPDF, FontFace
from fpdf.enums import Align, TableCellFillMode, XPos, YPos
from fpdf.outline import TableOfContents

from reports import charts
from reports.exports.base import ExportFile, cell, metadata, status_line
from reports.models import Release
from reports.release_tables import (
    DECIMALS,
    MISSING_CODES,
    TABLES,
    Column,
    Table,
    format_code,
)
from reports.release_tables import table as table_spec
from reports.releases import revisions

# --- what the report shows -------------------------------------------------------------------

MAX_COLUMNS = 13
"""Most columns one printed table holds (A4 landscape); wider tables are split into parts
that each repeat the columns naming the row."""
PORTRAIT_COLUMNS = 6
"""Tables of at most this many columns print on portrait pages, wider ones on landscape."""


@dataclass(frozen=True)
class DisplayCell:
    """One cell as printed: the figure formatted for reading, or its short code."""

    text: str
    numeric: bool
    """Right-aligned: the column holds counts, figures or dates."""
    row_header: bool
    """Part of what names the row (a code or its label), repeated in every part."""


@dataclass(frozen=True)
class TablePart:
    """A printable table: all of a release table's columns, or one group of them."""

    label: str
    """'' for a whole table, else e.g. 'part 2 of 3'."""
    headers: tuple[DisplayCell, ...]
    rows: tuple[tuple[DisplayCell, ...], ...]


@dataclass(frozen=True)
class ReportTable:
    """One of the release's tables as printed, in one or more parts."""

    number: int
    """Tables are numbered in the order of reports.release_tables.TABLES."""
    spec: Table
    parts: tuple[TablePart, ...]
    landscape: bool
    """Printed on landscape pages: it is too wide for portrait."""

    @property
    def anchor(self) -> str:
        return f"table-{self.spec.id}"

    @property
    def heading(self) -> str:
        return f"Table {self.number}: {self.spec.title}"

    @property
    def note_refs(self) -> tuple[str, ...]:
        return tuple(f"[note {n}]" for n in self.spec.notes)


@dataclass(frozen=True)
class ReportChart:
    """A chart of the report with what is said beside it."""

    number: int
    chart: charts.Chart
    summary: str
    """Its message in one plain sentence."""
    table: ReportTable
    """The table holding the figures drawn, at their published precision."""

    @property
    def heading(self) -> str:
        return f"Figure {self.number}: {self.chart.title}"

    @property
    def anchor(self) -> str:
        return f"figure-{self.number}"

    @property
    def alternative(self) -> str:
        """The text alternative: the summary, how to read the chart and where its figures
        are."""
        return (
            f"{self.summary} {self.chart.caption} "
            f"The figures drawn are in Table {self.table.number}."
        )


@dataclass(frozen=True)
class Fact:
    """One line of the title page's account of the release."""

    name: str
    value: str
    href: str = ""
    """Where the value links to, if anywhere."""
    code: bool = False
    """Printed in a fixed-width font (a checksum)."""


@dataclass(frozen=True)
class Revision:
    """One release of the series, as the revisions table lists it."""

    identifier: str
    version: int
    status: str
    release_date: str
    approved_by: str
    reason: str


@dataclass(frozen=True)
class Report:
    """Everything the printable report shows, in reading order."""

    meta: dict[str, Any]
    status: str
    draft: bool
    facts: tuple[Fact, ...]
    """The title page's list of identity and provenance."""
    summary: tuple[str, ...]
    category_summaries: tuple[str, ...]
    """The frontier of each job category, in words."""
    figures: tuple[ReportChart, ...]
    tables: tuple[ReportTable, ...]
    notes: tuple[dict, ...]
    codes: tuple[tuple[str, str], ...]
    """Short codes shown in cells that have no figure, with their meaning."""
    methodology: tuple[dict, ...]
    corrects: str
    """What this release corrects and why; '' for a first release."""
    changes: tuple[dict, ...]
    revisions: tuple[Revision, ...]


def display(value: Any, column: Column) -> str:
    """A published cell as printed: thousands separated, with the unit's decimal places."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{DECIMALS.get(column.unit or '', 0)}f}"


def _is_numeric(column: Column) -> bool:
    return column.type in ("integer", "number", "date")


def _row_header_keys(spec: Table) -> set[str]:
    """The columns that name a row: its codes, each with the label printed after it."""
    keys: set[str] = set()
    columns = spec.columns
    for index, column in enumerate(columns):
        if column.role == "dimension":
            keys.add(column.key)
            following = columns[index + 1] if index + 1 < len(columns) else None
            if following is not None and following.role == "label":
                keys.add(following.key)
    return keys


def column_groups(spec: Table, max_columns: int = MAX_COLUMNS) -> list[tuple[Column, ...]]:
    """The table's columns as printable groups of at most `max_columns`; each group of a
    split table starts with the columns naming the row, and a figure stays beside its
    confidence bounds."""
    if len(spec.columns) <= max_columns:
        return [spec.columns]
    row_keys = _row_header_keys(spec)
    naming = tuple(c for c in spec.columns if c.key in row_keys)
    units: list[list[Column]] = []
    for column in spec.columns:
        if column.key in row_keys:
            continue
        if column.role in ("lower", "upper") and units and units[-1][0].key == column.bound_of:
            units[-1].append(column)
        else:
            units.append([column])
    room = max(1, max_columns - len(naming))
    groups: list[list[Column]] = [[]]
    for unit in units:
        if groups[-1] and len(groups[-1]) + len(unit) > room:
            groups.append([])
        groups[-1].extend(unit)
    return [naming + tuple(group) for group in groups]


def report_table(release: Release, spec: Table, number: int) -> ReportTable:
    row_keys = _row_header_keys(spec)
    groups = column_groups(spec)
    stored = release.tables.get(spec.id, [])
    parts = []
    for index, columns in enumerate(groups):
        headers = tuple(DisplayCell(c.header, _is_numeric(c), c.key in row_keys) for c in columns)
        rows = tuple(
            tuple(
                DisplayCell(display(cell(row, c.key), c), _is_numeric(c), c.key in row_keys)
                for c in columns
            )
            for row in stored
        )
        label = f"part {index + 1} of {len(groups)}" if len(groups) > 1 else ""
        parts.append(TablePart(label, headers, rows))
    landscape = max(len(g) for g in groups) > PORTRAIT_COLUMNS
    return ReportTable(number, spec, tuple(parts), landscape)


# --- figures read from the stored tables -------------------------------------------------------


def _rows(release: Release, table_id: str) -> list[dict]:
    return release.tables.get(table_id, [])


def _fraction(row: dict, key: str) -> float | None:
    """A stored percentage as the fraction charts take; None where there is no figure."""
    value = row["values"].get(key)
    return None if value is None else value / 100


def _minutes(row: dict, key: str) -> float | None:
    """A stored horizon in minutes: infinite where it lies beyond the longest task."""
    value = row["values"].get(key)
    if value is None:
        return math.inf if row["missing"].get(key) == "b" else None
    return float(value)


def _code_of(row: dict, key: str) -> str:
    return format_code(row["missing"].get(key, "x"))


def _left_out(labels: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """Chart notes for rows left out, grouped by the code of their missing figure."""
    by_code: dict[str, list[str]] = {}
    for label, code in labels:
        by_code.setdefault(code, []).append(label)
    notes = []
    for code, names in by_code.items():
        meaning = MISSING_CODES[code.strip("[]")].split(":")[0].split(".")[0].lower()
        notes.append(f"Not drawn, {code} {meaning}: {', '.join(names)}.")
    return tuple(notes)


def _level(release: Release) -> str:
    national = _rows(release, "national")
    level = national[0]["values"].get("success_level") if national else None
    return f"{level:g} % success" if level is not None else "the success level"


def _national_points(release: Release) -> list[charts.IndexPoint]:
    national = _rows(release, "national")
    coverage = _fraction(national[0], "employment_coverage") if national else None
    over_time = _rows(release, "national_over_time")
    points = []
    for index, row in enumerate(over_time):
        # Coverage is published for all the release's models, which the last date counts.
        last = index == len(over_time) - 1
        points.append(
            charts.IndexPoint(
                when=date.fromisoformat(row["values"]["time_period"]),
                employment_weighted=_fraction(row, "employment_index"),
                wage_weighted=_fraction(row, "wage_index"),
                coverage=coverage if last else None,
            )
        )
    return points


def national_figure(release: Release, number: int, table: ReportTable) -> ReportChart:
    level = _level(release)
    points = _national_points(release)
    national = _rows(release, "national")
    coverage = _fraction(national[0], "employment_coverage") if national else None
    chart = charts.national_index_chart(
        points, title="National index by model release date", level=level
    )
    summary = charts.national_summary(points, level=level, coverage=coverage)
    return ReportChart(number, chart, summary, table)


def frontier_figure(release: Release, number: int, table: ReportTable) -> ReportChart:
    bars, left_out = [], []
    for row in _rows(release, "job_categories"):
        values = row["values"]
        category = values["job_category"]
        rate = _fraction(row, "frontier_success_rate")
        if rate is None:
            if values.get("frontier_model") is not None or row["suppression"]:
                left_out.append((category, _code_of(row, "frontier_success_rate")))
            continue
        bars.append(
            charts.ProfileBar(
                f"{category} \u2014 {values['frontier_model']}",
                charts.Estimate(
                    rate,
                    _fraction(row, "frontier_success_rate_lower"),
                    _fraction(row, "frontier_success_rate_upper"),
                ),
            )
        )
    chart = charts.profile_chart(
        bars,
        title="Success rate of the frontier model in each job category",
        model="Frontier model",
        value_label="Success rate",
    )
    without = sum(
        1
        for row in _rows(release, "job_categories")
        if row["values"].get("frontier_model") is None and not row["suppression"]
    )
    notes = _left_out(left_out)
    if without:
        notes += (f"Not drawn: {without} job categories with no model results.",)
    chart = replace(chart, notes=chart.notes + notes)
    summary = charts.profile_summary(bars, model="The frontier model")
    return ReportChart(number, chart, summary, table)


def _frontier_flags(values: Sequence[tuple[date, float | None]]) -> list[bool]:
    """Whether each model raised the best value reached by its release date."""
    best = -math.inf
    flags = [False] * len(values)
    for index in sorted(range(len(values)), key=lambda i: (values[i][0], -(values[i][1] or 0))):
        value = values[index][1]
        if value is not None and value > best:
            flags[index], best = True, value
    return flags


def model_success_figure(release: Release, number: int, table: ReportTable) -> ReportChart:
    rows = [r for r in _rows(release, "models") if r["values"].get("success_rate") is not None]
    left_out = [
        (r["values"]["model"], _code_of(r, "success_rate"))
        for r in _rows(release, "models")
        if r["values"].get("success_rate") is None
    ]
    when = [date.fromisoformat(r["values"]["release_date"]) for r in rows]
    flags = _frontier_flags(
        [(d, _fraction(r, "success_rate")) for d, r in zip(when, rows, strict=True)]
    )
    points = [
        charts.TrendPoint(
            when=d,
            value=_fraction(r, "success_rate"),
            low=_fraction(r, "success_rate_lower"),
            high=_fraction(r, "success_rate_upper"),
            label=r["values"]["model"],
            on_frontier=flag,
        )
        for d, r, flag in zip(when, rows, flags, strict=True)
    ]
    chart = charts.success_trend_chart(
        points, title="Success rate of each model by release date, all job categories"
    )
    chart = replace(chart, notes=chart.notes + _left_out(left_out))
    return ReportChart(number, chart, charts.success_summary(points, subject="all"), table)


def horizon_figure(release: Release, number: int, table: ReportTable) -> ReportChart:
    rows = _rows(release, "models")
    drawn = [r for r in rows if r["missing"].get("horizon_p50") != "c"]
    left_out = [(r["values"]["model"], "[c]") for r in rows if r not in drawn]
    when = [date.fromisoformat(r["values"]["release_date"]) for r in drawn]
    minutes = [_minutes(r, "horizon_p50") for r in drawn]
    flags = _frontier_flags(list(zip(when, minutes, strict=True)))
    points = [
        charts.HorizonPoint(
            when=d,
            minutes=m,
            low=_minutes(r, "horizon_p50_lower"),
            high=_minutes(r, "horizon_p50_upper"),
            label=r["values"]["model"],
            on_frontier=flag,
        )
        for d, m, r, flag in zip(when, minutes, drawn, flags, strict=True)
    ]
    chart = charts.time_horizon_chart(
        points, title="50 % time horizon of each model by release date, all job categories"
    )
    chart = replace(chart, notes=chart.notes + _left_out(left_out))
    return ReportChart(number, chart, charts.horizon_summary(points), table)


# --- words -----------------------------------------------------------------------------------


def _shown(row: dict, key: str, spec: Table) -> str:
    return display(cell(row, key), spec.column(key))


def summary(release: Release) -> tuple[str, ...]:
    """The headline figures in words: national index, coverage, the best model overall and
    disclosure control."""
    sentences = []
    national = _rows(release, "national")
    if national:
        row, spec = national[0], table_spec("national")
        coverage = _fraction(row, "employment_coverage")
        sentences.append(
            charts.national_summary(
                _national_points(release), level=_level(release), coverage=coverage
            )
        )

        def share(key: str, of: str) -> str:
            shown = _shown(row, key, spec)
            return (
                f"{shown} % of {of}"
                if row["values"].get(key) is not None
                else (f"an unknown share of {of} {shown}")
            )

        sentences.append(
            f"Coverage: occupations with enough published tasks and results hold "
            f"{share('employment_coverage', 'employment')} and "
            f"{share('wage_coverage', 'the wage bill')}; "
            f"{_shown(row, 'occupations_covered', spec)} of {_shown(row, 'occupations', spec)} "
            f"occupations ({str(row['values'].get('level', '')).lower()} level) are covered, "
            f"and in {_shown(row, 'occupations_met', spec)} of them the best model reaches "
            f"{_level(release)}."
        )
    models = [r for r in _rows(release, "models") if r["values"].get("success_rate") is not None]
    if models:
        spec = table_spec("models")
        best = max(models, key=lambda r: r["values"]["success_rate"])
        sentences.append(
            f"Over all job categories, the model with the highest success rate is "
            f"{best['values']['model']}: {_shown(best, 'success_rate', spec)} % of attempts "
            f"succeed (95 % interval {_shown(best, 'success_rate_lower', spec)} to "
            f"{_shown(best, 'success_rate_upper', spec)} %) on "
            f"{_shown(best, 'tasks', spec)} tasks."
        )
    suppressed = release.methodology.get("suppressed") or {}
    if suppressed:
        sentences.append(
            f"Disclosure control: figures based on fewer than {release.disclosure_min_tasks} "
            f"tasks are shown as {format_code('c')}; {suppressed.get('primary', 0)} groups of "
            f"figures were suppressed and {suppressed.get('secondary', 0)} more withheld so "
            "that they cannot be worked out from totals."
        )
    return tuple(sentences)


def category_summaries(release: Release) -> tuple[str, ...]:
    """One sentence per job category with results: its frontier model and success rate."""
    spec = table_spec("job_categories")
    sentences = []
    for row in _rows(release, "job_categories"):
        values = row["values"]
        if values.get("frontier_model") is None and not row["suppression"]:
            continue
        category, model = values["job_category"], values["frontier_model"]
        tasks = _shown(row, "frontier_tasks", spec)
        if values.get("frontier_success_rate") is None:
            why = {
                "C": f"based on fewer than {release.disclosure_min_tasks} tasks",
                "D": "withheld so that other suppressed figures cannot be worked out",
            }.get(row["suppression"] or "", "not available")
            code = _code_of(row, "frontier_success_rate")
            sentences.append(f"{category}: the frontier model's figures are {code}, {why}.")
            continue
        sentences.append(
            f"{category}: the frontier model, {model}, succeeds on "
            f"{_shown(row, 'frontier_success_rate', spec)} % of attempts (95 % interval "
            f"{_shown(row, 'frontier_success_rate_lower', spec)} to "
            f"{_shown(row, 'frontier_success_rate_upper', spec)} %) over {tasks} tasks."
        )
    return tuple(sentences)


def _facts(meta: dict[str, Any]) -> tuple[Fact, ...]:
    licence = meta["licence"]
    models = "; ".join(
        f"{m['name']} ({m['code']}, released {m['release_date']})" for m in meta["models"]
    )
    approved = meta["status"] == Release.Status.APPROVED
    return (
        Fact("Identifier", meta["identifier"]),
        Fact("Version", f"{meta['version']} of the series {meta['series']}"),
        Fact("Status", "Approved" if approved else "DRAFT: not approved"),
        Fact("Release date", meta["release_date"] or "Not released: draft"),
        Fact("Approved by", meta["approved_by"] or "Not approved"),
        Fact("Prepared by", f"{meta['prepared_by']}, {meta['prepared_at'][:10]}"),
        Fact("Publisher", meta["publisher"]),
        Fact("Licence", f"{licence['title']} ({licence['name']})", href=licence["path"]),
        Fact("Suite", f"{meta['suite']['name']} ({meta['suite']['slug']})"),
        Fact("Grader", meta["grader"]),
        Fact("Occupational classification", meta["taxonomy"]),
        Fact("Reference area", meta["reference_area"] or "Not stated"),
        Fact("Period", f"Models released from {meta['period']['start']} to "
                       f"{meta['period']['end']}"),
        Fact("Models", models),
        Fact("Disclosure control", f"Figures based on fewer than "
                                   f"{meta['disclosure_min_tasks']} tasks are suppressed"),
        Fact("Corrects", meta["supersedes"] or "None: first version"),
        Fact("Checksum (SHA-256)", meta["checksum_sha256"], code=True),
        Fact("Address", meta["url"], href=meta["url"]),
    )  # fmt: skip


def revision_history(release: Release) -> tuple[Revision, ...]:
    """This release and those it revises, oldest first (later corrections are documents of
    their own)."""
    rows = []
    for other in revisions(release):
        if other.version > release.version:
            continue
        rows.append(
            Revision(
                identifier=other.identifier,
                version=other.version,
                status="Approved" if other.is_approved else "DRAFT",
                release_date=str(other.release_date or "not released"),
                approved_by=metadata(other)["approved_by"] or "not approved",
                reason=other.correction_reason or "First version.",
            )
        )
    return tuple(rows)


def build_report(release: Release) -> Report:
    """The report's content, shared by the HTML and the PDF."""
    meta = metadata(release)
    tables = tuple(report_table(release, spec, n) for n, spec in enumerate(TABLES, start=1))
    by_id = {t.spec.id: t for t in tables}
    figures = (
        national_figure(release, 1, by_id["national_over_time"]),
        frontier_figure(release, 2, by_id["job_categories"]),
        model_success_figure(release, 3, by_id["models"]),
        horizon_figure(release, 4, by_id["models"]),
    )
    corrects = ""
    if release.supersedes is not None:
        corrects = (
            f"This release corrects {release.supersedes.identifier}"
            + (
                f", released {release.supersedes.release_date}"
                if release.supersedes.release_date
                else ""
            )
            + f". Reason: {release.correction_reason or 'not stated'}"
        )
        corrects += "" if corrects.endswith(".") else "."
    return Report(
        meta=meta,
        status=status_line(release),
        draft=not release.is_approved,
        facts=_facts(meta),
        summary=summary(release),
        category_summaries=category_summaries(release),
        figures=figures,
        tables=tables,
        notes=tuple(release.methodology.get("notes", [])),
        codes=tuple((format_code(code), meaning) for code, meaning in MISSING_CODES.items()),
        methodology=tuple(release.methodology.get("sections", [])),
        corrects=corrects,
        changes=tuple(release.changes or ()),
        revisions=revision_history(release),
    )


# --- chart style, shared by the HTML and the PDF -----------------------------------------------

CHART_STYLE: dict[str, str] = {
    "grid": "stroke: #c8c8c8; stroke-width: 1",
    "axis": "stroke: #000000; stroke-width: 1",
    "tick": "fill: #222222",
    "axis-label": "fill: #222222",
    "legend-label": "fill: #000000",
    "group-label": "fill: #000000; font-weight: bold",
    "value-label": "fill: #000000",
    "point-label": "fill: #000000",
    "empty": "fill: #444444; font-style: italic",
    "not-measured": "fill: #444444; font-style: italic",
    "frontier": "fill: none; stroke: #000000; stroke-width: 2.5",
    "band": "fill: #000000; fill-opacity: 0.12; stroke: none",
    "whisker": "stroke: #000000; stroke-width: 1.5",
    "whisker-halo": "stroke: #ffffff; stroke-width: 5",
    "point": "fill: #ffffff; stroke: #000000; stroke-width: 2",
    "frontier-point": "fill: #000000",
    "trend": "fill: none; stroke: #000000; stroke-width: 2",
    "projection": "fill: none; stroke: #000000; stroke-width: 2; stroke-dasharray: 8 5",
    "projection-interval": "stroke: #777777; stroke-width: 5; stroke-opacity: 0.5",
    "projection-drop": "stroke: #000000; stroke-width: 1; stroke-dasharray: 2 4",
    "projection-marker": "fill: #000000; stroke: #ffffff; stroke-width: 1.5",
    "projection-label": "fill: #000000; font-weight: bold",
    "threshold": "stroke: #000000; stroke-width: 1.5; stroke-dasharray: 2 3",
    "threshold-label": "fill: #000000; font-weight: bold",
    "arrow": "fill: #000000",
    "series": "stroke-width: 1.5",
    "series-solid": "fill: #555555; stroke: #000000",
    "series-hatch": "stroke: #000000",
    "series-dots": "stroke: #000000",
    "index-line": "fill: none; stroke-width: 2.5",
    "employment": "stroke: #000000",
    "wage": "stroke: #555555; stroke-dasharray: 9 4",
    "index-marker": "fill: #000000; stroke: #ffffff; stroke-width: 1",
    "wage-marker": "fill: #555555",
    "coverage-area": "fill: #000000; fill-opacity: 0.08; stroke: none",
    "coverage": "fill: none; stroke: #000000; stroke-width: 1.5; stroke-dasharray: 2 3",
}
"""The charts' marks in black and grey, told apart by shape, fill and dashes (the charts
never rely on colour), so they read the same on a black-and-white printer."""


def chart_css(scope: str = "") -> str:
    """CHART_STYLE as CSS rules, each class under `scope` (e.g. 'svg.chart')."""
    prefix = f"{scope} " if scope else ""
    return "\n".join(f"{prefix}.{name} {{ {rules}; }}" for name, rules in CHART_STYLE.items())


# --- HTML ------------------------------------------------------------------------------------


def build_html(release: Release) -> ExportFile:
    """The report as one HTML document with everything inline (style and SVG charts), to
    read on screen or print on A4."""
    report = build_report(release)
    html = render_to_string(
        "reports/release_report.html", {"report": report, "chart_css": chart_css("svg.chart")}
    )
    return ExportFile(
        filename=f"{release.identifier}.html",
        content_type="text/html; charset=utf-8",
        data=html.encode("utf-8"),
    )


# --- PDF -------------------------------------------------------------------------------------

_FONT = "body"
"""The family every text of the PDF is set in: a Unicode TrueType font where one is
installed (see unicode_font), else the core Helvetica."""
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/Library/Fonts/DejaVuSans.ttf",
)
"""Where DejaVu Sans (Latin, Greek, Cyrillic and more) is found on common systems."""


def _font_style(regular: Path, name: str, fallback: Path) -> Path:
    """The '<stem>-<name>' file beside a regular font file, or the fallback."""
    path = regular.with_name(f"{regular.stem}-{name}{regular.suffix}")
    return path if path.is_file() else fallback


def unicode_font() -> dict[str, Path] | None:
    """TrueType files for the PDF by style ('', 'B', 'I', 'BI'): EVALBUILDER_PDF_FONT (a
    regular .ttf; '<stem>-Bold', '-Oblique' and '-BoldOblique' beside it where they exist,
    else the nearest style), else DejaVu Sans where it is installed; None when there is
    none, and the PDF falls back to Helvetica."""
    configured = getattr(settings, "EVALBUILDER_PDF_FONT", "")
    for candidate in ([configured] if configured else []) + list(FONT_CANDIDATES):
        regular = Path(candidate)
        if not regular.is_file():
            continue

        bold = _font_style(regular, "Bold", regular)
        return {
            "": regular,
            "B": bold,
            "I": _font_style(regular, "Oblique", regular),
            "BI": _font_style(regular, "BoldOblique", bold),
        }
    return None


_SUBSTITUTES = {
    "\u2014": "-",  # em dash
    "\u2013": "-",  # en dash
    "\u2212": "-",  # minus sign
    "\u2026": "...",
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2022": "-",
    "\u2264": "<=",
    "\u2265": ">=",
    "\u2192": "->",
    "\u00a0": " ",
    "\u202f": " ",
    "\u2009": " ",
}
"""Plain stand-ins for characters a core font's character set may lack."""


def pdf_text(text: str, charset: str = "cp1252") -> str:
    """Text the PDF's core font can draw in `charset`: Windows-1252 (Latin-1 with dashes,
    curly quotes and the ellipsis) for text, Latin-1 inside charts; other characters are
    replaced by a plain stand-in, lose their accents, or become '?'."""
    try:
        text.encode(charset)
        return text
    except UnicodeEncodeError:
        pass
    out = []
    for char in text:
        try:
            char.encode(charset)
        except UnicodeEncodeError:
            char = _SUBSTITUTES.get(char) or (
                unicodedata.normalize("NFKD", char).encode(charset, "ignore").decode(charset) or "?"
            )
        out.append(char)
    return "".join(out)


def _pdf_svg(chart: charts.Chart) -> bytes:
    """The chart's SVG as fpdf2 draws it: styled by plain class rules, and without the
    elements it does not draw (titles inside text would hide the text)."""
    svg = str(chart.svg)
    svg = re.sub(r"<title[^>]*>.*?</title>", "", svg, flags=re.S)
    svg = re.sub(r"<desc[^>]*>.*?</desc>", "", svg, flags=re.S)
    svg = re.sub(r"<defs>.*?</defs>", f"<style>{chart_css()}</style>", svg, count=1, flags=re.S)
    # fpdf2 measures chart text with Latin-1 widths, whatever the document's encoding.
    return pdf_text(svg, "latin-1").encode("utf-8")


class ReportPDF(FPDF):
    """An A4 report whose every page names the release and, for drafts, says DRAFT."""

    def __init__(self, identifier: str, status: str, draft: bool) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.core_fonts_encoding = "windows-1252"
        font = unicode_font()
        self.unicode = font is not None
        for style, path in (font or {}).items():
            self.add_font(_FONT, style, str(path))
        self.identifier, self.status, self.draft = identifier, status, draft
        self.set_margins(15, 18, 15)
        self.set_auto_page_break(True, margin=18)

    def normalize_text(self, text: str) -> str:
        return super().normalize_text(text if self.unicode else pdf_text(text))

    def set_font(self, family=None, style="", size=0) -> None:
        # Without a Unicode font installed, the body family is the core Helvetica.
        if family == _FONT and not self.unicode:
            family = "helvetica"
        super().set_font(family, style, size)

    def header(self) -> None:
        if self.draft:
            self.set_font(_FONT, "B", 11)
            self.set_y(6)
            self.cell(0, 7, self.status, align=Align.C, border=1)
            self.set_y(self.t_margin)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(_FONT, "", 8)
        self.cell(0, 5, self.identifier, align=Align.L)
        self.set_x(self.l_margin)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align=Align.R)

    # Building blocks -------------------------------------------------------------------------

    def heading(self, text: str, level: int = 0) -> None:
        self.start_section(pdf_text(text), level=level)
        self.set_font(_FONT, "B", 15 if level == 0 else 12)
        self.multi_cell(
            0, 7 if level == 0 else 6, text, align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )
        self.ln(2)

    def paragraph(self, text: str, size: float = 10, style: str = "") -> None:
        self.set_font(_FONT, style, size)
        self.multi_cell(0, size * 0.5, text, align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(size * 0.2)

    def bullets(self, items: Sequence[str], size: float = 10) -> None:
        self.set_font(_FONT, "", size)
        for item in items:
            self.set_x(self.l_margin + 2)
            self.cell(4, size * 0.5, "\u2022")
            self.multi_cell(0, size * 0.5, item, align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            self.ln(size * 0.1)
        self.ln(size * 0.2)

    def need(self, height: float) -> None:
        """A new page unless `height` millimetres still fit on this one."""
        if self.get_y() + height > self.page_break_trigger:
            self.add_page(orientation=self.cur_orientation)

    def grid(
        self,
        headers: Sequence[DisplayCell],
        rows: Sequence[Sequence[DisplayCell]],
        *,
        size: float = 7,
        widths: Sequence[float] | None = None,
    ) -> None:
        """A table whose heading row repeats on every page it runs over."""
        self.set_font(_FONT, "", size)
        weights = widths or [_width(h, [r[i] for r in rows]) for i, h in enumerate(headers)]
        align = tuple(Align.R if h.numeric else Align.L for h in headers)
        with self.table(
            col_widths=tuple(weights),
            text_align=align,
            line_height=size * 0.5,
            headings_style=FontFace(emphasis="BOLD", fill_color=(225, 225, 225)),
            cell_fill_color=(245, 245, 245),
            cell_fill_mode=TableCellFillMode.NONE,
            repeat_headings=1,
            width=self.epw,
        ) as table:
            table.row([h.text for h in headers])
            for row in rows:
                table.row([c.text for c in row])
        self.ln(3)


def _width(header: DisplayCell, cells: Sequence[DisplayCell]) -> float:
    """A column's share of the width: its longest cell, or longest header word."""
    longest_word = max((len(w) for w in header.text.split()), default=4)
    longest_cell = max((len(c.text) for c in cells), default=1)
    return max(longest_word, min(longest_cell, 28), 5) + 2


def _pdf_title_page(pdf: ReportPDF, report: Report) -> None:
    pdf.add_page()
    pdf.set_font(_FONT, "", 11)
    pdf.cell(0, 6, report.meta["publisher"], new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(6)
    pdf.set_font(_FONT, "B", 22)
    pdf.multi_cell(0, 10, report.meta["title"], new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    if report.draft:
        pdf.set_font(_FONT, "B", 16)
        pdf.multi_cell(0, 9, report.status, border=1, padding=2, new_x=XPos.LMARGIN,
                       new_y=YPos.NEXT)  # fmt: skip
    else:
        pdf.paragraph(report.status, size=12, style="B")
    pdf.ln(2)
    if report.meta["description"]:
        pdf.paragraph(report.meta["description"], size=11)
    pdf.ln(2)
    headers = (DisplayCell("About this release", False, True), DisplayCell("", False, False))
    rows = [
        (DisplayCell(f.name, False, True), DisplayCell(f.value, False, False)) for f in report.facts
    ]
    pdf.grid(headers, rows, size=8.5, widths=(1, 3))


def _pdf_figures(pdf: ReportPDF, report: Report) -> None:
    pdf.add_page(orientation="P")
    pdf.heading("Figures")
    for figure in report.figures:
        width = pdf.epw
        svg = _pdf_svg(figure.chart)
        ratio = _svg_ratio(figure.chart)
        pdf.need(14 + width * ratio + 20)
        pdf.heading(figure.heading, level=1)
        pdf.paragraph(figure.summary, style="B")
        pdf.image(io.BytesIO(svg), w=width, h=width * ratio, alt_text=figure.alternative)
        pdf.ln(2)
        pdf.paragraph(figure.chart.caption, size=8.5, style="I")
        for note in figure.chart.notes:
            pdf.paragraph(note, size=8.5)
        pdf.paragraph(f"The figures drawn are in {figure.table.heading}.", size=8.5)
        pdf.ln(4)


def _svg_ratio(chart: charts.Chart) -> float:
    """Height over width of the chart's viewBox."""
    match = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', str(chart.svg))
    return float(match.group(2)) / float(match.group(1)) if match else 0.5


def _pdf_tables(pdf: ReportPDF, report: Report) -> None:
    for table in report.tables:
        pdf.add_page(orientation="L" if table.landscape else "P")
        pdf.heading(table.heading)
        pdf.paragraph(table.spec.description, size=9)
        if table.note_refs:
            pdf.paragraph("Notes: " + ", ".join(table.note_refs), size=9)
        if not any(part.rows for part in table.parts):
            pdf.paragraph("This release has no rows in this table.", size=9, style="I")
            continue
        for part in table.parts:
            if part.label:
                pdf.need(40)
                pdf.paragraph(f"{table.heading} ({part.label})", size=9, style="B")
            pdf.grid(part.headers, part.rows)


def _pdf_notes(pdf: ReportPDF, report: Report) -> None:
    pdf.add_page(orientation="P")
    pdf.heading("Notes")
    for note in report.notes:
        pdf.paragraph(f"[note {note['number']}] {note['text']}", size=9.5)
    pdf.ln(2)
    pdf.heading("Symbols in cells without a figure", level=1)
    headers = (DisplayCell("Symbol", False, True), DisplayCell("Meaning", False, False))
    rows = [(DisplayCell(c, False, True), DisplayCell(m, False, False)) for c, m in report.codes]
    pdf.grid(headers, rows, size=9, widths=(1, 8))


def _pdf_methodology(pdf: ReportPDF, report: Report) -> None:
    pdf.add_page(orientation="P")
    pdf.heading("Methodology")
    for section in report.methodology:
        pdf.need(20)
        pdf.heading(section["heading"], level=1)
        for text in section["paragraphs"]:
            pdf.paragraph(text, size=9.5)


def _pdf_revisions(pdf: ReportPDF, report: Report) -> None:
    pdf.add_page(orientation="P")
    pdf.heading("Revisions")
    pdf.paragraph(report.corrects or "This is the first version of the series; it corrects no "
                  "earlier release.", size=9.5)  # fmt: skip
    headers = tuple(
        DisplayCell(h, False, False)
        for h in ("Release", "Status", "Release date", "Approved by", "What changed and why")
    )
    rows = [
        tuple(
            DisplayCell(v, False, False)
            for v in (r.identifier, r.status, r.release_date, r.approved_by, r.reason)
        )
        for r in report.revisions
    ]
    pdf.grid(headers, rows, size=8.5, widths=(3, 2, 2, 2, 6))
    if report.meta["supersedes"]:
        pdf.heading("Figures changed from the previous version", level=1)
        if not report.changes:
            pdf.paragraph("No published figure changed.", size=9.5)
            return
        headers = tuple(
            DisplayCell(h, h in ("Previous", "Now"), False)
            for h in ("Table", "Row", "Column", "Previous", "Now")
        )
        rows = [
            tuple(
                DisplayCell(str(change[k]), k in ("old", "new"), False)
                for k in ("table", "row", "column", "old", "new")
            )
            for change in report.changes
        ]
        pdf.grid(headers, rows, size=8, widths=(3, 4, 5, 2, 2))


def _render_toc(pdf: FPDF, outline: list) -> None:
    pdf.set_x(pdf.l_margin)
    TableOfContents(level_indent=6).render_toc(pdf, outline)


def build_pdf(release: Release) -> ExportFile:
    """The report as an A4 PDF: title page, contents, summary, charts, tables (wide ones on
    landscape pages, headings repeated on every page), notes, methodology and revisions."""
    report = build_report(release)
    meta = report.meta
    pdf = ReportPDF(meta["identifier"], report.status, report.draft)
    pdf.set_title(meta["title"])
    pdf.set_author(meta["publisher"])
    pdf.set_subject(f"{report.status} {meta['description']}".strip())
    pdf.set_keywords(["official statistics", "AI models", "occupations", meta["identifier"]])
    pdf.set_creator("evalbuilder")
    pdf.set_lang("en")
    pdf.set_creation_date(_created(release))
    _pdf_title_page(pdf, report)
    pdf.add_page()
    pdf.set_font(_FONT, "B", 15)
    pdf.cell(0, 9, "Contents", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(_FONT, "", 10)
    pdf.insert_toc_placeholder(_render_toc, pages=1, reset_page_indices=False)
    pdf.heading("Summary")
    for sentence in report.summary:
        pdf.paragraph(sentence)
    if report.category_summaries:
        pdf.heading("The frontier model in each job category", level=1)
        pdf.bullets(report.category_summaries, size=9.5)
    _pdf_figures(pdf, report)
    _pdf_tables(pdf, report)
    _pdf_notes(pdf, report)
    _pdf_methodology(pdf, report)
    _pdf_revisions(pdf, report)
    return ExportFile(
        filename=f"{release.identifier}.pdf",
        content_type="application/pdf",
        data=bytes(pdf.output()),
    )


def _created(release: Release) -> datetime:
    """The document's date: its approval, or for a draft its preparation."""
    return release.approved_at or release.prepared_at


__all__ = ["build_html", "build_pdf", "build_report", "column_groups", "display"]
