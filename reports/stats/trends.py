"""Trends over model release dates: the frontier, line fits, and threshold projections.

Release dates become x = years since an epoch (days / 365.25; default epoch 2020-01-01).
Horizons are fitted as exponentials (a line in log2 minutes, so the slope is doublings per
year) and rates on the logit scale (a line in log-odds, rates first clipped to
[epsilon, 1 - epsilon], default epsilon 0.01, so that 0 % and 100 % stay finite). Both are
ordinary least squares fits; the slope's interval is the Student t interval
slope +- t(df = points - 2) * se(slope), which needs at least three points (with two it
is unbounded). A projection inverts the fitted line at a threshold and carries an interval
from Fieller's method: the dates at which the fitted mean line is not significantly
different from the threshold, which accounts for both the level and the slope of the line.
Every projection is an extrapolation and says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal, TypeVar

import numpy as np
from numpy.typing import ArrayLike

from .scores import check_level

T = TypeVar("T")

EPOCH = date(2020, 1, 1)
"""Default origin of the years axis."""

DAYS_PER_YEAR = 365.25

LOGIT_EPSILON = 0.01
"""Default clip for rates before the logit: a rate of 0 counts as 0.01, 1 as 0.99."""


def frontier(points: Sequence[tuple[date, float, T]]) -> list[tuple[date, float, T]]:
    """The best value reached by each release date: one point per model that raised it.

    `points` are (release date, value, label); models released the same day are compared
    with each other. The result is sorted by date and strictly increasing in value.
    """
    best: list[tuple[date, float, T]] = []
    for when, value, label in sorted(points, key=lambda p: (p[0], -p[1])):
        if not best or value > best[-1][1]:
            best.append((when, value, label))
    return best


def years_since(when: date, epoch: date = EPOCH) -> float:
    """Years from the epoch to a date, at 365.25 days a year."""
    return (when - epoch).days / DAYS_PER_YEAR


def logit(rate: ArrayLike, epsilon: float = LOGIT_EPSILON) -> np.ndarray:
    """log(r / (1 - r)) of rates clipped to [epsilon, 1 - epsilon]."""
    if not 0 < epsilon < 0.5:
        raise ValueError("epsilon must be between 0 and 0.5")
    clipped = np.clip(np.asarray(rate, dtype=float), epsilon, 1 - epsilon)
    return np.log(clipped / (1 - clipped))


@dataclass(frozen=True)
class TrendLine:
    """An ordinary least squares line through transformed values against years since epoch."""

    scale: Literal["log2", "logit"]
    """The transform: log2 of horizons in minutes, or the logit of clipped rates."""
    epoch: date
    """Origin of the years axis."""
    intercept: float
    """Fitted transformed value at the epoch."""
    slope: float
    """Change of the transformed value per year (doublings per year on the log2 scale)."""
    slope_low: float
    """Lower bound of the slope's t interval (-inf with fewer than three points)."""
    slope_high: float
    """Upper bound of the slope's t interval (+inf with fewer than three points)."""
    level: float
    """Nominal coverage of the intervals."""
    points: int
    """Number of points fitted."""
    residual_sd: float
    """Residual standard deviation on the transformed scale (nan with two points)."""
    mean_years: float
    """Mean of the points' years since epoch."""
    spread_years: float
    """Sum of squared deviations of the years from their mean."""
    t_quantile: float
    """Two-sided Student t quantile at `level` for points - 2 degrees of freedom (or inf)."""
    first_date: date
    last_date: date
    epsilon: float = 0.0
    """Clip applied to rates before the logit (0 on the log2 scale)."""

    def transformed_at(self, when: date) -> float:
        """Fitted value on the transformed scale at a date."""
        return self.intercept + self.slope * years_since(when, self.epoch)

    def fitted(self, when: date) -> float:
        """Fitted value at a date, back on the natural scale (minutes or rate)."""
        return self.untransform(self.transformed_at(when))

    def transform(self, value: float) -> float:
        """A natural-scale value (minutes or rate) on this line's scale."""
        if self.scale == "log2":
            if not value > 0:
                raise ValueError("a horizon threshold must be positive minutes")
            return math.log2(value)
        if not self.epsilon < value < 1 - self.epsilon:
            raise ValueError(
                f"a rate threshold must lie within ({self.epsilon}, {1 - self.epsilon})"
            )
        return float(logit(value, self.epsilon))

    def untransform(self, value: float) -> float:
        """A transformed value back on the natural scale."""
        if self.scale == "log2":
            return 2.0**value if value < 1024 else math.inf
        return 0.5 * (1.0 + math.tanh(0.5 * value))


