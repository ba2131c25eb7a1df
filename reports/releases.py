"""Official releases: preparing, approving and correcting them.

A release freezes the report figures (reports.selectors) for one suite, a set of models, a
reference period of model release dates, one grader version and one classification into
the tables of reports.release_tables, applies disclosure control, writes the methodology
note from the actual settings, and seals both with a checksum. Nothing is recomputed
afterwards: every export reads the stored tables.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, Min
from django.utils import timezone

from audit import trail
from graders.models import Grader
from graders.validation import latest_validation, release_gate
from occupations.models import Occupation, Suite, Task, Taxonomy
from reports import disclosure, selectors, stats
from reports.models import Release, TaskResult
from reports.release_tables import (
    DECIMALS,
    MISSING_CODES,
    NOT_APPLICABLE,
    TABLES,
    Table,
    format_code,
)
from reports.release_tables import (
    table as table_spec,
)
from runs.models import ModelEndpoint, Run

SCHEMA_VERSION = 1
"""Version of the stored tables' layout (reports.release_tables)."""

Row = dict[str, Any]


class ReleaseError(ValidationError):
    """A release cannot be prepared or approved as asked; the message says why."""


# --- figures ---------------------------------------------------------------------------


def _publish(value: float | None, unit: str | None) -> float | int | None:
    """A figure as published: percentages from fractions, rounded to the unit's places."""
    if value is None or not math.isfinite(value):
        return None
    if unit == "PC":
        value = value * 100
    places = DECIMALS.get(unit or "", 0)
    return round(value, places) if places else round(value)


class _RowBuilder:
    """Collects one row's values and missing-figure codes for one table."""

    def __init__(self, spec: Table):
        self.spec = spec
        self.values: dict[str, Any] = {}
        self.missing: dict[str, str] = {}

    def set(self, key: str, value: Any, code: str = "x") -> None:
        column = self.spec.column(key)
        if isinstance(value, float) or (column.type in ("number", "integer") and value is not None):
            value = _publish(float(value), column.unit)
        if isinstance(value, date):
            value = value.isoformat()
        if value is None:
            self.missing[key] = code
        else:
            self.missing.pop(key, None)
        self.values[key] = value

    def interval(self, key: str, interval: stats.Interval | None, code: str = "x") -> None:
        if interval is None:
            for name in (key, f"{key}_lower", f"{key}_upper"):
                self.set(name, None, code)
            return
        self.set(key, interval.point)
        self.set(f"{key}_lower", interval.low)
        self.set(f"{key}_upper", interval.high)

    def row(self) -> Row:
        for column in self.spec.columns:
            if column.key not in self.values:
                self.set(column.key, None)
        return {"values": self.values, "missing": self.missing, "suppression": None}


def _model_figures(builder: _RowBuilder, figures: selectors.ModelFigures) -> None:
    builder.set("tasks", figures.tasks)
    builder.set("samples", figures.samples)
    builder.interval("success_rate", figures.success)
    builder.interval("mean_score", figures.score)
    gap = figures.reliability
    builder.set("k", gap.k if gap else None)
    builder.interval("pass_at_k", gap.pass_at_k if gap else None)
    builder.interval("pass_hat_k", gap.pass_hat_k if gap else None)
    for key, name, level in (
        ("horizon_p50", "p50_minutes", 0.5),
        ("horizon_p80", "p80_minutes", 0.8),
    ):
        _horizon(builder, key, figures, name, level)


def _horizon(
    builder: _RowBuilder, key: str, figures: selectors.ModelFigures, name: str, level: float
) -> None:
    """A time horizon as the report pages read it: [b] when the fitted curve is still at
    the level on the longest task measured (whatever its slope), [x] when the curve does
    not fall (no crossing), otherwise the crossing with its interval ([u] for a side the
    bootstrap leaves unbounded)."""
    estimate, longest = figures.horizon, figures.longest_task_minutes
    if estimate is None or longest is None:
        builder.interval(key, None)
        return
    if estimate.fit.success_probability(longest) >= level:
        builder.interval(key, None, "b")
        return
    interval: stats.Interval = getattr(estimate, name)
    if not estimate.fit.decreasing or not math.isfinite(interval.point):
        builder.interval(key, None)
        return
    builder.set(key, interval.point)
    for column, value in ((f"{key}_lower", interval.low), (f"{key}_upper", interval.high)):
        builder.set(column, value if math.isfinite(value) else None, "u")


