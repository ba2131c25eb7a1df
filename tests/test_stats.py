import itertools
import math
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reports import stats


def enumerate_pass_at_k(n: int, c: int, k: int) -> float:
    """Share of all k-subsets of n attempts (c successes) that hold a success."""
    attempts = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(attempts[i] for i in subset) for subset in subsets) / len(subsets)


def enumerate_pass_hat_k(n: int, c: int, k: int) -> float:
    attempts = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(all(attempts[i] for i in subset) for subset in subsets) / len(subsets)


@pytest.mark.parametrize("n", range(1, 8))
def test_pass_at_k_matches_direct_enumeration(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert stats.pass_at_k(n, c, k) == pytest.approx(enumerate_pass_at_k(n, c, k))
            assert stats.pass_hat_k(n, c, k) == pytest.approx(enumerate_pass_hat_k(n, c, k))


def test_pass_at_1_is_the_success_rate():
    assert stats.pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert stats.pass_hat_k(10, 3, 1) == pytest.approx(0.3)


def test_pass_at_k_rejects_impossible_counts():
    with pytest.raises(ValueError):
        stats.pass_at_k(3, 4, 1)
    with pytest.raises(ValueError):
        stats.pass_at_k(3, 1, 4)


counts = st.integers(1, 30).flatmap(
    lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))
)


@given(counts)
def test_pass_at_k_grows_with_k_and_pass_hat_k_shrinks(nck):
    n, c, k = nck
    if k < n:
        assert stats.pass_at_k(n, c, k + 1) >= stats.pass_at_k(n, c, k) - 1e-12
        assert stats.pass_hat_k(n, c, k + 1) <= stats.pass_hat_k(n, c, k) + 1e-12
    assert stats.pass_hat_k(n, c, k) <= stats.pass_at_k(n, c, k) + 1e-12


@given(counts)
def test_pass_at_k_grows_with_successes(nck):
    n, c, k = nck
    if c < n:
        assert stats.pass_at_k(n, c + 1, k) >= stats.pass_at_k(n, c, k) - 1e-12


def test_clipped_mean_clips_after_averaging():
    assert stats.clipped_mean([-0.5, 0.3]) == 0.0
    assert stats.clipped_mean([-0.2, 0.6]) == pytest.approx(0.2)
    assert stats.clipped_mean([1.0, 1.0]) == 1.0
    with pytest.raises(ValueError):
        stats.clipped_mean([])


@given(st.lists(st.floats(-3, 1, allow_nan=False), min_size=1, max_size=40))
def test_bootstrap_interval_is_within_unit_range_and_holds_the_estimate(task_means):
    low, high = stats.bootstrap_ci(task_means, resamples=200)
    point = stats.clipped_mean(task_means)
    assert 0.0 <= low <= point + 1e-12
    assert point - 1e-12 <= high <= 1.0


def test_bootstrap_interval_narrows_with_more_tasks():
    few = [0.2, 0.8] * 5
    many = [0.2, 0.8] * 200
    low_few, high_few = stats.bootstrap_ci(few)
    low_many, high_many = stats.bootstrap_ci(many)
    assert high_many - low_many < high_few - low_few
    # The standard error of the mean of many tasks with sd 0.3 is 0.3 / sqrt(400).
    assert high_many - low_many == pytest.approx(2 * 1.96 * 0.3 / math.sqrt(400), rel=0.25)


def test_frontier_keeps_only_models_that_raise_the_best_score():
    points = [
        (date(2024, 1, 1), 0.3, "a"),
        (date(2024, 6, 1), 0.2, "b"),
        (date(2024, 9, 1), 0.5, "c"),
        (date(2024, 9, 1), 0.4, "d"),
        (date(2025, 1, 1), 0.5, "e"),
    ]
    assert [label for _, _, label in stats.frontier(points)] == ["a", "c"]
