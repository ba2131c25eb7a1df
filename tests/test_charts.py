"""The report charts: valid, accessible SVG, a table with every figure, and plain summaries."""

import math
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from reports.charts import (
    Chart,
    Crossing,
    Estimate,
    HorizonPoint,
    IndexPoint,
    ProfileBar,
    ReliabilityRow,
    TrendFit,
    TrendPoint,
    horizon_summary,
    national_index_chart,
    national_summary,
    profile_chart,
    profile_summary,
    reliability_chart,
    reliability_summary,
    success_summary,
    success_trend_chart,
    time_horizon_chart,
)

SVG = "{http://www.w3.org/2000/svg}"
NASTY = "Model <b>\"A\" & 'B'</b>"


def parse(svg: str) -> ET.Element:
    """The chart parses as XML and carries what a screen reader needs."""
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and title.text
    assert desc is not None and desc.text
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    # No script and no external asset: the only URL is the SVG namespace.
    assert "<script" not in svg
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    return root


def texts(root: ET.Element) -> str:
    return " ".join("".join(element.itertext()) for element in root.iter(f"{SVG}text"))


def trend_points() -> list[TrendPoint]:
    return [
        TrendPoint(date(2024, 1, 10), 0.31, 0.25, 0.38, "Early", True),
        TrendPoint(date(2024, 8, 1), 0.22, 0.15, 0.30, "Middle", False),
        TrendPoint(date(2025, 2, 1), 0.62, 0.55, 0.69, "Late", True),
    ]


def logistic(when: date) -> float:
    return 1 / (1 + math.exp(-((when - date(2025, 2, 1)).days / 365.25 * 1.6 + 0.1)))


def horizon_points() -> list[HorizonPoint]:
    return [
        HorizonPoint(date(2023, 3, 1), 2.0, 1.0, 4.5, "Old", True),
        HorizonPoint(date(2024, 3, 1), 15.0, 8.0, 30.0, "Mid", True),
        HorizonPoint(date(2025, 3, 1), 90.0, 40.0, 200.0, "New", True),
    ]


def doubling(when: date) -> float:
    return 2.0 * 2 ** ((when - date(2023, 3, 1)).days / 365.25 * 12 / 7)


HORIZON_TREND = TrendFit(doubling, date(2023, 3, 1), date(2025, 3, 1), 7.0, 5.2, 10.4)


def all_charts(points=None) -> list[Chart]:
    return [
        success_trend_chart(trend_points(), title="Trend"),
        time_horizon_chart(horizon_points(), title="Horizons"),
        reliability_chart(
            [ReliabilityRow("A", Estimate(0.6, 0.5, 0.7), Estimate(0.8), Estimate(0.4))],
            title="Reliability",
            k=5,
        ),
        profile_chart([ProfileBar("Legal", Estimate(0.5, 0.4, 0.6))], title="Profile", model="A"),
        national_index_chart([IndexPoint(date(2025, 1, 1), 0.1, 0.2, 0.5)], title="Nation"),
    ]


def test_every_chart_is_valid_accessible_svg_with_a_caption_and_table():
    for chart in all_charts():
        parse(chart.svg)
        assert chart.title and chart.caption
        assert chart.rows and all(len(row) == len(chart.headers) for row in chart.rows)
        assert chart.__html__() == chart.svg


def test_charts_on_one_page_do_not_share_ids():
    charts = all_charts()
    ids = [
        element.get("id") for c in charts for element in parse(c.svg).iter() if element.get("id")
    ]
    assert len(ids) == len(set(ids))


