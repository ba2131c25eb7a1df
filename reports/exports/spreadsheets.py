"""A release as a spreadsheet (XLSX or ODS), laid out as the Government Analysis Function's
guidance on releasing statistics in spreadsheets asks.

One description of the workbook (`workbook_plan`) holds every sheet: a cover sheet, a
contents sheet, a notes sheet and one table per sheet. Each sheet has its title in A1 and
one item per row in column A above its table; tables have a single header row with units,
no merged cells and no blank rows or columns, and cells without a figure show a short code
such as [c] explained in the notes. Two small writers render that description, one with
xlsxwriter and one with odfpy, so both formats hold the same cells.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Literal

import xlsxwriter
from odf import config, dc, meta, number, style
from odf import table as odf_table
from odf import text as odf_text
from odf.opendocument import OpenDocumentSpreadsheet
from xlsxwriter.utility import xl_col_to_name

from reports.exports.base import (
    DEFAULT_DESCRIPTION,
    ExportFile,
    cell,
    metadata,
    release_facts,
    status_line,
)
from reports.models import Release
from reports.release_tables import DECIMALS, MISSING_CODES, TABLES, Column, Table, format_code

LANGUAGE = "en-GB"

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ODS_TYPE = "application/vnd.oasis.opendocument.spreadsheet"

TEXT_WIDTH = 100
"""Width of column A on sheets of text only (the cover), in characters."""
MAX_COLUMN_WIDTH = 50
"""Widest a table column grows, in characters; longer text wraps."""
HEADER_WIDTH = 18
"""Width a header wraps to when its column's figures are narrower, in characters."""


# --- the description of the workbook ---------------------------------------------------


@dataclass(frozen=True)
class Link:
    """Cell text that opens another sheet of the workbook (`sheet`) or a web address."""

    text: str
    sheet: str | None = None
    url: str | None = None


Value = str | int | float | date | Link
"""What a cell holds: text, a number, a date, or a link."""


@dataclass(frozen=True)
class Line:
    """One cell of column A outside any table: the sheet title, a heading or a sentence."""

    value: str | Link
    style: Literal["title", "heading", "text"] = "text"


@dataclass(frozen=True)
class GridColumn:
    """A column of a table as a spreadsheet shows it."""

    header: str
    """Header text, with its unit in brackets."""
    kind: Literal["text", "number", "date"] = "text"
    decimals: int = 0
    """Decimal places numbers are shown with."""
    width: float = 12
    """Width in characters."""
    wrap: bool = False
    """Whether long text wraps within the column."""


@dataclass(frozen=True)
class Grid:
    """One table: a header row, then one row per record, every cell filled."""

    name: str
    """Name of the Excel table (ODS database range): letters and underscores only."""
    columns: tuple[GridColumn, ...]
    rows: tuple[tuple[Value, ...], ...]


@dataclass(frozen=True)
class Sheet:
    """A worksheet: lines of text in column A (the first is its title), then its table."""

    name: str
    """Worksheet name: at most 31 characters, no spaces."""
    lines: tuple[Line, ...]
    grid: Grid | None = None

    @property
    def header_row(self) -> int:
        """Row of the table's header, counted from 0: straight after the lines."""
        return len(self.lines)


@dataclass(frozen=True)
class WorkbookPlan:
    """Every sheet of a release's spreadsheet, with the document's properties."""

    title: str
    subject: str
    author: str
    description: str
    keywords: tuple[str, ...]
    created: datetime
    sheets: tuple[Sheet, ...]


def sheet_name(number: int) -> str:
    """Worksheet name of the release table numbered `number` (from 1)."""
    return f"Table_{number}"


def _notes_reference(numbers: Iterable[int]) -> str:
    names = [f"[note {n}]" for n in numbers]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _short_meaning(code: str) -> str:
    """A code's meaning up to its first colon: 'Suppressed for disclosure control'."""
    return MISSING_CODES[code].split(":")[0].rstrip(".").lower()


def _codes_used(release: Release, spec: Table) -> list[str]:
    used = {
        code
        for row in release.tables.get(spec.id, [])
        for key, code in row["missing"].items()
        if row["values"].get(key) is None
    }
    return [code for code in MISSING_CODES if code in used]


