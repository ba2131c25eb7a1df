"""Server-rendered SVG charts: no JavaScript, no CDN, and a data table beside each one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from html import escape

from django.utils.safestring import SafeString, mark_safe


@dataclass(frozen=True)
class TrendPoint:
    when: date
    value: float
    low: float
    high: float
    label: str
    on_frontier: bool


def _quarter_starts(start: date, end: date) -> list[date]:
    ticks = []
    year, month = start.year, ((start.month - 1) // 3) * 3 + 1
    while date(year, month, 1) <= end:
        if date(year, month, 1) >= start:
            ticks.append(date(year, month, 1))
        month += 3
        if month > 12:
            year, month = year + 1, 1
    return ticks


def _point_label(label: str, cx: float, cy: float, *, right_edge: float) -> str:
    # Labels of points near the right edge go to their left, so they are not cut off.
    room_right = right_edge - cx > len(label) * 6.2
    x, anchor = (cx + 8, "start") if room_right else (cx - 8, "end")
    return (
        f'<text class="point-label" x="{x:.1f}" y="{cy - 8:.1f}" text-anchor="{anchor}">'
        f"{escape(label)}</text>"
    )


def trend_chart(
    points: Sequence[TrendPoint], *, title: str, width: int = 720, height: int = 340
) -> SafeString:
    """Score (0-100 %) by release date: each model with its interval; the frontier as steps."""
    left, right, top, bottom = 56, 24, 20, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    if points:
        first = min(p.when for p in points) - timedelta(days=60)
        last = max(p.when for p in points) + timedelta(days=60)
    else:
        first, last = date.today() - timedelta(days=365), date.today()
    span = max((last - first).days, 1)

    def x(when: date) -> float:
        return left + plot_w * (when - first).days / span

    def y(value: float) -> float:
        return top + plot_h * (1 - value)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'class="chart" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        parts.append(
            f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{y(tick):.1f}" '
            f'y2="{y(tick):.1f}"/>'
            f'<text class="tick" x="{left - 8}" y="{y(tick) + 4:.1f}" text-anchor="end">'
            f"{tick:.0%}</text>"
        )
    for index, tick in enumerate(_quarter_starts(first, last)):
        quarter = f"Q{(tick.month - 1) // 3 + 1}"
        if tick.month == 1:
            label = str(tick.year)
        else:
            label = f"{quarter} {tick.year}" if index == 0 else quarter
        parts.append(
            f'<line class="axis" x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top + plot_h}" '
            f'y2="{top + plot_h + 5}"/>'
            f'<text class="tick" x="{x(tick):.1f}" y="{top + plot_h + 20}" '
            f'text-anchor="middle">{label}</text>'
        )
    parts.append(
        f'<text class="axis-label" x="{left + plot_w / 2:.1f}" y="{height - 4}" '
        f'text-anchor="middle">Model release date</text>'
    )
    frontier = sorted((p for p in points if p.on_frontier), key=lambda p: p.when)
    if frontier:
        path = []
        for index, point in enumerate(frontier):
            if index:
                path.append(f"L{x(point.when):.1f},{y(frontier[index - 1].value):.1f}")
            path.append(f"{'M' if index == 0 else 'L'}{x(point.when):.1f},{y(point.value):.1f}")
        path.append(f"L{left + plot_w:.1f},{y(frontier[-1].value):.1f}")
        parts.append(f'<path class="frontier" d="{" ".join(path)}"/>')
    for point in points:
        cx, cy = x(point.when), y(point.value)
        css = "point frontier-point" if point.on_frontier else "point"
        parts.append(
            f'<line class="whisker" x1="{cx:.1f}" x2="{cx:.1f}" y1="{y(point.low):.1f}" '
            f'y2="{y(point.high):.1f}"/>'
            f'<circle class="{css}" cx="{cx:.1f}" cy="{cy:.1f}" r="5">'
            f"<title>{escape(point.label)}: {point.value:.0%} "
            f"({point.low:.0%}-{point.high:.0%})</title></circle>"
            + _point_label(point.label, cx, cy, right_edge=left + plot_w)
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))
