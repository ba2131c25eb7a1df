"""Statistics for trend reports: pure functions on plain numbers, no database.

Conventions: rubric scores of single samples may fall outside [0, 1] (negative criteria);
every aggregate is a mean clipped to [0, 1] after averaging, as in HealthBench.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def clip_unit(value: float) -> float:
    """Clip to [0, 1]."""
    return min(1.0, max(0.0, value))


def clipped_mean(scores: Sequence[float]) -> float:
    """Mean of sample scores, clipped to [0, 1]; raises on an empty sequence."""
    if not scores:
        raise ValueError("no scores to average")
    return clip_unit(float(np.mean(scores)))


def bootstrap_ci(
    task_means: Sequence[float],
    *,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval for the clipped mean over tasks, resampling tasks.

    Each task counts once (its mean over attempts), so a task attempted more often does
    not weigh more. With a single task the interval is that task's (clipped) mean.
    """
    values = np.asarray(task_means, dtype=float)
    if values.size == 0:
        raise ValueError("no tasks to resample")
    if not 0 < level < 1:
        raise ValueError("level must be between 0 and 1")
    if values.size == 1:
        point = clip_unit(float(values[0]))
        return point, point
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, values.size, size=(resamples, values.size))
    means = np.clip(values[picks].mean(axis=1), 0.0, 1.0)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of the chance that at least one of k attempts succeeds.

    n attempts were made and c of them succeeded: 1 - C(n-c, k) / C(n, k).
    """
    _check_counts(n, c, k)
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of the chance that all k attempts succeed: C(c, k) / C(n, k)."""
    _check_counts(n, c, k)
    return math.comb(c, k) / math.comb(n, k)


def _check_counts(n: int, c: int, k: int) -> None:
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")


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