def _model_labels(builder: _RowBuilder, endpoint: ModelEndpoint) -> None:
    builder.set("model_code", endpoint.slug)
    builder.set("model", endpoint.display_name)
    builder.set("model_family", endpoint.family or None, "z")
    builder.set("release_date", endpoint.release_date)


def _category_labels(builder: _RowBuilder, category: Occupation) -> None:
    builder.set("job_category_code", category.code)
    builder.set("job_category", category.title)


def _projection(builder: _RowBuilder, key: str, projection: stats.Projection | None) -> None:
    if projection is None:
        builder.interval(key, None)
        return
    if projection.when is None:
        code = "n" if projection.never_crossed else "r" if projection.already_crossed else "x"
        builder.interval(key, None, code)
        return
    builder.set(key, projection.when)
    builder.set(f"{key}_lower", projection.low, "u")
    builder.set(f"{key}_upper", projection.high, "u")


@dataclass
class Figures:
    """The release's tables before disclosure control, and the cells it works on."""

    tables: dict[str, list[Row]]
    cells: dict[tuple, int]
    """Cell key -> tasks its figures are based on."""
    rows_of: dict[tuple, list[tuple[str, int]]]
    """Cell key -> the (table, row index) pairs that carry its figures."""
    relations: list[disclosure.Relation]
    """Totals that are the exact task-weighted combination of their members."""
    contained: list[disclosure.Relation]
    """Totals whose members are based on some of the total's tasks (no exact sum)."""
    depends_on: dict[tuple, list[tuple]]
    """Cell key -> the cells a non-linear figure (a trend) is derived from."""


