import itertools
import math
from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
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


# --- two-level bootstrap ------------------------------------------------------------------


def test_hierarchical_interval_of_equal_tasks_reflects_attempt_noise_only():
    # Every task has the same attempts, so only the second stage varies the resamples.
    tasks = [[0.0, 1.0]] * 200
    interval = stats.hierarchical_bootstrap_ci(tasks, resamples=500)
    assert interval.point == 0.5
    # Each resampled task mean is Binomial(2, 1/2) / 2 (sd 0.354); over 200 tasks sd 0.025.
    assert interval.high - interval.low == pytest.approx(2 * 1.96 * 0.354 / math.sqrt(200), rel=0.2)
    assert stats.bootstrap_ci([0.5] * 200) == (0.5, 0.5)


def test_hierarchical_interval_of_scores_matches_the_binary_shortcut_in_width():
    rng = np.random.default_rng(3)
    shares = rng.random(300)
    binary = [(rng.random(6) < p).astype(float) for p in shares]
    # 0.0 / 1.0 as 0.001 / 0.999 forces the general resampler on the same data.
    nudged = [np.where(a == 1, 0.999, 0.001) for a in binary]
    fast = stats.hierarchical_bootstrap_ci(binary, resamples=400)
    general = stats.hierarchical_bootstrap_ci(nudged, resamples=400)
    assert fast.high - fast.low == pytest.approx(general.high - general.low, rel=0.2)


def test_hierarchical_interval_clips_scores_and_weighs_tasks_once():
    interval = stats.hierarchical_bootstrap_ci([[-2.0, -1.0], [0.5]], resamples=100)
    assert interval.point == 0.0  # mean of task means (-1.5 + 0.5) / 2 = -0.5, clipped
    assert 0.0 <= interval.low <= interval.high <= 1.0
    one = stats.hierarchical_bootstrap_ci([[1.0], [0.0]], resamples=100)
    many = stats.hierarchical_bootstrap_ci([[1.0] * 10, [0.0]], resamples=100)
    assert one.point == many.point == 0.5


def test_hierarchical_interval_rejects_empty_input():
    with pytest.raises(ValueError, match="no tasks"):
        stats.hierarchical_bootstrap_ci([])
    with pytest.raises(ValueError, match="task 1 has no attempts"):
        stats.hierarchical_bootstrap_ci([[1.0], []])


ragged_tasks = st.lists(
    st.lists(st.floats(-1, 1, allow_nan=False), min_size=1, max_size=6), min_size=1, max_size=12
)


@given(ragged_tasks)
@settings(max_examples=60)
def test_hierarchical_interval_is_within_unit_range_and_holds_the_estimate(tasks):
    interval = stats.hierarchical_bootstrap_ci(tasks, resamples=200)
    assert 0.0 <= interval.low <= interval.point + 1e-12
    assert interval.point - 1e-12 <= interval.high <= 1.0


@given(st.floats(-1e6, 1e6, allow_nan=False))
def test_clip_unit_lands_in_the_unit_interval_and_keeps_values_inside_it(value):
    clipped = stats.clip_unit(value)
    assert 0.0 <= clipped <= 1.0
    if 0.0 <= value <= 1.0:
        assert clipped == value


# --- pass@k over tasks ---------------------------------------------------------------------


def test_task_averaged_pass_at_k_by_hand():
    # Task A: 4 attempts, 2 successes; task B: 2 attempts, 1 success; task C: 3 of 3.
    n, c = [4, 2, 3], [2, 1, 3]
    # pass@2: A 1 - C(2,2)/C(4,2) = 5/6; B 1 - C(1,2)/C(2,2) = 1; C 1.
    assert stats.mean_pass_at_k(n, c, 2) == pytest.approx((5 / 6 + 1 + 1) / 3)
    # pass^2: A C(2,2)/C(4,2) = 1/6; B 0; C 1.
    assert stats.mean_pass_hat_k(n, c, 2) == pytest.approx((1 / 6 + 0 + 1) / 3)
    # pass@1 is the mean of per-task success rates, not the pooled rate 6/9.
    assert stats.mean_pass_at_k(n, c, 1) == pytest.approx((0.5 + 0.5 + 1) / 3)