@dataclass(frozen=True)
class HorizonTrend:
    """An exponential trend of time horizons: log2(minutes) linear in release date."""

    line: TrendLine
    """The fitted line on the log2 scale (slope = doublings per year)."""
    doublings_per_year: float
    doubling_months: float
    """12 / doublings per year; inf when the trend does not rise."""
    doubling_months_low: float
    """From the upper bound of the slope's t interval."""
    doubling_months_high: float
    """From the lower bound of the slope's t interval; inf when that bound is <= 0."""

    def fitted(self, when: date) -> float:
        """Fitted horizon in minutes at a release date."""
        return self.line.fitted(when)


@dataclass(frozen=True)
class Projection:
    """When a fitted trend reaches a threshold. Always an extrapolation of the trend."""

    threshold: float
    """The threshold on the natural scale (minutes or rate)."""
    when: date | None
    """Date the fitted line reaches the threshold; None when it never does (flat or
    declining and not yet there) or not before the year 10000."""
    low: date | None
    """Earliest date in the interval; None when the interval is unbounded below."""
    high: date | None
    """Latest date in the interval; None when it is unbounded above (or never)."""
    level: float
    already_crossed: bool
    """The fitted line is at or above the threshold on `as_of` (default: the last point)."""
    never_crossed: bool
    """The fitted line is flat or declining and below the threshold: no crossing ahead."""
    extrapolation: Literal[True] = field(default=True, init=False)
    """Always True: a projection extends a fitted trend beyond its data."""


def fit_horizon_trend(
    release_dates: Sequence[date],
    horizon_minutes: ArrayLike,
    *,
    epoch: date = EPOCH,
    level: float = 0.95,
) -> HorizonTrend:
    """Exponential fit of horizons (minutes) against release dates, by OLS on log2(minutes).

    Returns doublings per year, the doubling time in months and its interval, which maps
    the t interval of the slope through 12 / slope.
    """
    minutes = np.asarray(horizon_minutes, dtype=float).ravel()
    bad = np.flatnonzero(~(np.isfinite(minutes) & (minutes > 0)))
    if bad.size:
        raise ValueError(
            f"point {int(bad[0])}: a horizon must be positive and finite, got {minutes[bad[0]]}"
        )
    line = _fit_line(release_dates, np.log2(minutes), "log2", epoch, level, 0.0)
    return HorizonTrend(
        line=line,
        doublings_per_year=line.slope,
        doubling_months=_doubling_months(line.slope),
        doubling_months_low=_doubling_months(line.slope_high),
        doubling_months_high=_doubling_months(line.slope_low),
    )


def fit_logit_trend(
    release_dates: Sequence[date],
    rates: ArrayLike,
    *,
    epoch: date = EPOCH,
    level: float = 0.95,
    epsilon: float = LOGIT_EPSILON,
) -> TrendLine:
    """Fit of success rates (or clipped mean scores) on the logit scale against release date.

    Rates are clipped to [epsilon, 1 - epsilon] and fitted by OLS of logit(rate) on years;
    the slope is in log-odds per year, with its t interval.
    """
    values = np.asarray(rates, dtype=float).ravel()
    if not (np.isfinite(values) & (values >= 0) & (values <= 1)).all():
        raise ValueError("rates must lie in [0, 1]")
    return _fit_line(release_dates, logit(values, epsilon), "logit", epoch, level, epsilon)


def project_crossing(line: TrendLine, threshold: float, *, as_of: date | None = None) -> Projection:
    """Date at which a rising fitted line reaches a threshold, with Fieller's interval.

    `threshold` is on the natural scale: minutes for a horizon trend (480 = a working day),
    a rate for a logit trend. Flat or declining lines give no date: `already_crossed` says
    whether the line is at or above the threshold on `as_of` (default: the last point's
    date), `never_crossed` whether it is below and will stay there.
    """
    target = line.transform(threshold)
    as_of = as_of or line.last_date
    already = line.transformed_at(as_of) >= target
    if line.slope <= 0:
        return Projection(threshold, None, None, None, line.level, already, not already)
    years = (target - line.intercept) / line.slope
    low, high = _fieller(line, target)
    return Projection(
        threshold=threshold,
        when=_date_at(line.epoch, years),
        low=None if low is None else _date_at(line.epoch, low),
        high=None if high is None else _date_at(line.epoch, high),
        level=line.level,
        already_crossed=already,
        never_crossed=False,
    )