def test_the_trend_table_carries_every_models_figures():
    chart = success_trend_chart(trend_points(), title="Paralegals")
    assert chart.headers == ("Model", "Released", "Success rate", "95 % interval", "On frontier")
    assert chart.rows == (
        ("Early", "2024-01-10", "31 %", "25-38 %", "yes"),
        ("Middle", "2024-08-01", "22 %", "15-30 %", "no"),
        ("Late", "2025-02-01", "62 %", "55-69 %", "yes"),
    )
    root = parse(chart.svg)
    assert len(root.findall(f".//{SVG}circle")) == 3
    assert len(root.findall(f".//{SVG}path[@class='frontier']")) == 1
    assert len(root.findall(f".//{SVG}path[@class='band']")) == 1


def test_labels_with_markup_and_quotes_are_escaped_everywhere():
    point = TrendPoint(date(2025, 1, 1), 0.5, 0.4, 0.6, NASTY, True)
    charts = [
        success_trend_chart([point], title=f"Trend of {NASTY}"),
        time_horizon_chart([HorizonPoint(date(2025, 1, 1), 30.0, 10.0, 60.0, NASTY)], title=NASTY),
        reliability_chart(
            [ReliabilityRow(NASTY, Estimate(0.5), Estimate(0.7), Estimate(0.3))], title=NASTY, k=3
        ),
        profile_chart(
            [ProfileBar(NASTY, Estimate(0.5), Estimate(0.4))],
            title=NASTY,
            model=NASTY,
            comparison="Other & co",
        ),
    ]
    for chart in charts:
        assert "<b>" not in chart.svg
        root = parse(chart.svg)
        shown = texts(root) + root.find(f"{SVG}title").text
        assert NASTY in shown or "Model <b>" in shown  # the text itself survives, unescaped
        assert any(NASTY in cell for row in chart.rows for cell in row)


def test_a_fitted_trend_and_its_projection_are_drawn_and_labelled_as_extrapolation():
    chart = success_trend_chart(
        trend_points(),
        title="Paralegals",
        trend=TrendFit(logistic, date(2024, 1, 10), date(2025, 2, 1)),
        crossing=Crossing(0.8, date(2026, 3, 1), date(2025, 10, 1), date(2026, 11, 1)),
    )
    root = parse(chart.svg)
    assert root.find(f".//{SVG}path[@class='trend']").get("d").startswith("M")
    projection = root.find(f".//{SVG}path[@class='projection']")
    assert projection.get("d").startswith("M")
    assert "extrapolation" in "".join(projection.itertext()).lower()
    assert "Projection: March 2026 (extrapolation)" in texts(root)
    assert "80 % threshold" in texts(root)
    assert root.find(f".//{SVG}line[@class='threshold']") is not None
    assert "extrapolation" in chart.caption
    assert chart.notes == (
        "Projection (extrapolation of the fitted trend beyond the data): it reaches 80 % "
        "around March 2026, 95 % interval October 2025 to November 2026.",
    )


def test_a_threshold_never_reached_or_already_passed_is_said_so():
    points = trend_points()
    never = success_trend_chart(
        points,
        title="T",
        trend=TrendFit(lambda d: 0.3, date(2024, 1, 10), date(2025, 2, 1)),
        crossing=Crossing(0.8, None),
    )
    assert "does not reach 80 %" in never.notes[0]
    passed = success_trend_chart(
        points,
        title="T",
        trend=TrendFit(logistic, date(2024, 1, 10), date(2025, 2, 1)),
        crossing=Crossing(0.5, None, already_crossed=True),
    )
    assert parse(passed.svg).find(f".//{SVG}path[@class='projection']") is None
    assert passed.notes == ("The fitted trend has already reached 50 %.",)


def test_a_projection_decades_ahead_is_noted_but_not_stretched_across_the_chart():
    chart = success_trend_chart(
        trend_points(),
        title="T",
        trend=TrendFit(logistic, date(2024, 1, 10), date(2025, 2, 1)),
        crossing=Crossing(0.99, date(2070, 1, 1)),
    )
    assert "too far ahead to draw" in chart.notes[0]
    years = [t for t in texts(parse(chart.svg)).split() if t.isdigit() and len(t) == 4]
    assert max(int(y) for y in years) <= 2027


