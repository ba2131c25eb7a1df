"""Rubric score aggregates and bootstrap intervals over tasks, and over tasks then attempts.

Conventions: rubric scores of single samples may fall outside [0, 1] (negative criteria);
every aggregate is a mean clipped to [0, 1] after averaging, as in HealthBench. Each task
counts once: its attempts are averaged first, so a task attempted more often does not weigh
more. Intervals are bootstrap percentile intervals with a fixed seed, so a report shows the
same figures every time it is built.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

# A resampling chunk draws at most this many attempts at once, which bounds memory (~32 MiB).
_CHUNK_DRAWS = 1 << 22


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval."""

    point: float
    """The statistic on the data as observed."""
    low: float
    """Lower bound of the interval."""
    high: float
    """Upper bound of the interval."""
    level: float
    """Nominal coverage of the interval, e.g. 0.95."""


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
    check_level(level)
    if values.size == 1:
        point = clip_unit(float(values[0]))
        return point, point
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, values.size, size=(resamples, values.size))
    means = np.clip(values[picks].mean(axis=1), 0.0, 1.0)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def hierarchical_bootstrap_ci(
    attempts_by_task: Sequence[ArrayLike],
    *,
    level: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> Interval:
    """Two-level bootstrap interval for the clipped mean score (or the success rate).

    `attempts_by_task` holds one array per task: its attempts' rubric scores, or 0/1
    successes (then the statistic is the success rate and clipping never bites). The point
    estimate is the clipped mean over tasks of each task's mean over its attempts. Every
    resample draws tasks with replacement, then, for every drawn task, as many attempts as
    it has, with replacement, from that task's own attempts; the interval is the percentile
    interval of the resampled clipped means. Resampling attempts as well as tasks widens the
    interval by the attempt-to-attempt noise that a task-only bootstrap ignores.
    """
    data = AttemptTable.of(attempts_by_task)
    check_level(level)
    rng = np.random.default_rng(seed)
    resampled = np.concatenate([means.mean(axis=1) for _, means in data.resample(resamples, rng)])
    low, high = percentile_interval(np.clip(resampled, 0.0, 1.0), level)
    return Interval(clip_unit(float(data.task_means.mean())), low, high, level)


@dataclass(frozen=True)
class AttemptTable:
    """Attempts of many tasks in one flat array, task after task (a ragged table)."""

    values: np.ndarray
    """Every attempt's score or 0/1 success."""
    starts: np.ndarray
    """Index in `values` of each task's first attempt."""
    counts: np.ndarray
    """Number of attempts of each task."""
    task_means: np.ndarray
    """Each task's mean over its attempts."""
    binary: bool
    """Whether every attempt is 0 or 1."""

    @classmethod
    def of(cls, attempts_by_task: Sequence[ArrayLike]) -> AttemptTable:
        """Validate and flatten one array of attempts per task."""
        rows = [np.asarray(attempts, dtype=float).ravel() for attempts in attempts_by_task]
        if not rows:
            raise ValueError("no tasks to resample")
        counts = np.array([row.size for row in rows], dtype=np.intp)
        if (counts == 0).any():
            raise ValueError(f"task {int(np.argmin(counts))} has no attempts")
        values = np.concatenate(rows)
        if not np.isfinite(values).all():
            raise ValueError("attempt scores must be finite numbers")
        starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.intp)
        return cls(
            values=values,
            starts=starts,
            counts=counts,
            task_means=np.add.reduceat(values, starts) / counts,
            binary=bool(np.isin(values, (0.0, 1.0)).all()),
        )

    def resample(
        self, resamples: int, rng: np.random.Generator
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (drawn tasks, their resampled attempt means), each (chunk, tasks).

        Stage one draws tasks with replacement; stage two draws, for every drawn task, as
        many attempts as it has, with replacement, from its own attempts. For 0/1 outcomes
        stage two draws the success count from its binomial distribution instead, which is
        the same distribution at one uniform draw per task rather than one per attempt.
        """
        if resamples < 1:
            raise ValueError("need at least one resample")
        tasks = self.counts.size
        widest = int(self.counts.max())
        per_chunk = max(1, _CHUNK_DRAWS // (tasks * (1 if self.binary else widest)))
        if self.binary:
            cdf_keys, task_class, class_start = self._binomial_tables()
        done = 0
        while done < resamples:
            size = min(per_chunk, resamples - done)
            picks = rng.integers(0, tasks, size=(size, tasks))
            counts = self.counts[picks]
            if self.binary:
                # Inverse CDF: class k's CDF values sit shifted by 2k in one sorted array.
                keys = rng.random(picks.shape) + 2.0 * task_class[picks]
                drawn = (
                    np.searchsorted(cdf_keys, keys, side="right") - class_start[task_class[picks]]
                )
                means = drawn / counts
            else:
                means = self._redrawn_means(picks, counts, widest, rng)
            yield picks, means
            done += size

    def _binomial_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CDFs of Binomial(n, c / n) for every distinct (n, c) among the tasks.

        Returns the CDFs at 0 .. n - 1 of class k, each shifted by 2k and concatenated (so the
        whole array is sorted), each task's class, and where each class starts in the array.
        """
        successes = np.rint(self.task_means * self.counts).astype(np.intp)
        pairs, task_class = np.unique(
            np.stack([self.counts, successes], axis=1), axis=0, return_inverse=True
        )
        keys, starts, offset = [], [], 0
        for k, (n, c) in enumerate(pairs):
            keys.append(_binomial_cdf(int(n), int(c) / n) + 2.0 * k)
            starts.append(offset)
            offset += n
        return np.concatenate(keys), task_class.ravel(), np.array(starts, dtype=np.intp)

    def _redrawn_means(
        self, picks: np.ndarray, counts: np.ndarray, widest: int, rng: np.random.Generator
    ) -> np.ndarray:
        # Pad every drawn task to the widest task; slots past a task's own count are zeroed.
        room = counts[..., None]
        offsets = (rng.random((*picks.shape, widest)) * room).astype(np.intp)
        np.minimum(offsets, room - 1, out=offsets)
        drawn = self.values[self.starts[picks][..., None] + offsets]
        if (self.counts == widest).all():
            return drawn.mean(axis=-1)
        drawn[np.arange(widest) >= room] = 0.0
        return drawn.sum(axis=-1) / counts


def _binomial_cdf(n: int, share: float) -> np.ndarray:
    """P(X <= j) for j = 0 .. n - 1 with X ~ Binomial(n, share), from log-probabilities."""
    if share <= 0:
        return np.ones(n)
    if share >= 1:
        return np.zeros(n)
    j = np.arange(n + 1)
    log_pmf = (
        math.lgamma(n + 1)
        - np.array([math.lgamma(i + 1) + math.lgamma(n - i + 1) for i in j])
        + j * math.log(share)
        + (n - j) * math.log1p(-share)
    )
    return np.minimum(np.cumsum(np.exp(log_pmf))[:-1], 1.0)


def check_level(level: float) -> None:
    """Raise unless 0 < level < 1."""
    if not 0 < level < 1:
        raise ValueError("level must be between 0 and 1")


def percentile_interval(samples: np.ndarray, level: float) -> tuple[float, float]:
    """Equal-tailed percentile interval of bootstrap statistics.

    Linear interpolation between order statistics, as in `bootstrap_ci`; where a statistic
    can be infinite (a time horizon) the bounds are the enclosing order statistics instead,
    since interpolating towards infinity is meaningless.
    """
    tail = (1 - level) / 2
    if np.isfinite(samples).all():
        low, high = np.quantile(samples, [tail, 1 - tail])
    else:
        low = np.quantile(samples, tail, method="lower")
        high = np.quantile(samples, 1 - tail, method="higher")
    return float(low), float(high)
