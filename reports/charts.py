"""Server-rendered SVG charts: no JavaScript, no CDN, and a data table beside each one.

Each chart function takes plain dataclasses and returns a `Chart`: the SVG (role="img", with a
<title> and a <desc>), a title and caption, and the headers and rows of a data table that the
page renders beside the chart, so every figure drawn can also be read. Colour never carries
meaning alone: markers are filled or hollow, lines solid, dashed or dotted, bars solid, hatched
or dotted, and every series is named in a legend. Every label passes through `escape`.
Rates are fractions in [0, 1] and drawn as percent; horizons are minutes of human time.
A `summary_*` function beside each chart says its message in one plain sentence.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from html import escape
from itertools import pairwise

from django.utils.safestring import SafeString, mark_safe

INTERVAL = "95 % interval"
NOT_MEASURED = "not measured yet"
NOT_COVERED = "not measured: no occupation is covered yet"
"""The national index when no occupation is covered: not measured, which is not 0 %."""
EXTRAPOLATION = "extrapolation"

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_FONT = 13
"""Tick and label size in SVG units: about 11 px or more where the chart is 600 px wide."""
_CHAR_WIDTH = 0.6
"""Average glyph width as a share of the font size, for laying out labels."""
_LABEL_CHARS = 40
"""Labels longer than this are shortened in the SVG; the table and tooltips keep them whole."""
_MAX_PROJECTION_YEARS = 10
"""A projected date further than this beyond the data is noted, not drawn."""
_HORIZON_TICKS = (
    (0.25, "15 s"),
    (1, "1 min"),
    (4, "4 min"),
    (15, "15 min"),
    (60, "1 h"),
    (240, "4 h"),
    (480, "8 h"),
    (1440, "1 day"),
    (10080, "1 week"),
    (43200, "1 month"),
)


# Inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chart:
    """A rendered chart and everything the page shows beside it."""

    svg: SafeString
    """The SVG element, escaped and safe to put in a template (also `{{ chart }}`)."""
    title: str
    """What the chart shows; also the SVG's <title>."""
    caption: str
    """How to read it: what the marks, lines and shading mean; for a <figcaption>."""
    headers: tuple[str, ...]
    """Column headers of the data table."""
    rows: tuple[tuple[str, ...], ...]
    """One row of formatted strings per point, bar group or date."""
    notes: tuple[str, ...] = ()
    """Sentences for below the table: projections, and points left out or drawn off-chart."""

    def __html__(self) -> str:
        return self.svg

    def __str__(self) -> str:
        return self.svg


@dataclass(frozen=True)
class TrendPoint:
    """One model's rate (or clipped mean score) at its release date."""

    when: date
    """The model's release date."""
    value: float
    """The rate in [0, 1]; a non-finite value is left out of the chart and noted."""
    low: float
    """Lower bound of its interval."""
    high: float
    """Upper bound of its interval."""
    label: str
    """The model's name."""
    on_frontier: bool
    """Whether the model raised the best value reached by its release date."""


@dataclass(frozen=True)
class TrendFit:
    """A fitted trend over release dates, e.g. from `reports.stats.trends`."""

    fitted: Callable[[date], float]
    """Fitted value at a date on the chart's scale: a rate, or minutes for horizons
    (`TrendLine.fitted` or `HorizonTrend.fitted`)."""
    first: date
    """First release date fitted."""
    last: date
    """Last release date fitted: beyond it the line is drawn dashed, as extrapolation."""
    doubling_months: float | None = None
    """For horizons: months per doubling (inf when the trend does not rise)."""
    doubling_months_low: float | None = None
    """Lower bound of the doubling time's interval."""
    doubling_months_high: float | None = None
    """Upper bound of the doubling time's interval (inf when unbounded)."""


@dataclass(frozen=True)
class Crossing:
    """When a fitted trend reaches a threshold: always an extrapolation."""

    threshold: float
    """A rate in [0, 1] (trend chart) or minutes (horizon chart)."""
    when: date | None = None
    """Projected date; None when the trend never reaches the threshold."""
    low: date | None = None
    """Earliest date of its interval; None when unbounded."""
    high: date | None = None
    """Latest date of its interval; None when unbounded."""
    already_crossed: bool = False
    """The fitted trend is already at or above the threshold."""


@dataclass(frozen=True)
class HorizonPoint:
    """One model's time horizon: the task length, in human minutes, it succeeds on p % of."""

    when: date
    """The model's release date."""
    minutes: float | None
    """The horizon; None when it could not be estimated, inf when beyond every task."""
    low: float | None
    """Lower bound of its interval in minutes."""
    high: float | None
    """Upper bound in minutes; inf when unbounded."""
    label: str
    """The model's name."""
    on_frontier: bool = False
    """Whether the model raised the longest horizon reached by its release date."""


@dataclass(frozen=True)
class Estimate:
    """A rate in [0, 1] with its interval; value None when not measured."""

    value: float | None
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class ReliabilityRow:
    """One model's success on one try, on any of k tries and on all of k tries."""

    label: str
    """The model's name."""
    pass_at_1: Estimate
    """Mean success rate over tasks."""
    pass_at_k: Estimate
    """Mean chance that at least one of k tries succeeds."""
    pass_hat_k: Estimate
    """Mean chance that all k tries succeed."""


@dataclass(frozen=True)
class ProfileBar:
    """One job category in a model's profile."""

    category: str
    """The category's title."""
    value: Estimate
    """The model's rate on it."""
    comparison: Estimate | None = None
    """The comparison model's rate on it, when a comparison is drawn."""


@dataclass(frozen=True)
class IndexPoint:
    """The national index at one date: shares of employment and wage bill, and coverage."""

    when: date
    """The date the index describes (e.g. the release of the model that moved it)."""
    employment_weighted: float | None
    """Share of employment in occupations where the frontier meets the success level."""
    wage_weighted: float | None
    """Share of the wage bill in those occupations."""
    coverage: float | None
    """Share of employment in occupations with enough published tasks to be measured."""


# Formatting ---------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return NOT_MEASURED
    return f"{round(value * 100)} %"


def _pct_range(low: float | None, high: float | None) -> str:
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return ""
    return f"{round(low * 100)}-{round(high * 100)} %"


def _month(when: date) -> str:
    return f"{_MONTHS[when.month - 1]} {when.year}"