def _grid_value(column: Column, value: object) -> Value:
    """A published cell as the spreadsheet holds it: dates as dates, codes as text."""
    if column.type == "date" and isinstance(value, str) and not value.startswith("["):
        return date.fromisoformat(value)
    return value  # type: ignore[return-value]


def _shown(value: Value, decimals: int) -> str:
    """The text a spreadsheet program shows for a cell (to size its column)."""
    if isinstance(value, Link):
        return value.text
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value.isoformat() if isinstance(value, date) else str(value)
    return f"{value:,.{decimals}f}"


def _width(header: str, shown: Iterable[str]) -> tuple[float, bool]:
    """A column's width in characters, and whether its text must wrap to fit."""
    longest = max((len(s) for s in shown), default=0)
    word = max((len(w) for w in header.split()), default=0)
    wanted = max(longest, min(len(header), HEADER_WIDTH), word) + 2
    return float(min(max(wanted, 8), MAX_COLUMN_WIDTH)), longest + 2 > MAX_COLUMN_WIDTH


def _grid(name: str, columns: list[tuple[str, str, int]], rows: list[tuple[Value, ...]]) -> Grid:
    """A table from (header, kind, decimals) per column and its rows, sized to fit."""
    sized = []
    for index, (header, kind, decimals) in enumerate(columns):
        width, wrap = _width(header, (_shown(row[index], decimals) for row in rows))
        sized.append(GridColumn(header, kind, decimals, width, wrap))  # type: ignore[arg-type]
    return Grid(name, tuple(sized), tuple(rows))


def _kind(column: Column) -> tuple[str, int]:
    if column.type == "date":
        return "date", 0
    if column.type in ("number", "integer"):
        return "number", 0 if column.type == "integer" else DECIMALS.get(column.unit or "", 0)
    return "text", 0


def table_sheet(release: Release, number: int, spec: Table, note_numbers: set[int]) -> Sheet:
    """The worksheet of one release table."""
    notes = [n for n in spec.notes if n in note_numbers]
    about = "This worksheet contains one table."
    if notes:
        about += f" Notes {_notes_reference(notes)} apply to it (see the Notes worksheet)."
    codes = _codes_used(release, spec)
    rows = release.tables.get(spec.id, [])
    if not rows:
        figures = "The table has no rows in this release."
    elif codes:
        figures = "Cells without a figure show a short code: " + "; ".join(
            f"{format_code(code)} {_short_meaning(code)}" for code in codes
        )
        figures += " (the Notes worksheet gives their meanings)."
    else:
        figures = "Every cell of the table has a figure."
    columns = [(column.header, *_kind(column)) for column in spec.columns]
    grid_rows = [
        tuple(_grid_value(column, cell(row, column.key)) for column in spec.columns) for row in rows
    ]
    return Sheet(
        sheet_name(number),
        (
            Line(
                f"{'' if release.is_approved else 'DRAFT: '}Table {number}: {spec.title}",
                "title",
            ),
            Line(about),
            Line(f"{spec.description} {figures}"),
        ),
        _grid(spec.id, columns, grid_rows),  # type: ignore[arg-type]
    )


def cover_sheet(release: Release) -> Sheet:
    """The cover: what the release is, its status, provenance and methodology."""
    data = metadata(release)
    lines = [
        Line(release.title, "title"),
        Line(release.description or DEFAULT_DESCRIPTION),
        Line(status_line(release)),
        Line("About this release", "heading"),
        *(Line(f"{label}: {text}") for label, text in release_facts(release)),
    ]
    licence = data["licence"]
    licence_text = f"Licence: {licence['title']} ({licence['name']})"
    lines.append(Line(Link(licence_text, url=licence["path"]) if licence["path"] else licence_text))
    lines.append(Line(Link(f"Release page: {data['url']}", url=data["url"])))
    lines.append(Line("Contents", "heading"))
    lines.append(
        Line(Link("The Contents worksheet lists the tables, one per worksheet.", sheet="Contents"))
    )
    lines.append(
        Line(Link("The Notes worksheet holds the notes the tables refer to.", sheet="Notes"))
    )
    lines.append(Line("Cells without a figure", "heading"))
    lines.extend(Line(f"{format_code(code)}: {meaning}") for code, meaning in MISSING_CODES.items())
    for section in release.methodology.get("sections", []):
        lines.append(Line(section["heading"], "heading"))
        lines.extend(Line(paragraph) for paragraph in section["paragraphs"])
    return Sheet("Cover", tuple(lines))