@pytest.mark.parametrize(
    "chart",
    [
        success_trend_chart([], title="Empty trend"),
        time_horizon_chart([], title="Empty horizons"),
        reliability_chart([], title="Empty reliability", k=5),
        profile_chart([], title="Empty profile", model="A"),
        national_index_chart([], title="Empty nation"),
    ],
    ids=["trend", "horizon", "reliability", "profile", "national"],
)
def test_a_chart_without_data_says_so(chart):
    root = parse(chart.svg)
    assert "No data yet" in texts(root)
    assert chart.rows == ()


def test_one_point_and_equal_values_still_give_a_readable_axis():
    one = success_trend_chart(
        [TrendPoint(date(2025, 5, 1), 0.4, 0.3, 0.5, "Solo", True)], title="T"
    )
    root = parse(one.svg)
    assert len(root.findall(f".//{SVG}circle")) == 1
    assert len([t for t in root.iter(f"{SVG}text") if t.get("class") == "tick"]) > 5
    same = [HorizonPoint(date(2025, 1, d), 30.0, 30.0, 30.0, f"M{d}") for d in (1, 2, 3)]
    root = parse(time_horizon_chart(same, title="H").svg)
    ys = {c.get("cy") for c in root.iter(f"{SVG}circle")}
    assert len(ys) == 1 and all(math.isfinite(float(y)) for y in ys)


@pytest.mark.parametrize(
    ("days", "expected"),
    [(3, "Jan 2025"), (60, "Jan 2025"), (300, "2025"), (800, "2025"), (365 * 12, "2030")],
)
def test_date_ticks_suit_a_span_of_days_or_of_years(days, expected):
    start = date(2025, 1, 1) if days < 365 * 5 else date(2022, 6, 1)
    points = [
        TrendPoint(start, 0.2, 0.1, 0.3, "First", True),
        TrendPoint(start + timedelta(days=days), 0.3, 0.2, 0.4, "Last", True),
    ]
    root = parse(success_trend_chart(points, title="T").svg)
    ticks = [
        t.text for t in root.iter(f"{SVG}text") if t.get("class") == "tick" and "%" not in t.text
    ]
    assert 2 <= len(ticks) <= 14
    assert any(expected in tick for tick in ticks)
    xs = [float(t.get("x")) for t in root.iter(f"{SVG}text") if t.text in ticks]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)


def test_time_horizons_use_a_log_axis_with_readable_ticks_and_the_doubling_time():
    chart = time_horizon_chart(
        horizon_points(),
        title="Paralegal horizons",
        trend=HORIZON_TREND,
        crossing=Crossing(480.0, date(2026, 9, 1), date(2026, 3, 1), date(2027, 6, 1)),
    )
    root = parse(chart.svg)
    ticks = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "tick"]
    for label in ("1 min", "4 min", "15 min", "1 h", "4 h", "8 h"):
        assert label in ticks
    tick_y = {t.text: float(t.get("y")) for t in root.iter(f"{SVG}text") if t.text in ticks}
    # Each factor of 4 in time is the same height on a log axis.
    assert tick_y["1 min"] - tick_y["4 min"] == pytest.approx(tick_y["15 min"] - tick_y["1 h"], 1)
    assert "doubles every 7 months (95 % interval 5-10)" in chart.caption
    assert "extrapolation" in chart.caption and "Projection: September 2026" in texts(root)
    assert chart.rows[-1] == ("New", "2025-03-01", "1.5 hours", "40 minutes - 3.3 hours", "yes")