def _duration(minutes: float | None) -> str:
    """Minutes in the unit a reader would use: "45 minutes", "1.5 hours", "3 days"."""
    if minutes is None or math.isnan(minutes):
        return "not estimable"
    if math.isinf(minutes):
        return "beyond the longest tasks"
    for size, unit in ((10080, "week"), (1440, "day"), (60, "hour"), (1, "minute")):
        if minutes >= size:
            amount = minutes / size
            text = f"{amount:.0f}" if amount >= 10 or amount == round(amount) else f"{amount:.1f}"
            return f"{text} {unit}{'' if text == '1' else 's'}"
    seconds = round(minutes * 60)
    return f"{seconds} second{'' if seconds == 1 else 's'}"


def _duration_range(low: float | None, high: float | None, longest: float | None = None) -> str:
    if low is None or high is None:
        return ""
    return f"{_horizon(low, longest)} - {_horizon(high, longest)}"


def _horizon(minutes: float | None, longest: float | None = None) -> str:
    """A horizon as _duration writes it; an infinite one, with the longest task measured,
    as "beyond the longest task (8 hours)"."""
    if minutes is not None and math.isinf(minutes) and longest is not None:
        return f"beyond the longest task ({_duration(longest)})"
    return _duration(minutes)


def _months(value: float | None) -> str:
    if value is None or math.isinf(value):
        return "unbounded"
    return f"{value:.0f}"


def _short(label: str, chars: int = _LABEL_CHARS) -> str:
    return label if len(label) <= chars else label[: chars - 1].rstrip() + "…"


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


# SVG building blocks ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Frame:
    """The plotting area inside an SVG of width x height."""

    width: float
    height: float
    left: float
    top: float
    right: float
    bottom: float

    @property
    def plot_w(self) -> float:
        return self.right - self.left

    @property
    def plot_h(self) -> float:
        return self.bottom - self.top


def _chart_id(kind: str, title: str, rows: Sequence[Sequence[str]]) -> str:
    # Several charts share a page: ids (patterns, title, desc) must not collide.
    digest = hashlib.sha1(repr((kind, title, rows)).encode()).hexdigest()[:8]
    return f"chart-{kind}-{digest}"


def _svg(uid: str, kind: str, frame: _Frame, title: str, desc: str, body: list[str]) -> SafeString:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {frame.width:.0f} '
        f'{frame.height:.0f}" class="chart chart-{kind}" role="img" '
        f'aria-labelledby="{uid}-title {uid}-desc" font-size="{_FONT}">'
        f'<title id="{uid}-title">{escape(title)}</title>'
        f'<desc id="{uid}-desc">{escape(desc)}</desc>'
        f"{_patterns(uid)}"
    )
    return mark_safe(head + "".join(body) + "</svg>")


def _patterns(uid: str) -> str:
    # Bars differ by pattern as well as colour, so they stay apart in greyscale and print.
    return (
        "<defs>"
        f'<pattern id="{uid}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#2a7ab0" stroke-width="3"/></pattern>'
        f'<pattern id="{uid}-dots" width="6" height="6" patternUnits="userSpaceOnUse">'
        '<rect width="6" height="6" fill="#ffffff"/>'
        '<rect x="1" y="1" width="3" height="3" fill="#8a4b08"/></pattern>'
        "</defs>"
    )


def _text(x: float, y: float, text: str, css: str, anchor: str = "start", size: int = 0) -> str:
    font = f' font-size="{size}"' if size else ""
    return (
        f'<text class="{css}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{font}>'
        f"{escape(text)}</text>"
    )


def _empty_note(frame: _Frame, message: str = "No data yet") -> str:
    return _text(
        frame.left + frame.plot_w / 2, frame.top + frame.plot_h / 2, message, "empty", "middle"
    )


def _swatch(kind: str, x: float, y: float, uid: str) -> str:
    """A 24 x 12 legend sample whose shape matches the mark it names."""
    cy = y - 4
    if kind in ("point", "frontier-point", "employment"):
        css = {"point": "point", "frontier-point": "point frontier-point"}.get(kind, "index-marker")
        # A circle drawn as a path: <circle> stays one per data point.
        return f'<path class="{css}" d="M{x + 7:.1f},{cy:.1f} a5,5 0 1,0 10,0 a5,5 0 1,0 -10,0"/>'
    if kind == "wage":
        return (
            f'<rect class="index-marker wage-marker" x="{x + 7}" y="{cy - 5:.1f}" '
            'width="10" height="10"/>'
        )
    if kind == "band":
        return f'<rect class="band" x="{x}" y="{cy - 6:.1f}" width="24" height="12"/>'
    if kind == "coverage":
        return (
            f'<rect class="coverage-area" x="{x}" y="{cy - 6:.1f}" width="24" height="12"/>'
            f'<line class="coverage" x1="{x}" x2="{x + 24}" y1="{cy - 6:.1f}" y2="{cy - 6:.1f}"/>'
        )
    if kind in ("solid", "hatch", "dots"):
        fill = "" if kind == "solid" else f' fill="url(#{uid}-{kind})"'
        return (
            f'<rect class="series series-{kind}" x="{x}" y="{cy - 6:.1f}" '
            f'width="24" height="12"{fill}/>'
        )
    return f'<line class="{kind}" x1="{x}" x2="{x + 24}" y1="{cy:.1f}" y2="{cy:.1f}"/>'


def _legend(
    items: Sequence[tuple[str, str]], uid: str, width: float, top: float
) -> tuple[str, float]:
    """Legend entries laid out in rows across the top; returns the SVG and the height used."""
    parts, x, y = [], 12.0, top + 14
    for kind, full in items:
        label = _short(full, 60)
        room = 32 + len(label) * _FONT * _CHAR_WIDTH + 18
        if x > 12 and x + room > width - 8:
            x, y = 12.0, y + 20
        parts.append(_swatch(kind, x, y, uid) + _text(x + 30, y, label, "legend-label"))
        x += room
    return '<g class="legend">' + "".join(parts) + "</g>", (y - top + 12) if items else 0


def _time_range(dates: Sequence[date]) -> tuple[date, date]:
    first, last = min(dates), max(dates)
    span = (last - first).days
    pad = timedelta(days=max(2, round(span * 0.05))) if span else timedelta(days=60)
    return first - pad, last + pad