def test_task_pass_at_k_agrees_with_the_binomial_formula_for_many_attempts():
    n, c = np.array([200, 200, 50]), np.array([3, 150, 0])
    got = stats.task_pass_at_k(n, c, 20)
    want = [
        1 - math.comb(int(a - b), 20) / math.comb(int(a), 20) for a, b in zip(n, c, strict=True)
    ]
    assert got == pytest.approx(want, rel=1e-12)
    hat = stats.task_pass_hat_k(n, c, 3)
    assert hat == pytest.approx(
        [math.comb(int(b), 3) / math.comb(int(a), 3) for a, b in zip(n, c, strict=True)]
    )


def test_task_averaged_pass_at_k_names_a_task_with_too_few_attempts():
    with pytest.raises(ValueError, match="task 1"):
        stats.mean_pass_at_k([5, 2], [1, 1], 3)
    with pytest.raises(ValueError, match="task 0"):
        stats.mean_pass_hat_k([5], [6], 1)


def test_reliability_gap_orders_pass_hat_k_below_pass_at_1_below_pass_at_k():
    rng = np.random.default_rng(5)
    n = np.full(300, 8)
    c = rng.binomial(8, rng.random(300))
    gap = stats.reliability_gap(n, c, 4, resamples=300)
    assert gap.tasks == 300 and gap.k == 4
    assert gap.pass_hat_k.point < gap.pass_at_1.point < gap.pass_at_k.point
    assert gap.pass_at_1.point == pytest.approx(float(np.mean(c / n)))
    for interval in (gap.pass_at_1, gap.pass_at_k, gap.pass_hat_k):
        assert interval.low <= interval.point <= interval.high
        assert interval.high - interval.low < 0.1


task_counts = st.lists(
    st.integers(3, 12).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))),
    min_size=1,
    max_size=10,
)


@given(task_counts, st.integers(1, 2))
def test_task_averaged_pass_at_k_grows_with_k_and_pass_hat_k_shrinks(tasks, k):
    n, c = zip(*tasks, strict=True)
    assert stats.mean_pass_at_k(n, c, k + 1) >= stats.mean_pass_at_k(n, c, k) - 1e-12
    assert stats.mean_pass_hat_k(n, c, k + 1) <= stats.mean_pass_hat_k(n, c, k) + 1e-12


# --- time horizon ------------------------------------------------------------------------


def simulate_horizon_data(intercept, slope, *, tasks=400, attempts=8, seed=11):
    """Task lengths log-uniform over 1 minute .. 16 hours, successes from the known curve."""
    rng = np.random.default_rng(seed)
    minutes = np.exp2(rng.uniform(0, math.log2(16 * 60), tasks))
    chance = 1 / (1 + np.exp(-(intercept + slope * np.log2(minutes))))
    successes = (rng.random((tasks, attempts)) < chance[:, None]).astype(float)
    return minutes, list(successes)


def test_horizon_fit_recovers_a_known_logistic_curve_within_its_interval():
    intercept, slope = 3.5, -0.6
    minutes, attempts = simulate_horizon_data(intercept, slope)
    estimate = stats.bootstrap_time_horizon(minutes, attempts, resamples=300)
    true_p50 = 2 ** (intercept / -slope)  # 57 minutes
    true_p80 = 2 ** ((math.log(4) - intercept) / slope)  # 12 minutes
    assert estimate.intercept.low <= intercept <= estimate.intercept.high
    assert estimate.slope.low <= slope <= estimate.slope.high
    assert estimate.p50_minutes.low <= true_p50 <= estimate.p50_minutes.high
    assert estimate.p80_minutes.low <= true_p80 <= estimate.p80_minutes.high
    assert estimate.fit.p50_minutes == pytest.approx(true_p50, rel=0.15)
    assert estimate.fit.p80_minutes == pytest.approx(true_p80, rel=0.25)
    assert estimate.fit.decreasing and estimate.fit.converged
    assert estimate.fit.success_probability(estimate.fit.p50_minutes) == pytest.approx(0.5)
    assert estimate.unbounded_share == 0.0