def contents_sheet(tables: list[tuple[Sheet, Table]], note_numbers: set[int]) -> Sheet:
    """The contents: every other worksheet with its title (a link) and its notes."""
    rows: list[tuple[Value, ...]] = [
        ("Notes", Link("Notes used in this workbook", sheet="Notes"), "None")
    ]
    for sheet, spec in tables:
        notes = [f"[note {n}]" for n in spec.notes if n in note_numbers]
        rows.append((sheet.name, Link(spec.title, sheet=sheet.name), " ".join(notes) or "None"))
    columns = [("Sheet name", "text", 0), ("Table title", "text", 0), ("Notes", "text", 0)]
    return Sheet(
        "Contents",
        (Line("Contents", "title"), Line("This worksheet contains one table.")),
        _grid("contents", columns, rows),  # type: ignore[arg-type]
    )


def notes_sheet(release: Release) -> Sheet:
    """The notes the tables refer to as [note N]."""
    rows: list[tuple[Value, ...]] = [
        (f"note {note['number']}", note["text"]) for note in release.methodology.get("notes", [])
    ]
    columns = [("Note number", "text", 0), ("Note text", "text", 0)]
    return Sheet(
        "Notes",
        (
            Line("Notes", "title"),
            Line("This worksheet contains one table. Tables refer to these notes as [note N]."),
        ),
        _grid("notes", columns, rows),  # type: ignore[arg-type]
    )


def workbook_plan(release: Release) -> WorkbookPlan:
    """Every sheet and cell of the release's spreadsheet, whatever the file format."""
    note_numbers = {note["number"] for note in release.methodology.get("notes", [])}
    tables = [
        (table_sheet(release, number, spec, note_numbers), spec)
        for number, spec in enumerate(TABLES, start=1)
    ]
    data = metadata(release)
    created = release.approved_at or release.prepared_at
    return WorkbookPlan(
        title=release.title,
        subject=status_line(release),
        author=data["publisher"],
        description=release.description or release.title,
        keywords=("official statistics", "AI models", "occupations", release.identifier),
        created=created.astimezone(UTC).replace(tzinfo=None),
        sheets=(
            cover_sheet(release),
            contents_sheet(tables, note_numbers),
            notes_sheet(release),
            *(sheet for sheet, _ in tables),
        ),
    )


def _filename(release: Release, extension: str) -> str:
    return f"{release.identifier}.{extension}"


# --- XLSX ------------------------------------------------------------------------------


class _XlsxFormats:
    """The cell formats of one workbook, made once and shared by every sheet."""

    def __init__(self, book: xlsxwriter.Workbook):
        self.book = book
        self.lines = {
            "title": book.add_format({"bold": True, "font_size": 14}),
            "heading": book.add_format({"bold": True, "font_size": 12}),
            "text": book.add_format({}),
        }
        self.wrapped_line = book.add_format({"text_wrap": True, "valign": "top"})
        self.link = book.add_format({"font_color": "#0000EE", "underline": 1})
        self.header = book.add_format({"bold": True, "text_wrap": True, "valign": "top"})
        self.header_right = book.add_format(
            {"bold": True, "text_wrap": True, "valign": "top", "align": "right"}
        )
        self.text = book.add_format({"valign": "top"})
        self.wrapped = book.add_format({"valign": "top", "text_wrap": True})
        self.right = book.add_format({"valign": "top", "align": "right"})
        self.date = book.add_format({"valign": "top", "num_format": "yyyy-mm-dd"})
        self._numbers: dict[int, object] = {}

    def number(self, decimals: int):
        if decimals not in self._numbers:
            pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
            self._numbers[decimals] = self.book.add_format({"valign": "top", "num_format": pattern})
        return self._numbers[decimals]