def _date_ticks(first: date, last: date) -> list[tuple[date, str]]:
    """Ticks for a date axis: days, months, quarters or years, as the span asks."""
    span = (last - first).days
    if span <= 120:
        step = max(1, math.ceil(span / 7))
        days = [first + timedelta(days=i) for i in range(1, span, step)]
        # The year shows on the first tick and wherever it changes.
        return [
            (d, f"{d.day} {_MONTHS[d.month - 1][:3]}" + (f" {d.year}" if new_year else ""))
            for d, new_year in zip(
                days, [True] + [a.year != b.year for a, b in pairwise(days)], strict=True
            )
        ]
    if span <= 1100:
        months = 1 if span <= 240 else (2 if span <= 400 else 3)
        ticks, year, month = [], first.year, first.month
        while date(year, month, 1) <= last:
            tick = date(year, month, 1)
            if tick >= first and (month - 1) % months == 0:
                if months == 3:
                    quarter = f"Q{(month - 1) // 3 + 1}"
                    label = (
                        str(year) if month == 1 else (f"{quarter} {year}" if not ticks else quarter)
                    )
                else:
                    name = _MONTHS[month - 1][:3]
                    label = f"{name} {year}" if month == 1 or not ticks else name
                ticks.append((tick, label))
            month += 1
            if month > 12:
                year, month = year + 1, 1
        return ticks
    step = max(1, math.ceil(span / 365.25 / 8))
    return [
        (date(year, 1, 1), str(year))
        for year in range(first.year + 1, last.year + 1)
        if year % step == 0
    ]


class _TimeAxis:
    def __init__(self, frame: _Frame, first: date, last: date) -> None:
        self.frame, self.first, self.last = frame, first, last
        self.span = max((last - first).days, 1)

    def x(self, when: date) -> float:
        return self.frame.left + self.frame.plot_w * (when - self.first).days / self.span

    def contains(self, when: date) -> bool:
        return self.first <= when <= self.last

    def draw(self, label: str) -> str:
        f = self.frame
        parts = [
            f'<line class="axis" x1="{f.left}" x2="{f.right}" y1="{f.bottom}" y2="{f.bottom}"/>'
        ]
        for tick, text in _date_ticks(self.first, self.last):
            x = self.x(tick)
            parts.append(
                f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{f.bottom}" '
                f'y2="{f.bottom + 5}"/>' + _text(x, f.bottom + 20, text, "tick", "middle")
            )
        parts.append(_text(f.left + f.plot_w / 2, f.height - 6, label, "axis-label", "middle"))
        return "".join(parts)


def _percent_axis(frame: _Frame, label: str) -> str:
    parts = []
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        y = frame.bottom - frame.plot_h * tick
        parts.append(
            f'<line class="grid" x1="{frame.left}" x2="{frame.right}" y1="{y:.1f}" y2="{y:.1f}"/>'
            + _text(frame.left - 8, y + 4, f"{tick:.0%}", "tick", "end")
        )
    parts.append(_y_label(frame, label))
    return "".join(parts)


def _y_label(frame: _Frame, label: str) -> str:
    y = frame.top + frame.plot_h / 2
    return (
        f'<text class="axis-label" x="14" y="{y:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {y:.1f})">{escape(label)}</text>'
    )


def _curve(
    fitted: Callable[[date], float],
    start: date,
    end: date,
    x: Callable[[date], float],
    y: Callable[[float], float | None],
) -> str:
    """Path data for a fitted curve, broken where it leaves the plot (y gives None)."""
    if end <= start:
        return ""
    steps = 48
    segments, pen_down = [], False
    for i in range(steps + 1):
        when = start + timedelta(days=(end - start).days * i / steps)
        try:
            py = y(fitted(when))
        except (ArithmeticError, ValueError):
            py = None
        if py is None:
            pen_down = False
            continue
        segments.append(f"{'L' if pen_down else 'M'}{x(when):.1f},{py:.1f}")
        pen_down = True
    return " ".join(segments)


def _step_path(points: Sequence[tuple[float, float]], end_x: float) -> str:
    path = []
    for index, (px, py) in enumerate(points):
        if index:
            path.append(f"L{px:.1f},{points[index - 1][1]:.1f}")
        path.append(f"{'L' if index else 'M'}{px:.1f},{py:.1f}")
    if points:
        path.append(f"L{max(end_x, points[-1][0]):.1f},{points[-1][1]:.1f}")
    return " ".join(path)


def _step_band(lows: Sequence[tuple[float, float]], highs: Sequence[float], end_x: float) -> str:
    """A closed step-shaped band between the highs (forward) and the lows (back)."""
    upper = _step_path([(px, hy) for (px, _), hy in zip(lows, highs, strict=True)], end_x)
    back = []
    xs = [px for px, _ in lows] + [max(end_x, lows[-1][0])]
    for index in range(len(lows) - 1, -1, -1):
        back.append(
            f"L{xs[index + 1]:.1f},{lows[index][1]:.1f} L{xs[index]:.1f},{lows[index][1]:.1f}"
        )
    return f"{upper} {' '.join(back)} Z"


def _point_label(label: str, cx: float, cy: float, *, right_edge: float) -> str:
    # Labels of points near the right edge go to their left, so they are not cut off.
    shown = _short(label, 28)
    room_right = right_edge - cx > len(shown) * _FONT * _CHAR_WIDTH + 8
    x, anchor = (cx + 8, "start") if room_right else (cx - 8, "end")
    return _text(x, cy - 8, shown, "point-label", anchor)


def _whisker(x1: float, y1: float, x2: float, y2: float) -> str:
    return f'<line class="whisker" x1="{x1:.1f}" x2="{x2:.1f}" y1="{y1:.1f}" y2="{y2:.1f}"/>'


def _crossing_note(crossing: Crossing, what: str, last_data: date | None) -> str:
    if crossing.already_crossed:
        return f"The fitted trend has already reached {what}."
    if crossing.when is None:
        return f"On the fitted trend the frontier does not reach {what} ({EXTRAPOLATION})."
    interval = ""
    if crossing.low or crossing.high:
        low = _month(crossing.low) if crossing.low else "unbounded"
        high = _month(crossing.high) if crossing.high else "unbounded"
        interval = f", {INTERVAL} {low} to {high}"
    beyond = ""
    if last_data and (crossing.when - last_data).days > 365.25 * _MAX_PROJECTION_YEARS:
        beyond = "; too far ahead to draw"
    return (
        f"Projection ({EXTRAPOLATION} of the fitted trend beyond the data): it reaches {what} "
        f"around {_month(crossing.when)}{interval}{beyond}."
    )


def _projection_end(crossing: Crossing | None, last_data: date) -> date | None:
    """The date the dashed projection runs to, or None when there is nothing to project."""
    if crossing is None or crossing.already_crossed:
        return None
    cap = last_data + timedelta(days=round(365.25 * _MAX_PROJECTION_YEARS))
    if crossing.when is None or crossing.when > cap:
        return last_data + timedelta(days=365)
    return max(crossing.when, last_data)


