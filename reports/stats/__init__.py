"""Statistics for trend reports: pure functions on plain numbers and numpy arrays.

- scores: clipped mean rubric scores, bootstrap intervals over tasks, and over tasks then
  attempts.
- passk: pass@k and pass^k per task and averaged over tasks; the reliability gap.
- horizon: METR time horizons from a task-weighted logistic fit, with bootstrap intervals.
- trends: the frontier over release dates, exponential and logit trend lines, and
  projections of when a threshold is crossed (always labelled as extrapolation).

Conventions: rubric scores of single samples may fall outside [0, 1] (negative criteria);
every aggregate is a mean clipped to [0, 1] after averaging, as in HealthBench. Each task
counts once, whatever its number of attempts. Bootstraps are seeded.
"""

from .horizon import (
    FLAT_SLOPE,
    RIDGE,
    HorizonEstimate,
    HorizonFit,
    bootstrap_time_horizon,
    fit_logistic,
    fit_time_horizon,
    horizon_minutes,
)
from .passk import (
    ReliabilityGap,
    mean_pass_at_k,
    mean_pass_hat_k,
    pass_at_k,
    pass_hat_k,
    reliability_gap,
    task_pass_at_k,
    task_pass_hat_k,
)
from .scores import (
    AttemptTable,
    Interval,
    bootstrap_ci,
    clip_unit,
    clipped_mean,
    hierarchical_bootstrap_ci,
    percentile_interval,
)
from .trends import (
    DAYS_PER_YEAR,
    EPOCH,
    LOGIT_EPSILON,
    HorizonTrend,
    Projection,
    TrendLine,
    fit_horizon_trend,
    fit_logit_trend,
    frontier,
    logit,
    project_crossing,
    student_t_quantile,
    years_since,
)

__all__ = [
    "DAYS_PER_YEAR",
    "EPOCH",
    "FLAT_SLOPE",
    "LOGIT_EPSILON",
    "RIDGE",
    "AttemptTable",
    "HorizonEstimate",
    "HorizonFit",
    "HorizonTrend",
    "Interval",
    "Projection",
    "ReliabilityGap",
    "TrendLine",
    "bootstrap_ci",
    "bootstrap_time_horizon",
    "clip_unit",
    "clipped_mean",
    "fit_horizon_trend",
    "fit_logistic",
    "fit_logit_trend",
    "fit_time_horizon",
    "frontier",
    "hierarchical_bootstrap_ci",
    "horizon_minutes",
    "logit",
    "mean_pass_at_k",
    "mean_pass_hat_k",
    "pass_at_k",
    "pass_hat_k",
    "percentile_interval",
    "project_crossing",
    "reliability_gap",
    "student_t_quantile",
    "task_pass_at_k",
    "task_pass_hat_k",
    "years_since",
]