def compute_figures(
    filters: selectors.ReportFilters, *, min_tasks: int, success_level: float = 0.5
) -> Figures:
    """Every table of a release from the report selectors, before disclosure control."""
    tables: dict[str, list[Row]] = {spec.id: [] for spec in TABLES}
    cells: dict[tuple, int] = {}
    rows_of: dict[tuple, list[tuple[str, int]]] = {}
    relations: list[disclosure.Relation] = []
    contained: list[disclosure.Relation] = []
    depends_on: dict[tuple, list[tuple]] = {}

    def add(table_id: str, builder: _RowBuilder, cell: tuple | None = None, tasks: int = 0):
        tables[table_id].append(builder.row())
        if cell is not None:
            cells[cell] = tasks
            rows_of.setdefault(cell, []).append((table_id, len(tables[table_id]) - 1))

    taxonomy: Taxonomy = filters.taxonomy
    index_min_tasks = max(min_tasks, selectors.MIN_TASKS)
    nation = selectors.national_overview(
        filters, success_level=success_level, min_tasks=index_min_tasks
    )
    b = _RowBuilder(table_spec("national"))
    b.set("ref_area", taxonomy.country or NOT_APPLICABLE)
    b.set("taxonomy", str(taxonomy))
    b.set("level", Occupation.Level(nation.level).label)
    b.set("success_level", success_level * 100)
    b.set("employment_index", nation.employment_index)
    b.set("wage_index", nation.wage_index)
    b.set("employment_coverage", nation.coverage)
    b.set("wage_coverage", nation.wage_coverage)
    b.set("occupations", nation.occupations)
    b.set("occupations_covered", nation.occupations_covered)
    b.set("occupations_met", nation.occupations_met)
    b.set("employment", nation.employment_total)
    b.set("wage_bill", nation.wage_bill_total)
    add("national", b)
    for point in nation.index_over_time:
        b = _RowBuilder(table_spec("national_over_time"))
        b.set("time_period", point.when)
        b.set("employment_index", point.employment_index)
        b.set("wage_index", point.wage_index)
        b.set("occupations_met", point.occupations_met)
        add("national_over_time", b)

    model_cells: dict[int, list[tuple]] = {}
    for overview in nation.categories:
        category = overview.category
        b = _RowBuilder(table_spec("job_categories"))
        _category_labels(b, category)
        b.set("employment", overview.employment)
        b.set("published_tasks", overview.published_tasks)
        frontier = overview.frontier_model
        b.set("frontier_model_code", frontier.slug if frontier else None)
        b.set("frontier_model", frontier.display_name if frontier else None)
        b.set("frontier_tasks", overview.tasks if frontier else None)
        b.interval("frontier_success_rate", overview.success)
        b.interval("frontier_mean_score", overview.score)
        # The frontier model's figures are its category x model cell: they share a fate.
        frontier_cell = ("category_model", category.pk, frontier.pk) if frontier else None
        add("job_categories", b, frontier_cell, overview.tasks)
        if frontier is None and not overview.published_tasks:
            continue

        report = selectors.category_report(category, filters, min_tasks=index_min_tasks)
        for figures in report.models:
            b = _RowBuilder(table_spec("category_models"))
            _category_labels(b, category)
            _model_labels(b, figures.endpoint)
            _model_figures(b, figures)
            cell = ("category_model", category.pk, figures.endpoint.pk)
            add("category_models", b, cell, figures.tasks)
            model_cells.setdefault(figures.endpoint.pk, []).append(cell)

        b = _RowBuilder(table_spec("category_trends"))
        _category_labels(b, category)
        b.set("tasks", selectors.scored_tasks(filters, job_category=category))
        b.set("frontier_points", len(report.frontier))
        horizon = report.horizon_trend
        trend = horizon.trend if horizon else None
        if trend is not None and 0 < trend.doubling_months < math.inf:
            b.set("doubling_months", trend.doubling_months)
            for column, value in (
                ("doubling_months_lower", trend.doubling_months_low),
                ("doubling_months_upper", trend.doubling_months_high),
            ):
                # A slope interval reaching zero leaves the doubling time unbounded.
                b.set(column, value if 0 < value < math.inf else None, "u")
        else:
            b.interval("doubling_months", None)
        success = report.success_trend
        _projection(b, "success_50_date", success.to_50 if success else None)
        _projection(b, "success_80_date", success.to_80 if success else None)
        _projection(b, "working_day_date", horizon.to_working_day if horizon else None)
        # A trend through two frontier points gives both points back, so it is only as safe
        # as the frontier models' own figures: it counts their fewest tasks and falls with
        # any of them.
        frontier_cells = sorted(
            {
                ("category_model", category.pk, point.model.endpoint.pk)
                for point in (*report.frontier, *report.horizon_frontier)
            }
        )
        trend_cell = ("category_trend", category.pk)
        if frontier_cells:
            trend_tasks = min(cells[c] for c in frontier_cells if c in cells)
            add("category_trends", b, trend_cell, trend_tasks)
            depends_on[trend_cell] = frontier_cells
        else:  # no model has results here: nothing to withhold, the figures are [x]
            add("category_trends", b)

        by_model: dict[int, list[tuple]] = {}
        for row in report.occupations:
            if not (row.published_tasks or row.tasks_with_results):
                continue
            b = _RowBuilder(table_spec("occupations"))
            _category_labels(b, category)
            b.set("occupation_code", row.occupation.code)
            b.set("occupation", row.occupation.title)
            b.set("employment", row.employment)
            b.set("published_tasks", row.published_tasks)
            b.set("tasks_with_results", row.tasks_with_results)
            best = row.best_model
            b.set("best_model_code", best.slug if best else None)
            b.set("best_model", best.display_name if best else None)
            b.set("best_model_tasks", row.best_tasks if best else None)
            b.interval("best_success_rate", row.best_success)
            cell = ("occupation", row.occupation.pk) if best else None
            add("occupations", b, cell, row.best_tasks)
            if best is not None:
                by_model.setdefault(best.pk, []).append(cell)
        # An occupation's best rate is part of its category x model cell; the relation is
        # exact only when the occupations hold all of that model's tasks in the category.
        for model_pk, members in by_model.items():
            total = ("category_model", category.pk, model_pk)
            if total not in cells:
                continue
            relation = disclosure.Relation(total, tuple(members))
            if sum(cells[m] for m in members) == cells[total]:
                relations.append(relation)
            else:
                contained.append(relation)

    for endpoint in ModelEndpoint.objects.filter(pk__in=model_cells).order_by(
        "release_date", "display_name"
    ):
        overall = selectors.model_report(endpoint, filters).overall
        b = _RowBuilder(table_spec("models"))
        _model_labels(b, endpoint)
        _model_figures(b, overall)
        cell = ("model", endpoint.pk)
        add("models", b, cell, overall.tasks)
        relations.append(disclosure.Relation(cell, tuple(model_cells[endpoint.pk])))
    return Figures(tables, cells, rows_of, relations, contained, depends_on)


