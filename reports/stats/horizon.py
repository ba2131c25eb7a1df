"""Time horizons (METR): how long a task, in human minutes, a model succeeds at with p = 50 %.

Per model, success is regressed on x = log2(human minutes) with a logistic curve
P(success) = 1 / (1 + exp(-(intercept + slope * x))). Every task counts once: an attempt
weighs 1 / (attempts of its task). That weighted attempt-level likelihood equals, term for
term, the likelihood of each task's success share s as one fractional outcome,
s log p + (1 - s) log(1 - p), which is what the fit uses, so duplicating a task's attempts
changes nothing.

Separation: when short tasks all succeed and long ones all fail, the unpenalised maximum
likelihood slope runs off to minus infinity. The fit therefore maximises the likelihood
minus ridge / 2 * (a^2 + slope^2), where a is the log-odds at the tasks' mean log-length;
with the default ridge of 0.01 (against one unit of weight per task) the effect on
ordinary data is negligible, while separated data give a steep but finite curve whose 50 %
point lies in the gap between the successes and the failures. Penalising a (rather than the
intercept at one minute) keeps all-success and all-failure data finite as well.

Horizons: the p-horizon is the longest task length at which the fitted success
probability is still at least p. With a negative slope (longer tasks are harder, the
sensible case) that is where the curve crosses p: 2 ** ((logit(p) - intercept) / slope).
With a positive slope the curve never falls below p for long tasks, so the horizon is
infinite; with a flat curve (|slope| <= 1e-9, as all-success or all-failure data give) it
is infinite when the flat probability is at least p and 0 otherwise. `decreasing` flags
the sensible case; an infinite horizon is a flag, not a measurement.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .scores import AttemptTable, Interval, check_level, percentile_interval

RIDGE = 0.01
"""Default ridge penalty on the centred log-odds and the slope (see the module docstring)."""

FLAT_SLOPE = 1e-9
"""Slopes no steeper than this, either way, count as flat."""

_MAX_ITERATIONS = 100
_TOLERANCE = 1e-10


@dataclass(frozen=True)
class HorizonFit:
    """One model's logistic curve of success against log2(human minutes)."""

    intercept: float
    """Log-odds of success on a one-minute task (log2 of one minute is 0)."""
    slope: float
    """Change in log-odds per doubling of task length; negative when longer is harder."""
    p50_minutes: float
    """Task length at which the fitted success probability is 50 %; see `horizon`."""
    p80_minutes: float
    """Task length at which the fitted success probability is 80 %; see `horizon`."""
    decreasing: bool
    """Whether the slope is negative, so the horizons are crossings of the curve."""
    converged: bool
    """Whether Newton's method met its tolerance within its iteration limit."""
    tasks: int
    """Number of tasks fitted."""

    def success_probability(self, minutes: float) -> float:
        """Fitted chance of success on a task of this many human minutes."""
        return float(_sigmoid(self.intercept + self.slope * math.log2(minutes)))

    def horizon(self, p: float) -> float:
        """Longest task length, in minutes, with a fitted success probability of at least p."""
        return float(horizon_minutes(np.array(self.intercept), np.array(self.slope), p))


@dataclass(frozen=True)
class HorizonEstimate:
    """A horizon fit with bootstrap intervals (tasks resampled, then attempts)."""

    fit: HorizonFit
    """The fit to the data as observed."""
    intercept: Interval
    slope: Interval
    p50_minutes: Interval
    p80_minutes: Interval
    resamples: int
    """Number of bootstrap resamples."""
    unbounded_share: float
    """Share of resamples whose p50 horizon is infinite (a flat or rising curve)."""