def _xlsx_value(sheet, formats: _XlsxFormats, row: int, col: int, value: Value, column) -> None:
    """Write one cell with the write call for its type: text never becomes a formula."""
    if isinstance(value, Link):
        target = f"internal:'{value.sheet}'!A1" if value.sheet else value.url
        sheet.write_url(row, col, target, formats.link, string=value.text)
    elif isinstance(value, bool) or not isinstance(value, int | float | date):
        if column is None:
            fmt = formats.text
        elif column.kind != "text":
            fmt = formats.right  # codes line up with the figures of their column
        else:
            fmt = formats.wrapped if column.wrap else formats.text
        sheet.write_string(row, col, str(value), fmt)
    elif isinstance(value, date):
        sheet.write_datetime(row, col, datetime.combine(value, time()), formats.date)
    else:
        sheet.write_number(row, col, value, formats.number(column.decimals if column else 0))


def _xlsx_sheet(book: xlsxwriter.Workbook, formats: _XlsxFormats, plan: Sheet) -> None:
    sheet = book.add_worksheet(plan.name)
    if plan.grid is None:
        sheet.set_column(0, 0, TEXT_WIDTH)
    for index, line in enumerate(plan.lines):
        if isinstance(line.value, Link):
            _xlsx_value(sheet, formats, index, 0, line.value, None)
        else:
            fmt = formats.lines[line.style]
            if plan.grid is None and line.style == "text":
                fmt = formats.wrapped_line
            sheet.write_string(index, 0, line.value, fmt)
    grid = plan.grid
    if grid is None:
        return
    top = plan.header_row
    for col, column in enumerate(grid.columns):
        sheet.set_column(col, col, column.width)
    header_formats = [
        formats.header if column.kind == "text" else formats.header_right for column in grid.columns
    ]
    if grid.rows:
        sheet.add_table(
            top,
            0,
            top + len(grid.rows),
            len(grid.columns) - 1,
            {
                "name": grid.name,
                "style": "Table Style Light 1",
                "columns": [
                    {"header": column.header, "header_format": fmt}
                    for column, fmt in zip(grid.columns, header_formats, strict=True)
                ],
            },
        )
    else:
        # Excel tables need a data row; an empty table is only its header.
        for col, column in enumerate(grid.columns):
            sheet.write_string(top, col, column.header, header_formats[col])
    for offset, values in enumerate(grid.rows, start=1):
        for col, (value, column) in enumerate(zip(values, grid.columns, strict=True)):
            _xlsx_value(sheet, formats, top + offset, col, value, column)
    sheet.freeze_panes(top + 1, 0)