RATES = (
    "success_rate",
    "mean_score",
    "pass_at_k",
    "pass_hat_k",
    "frontier_success_rate",
    "frontier_mean_score",
    "best_success_rate",
)
"""Published means over tasks, bounded by 0 and 100 %."""


def _cells_at_bound(figures: Figures) -> set[tuple]:
    """Cells with a rate published at 0 or 100 %: every part of such a total is that too."""
    found = set()
    for cell, places in figures.rows_of.items():
        for table_id, index in places:
            values = figures.tables[table_id][index]["values"]
            if any(values.get(key) in (0, 100) for key in RATES):
                found.add(cell)
    return found


def apply_disclosure_control(figures: Figures, min_tasks: int) -> dict[str, int]:
    """Withhold the suppressible figures of every suppressed cell, in place; the counts of
    primary and secondary suppressions."""
    withheld = disclosure.suppress(
        figures.cells,
        figures.relations,
        min_tasks,
        at_bound=_cells_at_bound(figures),
        contained=figures.contained,
        depends_on=figures.depends_on,
    )
    for cell, why in withheld.items():
        for table_id, index in figures.rows_of[cell]:
            row = figures.tables[table_id][index]
            row["suppression"] = why.value
            for column in table_spec(table_id).columns:
                if column.suppressible:
                    row["values"][column.key] = None
                    row["missing"][column.key] = "c"
    return {
        "primary": sum(1 for w in withheld.values() if w is disclosure.Suppression.PRIMARY),
        "secondary": sum(1 for w in withheld.values() if w is disclosure.Suppression.SECONDARY),
    }


# --- methodology -----------------------------------------------------------------------


def _percent(value: float) -> str:
    return f"{value * 100:g} %"


def _suite_section(suite: Suite, endpoints: list[ModelEndpoint]) -> dict:
    versions = suite.task_versions.select_related("task__occupation__job_category")
    total = versions.count()
    held_out = versions.filter(task__visibility=Task.Visibility.HELD_OUT).count()
    minutes = sorted(versions.values_list("estimated_minutes", flat=True))
    per_category: dict[str, int] = {}
    for version in versions:
        category = version.task.occupation.job_category or version.task.occupation
        label = f"{category.code} {category.title}"
        per_category[label] = per_category.get(label, 0) + 1
    paragraphs = [
        f"The suite '{suite.name}' ({suite.slug}) holds {total} task versions: "
        f"{total - held_out} public and {held_out} held out. Held-out tasks are scored like "
        "any other, but nothing about them beyond these counts is published.",
    ]
    if minutes:
        paragraphs.append(
            "Estimated human time per task: median "
            f"{statistics.median(minutes):g} minutes, shortest {minutes[0]} and longest "
            f"{minutes[-1]} minutes."
        )
    paragraphs.append(
        "Task versions per job category: "
        + "; ".join(f"{label}: {count}" for label, count in sorted(per_category.items()))
        + "."
    )
    runs = Run.objects.filter(suite=suite, endpoint__in=endpoints, status=Run.Status.COMPLETED)
    samples = sorted(set(runs.values_list("samples_per_task", flat=True)))
    span = runs.aggregate(first=Min("finished_at"), last=Max("finished_at"))
    if samples:
        paragraphs.append(
            f"Models were run {runs.count()} times on the suite, with "
            + " or ".join(str(s) for s in samples)
            + " samples (attempts) per task; the runs finished between "
            f"{span['first']:%Y-%m-%d} and {span['last']:%Y-%m-%d}. Attempts from every "
            "completed run of a model on the suite are pooled."
        )
    names = ", ".join(f"{e.display_name} (released {e.release_date})" for e in endpoints)
    paragraphs.append(f"Models in scope: {names or 'none'}.")
    return {"heading": "Suite and models", "paragraphs": paragraphs}


