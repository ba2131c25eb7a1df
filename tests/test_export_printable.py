"""The printable report of a release: the HTML document and the PDF, read back with
html.parser and pypdf and checked against the figures stored on the release."""

import io
import re
from html.parser import HTMLParser

import pytest
from django.conf import settings
from pypdf import PdfReader

from occupations.models import Task, TaskVersion
from reports import releases
from reports.exports import build, printable
from reports.exports.printable import build_report, column_groups
from reports.release_tables import DECIMALS, MISSING_CODES, TABLES

pytestmark = pytest.mark.django_db


class ReportReader(HTMLParser):
    """The document's text, headings, tables (caption, header and rows of cell texts) and
    the tags it uses."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.headings: list[str] = []
        self.tables: list[dict] = []
        self._cell: list[str] | None = None
        self._heading: list[str] | None = None
        self._caption: list[str] | None = None
        self._row: list[str] | None = None
        self._in_svg = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "svg":
            self._in_svg += 1
        elif tag == "table":
            self.tables.append({"caption": "", "header": [], "rows": []})
        elif tag == "caption":
            self._caption = []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag in ("h1", "h2", "h3"):
            self._heading = []

    def handle_endtag(self, tag):
        if tag == "svg":
            self._in_svg -= 1
        elif tag == "caption" and self._caption is not None:
            self.tables[-1]["caption"] = " ".join("".join(self._caption).split())
            self._caption = None
        elif tag in ("td", "th") and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            table = self.tables[-1]
            if not table["header"]:
                table["header"] = self._row
            else:
                table["rows"].append(self._row)
            self._row = None
        elif tag in ("h1", "h2", "h3") and self._heading is not None:
            self.headings.append(" ".join("".join(self._heading).split()))
            self._heading = None

    def handle_data(self, data):
        self.text.append(data)
        for sink in (self._cell, self._heading, self._caption):
            if sink is not None:
                sink.append(data)

    @property
    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())


def read_html(release) -> tuple[str, ReportReader]:
    document = build(release, "html").data.decode("utf-8")
    reader = ReportReader()
    reader.feed(document)
    reader.close()
    return document, reader


def read_pdf(release) -> tuple[PdfReader, str, list[str]]:
    reader = PdfReader(io.BytesIO(build(release, "pdf").data))
    pages = [page.extract_text() or "" for page in reader.pages]
    return reader, " ".join(" ".join(pages).split()), pages


def published(value, column, row) -> str:
    """A stored cell as a reader of the report expects it: thousands separated, with the
    unit's decimal places, or its short code in brackets."""
    if value is None:
        return f"[{row['missing'][column.key]}]"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{DECIMALS.get(column.unit or '', 0)}f}"
    return value


def assert_tables_print_the_stored_figures(release) -> set[str]:
    """Every table's headers and cells as printed; the short codes printed."""
    _, reader = read_html(release)
    codes = set()
    for number, spec in enumerate(TABLES, start=1):
        heading = f"Table {number}: {spec.title}"
        assert heading in reader.headings
        parts = [t for t in reader.tables if t["caption"].startswith(heading)]
        assert parts, heading
        by_header: dict[str, list[str]] = {}
        for part in parts:
            for index, header in enumerate(part["header"]):
                by_header[header] = [row[index] for row in part["rows"]]
        stored = release.tables[spec.id]
        for column in spec.columns:
            assert column.header in by_header, (spec.id, column.header)
            expected = [published(row["values"][column.key], column, row) for row in stored]
            assert by_header[column.header] == expected, (spec.id, column.key)
            codes |= {text for text in expected if text.startswith("[")}
    return codes


def test_every_table_prints_its_headers_and_exactly_the_stored_figures(
    approved_release, make_release, users, unsuppressed_release
):
    assert "[c]" in assert_tables_print_the_stored_figures(approved_release)
    # Nothing suppressed: horizons beyond the longest task ([b]) and unbounded sides of
    # intervals ([u]) print as codes, projected dates as dates.
    unsuppressed = unsuppressed_release
    codes = assert_tables_print_the_stored_figures(unsuppressed)
    assert {"[b]", "[u]"} <= codes and "[c]" not in codes


def test_suppressed_figures_show_as_c_and_the_symbols_are_explained(approved_release):
    _, reader = read_html(approved_release)
    suppressed = [row for row in approved_release.tables["job_categories"] if row["suppression"]]
    assert suppressed, "the fixture suppresses some job categories"
    table = next(t for t in reader.tables if t["caption"].startswith("Table 3:"))
    header = table["header"].index("Frontier success rate (%)")
    codes = {row[0]: row[header] for row in table["rows"]}
    for row in suppressed:
        assert codes[row["values"]["job_category_code"]] == "[c]"
    symbols = next(t for t in reader.tables if t["caption"] == "Symbols used in the tables")
    assert [row[0] for row in symbols["rows"]] == [f"[{code}]" for code in MISSING_CODES]
    assert symbols["rows"][0][1] == MISSING_CODES["c"]