def fit_time_horizon(
    minutes: ArrayLike, attempts_by_task: Sequence[ArrayLike], *, ridge: float = RIDGE
) -> HorizonFit:
    """Fit the logistic curve of success on log2(human minutes), each task counting once.

    `minutes` holds each task's estimated human minutes; `attempts_by_task` one array per
    task of 0/1 successes (or a single success share in [0, 1]). Fitted by Newton's method
    (iteratively reweighted least squares) with a backtracking step and a small ridge
    against separation; see the module docstring for the conventions.
    """
    x, data = _inputs(minutes, attempts_by_task)
    intercept, slope, converged = fit_logistic(x[None, :], data.task_means[None, :], ridge)
    return _fit(intercept[0], slope[0], bool(converged[0]), x.size)


def bootstrap_time_horizon(
    minutes: ArrayLike,
    attempts_by_task: Sequence[ArrayLike],
    *,
    level: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
    ridge: float = RIDGE,
) -> HorizonEstimate:
    """`fit_time_horizon` with percentile intervals from a two-level bootstrap.

    Each resample draws tasks with replacement, then each drawn task's attempts with
    replacement, and refits; all resamples are fitted at once, vectorised. Horizon bounds
    are order statistics, so resamples with an infinite horizon are counted, not dropped.
    """
    check_level(level)
    fit = fit_time_horizon(minutes, attempts_by_task, ridge=ridge)
    x, data = _inputs(minutes, attempts_by_task)
    rng = np.random.default_rng(seed)
    # Start every resample from the observed fit: they lie close to it.
    start = (fit.intercept, fit.slope)
    chunks = [
        fit_logistic(x[picks], shares, ridge, start)[:2]
        for picks, shares in data.resample(resamples, rng)
    ]
    intercepts = np.concatenate([c[0] for c in chunks])
    slopes = np.concatenate([c[1] for c in chunks])
    p50 = horizon_minutes(intercepts, slopes, 0.5)
    p80 = horizon_minutes(intercepts, slopes, 0.8)

    def interval(point: float, samples: np.ndarray) -> Interval:
        return Interval(point, *percentile_interval(samples, level), level)

    return HorizonEstimate(
        fit=fit,
        intercept=interval(fit.intercept, intercepts),
        slope=interval(fit.slope, slopes),
        p50_minutes=interval(fit.p50_minutes, p50),
        p80_minutes=interval(fit.p80_minutes, p80),
        resamples=resamples,
        unbounded_share=float(np.isinf(p50).mean()),
    )


def horizon_minutes(intercept: np.ndarray, slope: np.ndarray, p: float) -> np.ndarray:
    """p-horizons in minutes for arrays of fitted curves (conventions in the module docstring)."""
    if not 0 < p < 1:
        raise ValueError("p must be between 0 and 1")
    target = math.log(p / (1 - p))
    falling = slope < -FLAT_SLOPE
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        crossing = np.exp2((target - intercept) / np.where(falling, slope, -1.0))
    flat = np.where(intercept >= target, np.inf, 0.0)
    return np.where(falling, crossing, np.where(slope > FLAT_SLOPE, np.inf, flat))