def _grader_section(grader: Grader) -> dict:
    config = grader.config()
    paragraphs = [f"Scores are those of the grader {grader.label}."]
    if grader.is_human:
        paragraphs.append(
            f"It is a panel of human experts; each sample takes {grader.grades_per_sample} "
            "independent expert grades."
        )
    else:
        judges = ", ".join(j.display_name for j in grader.judges())
        paragraphs.append(
            f"It is an LLM rubric judge ({judges}) in {config.get('mode', '')} mode with "
            f"judge prompt {config.get('prompt_version', '')}."
        )
    validation = latest_validation(grader)
    if validation is not None:
        verdict = "passed" if validation.passed else "did not pass"
        paragraphs.append(
            f"Its latest validation against {validation.experts.label}, on "
            f"{validation.computed_at:%Y-%m-%d}, {verdict}: "
            f"{validation.figures.get('reason', '')}"
        )
    paragraphs.append(release_gate(grader)[1])
    return {"heading": "Grader", "paragraphs": paragraphs}


def _statistics_section(success_level: float, index_min_tasks: int) -> dict:
    level = _percent(selectors.LEVEL)
    return {
        "heading": "Statistics",
        "paragraphs": [
            "A sample's rubric score is the points of the criteria met (negative criteria "
            "count when the undesirable behaviour is present) over the positive points; means "
            "are clipped to 0-100 %. An attempt succeeds when its score reaches the task's "
            "pass threshold and no critical criterion failed. Each task version counts once "
            "in every mean, whatever its number of attempts.",
            f"Intervals are {level} percentile bootstrap intervals ({selectors.RESAMPLES} "
            "seeded resamples): over tasks for scores, over tasks then attempts for success "
            "rates and time horizons.",
            "pass@k is the unbiased estimator 1 - C(n-c, k)/C(n, k) averaged over tasks with "
            "at least k scored attempts; pass^k is the chance that all k tries succeed.",
            "Time horizons (METR) come from a logistic regression of success on log2 of the "
            "estimated human minutes, each task weighted once; the 50 % and 80 % horizons "
            "are the task lengths where the fitted success probability is 50 % and 80 %.",
            "Trends run over model release dates: the frontier is the best model released "
            "by each date; horizons are fitted on a log2 scale (doubling time, Student t "
            "interval), success rates on the logit scale. Projections of when a threshold "
            "is crossed extend these fits beyond the data and are extrapolations.",
            "The national index is the share of employment (or of the wage bill) in "
            "occupations where the best model's success rate is at least "
            f"{_percent(success_level)}, counting only occupations with at least "
            f"{index_min_tasks} published tasks (in any suite) and results in this release; "
            "other occupations count as not met, so coverage bounds the index.",
        ],
    }


def _disclosure_section(min_tasks: int, counts: dict[str, int]) -> dict:
    return {
        "heading": "Disclosure control",
        "paragraphs": [
            f"Figures based on fewer than {min_tasks} tasks are suppressed and shown as "
            f"{format_code('c')}. So that a suppressed figure cannot be worked out from a "
            "total and its other parts, further figures are withheld (secondary "
            "suppression) until no total has exactly one withheld part, and a total "
            "published at 0 % or 100 % is withheld with its parts, since it would give them "
            "away. Which model ranks first in a suppressed row is withheld too, and a trend "
            "is withheld with any of the frontier figures it is fitted to. Counts of tasks "
            "and attempts are published throughout.",
            f"In this release {counts['primary']} groups of figures were suppressed and "
            f"{counts['secondary']} more withheld by secondary suppression.",
        ],
    }


def notes(min_tasks: int, success_level: float, index_min_tasks: int) -> list[dict]:
    """The numbered notes tables refer to as [note N]."""
    return [
        {"number": 1, "text": (
            "The national index counts an occupation as met when its best model's success "
            f"rate is at least {_percent(success_level)} and it has at least {index_min_tasks} "
            "published tasks (in any suite) and results in this release; all other "
            "occupations count as not met."
        )},
        {"number": 2, "text": (
            "Employment and wages are those recorded for each occupation in the "
            "classification (their source is named there); occupations without figures "
            "count as zero."
        )},
        {"number": 3, "text": (
            f"Figures based on fewer than {min_tasks} tasks are suppressed "
            f"({format_code('c')}), with secondary suppression so they cannot be worked out "
            "from totals."
        )},
        {"number": 4, "text": (
            f"Lower and upper bounds are {_percent(selectors.LEVEL)} bootstrap confidence "
            "intervals."
        )},
        {"number": 5, "text": (
            "Time horizons are in minutes of estimated human working time; "
            f"{format_code('b')} marks a horizon beyond the longest task measured."
        )},
        {"number": 6, "text": (
            "Projections extend fitted trends beyond the data: they are extrapolations, not "
            "forecasts, and their intervals only reflect the fit."
        )},
        *(
            {"number": 7 + i, "text": f"{format_code(code)}: {meaning}"}
            for i, (code, meaning) in enumerate(MISSING_CODES.items())
        ),
    ]  # fmt: skip