def _trend_paths(
    trend: TrendFit,
    project_to: date | None,
    axis: _TimeAxis,
    y: Callable[[float], float | None],
) -> str:
    """The fitted trend, solid over the data, then dashed to `project_to` as a projection."""
    parts = [
        f'<path class="trend" d="{_curve(trend.fitted, trend.first, trend.last, axis.x, y)}"/>'
    ]
    if project_to:
        path = _curve(trend.fitted, trend.last, project_to, axis.x, y)
        parts.append(
            f'<path class="projection" d="{path}">'
            f"<title>Projection ({EXTRAPOLATION}), not a measurement</title></path>"
        )
    return "".join(parts)


def _threshold_and_crossing(
    crossing: Crossing,
    axis: _TimeAxis,
    threshold_y: float,
    label: str,
) -> str:
    f = axis.frame
    parts = [
        f'<line class="threshold" x1="{f.left}" x2="{f.right}" y1="{threshold_y:.1f}" '
        f'y2="{threshold_y:.1f}"/>',
        _text(f.left + 6, threshold_y - 6, label, "threshold-label"),
    ]
    when = crossing.when
    if crossing.already_crossed or when is None or not axis.contains(when):
        return "".join(parts)
    cx = axis.x(when)
    low = axis.x(max(crossing.low, axis.first)) if crossing.low else f.left
    high = axis.x(min(crossing.high, axis.last)) if crossing.high else f.right
    text = f"Projection: {_month(when)} ({EXTRAPOLATION})"
    anchor = "end" if f.right - cx < len(text) * _FONT * _CHAR_WIDTH else "start"
    tx = cx - 8 if anchor == "end" else cx + 8
    parts += [
        f'<line class="projection-interval" x1="{low:.1f}" x2="{high:.1f}" '
        f'y1="{threshold_y:.1f}" y2="{threshold_y:.1f}"/>',
        f'<line class="projection-drop" x1="{cx:.1f}" x2="{cx:.1f}" y1="{threshold_y:.1f}" '
        f'y2="{f.bottom}"/>',
        f'<path class="projection-marker" '
        f'd="M{cx:.1f},{threshold_y - 7:.1f} l7,7 l-7,7 l-7,-7 Z"/>',
        _text(tx, threshold_y + 20, text, "projection-label", anchor),
    ]
    return "".join(parts)


# 1. Trend of success over release dates -----------------------------------------------------


def success_trend_chart(
    points: Sequence[TrendPoint],
    *,
    title: str,
    y_label: str = "Success rate",
    trend: TrendFit | None = None,
    crossing: Crossing | None = None,
    width: int = 720,
    height: int = 380,
) -> Chart:
    """Rate (0-100 %) by release date: each model with its interval whisker, the frontier as a
    step line over its shaded interval band, and optionally the fitted trend with its dashed
    extrapolation to the date it crosses a threshold, labelled as a projection."""
    shown = [p for p in points if _finite(p.value)]
    dropped = [p for p in points if not _finite(p.value)]
    ordered = sorted(points, key=lambda p: (p.when, p.label))
    headers = ("Model", "Released", y_label, INTERVAL, "On frontier")
    rows = tuple(
        (
            p.label,
            p.when.isoformat(),
            _pct(p.value),
            _pct_range(p.low, p.high),
            "yes" if p.on_frontier and _finite(p.value) else "no",
        )
        for p in ordered
    )
    uid = _chart_id("trend", title, rows)
    frontier = sorted((p for p in shown if p.on_frontier), key=lambda p: p.when)
    threshold_text = f"{_pct(crossing.threshold)} threshold" if crossing else ""
    legend_items = [("point", "Model"), ("frontier-point", "Frontier model")]
    if frontier:
        legend_items.append(("frontier", f"Frontier (shaded: {INTERVAL})"))
    if trend:
        legend_items.append(("trend", "Fitted trend"))
    if trend and crossing and not crossing.already_crossed:
        legend_items.append(("projection", f"Projection ({EXTRAPOLATION})"))
    if crossing:
        legend_items.append(("threshold", threshold_text))
    legend, legend_h = _legend(legend_items if shown else [], uid, width, 0)
    frame = _Frame(width, height, 64, legend_h + 14, width - 24, height - 48)

    body = [legend, _percent_axis(frame, y_label)]
    notes = [f"{p.label}: {NOT_MEASURED}." for p in dropped]
    if not shown:
        body.append(_empty_note(frame))
        desc = f"No models measured yet: the chart is empty. {NOT_MEASURED.capitalize()}."
        return Chart(
            _svg(uid, "trend", frame, title, desc, body), title, desc, headers, rows, tuple(notes)
        )

    last_data = max(p.when for p in shown)
    project_to = _projection_end(crossing, trend.last if trend else last_data) if trend else None
    dates = [p.when for p in shown] + ([trend.first, trend.last] if trend else [])
    if project_to:
        dates.append(project_to)
    axis = _TimeAxis(frame, *_time_range(dates))
    body.append(axis.draw("Model release date"))

    def y(value: float) -> float:
        return frame.bottom - frame.plot_h * min(1.0, max(0.0, value))

    def y_in(value: float) -> float | None:
        return y(value) if 0 <= value <= 1 else None

    data_end = axis.x(last_data + (axis.last - last_data) / 2)
    if frontier:
        steps = [(axis.x(p.when), y(p.value)) for p in frontier]
        lows = [(axis.x(p.when), y(p.low)) for p in frontier]
        body.append(
            f'<path class="band" d="{_step_band(lows, [y(p.high) for p in frontier], data_end)}"/>'
        )
    if crossing:
        body.append(_threshold_and_crossing(crossing, axis, y(crossing.threshold), threshold_text))
    if trend:
        body.append(_trend_paths(trend, project_to, axis, y_in))
    if frontier:
        body.append(f'<path class="frontier" d="{_step_path(steps, data_end)}"/>')
    label_all = len(shown) <= 8
    for point in shown:
        cx, cy = axis.x(point.when), y(point.value)
        css = "point frontier-point" if point.on_frontier else "point"
        body.append(
            _whisker(cx, y(point.low), cx, y(point.high))
            + f'<circle class="{css}" cx="{cx:.1f}" cy="{cy:.1f}" r="5">'
            f"<title>{escape(point.label)}: {_pct(point.value)} "
            f"({escape(_pct_range(point.low, point.high))})</title></circle>"
        )
        if label_all or point.on_frontier:
            body.append(_point_label(point.label, cx, cy, right_edge=frame.right))

    caption = (
        f"Dots: each model's {y_label.lower()} by release date, with its {INTERVAL} as a whisker; "
        "filled dots are frontier models."
    )
    if frontier:
        caption += (
            f" Step line: the frontier, the best reached by each date, its {INTERVAL} shaded."
        )
    if trend:
        caption += " Solid curve: the trend fitted to the models."
    if crossing:
        caption += f" Horizontal line: the {threshold_text}." + (
            f" Dashed curve: the fitted trend extended beyond the data, a projection "
            f"({EXTRAPOLATION}), not a measurement."
            if project_to
            else ""
        )
        notes.append(_crossing_note(crossing, _pct(crossing.threshold), last_data))
    desc = (
        f"{len(shown)} models released from {_month(min(p.when for p in shown))} to "
        f"{_month(last_data)}, {y_label.lower()} from {_pct(min(p.value for p in shown))} to "
        f"{_pct(max(p.value for p in shown))}. " + " ".join(notes) + " The table beside the "
        "chart lists every figure."
    )
    svg = _svg(uid, "trend", frame, title, desc, body)
    return Chart(svg, title, caption, headers, rows, tuple(notes))


