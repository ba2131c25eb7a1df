"""Template filters that write report figures the way the charts' tables write them."""

from django import template

from reports.charts import NOT_MEASURED, _duration, _duration_range, _pct, _pct_range

register = template.Library()


@register.filter
def percent(value: float | None) -> str:
    """0.62 -> "62 %"; None -> "not measured yet"."""
    return _pct(value)


@register.filter
def with_interval(interval) -> str:
    """A stats.Interval as "62 % (55-69 %)"; None -> "not measured yet"."""
    if interval is None:
        return NOT_MEASURED
    bounds = _pct_range(interval.low, interval.high)
    return f"{_pct(interval.point)} ({bounds})" if bounds else _pct(interval.point)


@register.filter
def signed_interval(interval) -> str:
    """A difference of rates as "+12 points (4 to 20)"."""
    if interval is None:
        return NOT_MEASURED

    def points(value: float) -> str:
        return f"{round(value * 100):+d}"

    return f"{points(interval.point)} points ({points(interval.low)} to {points(interval.high)})"


@register.filter
def duration(minutes: float | None) -> str:
    """Minutes as a reader would say them: "45 minutes", "1.5 hours"."""
    return _duration(minutes)


@register.filter
def duration_interval(interval) -> str:
    """A stats.Interval of minutes as "45 minutes (20 minutes - 2 hours)"."""
    if interval is None:
        return "not estimable"
    bounds = _duration_range(interval.low, interval.high)
    return f"{_duration(interval.point)} ({bounds})" if bounds else _duration(interval.point)