# --- the checksum ----------------------------------------------------------------------


def release_scope(
    suite: Suite, grader: Grader, taxonomy: Taxonomy, endpoints: list[ModelEndpoint]
) -> dict:
    """What the release covers, as it stood when prepared: names and dates are copied, so
    renaming a model or a suite later changes neither the exports nor the checksum."""
    return {
        "suite": {"slug": suite.slug, "name": suite.name},
        "grader": grader.label,
        "taxonomy": str(taxonomy),
        "reference_area": taxonomy.country or None,
        "models": [
            {
                "code": e.slug,
                "name": e.display_name,
                "family": e.family or None,
                "release_date": e.release_date.isoformat(),
            }
            for e in sorted(endpoints, key=lambda e: (e.release_date, e.display_name))
        ],
    }


def canonical_content(release: Release) -> dict:
    """What the checksum covers: identity, text, scope, figures, methodology and the
    revision record (what it corrects, why, and what changed)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "identifier": release.identifier,
        "title": release.title,
        "description": release.description,
        "scope": release.scope,
        "period": [release.period_start.isoformat(), release.period_end.isoformat()],
        "disclosure_min_tasks": release.disclosure_min_tasks,
        "tables": release.tables,
        "methodology": release.methodology,
        "supersedes": release.supersedes.identifier if release.supersedes_id else None,
        "correction_reason": release.correction_reason,
        "changes": release.changes,
    }


def checksum(content: dict) -> str:
    encoded = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode()).hexdigest()


def verify(release: Release) -> bool:
    """Whether the stored figures still match the checksum sealed at preparation."""
    return checksum(canonical_content(release)) == release.checksum


# --- revisions -------------------------------------------------------------------------


def _row_label(spec: Table, row: Row) -> str:
    return " / ".join(str(row["values"].get(k) or "") for k in spec.identity) or spec.title


def _shown(row: Row | None, key: str) -> str:
    if row is None:
        return "(no row)"
    value = row["values"].get(key)
    return format_code(row["missing"][key]) if value is None else str(value)


def differences(old: dict[str, list[Row]], new: dict[str, list[Row]]) -> list[dict]:
    """Every figure that differs between two releases' tables, row by row (rows matched by
    their identifying dimensions): table, row, column, old and new as published."""
    changes = []
    for spec in TABLES:
        before = {_row_label(spec, r): r for r in old.get(spec.id, [])}
        after = {_row_label(spec, r): r for r in new.get(spec.id, [])}
        for label in sorted(set(before) | set(after)):
            for column in spec.columns:
                was = _shown(before.get(label), column.key)
                now = _shown(after.get(label), column.key)
                if was != now:
                    changes.append(
                        {
                            "table": spec.id,
                            "row": label,
                            "column": column.header,
                            "old": was,
                            "new": now,
                        }
                    )
    return changes


# --- services --------------------------------------------------------------------------


def _check_gate(grader: Grader) -> None:
    allowed, reason = release_gate(grader)
    if not allowed:
        raise ReleaseError({"grader": reason})


def prepare_release(
    *,
    user,
    series: str,
    title: str,
    suite: Suite,
    grader: Grader,
    endpoints: list[ModelEndpoint],
    taxonomy: Taxonomy,
    period_start: date,
    period_end: date,
    description: str = "",
    disclosure_min_tasks: int | None = None,
    supersedes: Release | None = None,
    correction_reason: str = "",
    background: bool = False,
) -> Release:
    """A new release of the series (its next version): checked and numbered at once, its
    figures then computed and sealed by fill_release, here or, with `background`, by a
    worker (on a national scale that takes a minute, too long for a web request)."""
    _check_gate(grader)
    if period_start > period_end:
        raise ReleaseError({"period_end": "The period must not end before it starts."})
    endpoints = [e for e in endpoints if period_start <= e.release_date <= period_end]
    if not endpoints:
        raise ReleaseError(
            {"endpoints": f"No chosen model was released between {period_start} and "
             f"{period_end}."}
        )  # fmt: skip
    if not TaskResult.objects.filter(
        grader=grader, suite=suite, endpoint__in=endpoints, attempts__gt=0
    ).exists():
        raise ReleaseError(
            {"endpoints": "None of these models has graded results on this suite with this "
             "grader: run and grade them first."}
        )  # fmt: skip
    min_tasks = (
        settings.EVALBUILDER_DISCLOSURE_MIN_TASKS
        if disclosure_min_tasks is None
        else disclosure_min_tasks
    )
    try:
        with transaction.atomic():
            release = _number_release(
                user=user,
                series=series,
                supersedes=supersedes,
                endpoints=endpoints,
                title=title,
                description=description,
                suite=suite,
                grader=grader,
                taxonomy=taxonomy,
                period_start=period_start,
                period_end=period_end,
                disclosure_min_tasks=min_tasks,
                correction_reason=correction_reason,
            )
            if background:
                from reports import tasks  # tasks call this module

                transaction.on_commit(lambda: tasks.fill_release.delay(release.pk))
    except IntegrityError as error:
        # Someone else added a version of the series, or corrected this release, meanwhile.
        raise ReleaseError(
            {"series": f"The series '{series}' changed while this release was prepared: "
             "look at its latest version and try again."}
        ) from error  # fmt: skip
    if background:
        return release
    release = fill_release(release)
    if release.status == Release.Status.FAILED:
        raise ReleaseError(release.preparation_error)
    return release


def _number_release(
    *, user, series: str, supersedes: Release | None, endpoints: list[ModelEndpoint], **fields
) -> Release:
    """Save the release, still being prepared, as the next version of its series (inside
    the caller's transaction)."""
    if supersedes is not None:
        # Lock the release being corrected, so two corrections of it queue up here.
        supersedes = Release.objects.select_for_update().get(pk=supersedes.pk)
    previous = Release.objects.filter(series=series).order_by("-version").first()
    if previous is not None and previous.status == Release.Status.FAILED:
        raise ReleaseError(
            {"series": f"{previous.identifier}, the latest release of the series '{series}', "
             "could not be prepared: discard it first."}
        )  # fmt: skip
    if supersedes is None and previous is not None:
        raise ReleaseError(
            {"series": f"The series '{series}' already has releases: correct the latest one "
             "to add a version, or choose a new series."}
        )  # fmt: skip
    if supersedes is not None and (previous is None or previous.pk != supersedes.pk):
        latest_identifier = previous.identifier if previous else "none"
        raise ReleaseError(
            {"supersedes": f"Only the latest release of the series '{series}' can be "
             f"corrected ({latest_identifier}), not {supersedes.identifier}."}
        )  # fmt: skip
    release = Release.objects.create(
        series=series,
        version=(previous.version + 1) if previous else 1,
        status=Release.Status.PREPARING,
        supersedes=supersedes,
        prepared_by=user,
        **fields,
    )
    release.endpoints.set(endpoints)
    return release


def fill_release(release: Release) -> Release:
    """Compute a release's figures and methodology and seal them: a release being prepared
    becomes a draft, or, when its figures cannot be made, fails with the reason. Anything
    else is returned as it is (a task delivered twice does the work once)."""
    release = Release.objects.select_related("suite", "grader", "taxonomy", "supersedes").get(
        pk=release.pk
    )
    if release.status != Release.Status.PREPARING:
        return release
    endpoints = list(release.endpoints.all())
    min_tasks = release.disclosure_min_tasks
    filters = selectors.ReportFilters(
        grader=release.grader,
        suite=release.suite,
        endpoints=tuple(sorted(e.pk for e in endpoints)),
        released_from=release.period_start,
        released_to=release.period_end,
        taxonomy=release.taxonomy,
    )
    # Afresh, not from the cache: employment figures or model details may have been
    # corrected since the cached figures were computed.
    with selectors.uncached():
        figures = compute_figures(filters, min_tasks=min_tasks)
    if not figures.tables["models"]:
        failed = Release.objects.filter(pk=release.pk, status=Release.Status.PREPARING).update(
            status=Release.Status.FAILED,
            preparation_error="None of these models has graded results on this suite with "
            "this grader in the classification chosen: run and grade them first.",
        )
        release.refresh_from_db()
        if failed:
            trail.record_transition(
                release, "status", "preparing", "failed", fields=["preparation_error"]
            )
        return release
    counts = apply_disclosure_control(figures, min_tasks)
    index_min_tasks = max(min_tasks, selectors.MIN_TASKS)
    release.tables = {spec.id: figures.tables[spec.id] for spec in TABLES}
    release.methodology = {
        "schema_version": SCHEMA_VERSION,
        "results_version": selectors.results_version(release.grader),
        "sections": [
            _suite_section(release.suite, endpoints),
            _grader_section(release.grader),
            _statistics_section(0.5, index_min_tasks),
            _disclosure_section(min_tasks, counts),
        ],
        "notes": notes(min_tasks, 0.5, index_min_tasks),
        "suppressed": counts,
    }
    release.scope = release_scope(release.suite, release.grader, release.taxonomy, endpoints)
    if release.supersedes is not None:
        release.changes = differences(release.supersedes.tables, release.tables)
    release.status = Release.Status.DRAFT
    release.checksum = checksum(canonical_content(release))
    with transaction.atomic():
        # Saved only if still being prepared (not discarded meanwhile).
        if (
            Release.objects.select_for_update()
            .filter(pk=release.pk, status=Release.Status.PREPARING)
            .exists()
        ):
            release.save()
    return release


@transaction.atomic
def approve(release: Release, user) -> Release:
    """Publish a draft: approver and date are recorded and the release never changes again.
    The grader must still pass the release gate and the figures their checksum."""
    if not user.has_perm("reports.approve_release"):
        raise PermissionDenied("You may not approve releases.")
    locked = Release.objects.select_for_update().get(pk=release.pk)
    if locked.is_approved:
        raise ReleaseError(f"Release {locked.identifier} is already approved.")
    if locked.status != Release.Status.DRAFT:
        raise ReleaseError(
            f"Release {locked.identifier} has no figures to approve "
            f"({locked.get_status_display().lower()})."
        )
    _check_gate(locked.grader)
    if not verify(locked):
        raise ReleaseError(
            f"Release {locked.identifier} no longer matches its checksum: prepare it again."
        )
    if locked.supersedes is not None and not locked.supersedes.is_approved:
        raise ReleaseError("Approve the release this one corrects first.")
    now = timezone.now()
    Release.objects.filter(pk=locked.pk).update(
        status=Release.Status.APPROVED,
        approved_by=user,
        approved_at=now,
        release_date=timezone.localdate(now),
    )
    locked.refresh_from_db()
    trail.record_transition(
        locked, "status", "draft", "approved", fields=["approved_by", "approved_at", "release_date"]
    )
    return locked


def correct(
    release: Release,
    *,
    user,
    reason: str,
    grader: Grader | None = None,
    background: bool = False,
) -> Release:
    """A new draft in the same series, with today's figures for the same scope (optionally
    another grader version), recording the reason and every figure that changed; prepared
    by a worker with `background`, as prepare_release."""
    if not release.is_approved:
        raise ReleaseError("Only an approved release can be corrected: discard the draft.")
    # Asked of the database: a cached reverse relation would miss a correction made since.
    correction = Release.objects.filter(supersedes=release).first()
    if correction is not None:
        raise ReleaseError(f"{release.identifier} is already corrected by {correction.identifier}.")
    if not reason.strip():
        raise ReleaseError({"correction_reason": "Say what is corrected and why."})
    return prepare_release(
        user=user,
        series=release.series,
        title=release.title,
        description=release.description,
        suite=release.suite,
        grader=grader or release.grader,
        endpoints=list(release.endpoints.all()),
        taxonomy=release.taxonomy,
        period_start=release.period_start,
        period_end=release.period_end,
        disclosure_min_tasks=release.disclosure_min_tasks,
        supersedes=release,
        correction_reason=reason.strip(),
        background=background,
    )


def revisions(release: Release) -> list[Release]:
    """Every release of the series, oldest first: the revisions table."""
    return list(
        Release.objects.filter(series=release.series)
        .select_related("approved_by", "prepared_by")
        .order_by("version")
    )