def test_unbounded_and_missing_horizons_are_arrows_or_notes_not_errors():
    points = [
        *horizon_points(),
        HorizonPoint(date(2025, 6, 1), math.inf, 600.0, math.inf, "Beyond"),
        HorizonPoint(date(2025, 7, 1), None, None, None, "Unfitted"),
        HorizonPoint(date(2025, 8, 1), 0.05, 0.01, 0.1, "Tiny"),
    ]
    chart = time_horizon_chart(points, title="H")
    root = parse(chart.svg)
    arrows = [p for p in root.iter(f"{SVG}path") if "off-chart" in (p.get("class") or "")]
    assert len(arrows) == 2
    assert len(root.findall(f".//{SVG}circle")) == 3
    rows = {row[0]: row for row in chart.rows}
    assert rows["Beyond"][2] == "beyond the longest tasks"
    assert rows["Unfitted"][2] == "not estimable"
    assert rows["Tiny"][2] == "3 seconds"
    assert any("Unfitted" in note and "left out" in note for note in chart.notes)
    assert any("Beyond" in note and "arrow" in note for note in chart.notes)


def test_the_reliability_chart_sets_one_try_beside_many_tries():
    rows = [
        ReliabilityRow(
            "Best", Estimate(0.62, 0.55, 0.69), Estimate(0.8, 0.74, 0.86), Estimate(0.4)
        ),
        ReliabilityRow("Weak", Estimate(0.3, 0.2, 0.4), Estimate(None), Estimate(0.1, 0.05, 0.2)),
    ]
    chart = reliability_chart(rows, title="Reliability", k=5)
    assert chart.headers[1:4] == ("pass@1 (one try)", "pass@5 (any of 5)", "pass^5 (all 5)")
    assert chart.rows == (
        ("Best", "62 % (55-69 %)", "80 % (74-86 %)", "40 %", "18 points"),
        ("Weak", "30 % (20-40 %)", "not measured yet", "10 % (5-20 %)", "not measured yet"),
    )
    root = parse(chart.svg)
    series = [r.get("class") for r in root.iter(f"{SVG}rect") if "series" in (r.get("class") or "")]
    # Three legend swatches and five bars, told apart by pattern as well as colour.
    assert series.count("series series-solid") == 3
    assert series.count("series series-hatch") == 2 and series.count("series series-dots") == 3
    hatched = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "series series-hatch"]
    assert all(r.get("fill", "").startswith("url(#") for r in hatched)
    assert "not measured yet" in texts(root)


def test_the_profile_is_sorted_and_a_comparison_has_its_own_pattern():
    bars = [
        ProfileBar("Construction", Estimate(0.12, 0.05, 0.2), Estimate(0.2)),
        ProfileBar("Health", Estimate(None)),
        ProfileBar("Legal", Estimate(0.8, 0.7, 0.88), Estimate(0.6, 0.5, 0.7)),
        ProfileBar("A category title far longer than the chart has room for " * 3, Estimate(0.5)),
    ]
    chart = profile_chart(bars, title="Profile", model="Model X", comparison="Model Y")
    assert [row[0][:12] for row in chart.rows] == [
        "Legal",
        "A category t",
        "Construction",
        "Health",
    ]
    assert chart.rows[0] == ("Legal", "80 % (70-88 %)", "60 % (50-70 %)")
    assert chart.rows[-1] == ("Health", "not measured yet", "not measured yet")
    root = parse(chart.svg)
    legend = texts(root.find(f".//{SVG}g[@class='legend']"))
    assert "Model X" in legend and "Model Y" in legend
    group_labels = [t for t in root.iter(f"{SVG}text") if t.get("class") == "group-label"]
    assert all(len("".join(t.itertext())) < 400 for t in group_labels)
    shortened = "".join(group_labels[1].itertext())
    assert "…" in shortened