# 2. Time horizons ---------------------------------------------------------------------------


def _horizon_range(values: Sequence[float]) -> tuple[float, float]:
    ticks = [t for t, _ in _HORIZON_TICKS]
    usable = [v for v in values if _finite(v) and v > 0]
    low_value = min(usable, default=1.0)
    high_value = max(usable, default=480.0)
    # The nearest ticks strictly beyond the data, so no point or threshold sits on the frame.
    low = max([t for t in ticks if t < low_value], default=ticks[0])
    high = min([t for t in ticks if t > high_value], default=ticks[-1])
    low, high = min(low, 1.0), max(high, 60.0)
    return low, high


def time_horizon_chart(
    points: Sequence[HorizonPoint],
    *,
    title: str,
    percent: int = 50,
    trend: TrendFit | None = None,
    crossing: Crossing | None = None,
    longest_task_minutes: float | None = None,
    width: int = 720,
    height: int = 400,
) -> Chart:
    """Time horizons by release date on a log2 axis with readable ticks, interval whiskers, the
    fitted exponential trend and its dashed projection to a threshold horizon. An infinite
    horizon (a model that succeeds at every task length measured) is an arrow at the top
    edge; with `longest_task_minutes` its table row says "beyond the longest task (8 hours)"."""
    longest = longest_task_minutes
    measure = f"{percent} % time horizon"
    ordered = sorted(points, key=lambda p: (p.when, p.label))
    headers = ("Model", "Released", measure, INTERVAL, "On frontier")
    rows = tuple(
        (
            p.label,
            p.when.isoformat(),
            _horizon(p.minutes, longest),
            _duration_range(p.low, p.high, longest),
            "yes" if p.on_frontier else "no",
        )
        for p in ordered
    )
    uid = _chart_id("horizon", title, rows)
    drawable = [p for p in points if p.minutes is not None and not math.isnan(p.minutes)]
    notes = [
        f"{p.label}: the {measure} could not be estimated; it is left out of the chart."
        for p in ordered
        if p not in drawable
    ]
    values = [p.minutes for p in drawable] + [v for p in drawable for v in (p.low, p.high)]
    if crossing:
        values.append(crossing.threshold)
    low, high = _horizon_range([v for v in values if v is not None])
    threshold_text = f"{_duration(crossing.threshold)} threshold" if crossing else ""
    legend_items = [("point", "Model"), ("frontier-point", "Frontier model")]
    if trend:
        legend_items.append(("trend", "Fitted exponential trend"))
    if trend and crossing and not crossing.already_crossed:
        legend_items.append(("projection", f"Projection ({EXTRAPOLATION})"))
    if crossing:
        legend_items.append(("threshold", threshold_text))
    legend, legend_h = _legend(legend_items if drawable else [], uid, width, 0)
    frame = _Frame(width, height, 76, legend_h + 14, width - 24, height - 48)
    span = math.log2(high) - math.log2(low)

    def y(minutes: float) -> float:
        clipped = min(high, max(low, minutes))
        return frame.bottom - frame.plot_h * (math.log2(clipped) - math.log2(low)) / span

    def y_in(minutes: float) -> float | None:
        return y(minutes) if low <= minutes <= high else None

    body = [legend]
    for tick, text in _HORIZON_TICKS:
        if low <= tick <= high:
            ty = y(tick)
            body.append(
                f'<line class="grid" x1="{frame.left}" x2="{frame.right}" '
                f'y1="{ty:.1f}" y2="{ty:.1f}"/>'
                + _text(frame.left - 8, ty + 4, text, "tick", "end")
            )
    body.append(_y_label(frame, f"{measure} (log scale)"))
    if not drawable:
        body.append(_empty_note(frame))
        desc = f"No {measure} measured yet: the chart is empty."
        return Chart(
            _svg(uid, "horizon", frame, title, desc, body), title, desc, headers, rows, tuple(notes)
        )

    last_data = max(p.when for p in drawable)
    project_to = _projection_end(crossing, trend.last) if trend else None
    dates = [p.when for p in drawable] + ([trend.first, trend.last] if trend else [])
    if project_to:
        dates.append(project_to)
    axis = _TimeAxis(frame, *_time_range(dates))
    body.append(axis.draw("Model release date"))
    if crossing:
        body.append(_threshold_and_crossing(crossing, axis, y(crossing.threshold), threshold_text))
    if trend:
        body.append(_trend_paths(trend, project_to, axis, y_in))
    label_all = len(drawable) <= 8
    for point in drawable:
        cx = axis.x(point.when)
        minutes = point.minutes
        whisker_low = point.low if _finite(point.low) else None
        if whisker_low is not None and point.high is not None:
            body.append(_whisker(cx, y(whisker_low), cx, y(point.high)))
            if point.high > high:
                body.append(
                    f'<path class="arrow" d="M{cx - 5:.1f},{frame.top + 8:.1f} l5,-8 l5,8 Z"/>'
                )
        tooltip = f"<title>{escape(point.label)}: {escape(_horizon(minutes, longest))}</title>"
        if minutes > high or minutes < low:
            # Off the axis: an arrow at the edge, pointing where the value lies.
            up = minutes > high
            edge = frame.top if up else frame.bottom
            tip, base = (edge, edge + 12) if up else (edge, edge - 12)
            body.append(
                f'<path class="arrow off-chart" d="M{cx:.1f},{tip:.1f} L{cx + 7:.1f},{base:.1f} '
                f'L{cx - 7:.1f},{base:.1f} Z">{tooltip}</path>'
            )
            notes.append(
                f"{point.label}: the {measure} is {_horizon(minutes, longest)}, "
                f"{'above' if up else 'below'} the chart's range; drawn as an arrow at the edge."
            )
            cy = base
        else:
            cy = y(minutes)
            css = "point frontier-point" if point.on_frontier else "point"
            body.append(
                f'<circle class="{css}" cx="{cx:.1f}" cy="{cy:.1f}" r="5">{tooltip}</circle>'
            )
        if label_all or point.on_frontier:
            body.append(
                _point_label(
                    point.label, cx, cy + (22 if minutes > high else 0), right_edge=frame.right
                )
            )

    caption = (
        f"Dots: each model's {measure}, the length of task (in the time a human expert takes) "
        f"it succeeds on {percent} % of the time, with its {INTERVAL}; the vertical axis is "
        "logarithmic, each step a multiple of time."
    )
    if trend:
        caption += " Solid line: the fitted exponential trend"
        if trend.doubling_months is not None:
            caption += (
                f", which doubles every {_months(trend.doubling_months)} months "
                f"({INTERVAL} {_months(trend.doubling_months_low)}-"
                f"{_months(trend.doubling_months_high)})"
            )
        caption += "."
    if crossing:
        if project_to:
            caption += (
                f" Dashed line: the trend extended to {_duration(crossing.threshold)}, a "
                f"projection ({EXTRAPOLATION}), not a measurement."
            )
        notes.append(_crossing_note(crossing, _duration(crossing.threshold), last_data))
    desc = (
        f"{len(drawable)} models released from {_month(min(p.when for p in drawable))} to "
        f"{_month(last_data)}. " + caption + " The table beside the chart lists every figure."
    )
    svg = _svg(uid, "horizon", frame, title, desc, body)
    return Chart(svg, title, caption, headers, rows, tuple(notes))