def test_horizon_fit_sets_the_weighted_attempt_likelihood_gradient_to_zero():
    # Attempt-level weights 1 / attempts of the task: the score equations, minus the ridge.
    minutes = [2, 8, 30, 120, 480, 15]
    attempts = [[1, 1, 1], [1, 0], [1, 0, 0, 1], [0], [0, 0, 1], [1, 1, 0, 1, 1]]
    fit = stats.fit_time_horizon(minutes, attempts)
    x = np.log2(minutes)
    centre = x.mean()
    grad_a = grad_b = 0.0
    for xi, outcomes in zip(x, attempts, strict=True):
        p = fit.success_probability(2**xi)
        for y in outcomes:
            grad_a += (y - p) / len(outcomes)
            grad_b += (y - p) * (xi - centre) / len(outcomes)
    centred_intercept = fit.intercept + fit.slope * centre
    assert grad_a == pytest.approx(stats.RIDGE * centred_intercept, abs=1e-9)
    assert grad_b == pytest.approx(stats.RIDGE * fit.slope, abs=1e-9)


def test_perfectly_separated_tasks_give_a_steep_finite_curve_between_them():
    minutes = [1, 2, 4, 8, 64, 128, 256, 512]
    attempts = [[1, 1]] * 4 + [[0, 0]] * 4
    fit = stats.fit_time_horizon(minutes, attempts)
    assert fit.converged and fit.decreasing
    assert math.isfinite(fit.slope) and fit.slope < -1
    assert 8 < fit.p80_minutes < fit.p50_minutes < 64
    assert fit.p50_minutes == pytest.approx(math.sqrt(8 * 64), rel=0.01)  # the gap's middle


def test_a_model_that_solves_everything_has_an_unbounded_horizon_and_one_that_fails_none():
    minutes = [1, 10, 100, 1000]
    solves = stats.fit_time_horizon(minutes, [[1, 1]] * 4)
    assert solves.converged and not solves.decreasing
    assert solves.p50_minutes == solves.p80_minutes == math.inf
    fails = stats.fit_time_horizon(minutes, [[0]] * 4)
    assert not fails.decreasing
    assert fails.p50_minutes == fails.p80_minutes == 0.0


def test_a_rising_curve_has_an_infinite_horizon_flagged_as_not_decreasing():
    fit = stats.fit_time_horizon([1, 10, 100, 1000], [[0, 0, 1], [0, 1], [1, 0, 1], [1, 1]])
    assert fit.slope > 0 and not fit.decreasing
    assert fit.p50_minutes == math.inf and fit.horizon(0.99) == math.inf


def test_horizon_fit_names_bad_inputs():
    with pytest.raises(ValueError, match="task 1: human minutes"):
        stats.fit_time_horizon([5, 0], [[1], [0]])
    with pytest.raises(ValueError, match="2 task lengths but 1 tasks"):
        stats.fit_time_horizon([5, 6], [[1]])
    with pytest.raises(ValueError, match="shares in"):
        stats.fit_time_horizon([5, 6], [[1], [2]])


horizon_tasks = st.lists(
    st.tuples(
        st.floats(1, 2000),
        st.lists(st.sampled_from([0.0, 1.0]), min_size=1, max_size=4),
    ),
    min_size=2,
    max_size=12,
)