def student_t_quantile(probability: float, df: int) -> float:
    """Quantile of Student's t distribution, by bisection on its CDF (incomplete beta)."""
    if not 0 < probability < 1:
        raise ValueError("probability must be between 0 and 1")
    if df < 1:
        raise ValueError("need at least one degree of freedom")
    if probability < 0.5:
        return -student_t_quantile(1 - probability, df)
    low, high = 0.0, 1.0
    while _student_t_cdf(high, df) < probability:
        low, high = high, high * 2
    for _ in range(200):
        middle = (low + high) / 2
        if _student_t_cdf(middle, df) < probability:
            low = middle
        else:
            high = middle
        if high - low <= 1e-12 * high:
            break
    return (low + high) / 2


def _fit_line(
    release_dates: Sequence[date],
    values: np.ndarray,
    scale: Literal["log2", "logit"],
    epoch: date,
    level: float,
    epsilon: float,
) -> TrendLine:
    check_level(level)
    if len(release_dates) != values.size:
        raise ValueError(f"{len(release_dates)} release dates but {values.size} values")
    if values.size < 2:
        raise ValueError("a trend needs at least two points")
    x = np.array([years_since(when, epoch) for when in release_dates])
    mean_x, mean_y = x.mean(), values.mean()
    spread = float(((x - mean_x) ** 2).sum())
    if spread == 0:
        raise ValueError("all release dates are the same: no trend to fit")
    slope = float(((x - mean_x) * (values - mean_y)).sum() / spread)
    intercept = float(mean_y - slope * mean_x)
    df = values.size - 2
    if df > 0:
        residual_sd = math.sqrt(float(((values - intercept - slope * x) ** 2).sum()) / df)
        t = student_t_quantile(0.5 + level / 2, df)
        half = t * residual_sd / math.sqrt(spread)
    else:
        residual_sd, t, half = math.nan, math.inf, math.inf
    return TrendLine(
        scale=scale,
        epoch=epoch,
        intercept=intercept,
        slope=slope,
        slope_low=slope - half,
        slope_high=slope + half,
        level=level,
        points=int(values.size),
        residual_sd=residual_sd,
        mean_years=float(mean_x),
        spread_years=spread,
        t_quantile=t,
        first_date=min(release_dates),
        last_date=max(release_dates),
        epsilon=epsilon,
    )


def _fieller(line: TrendLine, target: float) -> tuple[float | None, float | None]:
    """Years u at which |fitted(u) - target| <= t * se(fitted(u)); None where unbounded.

    Solves (level + slope * d - target)^2 <= q^2 (1/n + d^2 / Sxx) for d = u - mean years,
    with q = t * residual sd. The set is a bounded interval only when the slope differs
    significantly from zero (slope^2 > q^2 / Sxx); otherwise it reaches to infinity.
    """
    if not math.isfinite(line.t_quantile):
        return None, None
    q2 = (line.t_quantile * line.residual_sd) ** 2
    gap = line.intercept + line.slope * line.mean_years - target
    a = line.slope**2 - q2 / line.spread_years
    if a <= 0:
        return None, None
    b = line.slope * gap
    c = gap**2 - q2 / line.points
    root = math.sqrt(max(b * b - a * c, 0.0))
    return line.mean_years + (-b - root) / a, line.mean_years + (-b + root) / a


def _doubling_months(doublings_per_year: float) -> float:
    return 12.0 / doublings_per_year if doublings_per_year > 0 else math.inf


def _date_at(epoch: date, years: float) -> date | None:
    try:
        return epoch + timedelta(days=round(years * DAYS_PER_YEAR))
    except (OverflowError, ValueError):
        return None


def _student_t_cdf(t: float, df: int) -> float:
    # For t >= 0: 1 - I_x(df / 2, 1 / 2) / 2 with x = df / (df + t^2).
    return 1.0 - 0.5 * _incomplete_beta(df / 2, 0.5, df / (df + t * t))


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b) by its continued fraction (Lentz's method)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    # The continued fraction converges fast only below the mean; use the symmetry above it.
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 500):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return result
