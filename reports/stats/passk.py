"""pass@k and pass^k: per task, averaged over tasks, and the reliability gap between them.

pass@k is the chance that at least one of k attempts succeeds, pass^k the chance that all
k succeed. Both are estimated without bias from n attempts with c successes by drawing the
k attempts without replacement from the n made: pass@k = 1 - C(n-c, k) / C(n, k) and
pass^k = C(c, k) / C(n, k). Averaged over tasks, each task counts once whatever its n.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .scores import Interval, check_level, percentile_interval


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of the chance that at least one of k attempts succeeds.

    n attempts were made and c of them succeeded: 1 - C(n-c, k) / C(n, k).
    """
    _check_counts(n, c, k)
    return float(task_pass_at_k([n], [c], k)[0])


def pass_hat_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of the chance that all k attempts succeed: C(c, k) / C(n, k)."""
    _check_counts(n, c, k)
    return float(task_pass_hat_k([n], [c], k)[0])


def task_pass_at_k(attempts: ArrayLike, successes: ArrayLike, k: int) -> np.ndarray:
    """pass@k of every task, from its attempts n and successes c (arrays of equal length).

    Computed as 1 - prod_{i<k} (n-c-i) / (n-i), which equals 1 - C(n-c, k) / C(n, k)
    without forming huge binomial coefficients. Every task needs k <= n.
    """
    n, c = _task_counts(attempts, successes, k)
    return 1.0 - _falling_ratio(n - c, n, k)


def task_pass_hat_k(attempts: ArrayLike, successes: ArrayLike, k: int) -> np.ndarray:
    """pass^k of every task: prod_{i<k} (c-i) / (n-i) = C(c, k) / C(n, k); needs k <= n."""
    n, c = _task_counts(attempts, successes, k)
    return _falling_ratio(c, n, k)


def mean_pass_at_k(attempts: ArrayLike, successes: ArrayLike, k: int) -> float:
    """pass@k averaged over tasks, each task with its own n and c and counting once."""
    return float(task_pass_at_k(attempts, successes, k).mean())


def mean_pass_hat_k(attempts: ArrayLike, successes: ArrayLike, k: int) -> float:
    """pass^k averaged over tasks, each task with its own n and c and counting once."""
    return float(task_pass_hat_k(attempts, successes, k).mean())


@dataclass(frozen=True)
class ReliabilityGap:
    """One model's success with one try, with k tries, and on all of k tries."""

    k: int
    """Number of tries compared with one."""
    pass_at_1: Interval
    """Mean success rate over tasks (pass@1)."""
    pass_at_k: Interval
    """Mean chance over tasks that at least one of k tries succeeds."""
    pass_hat_k: Interval
    """Mean chance over tasks that all k tries succeed."""
    tasks: int
    """Number of tasks averaged."""


def reliability_gap(
    attempts: ArrayLike,
    successes: ArrayLike,
    k: int,
    *,
    level: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> ReliabilityGap:
    """pass@1, pass@k and pass^k averaged over tasks, with bootstrap intervals over tasks.

    The three bootstraps share their resampled task sets, so the intervals describe the
    same resamples. Only tasks are resampled: the per-task estimates are already unbiased
    for each task's attempts, and pass@k and pass^k have no simple attempt-level resample.
    """
    check_level(level)
    per_task = np.stack(
        [
            task_pass_at_k(attempts, successes, 1),
            task_pass_at_k(attempts, successes, k),
            task_pass_hat_k(attempts, successes, k),
        ]
    )
    tasks = per_task.shape[1]
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, tasks, size=(resamples, tasks))
    intervals = []
    for values in per_task:
        low, high = percentile_interval(values[picks].mean(axis=1), level)
        intervals.append(Interval(float(values.mean()), low, high, level))
    return ReliabilityGap(k, *intervals, tasks=tasks)


def _falling_ratio(top: np.ndarray, bottom: np.ndarray, k: int) -> np.ndarray:
    """prod_{i<k} (top-i) / (bottom-i), with a factor of 0 once top-i goes below 0."""
    steps = np.arange(k)[:, None]
    return np.prod(np.clip(top - steps, 0, None) / (bottom - steps), axis=0)


def _task_counts(attempts: ArrayLike, successes: ArrayLike, k: int) -> tuple[np.ndarray, ...]:
    n = np.asarray(attempts, dtype=np.int64).ravel()
    c = np.asarray(successes, dtype=np.int64).ravel()
    if n.size == 0:
        raise ValueError("no tasks to average")
    if n.shape != c.shape:
        raise ValueError(f"{n.size} attempt counts but {c.size} success counts")
    if k < 1:
        raise ValueError(f"need k >= 1, got k={k}")
    bad = np.flatnonzero((c < 0) | (c > n) | (n < k))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"task {i}: need 0 <= c <= n and k <= n, got n={n[i]}, c={c[i]}, k={k}")
    return n, c


def _check_counts(n: int, c: int, k: int) -> None:
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")