@given(horizon_tasks, st.data())
@settings(max_examples=40, deadline=None)
def test_repeating_a_tasks_attempts_does_not_change_the_horizon_fit(tasks, data):
    minutes = [m for m, _ in tasks]
    attempts = [a for _, a in tasks]
    which = data.draw(st.integers(0, len(tasks) - 1))
    repeated = [a * 10 if i == which else a for i, a in enumerate(attempts)]
    once = stats.fit_time_horizon(minutes, attempts)
    tenfold = stats.fit_time_horizon(minutes, repeated)
    assert once.converged and tenfold.converged
    assert tenfold.intercept == pytest.approx(once.intercept, abs=1e-6)
    assert tenfold.slope == pytest.approx(once.slope, abs=1e-6)


# --- trends and projections ----------------------------------------------------------------


def release_dates(count, seed):
    rng = np.random.default_rng(seed)
    days = np.sort(rng.integers(0, 6 * 365, count))
    return [date(2019, 1, 1) + timedelta(days=int(d)) for d in days]


def test_doubling_time_of_a_known_exponential_lies_in_its_interval():
    dates = release_dates(30, seed=2)
    years = np.array([stats.years_since(d) for d in dates])
    noise = np.random.default_rng(4).normal(0, 0.5, years.size)
    horizons = np.exp2(2.0 + years * 12 / 7 + noise)  # doubling every 7 months
    trend = stats.fit_horizon_trend(dates, horizons)
    assert trend.doubling_months_low <= 7 <= trend.doubling_months_high
    assert trend.doubling_months == pytest.approx(7, rel=0.15)
    assert trend.line.slope_low <= trend.doublings_per_year <= trend.line.slope_high
    assert trend.fitted(date(2020, 1, 1)) == pytest.approx(4, rel=0.4)


def test_an_exact_exponential_is_fitted_exactly_and_projected_onto_its_date():
    dates = [date(2020, 1, 1), date(2020, 7, 1), date(2021, 1, 1), date(2021, 7, 1)]
    years = [stats.years_since(d) for d in dates]
    horizons = [15 * 2 ** (2 * y) for y in years]  # 15 minutes in 2020, doubling every 6 months
    trend = stats.fit_horizon_trend(dates, horizons)
    assert trend.doubling_months == pytest.approx(6)
    assert trend.doubling_months_low == pytest.approx(6)
    assert trend.doubling_months_high == pytest.approx(6)
    projection = stats.project_crossing(trend.line, 480)  # 480 = 15 * 2^5: 2.5 years on
    assert projection.extrapolation is True
    expected = date(2020, 1, 1) + timedelta(days=round(2.5 * 365.25))
    assert projection.when == projection.low == projection.high == expected
    assert not projection.already_crossed and not projection.never_crossed


def test_projection_of_a_noisy_trend_brackets_the_known_crossing_date():
    dates = release_dates(25, seed=8)
    years = np.array([stats.years_since(d) for d in dates])
    noise = np.random.default_rng(9).normal(0, 0.4, years.size)
    trend = stats.fit_horizon_trend(dates, np.exp2(1 + 1.5 * years + noise))
    projection = stats.project_crossing(trend.line, 480)
    true_date = date(2020, 1, 1) + timedelta(days=round((math.log2(480) - 1) / 1.5 * 365.25))
    assert projection.low <= true_date <= projection.high
    assert projection.low <= projection.when <= projection.high
    assert abs((projection.when - true_date).days) < 365


def test_a_threshold_already_crossed_is_flagged():
    dates = [date(2023, 1, 1), date(2024, 1, 1), date(2025, 1, 1)]
    trend = stats.fit_horizon_trend(dates, [200, 400, 900])
    projection = stats.project_crossing(trend.line, 480)
    assert projection.already_crossed and not projection.never_crossed
    assert projection.when < date(2025, 1, 1)
    assert projection.extrapolation is True