# 3 and 4. Grouped horizontal bars -----------------------------------------------------------


def _bar_groups(
    groups: Sequence[tuple[str, Sequence[tuple[str, Estimate]]]],
    *,
    uid: str,
    kind: str,
    title: str,
    desc: str,
    legend_items: Sequence[tuple[str, str]],
    x_label: str,
    width: int,
) -> SafeString:
    """Groups of horizontal 0-100 % bars with whiskers, each group named above its bars."""
    bar_h, bar_gap, label_h, group_gap = 16, 4, 20, 14
    legend, legend_h = _legend(legend_items, uid, width, 0)
    top = legend_h + 16
    inner = sum(label_h + len(bars) * (bar_h + bar_gap) + group_gap for _, bars in groups)
    height = top + max(inner, 60) + 44
    frame = _Frame(width, height, 16, top, width - 76, height - 44)

    def x(value: float) -> float:
        return frame.left + frame.plot_w * min(1.0, max(0.0, value))

    body = [legend]
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        gx = x(tick)
        body.append(
            f'<line class="grid" x1="{gx:.1f}" x2="{gx:.1f}" y1="{frame.top}" y2="{frame.bottom}"/>'
            + _text(gx, frame.bottom + 18, f"{tick:.0%}", "tick", "middle")
        )
    body.append(_text(frame.left + frame.plot_w / 2, height - 6, x_label, "axis-label", "middle"))
    if not groups:
        body.append(_empty_note(frame))
    label_chars = int(frame.plot_w / (_FONT * _CHAR_WIDTH))
    y = frame.top
    for group_label, bars in groups:
        body.append(
            f'<text class="group-label" x="{frame.left:.1f}" y="{y + 14:.1f}">'
            f"<title>{escape(group_label)}</title>{escape(_short(group_label, label_chars))}</text>"
        )
        y += label_h
        for pattern, estimate in bars:
            cy = y + bar_h / 2
            if estimate.value is None or not math.isfinite(estimate.value):
                body.append(_text(frame.left + 4, cy + 4, NOT_MEASURED, "not-measured"))
            else:
                fill = "" if pattern == "solid" else f' fill="url(#{uid}-{pattern})"'
                body.append(
                    f'<rect class="series series-{pattern}" x="{frame.left}" y="{y:.1f}" '
                    f'width="{x(estimate.value) - frame.left:.1f}" height="{bar_h}"{fill}/>'
                )
                end = x(estimate.value)
                if _finite(estimate.low) and _finite(estimate.high):
                    lo, hi = x(estimate.low), x(estimate.high)
                    # A white halo keeps the whisker visible where it crosses a dark bar.
                    body.append(
                        f'<line class="whisker-halo" x1="{lo:.1f}" x2="{hi:.1f}" '
                        f'y1="{cy:.1f}" y2="{cy:.1f}"/>'
                        + _whisker(lo, cy, hi, cy)
                        + _whisker(lo, cy - 4, lo, cy + 4)
                        + _whisker(hi, cy - 4, hi, cy + 4)
                    )
                    end = max(end, hi)
                body.append(_text(end + 6, cy + 4, _pct(estimate.value), "value-label"))
            y += bar_h + bar_gap
        y += group_gap
    return _svg(uid, kind, frame, title, desc, body)


def _estimate_cell(estimate: Estimate | None) -> str:
    if estimate is None or not _finite(estimate.value):
        return NOT_MEASURED
    interval = _pct_range(estimate.low, estimate.high)
    return f"{_pct(estimate.value)} ({interval})" if interval else _pct(estimate.value)


def reliability_chart(
    rows: Sequence[ReliabilityRow], *, title: str, k: int, width: int = 720
) -> Chart:
    """pass@1, pass@k and pass^k side by side for each model: the gap between one try, the
    best of k tries and all of k tries, each bar with its interval."""
    headers = (
        "Model",
        "pass@1 (one try)",
        f"pass@{k} (any of {k})",
        f"pass^{k} (all {k})",
        f"Gap, pass@{k} minus pass@1",
    )
    table = []
    for row in rows:
        gap = ""
        if _finite(row.pass_at_k.value) and _finite(row.pass_at_1.value):
            gap = f"{round((row.pass_at_k.value - row.pass_at_1.value) * 100)} points"
        table.append(
            (
                row.label,
                _estimate_cell(row.pass_at_1),
                _estimate_cell(row.pass_at_k),
                _estimate_cell(row.pass_hat_k),
                gap or NOT_MEASURED,
            )
        )
    table_rows = tuple(table)
    uid = _chart_id("reliability", title, table_rows)
    caption = (
        f"For each model: solid bar, success on one try (pass@1); hatched bar, success on at "
        f"least one of {k} tries (pass@{k}); dotted bar, success on all {k} tries (pass^{k}); "
        f"whiskers show the {INTERVAL}."
    )
    desc = (reliability_summary(rows, k=k) + " " + caption) if rows else "No models measured yet."
    svg = _bar_groups(
        [
            (
                row.label,
                [("solid", row.pass_at_1), ("hatch", row.pass_at_k), ("dots", row.pass_hat_k)],
            )
            for row in rows
        ],
        uid=uid,
        kind="reliability",
        title=title,
        desc=desc,
        legend_items=[
            ("solid", "pass@1: one try"),
            ("hatch", f"pass@{k}: any of {k} tries"),
            ("dots", f"pass^{k}: all {k} tries"),
        ],
        x_label="Share of tasks solved",
        width=width,
    )
    return Chart(svg, title, caption, headers, table_rows)


