"""The tables of an official release: what each holds, its columns, units and SDMX mapping.

Every export (spreadsheets, CSV, SDMX, the data package, JSON, the printable report) is
built from these definitions and the rows stored on the release, so every format carries
the same figures under the same names. Rows are stored as

    {"values": {column key: value}, "missing": {column key: code}, "suppression": None|"C"|"D"}

where a value is a number, a string or an ISO date, None exactly when the column key is in
"missing" with one of MISSING_CODES. Percentages are stored as published (0..100, rounded).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["string", "integer", "number", "date"]
Role = Literal["dimension", "label", "measure", "lower", "upper"]

TOTAL = "_T"
"""SDMX code for 'all' in a dimension (every job category, every model)."""
NOT_APPLICABLE = "_Z"
"""SDMX code for a dimension that does not apply to a figure (employment has no model)."""

MISSING_CODES: dict[str, str] = {
    "c": "Suppressed for disclosure control: based on fewer than the minimum number of "
    "tasks, or withheld so that such a figure cannot be worked out from totals.",
    "x": "Not available: the figure could not be estimated from the results (for example "
    "too few tasks, too few task lengths, or no model with results).",
    "z": "Not applicable.",
    "b": "Beyond the longest task measured: the fitted success rate is still above the "
    "level at the longest task, so the horizon is longer than any task measured.",
    "n": "Not reached on the fitted trend: it is flat or falling and below the threshold.",
    "u": "Unbounded: the 95 % interval has no limit on this side.",
    "r": "Already reached: the fitted trend is at or above the threshold at the last model.",
}
"""Short codes shown as [c], [x], ... in cells that have no figure."""

DECIMALS: dict[str, int] = {"PC": 1, "MIN": 1, "MONTHS": 1, "YR": 2, "XDC": 0}
"""Decimal places figures are published with, by unit; other units are whole numbers."""


@dataclass(frozen=True)
class Column:
    key: str
    """Field name in stored rows, CSV headers of machine formats and Table Schemas."""
    header: str
    """Human header, with the unit in brackets where the column has one."""
    type: ColumnType
    role: Role
    """dimension: part of the row's identity (and an SDMX dimension); label: a readable
    name or descriptive value; measure: a figure (an SDMX observation); lower/upper: the
    confidence bounds of the measure named in `bound_of`."""
    description: str = ""
    sdmx: str | None = None
    """The SDMX dimension a dimension column fills, or the MEASURE code of a measure."""
    unit: str | None = None
    """SDMX UNIT_MEASURE code: PC percent, NUMBER count, PS persons, XDC national currency,
    MIN minutes, MONTHS, YR decimal year, DATE."""
    bound_of: str | None = None
    suppressible: bool = False
    """Withheld (code c) when its row is suppressed for disclosure control."""
    fixed: dict[str, str] = field(default_factory=dict)
    """SDMX dimensions this measure fixes regardless of the row (employment: MODEL=_Z)."""


@dataclass(frozen=True)
class Table:
    id: str
    title: str
    description: str
    columns: tuple[Column, ...]
    notes: tuple[int, ...] = ()
    """Numbers of the notes (as [note N]) that apply to the whole table."""
    sdmx_fixed: dict[str, str] = field(default_factory=dict)
    """SDMX dimensions every observation of the table takes (default: _T)."""

    def column(self, key: str) -> Column:
        return next(c for c in self.columns if c.key == key)

    @property
    def identity(self) -> tuple[str, ...]:
        """The columns a row is known by, in every release: the dimensions before the first
        measure. Later dimensions (the frontier or best model) are findings about the row,
        so a new frontier model is a changed figure, not a removed row and an added one."""
        keys = []
        for column in self.columns:
            if column.role == "measure":
                break
            if column.role == "dimension":
                keys.append(column.key)
        return tuple(keys)

    @property
    def measures(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.role == "measure")

    def bounds(self, measure: str) -> tuple[Column | None, Column | None]:
        """The lower and upper bound columns of a measure (None where it has none)."""
        lower = next((c for c in self.columns if c.role == "lower" and c.bound_of == measure), None)
        upper = next((c for c in self.columns if c.role == "upper" and c.bound_of == measure), None)
        return lower, upper


SDMX_DIMENSIONS = ("REF_AREA", "JOB_CATEGORY", "OCCUPATION", "MODEL", "MEASURE", "TIME_PERIOD")


def _interval(
    key: str, header: str, unit: str, sdmx: str, description: str, *, unit_label: str = "%"
) -> tuple[Column, ...]:
    """A measure with its 95 % confidence bounds in their own columns."""
    number: ColumnType = "number"
    return (
        Column(key, f"{header} ({unit_label})", number, "measure", description, sdmx, unit,
               suppressible=True),
        Column(f"{key}_lower", f"{header}: lower 95% bound ({unit_label})", number, "lower",
               f"Lower bound of the 95 % confidence interval of {header.lower()}.", None, unit,
               bound_of=key, suppressible=True),
        Column(f"{key}_upper", f"{header}: upper 95% bound ({unit_label})", number, "upper",
               f"Upper bound of the 95 % confidence interval of {header.lower()}.", None, unit,
               bound_of=key, suppressible=True),
    )  # fmt: skip


def _projection(key: str, header: str, sdmx: str, description: str) -> tuple[Column, ...]:
    """A projected crossing date with its interval (dates; YR in SDMX)."""
    return (
        Column(key, f"{header} (date)", "date", "measure", description, sdmx, "YR",
               suppressible=True),
        Column(f"{key}_lower", f"{header}: earliest in 95% interval (date)", "date", "lower",
               "Earliest date of the 95 % interval of the projection.", None, "YR",
               bound_of=key, suppressible=True),
        Column(f"{key}_upper", f"{header}: latest in 95% interval (date)", "date", "upper",
               "Latest date of the 95 % interval of the projection.", None, "YR",
               bound_of=key, suppressible=True),
    )  # fmt: skip


_CATEGORY = (
    Column("job_category_code", "Job category code", "string", "dimension",
           "Code of the job category (top-level group of the classification).", "JOB_CATEGORY"),
    Column("job_category", "Job category", "string", "label", "Title of the job category."),
)  # fmt: skip

_MODEL = (
    Column("model_code", "Model code", "string", "dimension",
           "Stable code of the AI model.", "MODEL"),
    Column("model", "Model", "string", "label", "Name of the AI model."),
    Column("model_family", "Model family", "string", "label", "Laboratory or family."),
    Column("release_date", "Model release date (date)", "date", "label",
           "Date the model was released."),
)  # fmt: skip

_MODEL_FIGURES = (
    Column("tasks", "Tasks (count)", "integer", "measure",
           "Task versions with at least one scored attempt; each counts once.", "TASKS",
           "NUMBER"),
    Column("samples", "Scored attempts (count)", "integer", "measure",
           "Scored attempts behind the figures.", "SAMPLES", "NUMBER"),
    *_interval("success_rate", "Success rate", "PC", "SUCCESS_RATE",
               "Share of attempts that succeed (pass@1), each task counting once."),
    *_interval("mean_score", "Mean rubric score", "PC", "MEAN_SCORE",
               "Mean rubric score over tasks, clipped to 0-100 %."),
    Column("k", "Tries per task for reliability, k (count)", "integer", "measure",
           "The k of pass@k and pass^k: the most common number of scored attempts per task.",
           "RELIABILITY_K", "NUMBER", suppressible=True),
    *_interval("pass_at_k", "Success in at least one of k tries (pass@k)", "PC", "PASS_AT_K",
               "Unbiased pass@k averaged over tasks with at least k scored attempts."),
    *_interval("pass_hat_k", "Success in all k tries (pass^k)", "PC", "PASS_HAT_K",
               "pass^k averaged over tasks with at least k scored attempts."),
    *_interval("horizon_p50", "50% time horizon", "MIN", "HORIZON_P50",
               "Human task length at which the fitted success probability is 50 % (METR).",
               unit_label="minutes"),
    *_interval("horizon_p80", "80% time horizon", "MIN", "HORIZON_P80",
               "Human task length at which the fitted success probability is 80 % (METR).",
               unit_label="minutes"),
)  # fmt: skip

# One column per line would triple this table without making it clearer.
# fmt: off
TABLES: tuple[Table, ...] = (
    Table(
        "national",
        "National index: share of work in occupations where AI models meet the success level",
        "Employment- and wage-weighted shares of the nation's work in occupations whose best "
        "model meets the success level, and the coverage of the task suite.",
        (
            Column("ref_area", "Reference area (ISO 3166 code)", "string", "dimension",
                   "Country the classification belongs to.", "REF_AREA"),
            Column("taxonomy", "Occupational classification", "string", "label"),
            Column("level", "Occupation level", "string", "label",
                   "Level of the classification the index is computed at."),
            Column("success_level", "Success level (%)", "number", "label",
                   "Success rate the best model must reach in an occupation."),
            Column("employment_index", "Employment index (%)", "number", "measure",
                   "Share of employment in occupations whose best model meets the level.",
                   "EMPLOYMENT_INDEX", "PC"),
            Column("wage_index", "Wage-bill index (%)", "number", "measure",
                   "Share of the wage bill in occupations whose best model meets the level.",
                   "WAGE_INDEX", "PC"),
            Column("employment_coverage", "Employment coverage (%)", "number", "measure",
                   "Share of employment in occupations with enough published tasks and "
                   "results.", "EMPLOYMENT_COVERAGE", "PC"),
            Column("wage_coverage", "Wage-bill coverage (%)", "number", "measure",
                   "Share of the wage bill in covered occupations.", "WAGE_COVERAGE", "PC"),
            Column("occupations", "Occupations (count)", "integer", "measure",
                   "Occupations at the level.", "OCCUPATIONS", "NUMBER",
                   fixed={"MODEL": NOT_APPLICABLE}),
            Column("occupations_covered", "Occupations covered (count)", "integer", "measure",
                   "Occupations with enough published tasks and results.",
                   "OCCUPATIONS_COVERED", "NUMBER"),
            Column("occupations_met", "Occupations meeting the level (count)", "integer",
                   "measure", "Covered occupations whose best model meets the level.",
                   "OCCUPATIONS_MET", "NUMBER"),
            Column("employment", "Employment (persons)", "integer", "measure",
                   "Employment of the occupations at the level.", "EMPLOYMENT", "PS",
                   fixed={"MODEL": NOT_APPLICABLE}),
            Column("wage_bill", "Wage bill (national currency per year)", "number", "measure",
                   "Employment times mean annual wage, summed.", "WAGE_BILL", "XDC",
                   fixed={"MODEL": NOT_APPLICABLE}),
        ),
        notes=(1, 2),
        sdmx_fixed={"JOB_CATEGORY": TOTAL, "OCCUPATION": TOTAL, "MODEL": TOTAL},
    ),
    Table(
        "national_over_time",
        "National index by model release date",
        "The national index using only the models released by each date.",
        (
            Column("time_period", "Models released by (date)", "date", "dimension",
                   "Release date up to which models count.", "TIME_PERIOD"),
            Column("employment_index", "Employment index (%)", "number", "measure",
                   "As in the national table, with models released by the date.",
                   "EMPLOYMENT_INDEX", "PC"),
            Column("wage_index", "Wage-bill index (%)", "number", "measure",
                   "As in the national table, with models released by the date.",
                   "WAGE_INDEX", "PC"),
            Column("occupations_met", "Occupations meeting the level (count)", "integer",
                   "measure", "Covered occupations whose best model meets the level.",
                   "OCCUPATIONS_MET", "NUMBER"),
        ),
        notes=(1, 2),
        sdmx_fixed={"JOB_CATEGORY": TOTAL, "OCCUPATION": TOTAL, "MODEL": TOTAL},
    ),
    Table(
        "job_categories",
        "Job categories: employment, tasks and the frontier model",
        "Per job category, its employment, its published tasks and the model with the "
        "highest success rate on its tasks (the frontier model).",
        (
            *_CATEGORY,
            Column("employment", "Employment (persons)", "integer", "measure",
                   "Employment of the job category.", "EMPLOYMENT", "PS",
                   fixed={"MODEL": NOT_APPLICABLE}),
            Column("published_tasks", "Published tasks (count)", "integer", "measure",
                   "Published tasks of the category's occupations.", "PUBLISHED_TASKS",
                   "NUMBER", fixed={"MODEL": NOT_APPLICABLE}),
            # Which model ranks first is itself a figure: withheld with the row's rates.
            Column("frontier_model_code", "Frontier model code", "string", "dimension",
                   "Code of the frontier model.", "MODEL", suppressible=True),
            Column("frontier_model", "Frontier model", "string", "label",
                   "Model with the highest success rate among those with enough tasks.",
                   suppressible=True),
            Column("frontier_tasks", "Frontier model tasks (count)", "integer", "measure",
                   "Tasks behind the frontier model's figures.", "FRONTIER_TASKS", "NUMBER"),
            *_interval("frontier_success_rate", "Frontier success rate", "PC",
                       "FRONTIER_SUCCESS_RATE", "Success rate of the frontier model."),
            *_interval("frontier_mean_score", "Frontier mean rubric score", "PC",
                       "FRONTIER_MEAN_SCORE", "Mean rubric score of the frontier model."),
        ),
        notes=(2, 3, 4),
        sdmx_fixed={"OCCUPATION": TOTAL},
    ),
    Table(
        "category_models",
        "Results by job category and model",
        "Every model's figures on each job category's tasks.",
        (*_CATEGORY, *_MODEL, *_MODEL_FIGURES),
        notes=(3, 4, 5),
        sdmx_fixed={"OCCUPATION": TOTAL},
    ),
    Table(
        "models",
        "Results by model, all job categories",
        "Every model's figures over all the suite's tasks.",
        (*_MODEL, *_MODEL_FIGURES),
        notes=(3, 4, 5),
        sdmx_fixed={"JOB_CATEGORY": TOTAL, "OCCUPATION": TOTAL},
    ),
    Table(
        "category_trends",
        "Trends and projections by job category",
        "The frontier's trends over model release dates and when they reach a threshold. "
        "Projections extend a fitted trend beyond its data: they are extrapolations.",
        (
            *_CATEGORY,
            Column("tasks", "Tasks (count)", "integer", "measure",
                   "Task versions of the category with scored results.", "TASKS", "NUMBER"),
            Column("frontier_points", "Frontier models (count)", "integer", "measure",
                   "Models that raised the best success rate by their release date.",
                   "FRONTIER_POINTS", "NUMBER"),
            *_interval("doubling_months", "Time-horizon doubling time", "MONTHS",
                       "HORIZON_DOUBLING", "Months for the frontier 50 % time horizon to double.",
                       unit_label="months"),
            *_projection("success_50_date", "Projected date of a 50% success rate",
                         "PROJ_SUCCESS_50", "When the frontier success trend reaches 50 %."),
            *_projection("success_80_date", "Projected date of an 80% success rate",
                         "PROJ_SUCCESS_80", "When the frontier success trend reaches 80 %."),
            *_projection("working_day_date", "Projected date of an 8-hour time horizon",
                         "PROJ_HORIZON_480",
                         "When the frontier 50 % time horizon reaches 480 minutes."),
        ),
        notes=(3, 4, 6),
        sdmx_fixed={"OCCUPATION": TOTAL, "MODEL": TOTAL},
    ),
    Table(
        "occupations",
        "Occupations: employment, tasks and the best model",
        "Occupations with published tasks or results, with the best model on their tasks.",
        (
            *_CATEGORY,
            Column("occupation_code", "Occupation code", "string", "dimension",
                   "Code of the occupation in the classification.", "OCCUPATION"),
            Column("occupation", "Occupation", "string", "label", "Title of the occupation."),
            Column("employment", "Employment (persons)", "integer", "measure",
                   "Employment of the occupation.", "EMPLOYMENT", "PS",
                   fixed={"MODEL": NOT_APPLICABLE}),
            Column("published_tasks", "Published tasks (count)", "integer", "measure",
                   "Published tasks of the occupation (and those under it).",
                   "PUBLISHED_TASKS", "NUMBER", fixed={"MODEL": NOT_APPLICABLE}),
            Column("tasks_with_results", "Tasks with results (count)", "integer", "measure",
                   "Task versions some model has scored results on.", "TASKS_WITH_RESULTS",
                   "NUMBER", fixed={"MODEL": NOT_APPLICABLE}),
            Column("best_model_code", "Best model code", "string", "dimension",
                   "Code of the best model in the occupation.", "MODEL", suppressible=True),
            Column("best_model", "Best model", "string", "label",
                   "Model with the highest success rate among those with enough tasks.",
                   suppressible=True),
            Column("best_model_tasks", "Best model tasks (count)", "integer", "measure",
                   "Tasks behind the best model's success rate.", "TASKS", "NUMBER"),
            *_interval("best_success_rate", "Best model success rate", "PC",
                       "BEST_SUCCESS_RATE", "Success rate of the best model in the occupation."),
        ),
        notes=(2, 3, 4),
    ),
)
# fmt: on

TABLE_BY_ID = {table.id: table for table in TABLES}


def table(table_id: str) -> Table:
    return TABLE_BY_ID[table_id]


def format_code(code: str) -> str:
    """How a missing-figure code is shown in a cell: [c], [x], ..."""
    return f"[{code}]"