def render_xlsx(plan: WorkbookPlan) -> bytes:
    """The workbook as an Office Open XML spreadsheet."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(
        out,
        {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    book.set_properties(
        {
            "title": plan.title,
            "subject": plan.subject,
            "author": plan.author,
            "company": plan.author,
            "comments": plan.description,
            "keywords": ", ".join(plan.keywords),
            "created": plan.created,
        }
    )
    # Office Open XML core properties have no language that xlsxwriter writes.
    book.set_custom_property("Language", LANGUAGE)
    formats = _XlsxFormats(book)
    for sheet in plan.sheets:
        _xlsx_sheet(book, formats, sheet)
    book.close()
    return out.getvalue()


def build_xlsx(release: Release) -> ExportFile:
    """The release as an Excel workbook."""
    return ExportFile(_filename(release, "xlsx"), XLSX_TYPE, render_xlsx(workbook_plan(release)))


# --- ODS -------------------------------------------------------------------------------


class _OdsStyles:
    """The automatic styles of one OpenDocument spreadsheet, made as they are needed."""

    def __init__(self, doc: OpenDocumentSpreadsheet):
        self.doc = doc
        default = style.DefaultStyle(family="table-cell")
        default.addElement(style.TextProperties(language="en", country="GB"))
        doc.styles.addElement(default)
        self.lines = {
            "title": self._cell("title", text={"fontweight": "bold", "fontsize": "14pt"}),
            "heading": self._cell("heading", text={"fontweight": "bold", "fontsize": "12pt"}),
            "text": self._cell("line"),
        }
        self.wrapped_line = self._cell("wrappedline", cell={"wrapoption": "wrap"})
        self.header = self._cell(
            "header",
            cell={"wrapoption": "wrap", "verticalalign": "top"},
            text={"fontweight": "bold"},
        )
        self.header_right = self._cell(
            "headerright",
            cell={"wrapoption": "wrap", "verticalalign": "top"},
            text={"fontweight": "bold"},
            paragraph={"textalign": "end"},
        )
        self.text = self._cell("text", cell={"verticalalign": "top"})
        self.wrapped = self._cell("wrapped", cell={"wrapoption": "wrap", "verticalalign": "top"})
        self.right = self._cell(
            "right", cell={"verticalalign": "top"}, paragraph={"textalign": "end"}
        )
        date_style = number.DateStyle(name="isodate")
        for part in (
            number.Year(style="long"),
            number.Text(text="-"),
            number.Month(style="long"),
            number.Text(text="-"),
            number.Day(style="long"),
        ):
            date_style.addElement(part)
        doc.automaticstyles.addElement(date_style)
        self.date = self._cell("date", cell={"verticalalign": "top"}, data="isodate")
        self._numbers: dict[int, str] = {}
        self._columns: dict[float, str] = {}

    def _cell(
        self,
        name: str,
        *,
        cell: dict | None = None,
        text: dict | None = None,
        paragraph: dict | None = None,
        data: str | None = None,
    ) -> str:
        extra = {"datastylename": data} if data else {}
        made = style.Style(name=name, family="table-cell", **extra)
        if cell:
            made.addElement(style.TableCellProperties(**cell))
        if paragraph:
            made.addElement(style.ParagraphProperties(**paragraph))
        if text:
            made.addElement(style.TextProperties(**text))
        self.doc.automaticstyles.addElement(made)
        return name

    def number(self, decimals: int) -> str:
        if decimals not in self._numbers:
            data = number.NumberStyle(name=f"figure{decimals}")
            data.addElement(
                number.Number(decimalplaces=decimals, minintegerdigits=1, grouping="true")
            )
            self.doc.automaticstyles.addElement(data)
            self._numbers[decimals] = self._cell(
                f"number{decimals}", cell={"verticalalign": "top"}, data=f"figure{decimals}"
            )
        return self._numbers[decimals]

    def column(self, width: float) -> str:
        """A column style `width` characters wide (about 0.2 cm each)."""
        if width not in self._columns:
            name = f"column{len(self._columns)}"
            made = style.Style(name=name, family="table-column")
            made.addElement(style.TableColumnProperties(columnwidth=f"{width * 0.2:.2f}cm"))
            self.doc.automaticstyles.addElement(made)
            self._columns[width] = name
        return self._columns[width]


def _ods_cell(styles: _OdsStyles, value: Value, column: GridColumn | None) -> odf_table.TableCell:
    if isinstance(value, Link):
        href = f"#{value.sheet}.A1" if value.sheet else value.url
        made = odf_table.TableCell(valuetype="string", stylename=styles.text)
        paragraph = odf_text.P()
        paragraph.addElement(odf_text.A(type="simple", href=href, text=value.text))
        made.addElement(paragraph)
        return made
    if isinstance(value, bool) or not isinstance(value, int | float | date):
        if column is None:
            name = styles.text
        elif column.kind != "text":
            name = styles.right
        else:
            name = styles.wrapped if column.wrap else styles.text
        made = odf_table.TableCell(valuetype="string", stylename=name)
        made.addElement(odf_text.P(text=str(value)))
        return made
    if isinstance(value, date):
        made = odf_table.TableCell(
            valuetype="date", datevalue=value.isoformat(), stylename=styles.date
        )
        made.addElement(odf_text.P(text=value.isoformat()))
        return made
    decimals = column.decimals if column else 0
    made = odf_table.TableCell(valuetype="float", value=value, stylename=styles.number(decimals))
    made.addElement(odf_text.P(text=_shown(value, decimals)))
    return made


def _ods_sheet(styles: _OdsStyles, plan: Sheet) -> tuple[odf_table.Table, str | None]:
    """The sheet as an ODS table, and the address of its table's range (if any)."""
    sheet = odf_table.Table(name=plan.name)
    grid = plan.grid
    if grid is None:
        sheet.addElement(odf_table.TableColumn(stylename=styles.column(TEXT_WIDTH)))
    else:
        for column in grid.columns:
            sheet.addElement(odf_table.TableColumn(stylename=styles.column(column.width)))
    for line in plan.lines:
        row = odf_table.TableRow()
        if isinstance(line.value, Link):
            row.addElement(_ods_cell(styles, line.value, None))
        else:
            name = styles.lines[line.style]
            if grid is None and line.style == "text":
                name = styles.wrapped_line
            made = odf_table.TableCell(valuetype="string", stylename=name)
            made.addElement(odf_text.P(text=line.value))
            row.addElement(made)
        sheet.addElement(row)
    if grid is None:
        return sheet, None
    header = odf_table.TableRow()
    for column in grid.columns:
        made = odf_table.TableCell(
            valuetype="string",
            stylename=styles.header if column.kind == "text" else styles.header_right,
        )
        made.addElement(odf_text.P(text=column.header))
        header.addElement(made)
    sheet.addElement(header)
    for values in grid.rows:
        row = odf_table.TableRow()
        for value, column in zip(values, grid.columns, strict=True):
            row.addElement(_ods_cell(styles, value, column))
        sheet.addElement(row)
    first = plan.header_row + 1
    last = first + len(grid.rows)
    end = xl_col_to_name(len(grid.columns) - 1)
    return sheet, f"{plan.name}.A{first}:{plan.name}.{end}{last}"