def test_the_report_has_notes_methodology_revisions_and_a_title_page(approved_release):
    _, reader = read_html(approved_release)
    text = reader.all_text
    for note in approved_release.methodology["notes"]:
        assert f"[note {note['number']}] {note['text']}" in text
    for section in approved_release.methodology["sections"]:
        assert section["heading"] in reader.headings
        for paragraph in section["paragraphs"]:
            assert " ".join(paragraph.split()) in text
    assert "Revisions" in reader.headings
    assert "This is the first version of the series" in text
    assert approved_release.title in reader.headings
    for fact in (
        approved_release.identifier,
        approved_release.checksum,
        str(approved_release.release_date),
        "analyst",
        settings.EVALBUILDER_PUBLISHER,
        "Creative Commons Attribution 4.0",
        f"Official release {approved_release.identifier}",
    ):
        assert fact in text
    assert "DRAFT" not in text


def test_the_html_is_one_self_contained_document_without_scripts(approved_release):
    document, reader = read_html(approved_release)
    tags = {tag for tag, _ in reader.tags}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed"}
    assert not any(
        "src" in attrs or any(k.startswith("on") for k in attrs) for _, attrs in reader.tags
    )
    assert "@import" not in document and not re.search(r"url\(\s*['\"]?(https?:|//)", document)
    assert "@page" in document and "landscape" in document
    assert "thead { display: table-header-group; }" in document


def test_a_draft_says_draft_on_its_title_page_and_every_pdf_page(make_release):
    draft = make_release()
    _, reader = read_html(draft)
    assert reader.headings[0] == draft.title
    assert f"DRAFT {draft.identifier}: not approved, not for publication." in reader.all_text
    assert any(tag == "div" and attrs.get("class") == "draft-mark" for tag, attrs in reader.tags)
    _, text, pages = read_pdf(draft)
    assert all("DRAFT" in page for page in pages)
    assert "Not released: draft" in text


def test_the_charts_are_inline_svg_with_text_alternatives(approved_release):
    _, reader = read_html(approved_release)
    charts = [attrs for tag, attrs in reader.tags if tag == "svg"]
    assert len(charts) == 4
    assert all(attrs.get("role") == "img" and attrs.get("aria-labelledby") for attrs in charts)
    for heading in (
        "Figure 1: National index by model release date",
        "Figure 2: Success rate of the frontier model in each job category",
    ):
        assert heading in reader.headings
    assert reader.all_text.count("The figures drawn are in Table") == 4


def test_the_charts_and_summary_draw_the_stored_figures_not_the_database(approved_release):
    release = approved_release
    row = next(
        r for r in release.tables["job_categories"] if r["values"]["job_category_code"] == "13-0000"
    )
    # Changed in memory only: figures recomputed from the results would not show it.
    row["suppression"] = None
    row["missing"] = {}
    row["values"].update(
        frontier_model_code="sim-late", frontier_model="Sim Late", frontier_success_rate=42.4,
        frontier_success_rate_lower=30.1, frontier_success_rate_upper=55.2,
        frontier_mean_score=50.0, frontier_mean_score_lower=40.0, frontier_mean_score_upper=60.0,
    )  # fmt: skip
    national = release.tables["national_over_time"][-1]["values"]
    national.update(employment_index=12.5, wage_index=20.0)
    coverage = release.tables["national"][0]
    coverage["values"]["wage_coverage"] = None
    coverage["missing"]["wage_coverage"] = "x"
    document, reader = read_html(release)
    frontier_svg = re.search(r"<svg[^>]*chart-profile.*?</svg>", document, re.S).group(0)
    assert "Business and Financial Operations Occupations" in frontier_svg
    assert ">42 %<" in frontier_svg
    assert (
        "Business and Financial Operations Occupations: the frontier model, Sim Late, succeeds "
        "on 42.4 % of attempts (95 % interval 30.1 to 55.2 %) over 3 tasks."
    ) in reader.all_text
    assert "12 % of employment (20 % of the wage bill)" in reader.all_text
    assert "hold 0.0 % of employment and an unknown share of the wage bill [x];" in reader.all_text


def test_the_pdf_has_metadata_contents_and_the_published_figures(
    approved_release, unsuppressed_release
):
    release = approved_release
    reader, text, pages = read_pdf(release)
    meta = reader.metadata
    assert meta.title == release.title
    assert meta.author == settings.EVALBUILDER_PUBLISHER
    assert release.identifier in meta.subject
    assert meta.creation_date.replace(microsecond=0) == release.approved_at.replace(microsecond=0)
    assert reader.trailer["/Root"]["/Lang"] == "en"
    assert len(pages) > 1
    assert [item.title for item in reader.outline if not isinstance(item, list)][:3] == [
        "Summary", "Figures", f"Table 1: {TABLES[0].title}",
    ]  # fmt: skip
    for expected in (release.title, release.identifier, release.checksum, "[c]", "[note 1]"):
        assert expected in text
    national = release.tables["national"][0]["values"]
    for figure in (f"{national['employment']:,}", f"{national['wage_bill']:,}"):
        assert figure in text
    # Model figures, from a release that suppresses none of them.
    _, open_text, _ = read_pdf(unsuppressed_release)
    model = unsuppressed_release.tables["models"][0]["values"]
    for figure in (f"{model['success_rate']:.1f}", f"{model['mean_score_upper']:.1f}"):
        assert figure in open_text
    for number, spec in enumerate(TABLES, start=1):
        assert f"Table {number}: {spec.title}" in text