def test_the_national_chart_shows_both_indices_and_coverage():
    points = [
        IndexPoint(date(2024, 1, 1), 0.05, 0.07, 0.4),
        IndexPoint(date(2024, 6, 1), 0.1, 0.14, 0.5),
        IndexPoint(date(2025, 3, 1), None, None, 0.6),
        IndexPoint(date(2025, 9, 1), 0.3, 0.35, 0.7),
    ]
    chart = national_index_chart(points, title="Nation")
    root = parse(chart.svg)
    classes = [p.get("class") for p in root.iter(f"{SVG}path")]
    assert classes.count("index-line employment") == 2  # broken where not measured
    assert classes.count("index-line wage") == 2
    assert "coverage" in classes and "coverage-area" in classes
    assert "Coverage" in texts(root)
    assert chart.rows[2] == ("2025-03-01", "not measured yet", "not measured yet", "60 %")


def test_the_success_summary_reads_as_one_plain_sentence():
    assert success_summary(trend_points(), subject="paralegal") == (
        "The best model succeeds on 62 % (55-69 %) of paralegal tasks; a year ago it was 31 %."
    )
    assert success_summary(
        trend_points(), subject="paralegal", crossing=Crossing(0.8, date(2026, 3, 1))
    ) == (
        "The best model succeeds on 62 % (55-69 %) of paralegal tasks; a year ago it was 31 %; "
        "at that pace it reaches 80 % around March 2026 (extrapolation)."
    )
    assert success_summary(trend_points()[2:], subject="legal", scored=True) == (
        "The best model scores 62 % (55-69 %) on legal tasks."
    )
    assert success_summary([], subject="paralegal") == (
        "Success on paralegal tasks: not measured yet."
    )


def test_the_horizon_summary_gives_doubling_time_and_projection():
    assert horizon_summary(
        horizon_points(), trend=HORIZON_TREND, crossing=Crossing(480.0, date(2027, 3, 1))
    ) == (
        "The frontier's 50 % time horizon doubles every 7 months (5-10); at that pace it "
        "reaches 8 hours around March 2027 (extrapolation)."
    )
    assert horizon_summary(horizon_points()) == (
        "The longest 50 % time horizon so far is 1.5 hours (New); its trend is not measured yet."
    )
    assert horizon_summary([]) == "The frontier's 50 % time horizon is not measured yet."
    flat = TrendFit(lambda d: 10.0, date(2024, 1, 1), date(2025, 1, 1), math.inf, 20.0, math.inf)
    assert "is not growing" in horizon_summary(horizon_points(), trend=flat)


def test_the_other_summaries_handle_known_and_missing_data():
    rows = [
        ReliabilityRow("Best", Estimate(0.62), Estimate(0.8), Estimate(0.4)),
        ReliabilityRow("Weak", Estimate(0.3), Estimate(0.5), Estimate(0.1)),
    ]
    assert reliability_summary(rows, k=5) == (
        "Given 5 tries, the best model (Best) solves 80 % of tasks at least once but only 40 % "
        "every time, against 62 % on one try."
    )
    assert reliability_summary([], k=5) == "Reliability over 5 tries is not measured yet."
    bars = [
        ProfileBar("legal tasks", Estimate(0.8), Estimate(0.6)),
        ProfileBar("construction tasks", Estimate(0.12), Estimate(0.2)),
        ProfileBar("health tasks", Estimate(None)),
    ]
    assert profile_summary(bars, model="X", comparison="Y") == (
        "X does best on legal tasks (80 %) and worst on construction tasks (12 %); "
        "it beats Y in 1 of 2 categories measured for both."
    )
    assert profile_summary([], model="X") == "X's results by job category are not measured yet."
    points = [
        IndexPoint(date(2025, 3, 1), 0.1, 0.15, 0.5),
        IndexPoint(date(2026, 3, 1), 0.23, 0.31, 0.64),
    ]
    assert national_summary(points) == (
        "In March 2026, 23 % of employment (31 % of the wage bill) was in occupations where "
        "the best model reaches 50 % success; tasks cover 64 % of employment."
    )
    assert national_summary([IndexPoint(date(2026, 1, 1), None, None, 0.2)]) == (
        "The national index is not measured yet."
    )