def test_a_flat_or_declining_trend_never_crosses_a_threshold_above_it():
    dates = [date(2023, 1, 1), date(2024, 1, 1), date(2025, 1, 1)]
    for horizons in ([30, 30, 30], [60, 40, 30]):
        trend = stats.fit_horizon_trend(dates, horizons)
        assert trend.doubling_months == math.inf
        projection = stats.project_crossing(trend.line, 480)
        assert projection.never_crossed and not projection.already_crossed
        assert projection.when is projection.low is projection.high is None
        assert projection.extrapolation is True
    flat_above = stats.project_crossing(stats.fit_horizon_trend(dates, [600] * 3).line, 480)
    assert flat_above.already_crossed and not flat_above.never_crossed


def test_an_insignificant_slope_gives_an_unbounded_projection_interval():
    dates = [date(2023, 1, 1), date(2023, 6, 1), date(2024, 1, 1), date(2024, 6, 1)]
    trend = stats.fit_horizon_trend(dates, [10, 40, 8, 45])
    assert trend.line.slope > 0 and trend.line.slope_low < 0
    assert trend.doubling_months_high == math.inf
    projection = stats.project_crossing(trend.line, 480)
    assert projection.when is not None
    assert projection.low is None and projection.high is None


def test_logit_trend_recovers_a_known_logistic_trend():
    dates = release_dates(20, seed=6)
    years = np.array([stats.years_since(d) for d in dates])
    rates = 1 / (1 + np.exp(-(-2.0 + 0.8 * years)))
    exact = stats.fit_logit_trend(dates, rates)
    assert exact.intercept == pytest.approx(-2.0) and exact.slope == pytest.approx(0.8)
    assert exact.fitted(date(2022, 7, 2)) == pytest.approx(1 / (1 + math.exp(-0.0)), abs=1e-3)
    noise = np.random.default_rng(1).normal(0, 0.3, rates.size)
    trend = stats.fit_logit_trend(dates, 1 / (1 + np.exp(-(-2.0 + 0.8 * years + noise))))
    assert trend.slope_low <= 0.8 <= trend.slope_high
    half = stats.project_crossing(trend, 0.5)  # the true curve crosses 50 % at 2.5 years
    true_date = date(2020, 1, 1) + timedelta(days=round(2.5 * 365.25))
    assert half.low <= true_date <= half.high


def test_logit_trend_clips_rates_of_zero_and_one_to_epsilon():
    dates = [date(2022, 1, 1), date(2023, 1, 1), date(2024, 1, 1)]
    trend = stats.fit_logit_trend(dates, [0.0, 0.5, 1.0])
    assert math.isfinite(trend.slope)
    assert trend.slope == pytest.approx(math.log(0.99 / 0.01) * 365.25 / 365, rel=1e-3)
    with pytest.raises(ValueError, match="rate threshold"):
        stats.project_crossing(trend, 0.999)


def test_student_t_quantiles_match_tables():
    assert stats.student_t_quantile(0.975, 1) == pytest.approx(12.7062, abs=1e-4)
    assert stats.student_t_quantile(0.975, 2) == pytest.approx(4.3027, abs=1e-4)
    assert stats.student_t_quantile(0.975, 10) == pytest.approx(2.2281, abs=1e-4)
    assert stats.student_t_quantile(0.95, 30) == pytest.approx(1.6973, abs=1e-4)
    assert stats.student_t_quantile(0.025, 5) == pytest.approx(-2.5706, abs=1e-4)


def test_trend_fits_name_bad_inputs():
    with pytest.raises(ValueError, match="point 1"):
        stats.fit_horizon_trend([date(2024, 1, 1), date(2025, 1, 1)], [10, math.inf])
    with pytest.raises(ValueError, match="same"):
        stats.fit_horizon_trend([date(2024, 1, 1)] * 2, [10, 20])
    two = stats.fit_horizon_trend([date(2024, 1, 1), date(2025, 1, 1)], [10, 20])
    assert two.doubling_months == pytest.approx(12 * 366 / 365.25)
    assert (two.line.slope_low, two.line.slope_high) == (-math.inf, math.inf)