def pdf_fonts(reader: PdfReader) -> set[str]:
    return {
        str(font.get_object()["/BaseFont"])
        for page in reader.pages
        for font in page["/Resources"].get("/Font", {}).values()
    }


def test_a_non_latin_title_prints_as_is_with_a_unicode_font_and_plainly_without(
    make_release, monkeypatch
):
    title = "Экономика — été ≥ 50 %"
    release = make_release(title=title)
    _, reader = read_html(release)
    assert title in reader.headings

    with monkeypatch.context() as patch:
        patch.setattr(printable, "unicode_font", lambda: None)
        pdf, text, _ = read_pdf(release)
    # The core Helvetica (Windows-1252) has no Cyrillic and no ≥: letters become '?', the
    # sign a plain stand-in.
    assert pdf.metadata.title == title
    assert "????????? — été >= 50 %" in text
    assert all("Helvetica" in font for font in pdf_fonts(pdf))

    if printable.unicode_font() is None:
        pytest.skip("no Unicode font: install DejaVu Sans or set EVALBUILDER_PDF_FONT")
    pdf, text, _ = read_pdf(release)
    assert pdf.metadata.title == title
    assert title in text
    assert any("DejaVuSans" in font for font in pdf_fonts(pdf))


def test_suppressed_job_categories_are_named_as_suppressed_not_as_without_results(
    approved_release,
):
    report = build_report(approved_release)
    rows = approved_release.tables["job_categories"]
    why = {
        "C": f"based on fewer than {approved_release.disclosure_min_tasks} tasks",
        "D": "withheld so that other suppressed figures cannot be worked out",
    }
    for row in rows:
        if row["suppression"]:
            sentence = (
                f"{row['values']['job_category']}: the frontier model's figures are [c], "
                f"{why[row['suppression']]}."
            )
            assert sentence in report.category_summaries
    without = sum(1 for r in rows if r["values"]["frontier_model"] is None and not r["suppression"])
    notes = report.figures[1].chart.notes
    assert f"Not drawn: {without} job categories with no model results." in notes


def test_a_correction_reports_what_changed_and_why(approved_release, users):
    correction = releases.correct(
        approved_release, user=users["analyst"], reason="Two tasks were graded again."
    )
    change = {"table": "models", "row": "sim-late", "column": "Success rate (%)",
              "old": "77.8", "new": "80.0"}  # fmt: skip
    correction.changes = [change]
    correction.save()
    _, reader = read_html(correction)
    assert (
        f"This release corrects {approved_release.identifier}, released "
        f"{approved_release.release_date}. Reason: Two tasks were graded again."
    ) in reader.all_text
    versions = next(t for t in reader.tables if t["caption"].startswith("Versions of the series"))
    assert [row[0] for row in versions["rows"]] == ["ai-and-work-v1", "ai-and-work-v2"]
    assert versions["rows"][1][-1] == "Two tasks were graded again."
    changed = next(t for t in reader.tables if t["caption"].startswith("Published figures"))
    assert changed["rows"] == [["models", "sim-late", "Success rate (%)", "77.8", "80.0"]]
    _, text, _ = read_pdf(correction)
    assert "Reason: Two tasks were graded again." in text
    assert "sim-late Success rate (%) 77.8 80.0" in text


def test_no_held_out_task_text_or_canary_reaches_the_printable_report(approved_release):
    held_out = Task.objects.filter(visibility=Task.Visibility.HELD_OUT)
    assert held_out.exists()
    secrets = [str(task.canary) for task in held_out] + [task.title for task in held_out]
    for version in TaskVersion.objects.filter(task__in=held_out):
        secrets += [version.instructions[:60], version.reference_solution[:60]]
    document, _ = read_html(approved_release)
    _, text, _ = read_pdf(approved_release)
    for secret in filter(None, secrets):
        assert secret not in document
        assert " ".join(secret.split()) not in text


def test_wide_tables_split_into_parts_that_each_name_the_row():
    spec = next(t for t in TABLES if t.id == "category_models")
    groups = column_groups(spec, max_columns=13)
    assert len(groups) > 1
    naming = ("job_category_code", "job_category", "model_code", "model")
    for group in groups:
        keys = [c.key for c in group]
        assert len(keys) <= 13
        assert keys[:4] == list(naming)
        for column in group:
            if column.bound_of:
                assert column.bound_of in keys
    printed = {c.key for group in groups for c in group}
    assert printed == {c.key for c in spec.columns}
    narrow = next(t for t in TABLES if t.id == "national_over_time")
    assert column_groups(narrow) == [narrow.columns]


def test_pdf_build_is_stable_for_the_same_release(approved_release):
    first = build(approved_release, "pdf").data
    assert first.startswith(b"%PDF-")
    assert build(approved_release, "pdf").data == first