def profile_chart(
    bars: Sequence[ProfileBar],
    *,
    title: str,
    model: str,
    comparison: str | None = None,
    value_label: str = "Success rate",
    width: int = 720,
) -> Chart:
    """One model's rate per job category as sorted horizontal bars with intervals; with a
    comparison model, two bars per category told apart by pattern and legend."""
    ordered = sorted(
        bars,
        key=lambda b: (
            not _finite(b.value.value),
            -(b.value.value or 0) if _finite(b.value.value) else 0,
            b.category,
        ),
    )
    headers = ("Job category", f"{model}: {value_label.lower()} ({INTERVAL})")
    if comparison:
        headers += (f"{comparison}: {value_label.lower()} ({INTERVAL})",)
    table_rows = tuple(
        (b.category, _estimate_cell(b.value))
        + ((_estimate_cell(b.comparison),) if comparison else ())
        for b in ordered
    )
    uid = _chart_id("profile", title, table_rows)
    caption = f"Bars: {model}'s {value_label.lower()} per job category, highest first"
    legend_items = [("solid", model)]
    if comparison:
        caption += f"; hatched bars: {comparison}"
        legend_items.append(("hatch", comparison))
    caption += f". Whiskers show the {INTERVAL}."
    desc = (
        profile_summary(bars, model=model, comparison=comparison) + " " + caption
        if bars
        else "No categories measured yet."
    )
    groups = []
    for bar in ordered:
        series = [("solid", bar.value)]
        if comparison:
            series.append(("hatch", bar.comparison or Estimate(None)))
        groups.append((bar.category, series))
    svg = _bar_groups(
        groups,
        uid=uid,
        kind="profile",
        title=title,
        desc=desc,
        legend_items=legend_items,
        x_label=value_label,
        width=width,
    )
    return Chart(svg, title, caption, headers, table_rows)


# 5. National index --------------------------------------------------------------------------


def national_index_chart(
    points: Sequence[IndexPoint],
    *,
    title: str,
    level: str = "50 % success",
    width: int = 720,
    height: int = 380,
) -> Chart:
    """The employment- and wage-weighted index over time as step lines, with coverage shaded
    and drawn as a dotted line, so gaps in measurement show as plainly as the scores."""
    ordered = sorted(points, key=lambda p: p.when)
    headers = ("Date", "Employment-weighted index", "Wage-weighted index", "Coverage of employment")
    rows = tuple(
        (p.when.isoformat(), _pct(p.employment_weighted), _pct(p.wage_weighted), _pct(p.coverage))
        for p in ordered
    )
    uid = _chart_id("national", title, rows)
    legend_items = [
        ("employment", "Share of employment"),
        ("wage", "Share of wage bill"),
        ("coverage", "Coverage: share of employment measured"),
    ]
    legend, legend_h = _legend(legend_items if ordered else [], uid, width, 0)
    frame = _Frame(width, height, 64, legend_h + 14, width - 24, height - 48)
    body = [legend, _percent_axis(frame, "Share of national total")]
    caption = (
        f"Solid line with dots: share of national employment in occupations where the frontier "
        f"model reaches {level}; dashed line with squares: the same share of the wage bill; "
        "shaded with a dotted edge: coverage, the share of employment in occupations with enough "
        "published tasks to measure. Occupations not covered count as not reached."
    )
    if not ordered:
        body.append(_empty_note(frame))
        desc = f"The national index is {NOT_MEASURED}."
        return Chart(_svg(uid, "national", frame, title, desc, body), title, caption, headers, rows)
    axis = _TimeAxis(frame, *_time_range([p.when for p in ordered]))
    body.append(axis.draw("Date"))
    end_x = axis.x(ordered[-1].when + (axis.last - ordered[-1].when) / 2)

    def y(value: float) -> float:
        return frame.bottom - frame.plot_h * min(1.0, max(0.0, value))

    def runs(values: Sequence[float | None]) -> list[list[tuple[float, float]]]:
        out: list[list[tuple[float, float]]] = [[]]
        for point, value in zip(ordered, values, strict=True):
            if _finite(value):
                out[-1].append((axis.x(point.when), y(value)))
            elif out[-1]:
                out.append([])
        return [run for run in out if run]

    coverage = runs([p.coverage for p in ordered])
    for run in coverage:
        area = _step_path(run, end_x)
        body.append(
            f'<path class="coverage-area" d="M{run[0][0]:.1f},{frame.bottom} '
            f'{area.replace("M", "L", 1)} L{max(end_x, run[-1][0]):.1f},{frame.bottom} Z"/>'
            f'<path class="coverage" d="{area}"/>'
        )
    for css, values in (
        ("employment", [p.employment_weighted for p in ordered]),
        ("wage", [p.wage_weighted for p in ordered]),
    ):
        for run in runs(values):
            body.append(f'<path class="index-line {css}" d="{_step_path(run, end_x)}"/>')
            for px, py in run:
                if css == "employment":
                    body.append(
                        f'<path class="index-marker" d="M{px - 4:.1f},{py:.1f} '
                        'a4,4 0 1,0 8,0 a4,4 0 1,0 -8,0"/>'
                    )
                else:
                    body.append(
                        f'<rect class="index-marker wage-marker" x="{px - 4:.1f}" '
                        f'y="{py - 4:.1f}" width="8" height="8"/>'
                    )
    desc = national_summary(points, level=level) + " " + caption
    svg = _svg(uid, "national", frame, title, desc, body)
    return Chart(svg, title, caption, headers, rows)


# 6. One-sentence summaries ------------------------------------------------------------------