def fit_logistic(
    x: np.ndarray,
    shares: np.ndarray,
    ridge: float,
    start: tuple[float, float] = (0.0, 0.0),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Penalised logistic fits of shares on x, one per row; returns intercepts, slopes, converged.

    Rows are independent problems with unit weight per column. Each row maximises
    sum(s log p + (1 - s) log(1 - p)) - ridge / 2 * (a^2 + b^2), where
    p = sigmoid(a + b (x - mean x)), by Newton's method from `start` (an intercept at x = 0
    and a slope). A step that moves the log-odds by more than half a unit somewhere typical
    is halved until the objective does not rise; smaller steps are inside the region where
    Newton's method converges quadratically and are taken as they are.
    """
    if ridge <= 0:
        raise ValueError("ridge must be positive: it is the guard against separation")
    x = np.broadcast_to(x, shares.shape)
    centre = x.mean(axis=1)
    xc = x - centre[:, None]
    typical = np.sqrt((xc * xc).mean(axis=1))
    coef = np.empty((shares.shape[0], 2))
    coef[:, 0] = start[0] + start[1] * centre
    coef[:, 1] = start[1]
    active = np.arange(shares.shape[0])
    for _ in range(_MAX_ITERATIONS):
        if active.size == 0:
            break
        xa, sa = xc[active], shares[active]
        a, b = coef[active, 0], coef[active, 1]
        p = _sigmoid(a[:, None] + b[:, None] * xa)
        residual = sa - p
        grad_a = residual.sum(axis=1) - ridge * a
        grad_b = (residual * xa).sum(axis=1) - ridge * b
        v = p * (1 - p)
        vx = v * xa
        h_aa = v.sum(axis=1) + ridge
        h_ab = vx.sum(axis=1)
        h_bb = (vx * xa).sum(axis=1) + ridge
        det = h_aa * h_bb - h_ab * h_ab
        step = np.stack(
            [(h_bb * grad_a - h_ab * grad_b) / det, (h_aa * grad_b - h_ab * grad_a) / det], axis=1
        )
        long = np.flatnonzero(
            np.maximum(np.abs(step[:, 0]), np.abs(step[:, 1]) * typical[active]) > 0.5
        )
        if long.size:
            scale = _backtrack(coef[active[long]], step[long], xa[long], sa[long], ridge)
            step[long] *= scale[:, None]
        coef[active] += step
        moved = np.abs(step).max(axis=1)
        active = active[moved > _TOLERANCE * (1 + np.abs(coef[active]).max(axis=1))]
    converged = np.ones(shares.shape[0], dtype=bool)
    converged[active] = False
    return coef[:, 0] - coef[:, 1] * centre, coef[:, 1], converged


def _backtrack(
    coef: np.ndarray, step: np.ndarray, xc: np.ndarray, shares: np.ndarray, ridge: float
) -> np.ndarray:
    """Per row, the largest of 1, 1/2, 1/4 ... at which the step does not raise the objective."""
    current = _objective(coef, xc, shares, ridge)
    scale = np.ones(coef.shape[0])
    for _ in range(50):
        trial = _objective(coef + scale[:, None] * step, xc, shares, ridge)
        worse = trial > current + 1e-12 * np.abs(current)
        if not worse.any():
            break
        scale[worse] /= 2
    return scale


def _objective(coef: np.ndarray, xc: np.ndarray, shares: np.ndarray, ridge: float) -> np.ndarray:
    # Negative penalised log-likelihood; logaddexp(0, z) is log(1 + e^z) without overflow.
    z = coef[:, :1] + coef[:, 1:] * xc
    return (np.logaddexp(0.0, z) - shares * z).sum(axis=1) + ridge / 2 * (coef * coef).sum(axis=1)


def _sigmoid(z):
    # The tanh form never overflows, unlike 1 / (1 + exp(-z)) for very negative z.
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _fit(intercept: float, slope: float, converged: bool, tasks: int) -> HorizonFit:
    a, b = np.array(intercept), np.array(slope)
    return HorizonFit(
        intercept=float(intercept),
        slope=float(slope),
        p50_minutes=float(horizon_minutes(a, b, 0.5)),
        p80_minutes=float(horizon_minutes(a, b, 0.8)),
        decreasing=bool(slope < -FLAT_SLOPE),
        converged=converged,
        tasks=tasks,
    )


def _inputs(
    minutes: ArrayLike, attempts_by_task: Sequence[ArrayLike]
) -> tuple[np.ndarray, AttemptTable]:
    lengths = np.asarray(minutes, dtype=float).ravel()
    data = AttemptTable.of(attempts_by_task)
    if lengths.size != data.counts.size:
        raise ValueError(f"{lengths.size} task lengths but {data.counts.size} tasks of attempts")
    bad = np.flatnonzero(~(np.isfinite(lengths) & (lengths > 0)))
    if bad.size:
        raise ValueError(
            f"task {int(bad[0])}: human minutes must be positive, got {lengths[bad[0]]}"
        )
    if ((data.values < 0) | (data.values > 1)).any():
        raise ValueError("successes must be 0/1 or shares in [0, 1]")
    return np.log2(lengths), data