def _config_item(name: str, kind: str, value: object) -> config.ConfigItem:
    item = config.ConfigItem(name=name, type=kind)
    item.addText(str(value))
    return item


def _ods_view_settings(plan: WorkbookPlan) -> config.ConfigItemSet:
    """View settings that freeze each table's header row and open on the cover."""
    tables = config.ConfigItemMapNamed(name="Tables")
    for sheet in plan.sheets:
        if sheet.grid is None:
            continue
        below = sheet.header_row + 1
        entry = config.ConfigItemMapEntry(name=sheet.name)
        for name, kind, value in (
            ("HorizontalSplitMode", "short", 0),
            ("VerticalSplitMode", "short", 2),
            ("HorizontalSplitPosition", "int", 0),
            ("VerticalSplitPosition", "int", below),
            ("ActiveSplitRange", "short", 2),
            ("PositionLeft", "int", 0),
            ("PositionRight", "int", 0),
            ("PositionTop", "int", 0),
            ("PositionBottom", "int", below),
        ):
            entry.addElement(_config_item(name, kind, value))
        tables.addElement(entry)
    view = config.ConfigItemMapEntry()
    view.addElement(_config_item("ViewId", "string", "view1"))
    view.addElement(tables)
    view.addElement(_config_item("ActiveTable", "string", plan.sheets[0].name))
    views = config.ConfigItemMapIndexed(name="Views")
    views.addElement(view)
    settings = config.ConfigItemSet(name="ooo:view-settings")
    settings.addElement(views)
    return settings


def render_ods(plan: WorkbookPlan) -> bytes:
    """The workbook as an OpenDocument spreadsheet."""
    doc = OpenDocumentSpreadsheet()
    doc.meta.addElement(dc.Title(text=plan.title))
    doc.meta.addElement(dc.Subject(text=plan.subject))
    doc.meta.addElement(dc.Description(text=plan.description))
    doc.meta.addElement(dc.Creator(text=plan.author))
    doc.meta.addElement(meta.InitialCreator(text=plan.author))
    doc.meta.addElement(meta.CreationDate(text=plan.created.isoformat()))
    doc.meta.addElement(dc.Language(text=LANGUAGE))
    for keyword in plan.keywords:
        doc.meta.addElement(meta.Keyword(text=keyword))
    styles = _OdsStyles(doc)
    ranges = odf_table.DatabaseRanges()
    for sheet in plan.sheets:
        made, address = _ods_sheet(styles, sheet)
        doc.spreadsheet.addElement(made)
        if address and sheet.grid and sheet.grid.rows:
            ranges.addElement(
                odf_table.DatabaseRange(
                    name=sheet.grid.name, targetrangeaddress=address, displayfilterbuttons="true"
                )
            )
    doc.spreadsheet.addElement(ranges)
    doc.settings.addElement(_ods_view_settings(plan))
    out = io.BytesIO()
    doc.write(out)
    return out.getvalue()


def build_ods(release: Release) -> ExportFile:
    """The release as an OpenDocument spreadsheet."""
    return ExportFile(_filename(release, "ods"), ODS_TYPE, render_ods(workbook_plan(release)))