def success_summary(
    points: Sequence[TrendPoint],
    *,
    subject: str,
    crossing: Crossing | None = None,
    scored: bool = False,
) -> str:
    """E.g. "The best model succeeds on 62 % (55-69 %) of paralegal tasks; a year ago it was
    31 %." `scored` speaks of mean rubric scores instead of success."""
    measured = [p for p in points if _finite(p.value)]
    if not measured:
        what = "Scores" if scored else "Success"
        return f"{what} on {subject} tasks: {NOT_MEASURED}."
    best = max(measured, key=lambda p: (p.value, p.when))
    verb = "scores" if scored else "succeeds on"
    preposition = "on" if scored else "of"
    interval = _pct_range(best.low, best.high)
    sentence = (
        f"The best model {verb} {_pct(best.value)}"
        + (f" ({interval})" if interval else "")
        + (f" {preposition} {subject} tasks" if not scored else f" on {subject} tasks")
    )
    latest = max(p.when for p in measured)
    earlier = [p for p in measured if p.when <= latest - timedelta(days=365)]
    if earlier:
        sentence += f"; a year ago it was {_pct(max(p.value for p in earlier))}"
    if crossing is not None:
        sentence += _crossing_clause(crossing, _pct(crossing.threshold))
    return sentence + "."


def _crossing_clause(crossing: Crossing, what: str) -> str:
    """The end of a summary sentence: where the fitted trend stands against a threshold."""
    if crossing.already_crossed:
        return f"; the trend has already reached {what}"
    if crossing.when is None:
        return f"; at that pace it does not reach {what} ({EXTRAPOLATION})"
    return f"; at that pace it reaches {what} around {_month(crossing.when)} ({EXTRAPOLATION})"


def horizon_summary(
    points: Sequence[HorizonPoint],
    *,
    trend: TrendFit | None = None,
    crossing: Crossing | None = None,
    percent: int = 50,
    longest_task_minutes: float | None = None,
) -> str:
    """E.g. "The frontier's 50 % time horizon doubles every 7 months (5-10); at that pace it
    reaches 8 hours around March 2027 (extrapolation)." """
    measure = f"{percent} % time horizon"
    if trend is None or trend.doubling_months is None:
        measured = [p for p in points if p.minutes is not None and not math.isnan(p.minutes)]
        if not measured:
            return f"The frontier's {measure} is {NOT_MEASURED}."
        best = max(measured, key=lambda p: p.minutes)
        return (
            f"The longest {measure} so far is {_horizon(best.minutes, longest_task_minutes)} "
            f"({best.label}); "
            f"its trend is {NOT_MEASURED}."
        )
    if math.isinf(trend.doubling_months) or trend.doubling_months <= 0:
        sentence = f"The frontier's {measure} is not growing on the fitted trend"
    else:
        sentence = (
            f"The frontier's {measure} doubles every {_months(trend.doubling_months)} months "
            f"({_months(trend.doubling_months_low)}-{_months(trend.doubling_months_high)})"
        )
    if crossing is not None:
        sentence += _crossing_clause(crossing, _duration(crossing.threshold))
    return sentence + "."


def reliability_summary(rows: Sequence[ReliabilityRow], *, k: int) -> str:
    """E.g. "Given 5 tries, the best model (X) solves 80 % of tasks at least once but only
    40 % every time, against 62 % on one try." """
    measured = [r for r in rows if _finite(r.pass_at_1.value)]
    if not measured:
        return f"Reliability over {k} tries is {NOT_MEASURED}."
    best = max(measured, key=lambda r: r.pass_at_1.value or 0.0)
    once, every = best.pass_at_k.value, best.pass_hat_k.value
    if not (_finite(once) and _finite(every)):
        return (
            f"The best model ({best.label}) solves {_pct(best.pass_at_1.value)} of tasks on one "
            f"try; its results over {k} tries are {NOT_MEASURED}."
        )
    return (
        f"Given {k} tries, the best model ({best.label}) solves {_pct(once)} of tasks at least "
        f"once but only {_pct(every)} every time, against {_pct(best.pass_at_1.value)} on one try."
    )


def profile_summary(
    bars: Sequence[ProfileBar], *, model: str, comparison: str | None = None
) -> str:
    """E.g. "X does best on legal tasks (80 %) and worst on construction tasks (12 %); it beats
    Y in 7 of 10 categories." """
    measured = [b for b in bars if _finite(b.value.value)]
    if not measured:
        return f"{model}'s results by job category are {NOT_MEASURED}."
    best = max(measured, key=lambda b: b.value.value or 0.0)
    worst = min(measured, key=lambda b: b.value.value or 0.0)
    if best is worst:
        sentence = f"{model} scores {_pct(best.value.value)} on {best.category}"
    else:
        sentence = (
            f"{model} does best on {best.category} ({_pct(best.value.value)}) and worst on "
            f"{worst.category} ({_pct(worst.value.value)})"
        )
    if comparison:
        both = [b for b in measured if b.comparison is not None and _finite(b.comparison.value)]
        if both:
            wins = sum(1 for b in both if (b.value.value or 0) > (b.comparison.value or 0))
            sentence += (
                f"; it beats {comparison} in {wins} of {len(both)} categories measured for both"
            )
        else:
            sentence += f"; {comparison} is {NOT_MEASURED}"
    return sentence + "."


def national_summary(
    points: Sequence[IndexPoint], *, level: str = "50 % success", coverage: float | None = None
) -> str:
    """E.g. "In March 2026, 23 % of employment (31 % of the wage bill) was in occupations
    where the best model reaches 50 % success; tasks cover 64 % of employment."

    `coverage` is today's coverage, for when no point is measured: the index then is not
    measured because no occupation is covered, and coverage (perhaps 0 %) is still a figure."""
    measured = [p for p in points if _finite(p.employment_weighted)]
    if not measured:
        if _finite(coverage):
            covered = _pct(coverage)
            return f"The national index is {NOT_COVERED}; tasks cover {covered} of employment."
        return f"The national index is {NOT_MEASURED}."
    latest = max(measured, key=lambda p: p.when)
    sentence = f"In {_month(latest.when)}, {_pct(latest.employment_weighted)} of employment"
    if _finite(latest.wage_weighted):
        sentence += f" ({_pct(latest.wage_weighted)} of the wage bill)"
    sentence += f" was in occupations where the best model reaches {level}"
    if _finite(latest.coverage):
        sentence += f"; tasks cover {_pct(latest.coverage)} of employment"
    else:
        sentence += f"; coverage is {NOT_MEASURED}"
    return sentence + "."
