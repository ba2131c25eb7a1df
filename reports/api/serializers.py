"""The shapes of the API's answers. Each serializer documents one shape in the OpenAPI
schema and turns a release, or a result of reports.selectors, into JSON.

Live figures are fractions (0..1) with 95 % intervals as {point, low, high, level}; the
tables of a release hold percentages as published. JSON has no infinity: an infinite time
horizon or doubling time is null with a flag saying so.
"""

from __future__ import annotations

import math
from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from occupations.models import Occupation
from reports import exports, stats
from reports.exports.base import absolute_url, download_url, metadata
from reports.models import Release
from reports.release_tables import MISSING_CODES, TABLES, format_code
from reports.selectors import FrontierPoint, HorizonProjection
from runs.models import ModelEndpoint

# --- numbers -----------------------------------------------------------------------------


class FiniteFloatField(serializers.FloatField):
    """A number, or null where there is none or it is not finite (JSON has no infinity)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> float | None:
        if value is None:
            return None
        value = float(value)
        return value if math.isfinite(value) else None


def _is_infinite(value: float | None) -> bool:
    return value is not None and math.isinf(value)


class IntervalSerializer(serializers.Serializer):
    """A figure with its two-sided confidence interval."""

    point = serializers.FloatField(help_text="The figure on the data as observed.")
    low = serializers.FloatField(help_text="Lower bound of the interval.")
    high = serializers.FloatField(help_text="Upper bound of the interval.")
    level = serializers.FloatField(help_text="Nominal coverage of the interval, e.g. 0.95.")


class UnboundedIntervalSerializer(serializers.Serializer):
    """An interval whose figure or bounds may be infinite (a time horizon beyond every task
    length, a doubling time of a trend that does not rise): those are null, with flags."""

    point = FiniteFloatField(help_text="The figure; null when it is infinite or undefined.")
    low = FiniteFloatField(help_text="Lower bound; null when it is not finite.")
    high = FiniteFloatField(help_text="Upper bound; null when it is unbounded above.")
    level = serializers.FloatField(help_text="Nominal coverage of the interval, e.g. 0.95.")
    infinite = serializers.SerializerMethodField(help_text="The figure itself is infinite.")
    unbounded_above = serializers.SerializerMethodField(
        help_text="The upper bound is infinite: the interval has no end."
    )

    def get_infinite(self, interval: stats.Interval) -> bool:
        return _is_infinite(interval.point)

    def get_unbounded_above(self, interval: stats.Interval) -> bool:
        return _is_infinite(interval.high)


# --- references ----------------------------------------------------------------------------


class ModelSerializer(serializers.Serializer):
    """An AI model (a model endpoint) with results."""

    id = serializers.IntegerField(help_text="Use as ?model=<id> to narrow report figures.")
    slug = serializers.SlugField()
    name = serializers.CharField(source="display_name")
    family = serializers.CharField(help_text="Model family; empty when not recorded.")
    lab = serializers.CharField(help_text="Who built the model; empty when not recorded.")
    release_date = serializers.DateField(help_text="Public release date of the model.")
    url = serializers.SerializerMethodField(help_text="The model's report in this API.")

    def get_url(self, endpoint: ModelEndpoint) -> str:
        return absolute_url(reverse("api:model", args=[endpoint.slug]))


class CategorySerializer(serializers.Serializer):
    """A job category: a top-level group of the occupational classification."""

    id = serializers.IntegerField()
    code = serializers.CharField()
    title = serializers.CharField()
    url = serializers.SerializerMethodField(help_text="The category's report in this API.")

    def get_url(self, category: Occupation) -> str:
        return absolute_url(reverse("api:category", args=[category.pk]))


class OccupationSerializer(serializers.Serializer):
    """An occupation of the classification."""

    id = serializers.IntegerField()
    code = serializers.CharField()
    title = serializers.CharField()
    level = serializers.ChoiceField(choices=Occupation.Level.choices)


class GraderReferenceSerializer(serializers.Serializer):
    """The grader version whose grades are reported."""

    id = serializers.IntegerField(help_text="Use as ?grader=<id>.")
    label = serializers.CharField(help_text="Name and version, as reports cite it.")


class SuiteReferenceSerializer(serializers.Serializer):
    """A frozen set of task versions."""

    id = serializers.IntegerField(help_text="Use as ?suite=<id>.")
    slug = serializers.SlugField()
    name = serializers.CharField()


class TaxonomyReferenceSerializer(serializers.Serializer):
    """An occupational classification."""

    id = serializers.IntegerField(help_text="Use as ?taxonomy=<id>.")
    name = serializers.CharField(source="__str__", help_text="Name and version.")
    country = serializers.CharField(help_text="ISO 3166 alpha-2 code; empty when none.")


class FiltersSerializer(serializers.Serializer):
    """What the figures cover, as read from the query string (unknown values are ignored)."""

    grader = GraderReferenceSerializer(allow_null=True, help_text="null: nothing graded yet.")
    suite = SuiteReferenceSerializer(allow_null=True, help_text="null: every suite, pooled.")
    taxonomy = TaxonomyReferenceSerializer(allow_null=True)
    level = serializers.ChoiceField(
        choices=Occupation.Level.choices,
        source="occupation_level",
        help_text="Level of the occupations that occupation figures are computed at.",
    )
    released_from = serializers.DateField(allow_null=True)
    released_to = serializers.DateField(allow_null=True)
    families = serializers.ListField(child=serializers.CharField())
    models = serializers.ListField(
        child=serializers.IntegerField(), source="endpoints", help_text="Model ids."
    )
    query = serializers.CharField(help_text="The query string that gives these figures again.")


# --- model figures ---------------------------------------------------------------------------


class ReliabilitySerializer(serializers.Serializer):
    """One try against k tries, over the tasks with at least k scored attempts."""

    k = serializers.IntegerField()
    pass_at_1 = IntervalSerializer(help_text="Success rate of one try.")
    pass_at_k = IntervalSerializer(help_text="Success in at least one of k tries.")
    pass_hat_k = IntervalSerializer(help_text="Success in all k tries.")
    tasks = serializers.IntegerField(help_text="Tasks with at least k scored attempts.")


class HorizonSerializer(serializers.Serializer):
    """Time horizons (METR): the human task length, in minutes, at which the fitted success
    probability is 50 % and 80 %."""

    p50_minutes = UnboundedIntervalSerializer()
    p80_minutes = UnboundedIntervalSerializer()
    decreasing = serializers.BooleanField(
        source="fit.decreasing",
        help_text="Success falls with task length, so the horizons are crossings of the curve; "
        "when false, read them as not measured.",
    )
    unbounded_share = serializers.FloatField(
        help_text="Share of bootstrap resamples whose 50 % horizon is infinite."
    )


class ModelFiguresSerializer(serializers.Serializer):
    """One model's figures over a set of tasks, each task counting once."""

    model = ModelSerializer(source="endpoint")
    samples = serializers.IntegerField(help_text="Scored attempts behind the figures.")
    tasks = serializers.IntegerField(help_text="Task versions with a scored attempt.")
    score = IntervalSerializer(allow_null=True, help_text="Mean rubric score, clipped to 0..1.")
    success = IntervalSerializer(allow_null=True, help_text="Success rate (pass@1).")
    reliability = ReliabilitySerializer(
        allow_null=True, help_text="null when the report has no k or the model no such task."
    )
    reliability_tasks_left_out = serializers.IntegerField(
        help_text="Tasks with fewer scored attempts than k, left out of reliability."
    )
    horizon = HorizonSerializer(
        allow_null=True, help_text="null with fewer than 3 tasks or a single task length."
    )
    unscored = serializers.IntegerField(help_text="Attempts the grader could not score.")
    failed = serializers.IntegerField(help_text="Attempts whose model call failed.")


class SuccessFrontierPointSerializer(serializers.Serializer):
    """A model that raised the best success rate reached by its release date."""

    date = serializers.DateField(source="when")
    success_rate = serializers.FloatField(source="value")
    model = ModelSerializer(source="model.endpoint")


class HorizonFrontierPointSerializer(serializers.Serializer):
    """A model that raised the longest 50 % time horizon reached by its release date."""

    date = serializers.DateField(source="when")
    minutes = FiniteFloatField(
        source="value", help_text="null when beyond_longest_task: the horizon is infinite."
    )
    beyond_longest_task = serializers.SerializerMethodField(
        help_text="The model's fitted success is still at least 50 % on the longest task."
    )
    model = ModelSerializer(source="model.endpoint")

    def get_beyond_longest_task(self, point: FrontierPoint) -> bool:
        return math.isinf(point.value)


class ProjectionSerializer(serializers.Serializer):
    """When a fitted trend reaches a threshold: always an extrapolation."""

    threshold = serializers.FloatField(help_text="Success rate (0..1) or minutes.")
    date = serializers.DateField(
        source="when", allow_null=True, help_text="null: not reached on the fitted trend."
    )
    low = serializers.DateField(allow_null=True, help_text="Earliest date of the interval.")
    high = serializers.DateField(
        allow_null=True, help_text="Latest date of the interval; null when unbounded."
    )
    level = serializers.FloatField()
    already_crossed = serializers.BooleanField()
    never_crossed = serializers.BooleanField(
        help_text="The trend is flat or falling and below the threshold."
    )
    extrapolation = serializers.BooleanField(help_text="Always true.")


class TrendLineSerializer(serializers.Serializer):
    """A straight line over model release dates, on a log2 or logit scale."""

    scale = serializers.ChoiceField(choices=["log2", "logit"])
    slope_per_year = FiniteFloatField(source="slope")
    slope_low = FiniteFloatField()
    slope_high = FiniteFloatField()
    level = serializers.FloatField()
    points = serializers.IntegerField(help_text="Frontier points fitted.")
    first_date = serializers.DateField()
    last_date = serializers.DateField()


class SuccessTrendSerializer(serializers.Serializer):
    """The logit-scale trend of the frontier success rate and its projections."""

    line = TrendLineSerializer()
    to_50 = ProjectionSerializer(help_text="When the trend reaches a 50 % success rate.")
    to_80 = ProjectionSerializer(help_text="When the trend reaches an 80 % success rate.")


class HorizonTrendSerializer(serializers.Serializer):
    """The exponential trend of the frontier 50 % time horizon."""

    line = TrendLineSerializer(source="trend.line")
    doublings_per_year = FiniteFloatField(source="trend.doublings_per_year")
    doubling_months = serializers.SerializerMethodField()
    to_working_day = ProjectionSerializer(
        help_text="When the trend reaches an 8-hour (480-minute) horizon."
    )

    @extend_schema_field(UnboundedIntervalSerializer)
    def get_doubling_months(self, projection: HorizonProjection) -> dict:
        trend = projection.trend
        interval = stats.Interval(
            trend.doubling_months,
            trend.doubling_months_low,
            trend.doubling_months_high,
            trend.line.level,
        )
        return UnboundedIntervalSerializer(interval).data


# --- reports -------------------------------------------------------------------------------


class OccupationRowSerializer(serializers.Serializer):
    """An occupation of a job category with its best model."""

    occupation = OccupationSerializer()
    employment = serializers.IntegerField(allow_null=True)
    published_tasks = serializers.IntegerField()
    tasks_with_results = serializers.IntegerField()
    best_model = ModelSerializer(allow_null=True)
    best_success = IntervalSerializer(allow_null=True)
    best_tasks = serializers.IntegerField(help_text="Tasks behind best_success.")


class CategoryReportSerializer(serializers.Serializer):
    """Every model's figures on a job category's tasks, the frontier and its trends."""

    category = CategorySerializer()
    filters = FiltersSerializer()
    k = serializers.IntegerField(allow_null=True, help_text="Tries per task for reliability.")
    longest_task_minutes = FiniteFloatField()
    models = ModelFiguresSerializer(many=True)
    frontier = SuccessFrontierPointSerializer(many=True)
    success_trend = SuccessTrendSerializer(allow_null=True)
    horizon_frontier = HorizonFrontierPointSerializer(many=True)
    horizon_trend = HorizonTrendSerializer(allow_null=True)
    horizon_trend_left_out = serializers.IntegerField(
        help_text="Frontier points beyond the longest task, left out of the horizon trend."
    )
    occupations = OccupationRowSerializer(many=True)


class CategoryOverviewSerializer(serializers.Serializer):
    """A job category on the national overview, with its frontier model."""

    category = CategorySerializer()
    employment = serializers.IntegerField(allow_null=True)
    wage_bill = FiniteFloatField()
    published_tasks = serializers.IntegerField()
    frontier_model = ModelSerializer(allow_null=True)
    tasks = serializers.IntegerField(help_text="Tasks behind the frontier model's figures.")
    success = IntervalSerializer(allow_null=True)
    score = IntervalSerializer(allow_null=True)


class IndexPointSerializer(serializers.Serializer):
    """The national index using only the models released by a date."""

    date = serializers.DateField(source="when")
    employment_index = FiniteFloatField(help_text="null: not measured.")
    wage_index = FiniteFloatField(help_text="null: not measured.")
    occupations_met = serializers.IntegerField()


class NationalSerializer(serializers.Serializer):
    """Shares of national work in occupations whose best model meets the success level."""

    filters = FiltersSerializer()
    success_level = serializers.FloatField()
    min_tasks = serializers.IntegerField(
        help_text="Published tasks an occupation needs to count as covered."
    )
    level = serializers.ChoiceField(choices=Occupation.Level.choices)
    employment_total = serializers.IntegerField()
    wage_bill_total = serializers.FloatField()
    occupations = serializers.IntegerField()
    occupations_covered = serializers.IntegerField()
    occupations_met = serializers.IntegerField()
    coverage = FiniteFloatField(help_text="Share of employment in covered occupations.")
    wage_coverage = FiniteFloatField()
    employment_index = FiniteFloatField(help_text="null when no occupation is covered.")
    wage_index = FiniteFloatField(help_text="null when no occupation is covered.")
    index_over_time = IndexPointSerializer(many=True)
    categories = CategoryOverviewSerializer(many=True)


class CategoryProfileSerializer(serializers.Serializer):
    """One model's figures in one job category."""

    category = CategorySerializer()
    tasks = serializers.IntegerField()
    samples = serializers.IntegerField()
    score = IntervalSerializer(allow_null=True)
    success = IntervalSerializer(allow_null=True)


class ModelReportSerializer(serializers.Serializer):
    """One model across job categories, with its overall figures and time horizon."""

    model = ModelSerializer(source="endpoint")
    filters = FiltersSerializer()
    k = serializers.IntegerField(allow_null=True)
    overall = ModelFiguresSerializer()
    categories = CategoryProfileSerializer(many=True)


# --- releases --------------------------------------------------------------------------------


class LicenceSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="SPDX identifier.")
    title = serializers.CharField()
    path = serializers.CharField(help_text="Address of the licence text; empty when unknown.")


class PeriodSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    meaning = serializers.CharField()


class ReleaseModelSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="The model's slug, its code in every table.")
    name = serializers.CharField()
    release_date = serializers.DateField()


class ReleaseSuiteSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()


DownloadsSerializer = type(
    "DownloadsSerializer",
    (serializers.Serializer,),
    {
        "__doc__": "Absolute address of the release in each format.",
        **{
            key: serializers.URLField(help_text=f"{fmt.label}: {fmt.description}")
            for key, fmt in exports.FORMATS.items()
        },
    },
)


def _release_links(release: Release) -> dict[str, str]:
    return {
        "url": absolute_url(release.get_absolute_url()),
        "api_url": absolute_url(reverse("api:release", args=[release.identifier])),
    }


class ReleaseSerializer(serializers.Serializer):
    """An official release (or, for those who may prepare releases, a draft)."""

    identifier = serializers.SlugField(help_text="Stable: '<series>-v<version>'.")
    series = serializers.SlugField()
    version = serializers.IntegerField()
    title = serializers.CharField()
    description = serializers.CharField()
    status = serializers.ChoiceField(choices=Release.Status.choices)
    release_date = serializers.DateField(allow_null=True, help_text="null for a draft.")
    approved_by = serializers.CharField(allow_null=True)
    prepared_by = serializers.CharField(allow_null=True)
    prepared_at = serializers.DateTimeField()
    publisher = serializers.CharField()
    licence = LicenceSerializer()
    checksum = serializers.CharField(
        source="checksum_sha256", help_text="SHA-256 of the canonical figures and methodology."
    )
    suite = ReleaseSuiteSerializer()
    grader = serializers.CharField(help_text="The grader version, as reports cite it.")
    taxonomy = serializers.CharField(help_text="The occupational classification.")
    reference_area = serializers.CharField(allow_null=True, help_text="ISO 3166 code.")
    period = PeriodSerializer()
    models = ReleaseModelSerializer(many=True)
    disclosure_min_tasks = serializers.IntegerField(
        help_text="Figures based on fewer tasks than this are suppressed."
    )
    supersedes = serializers.SlugField(
        allow_null=True, help_text="Identifier of the release this one corrects."
    )
    superseded_by = serializers.SlugField(
        allow_null=True, help_text="Identifier of the release that corrects this one."
    )
    correction_reason = serializers.CharField(allow_null=True)
    url = serializers.URLField(help_text="The release's page.")
    api_url = serializers.URLField(help_text="The release in this API.")
    downloads = DownloadsSerializer()

    def record(self, release: Release) -> dict[str, Any]:
        """What the serializer's fields read: the release's metadata as every export states
        it, with the links and the correcting release the user may see."""
        correction = getattr(release, "visible_successor", None)
        if correction is None and not hasattr(release, "visible_successor"):
            correction = (
                Release.objects.visible_to(self.context["request"].user)
                .filter(supersedes=release)
                .values_list("identifier", flat=True)
                .first()
            )
        return {
            **metadata(release),
            **_release_links(release),
            "superseded_by": correction,
            "downloads": {key: download_url(release, key) for key in exports.FORMATS},
        }

    def to_representation(self, instance: Release) -> dict[str, Any]:
        return super().to_representation(self.record(instance))


class MethodologySectionSerializer(serializers.Serializer):
    heading = serializers.CharField()
    paragraphs = serializers.ListField(child=serializers.CharField())


class NoteSerializer(serializers.Serializer):
    number = serializers.IntegerField(help_text="Cited in tables as [note N].")
    text = serializers.CharField()


class SuppressedSerializer(serializers.Serializer):
    primary = serializers.IntegerField(help_text="Groups based on too few tasks.")
    secondary = serializers.IntegerField(
        help_text="Groups withheld so that a suppressed figure cannot be worked out."
    )


class MethodologySerializer(serializers.Serializer):
    """The methodology note, generated from the release's actual settings."""

    schema_version = serializers.IntegerField()
    results_version = serializers.CharField(
        allow_null=True,
        default=None,
        help_text="Token of the graded results the figures were computed from; null when "
        "none was recorded.",
    )
    sections = MethodologySectionSerializer(many=True)
    notes = NoteSerializer(many=True)
    suppressed = SuppressedSerializer()


class ChangeSerializer(serializers.Serializer):
    """A figure that differs from the superseded release, as published."""

    table = serializers.CharField()
    row = serializers.CharField()
    column = serializers.CharField()
    old = serializers.CharField()
    new = serializers.CharField()


class ColumnSerializer(serializers.Serializer):
    """A column of a release table."""

    key = serializers.CharField(help_text="Name of the column in rows and CSV files.")
    header = serializers.CharField(help_text="Human header, with the unit.")
    type = serializers.ChoiceField(choices=["string", "integer", "number", "date"])
    role = serializers.ChoiceField(
        choices=["dimension", "label", "measure", "lower", "upper"],
        help_text="lower and upper: the confidence bounds of the measure in bound_of.",
    )
    description = serializers.CharField()
    sdmx = serializers.CharField(
        allow_null=True, help_text="SDMX dimension, or MEASURE code of a measure."
    )
    unit = serializers.CharField(allow_null=True, help_text="SDMX UNIT_MEASURE code.")
    bound_of = serializers.CharField(allow_null=True)
    suppressible = serializers.BooleanField(
        help_text="Withheld (code c) when its row is suppressed."
    )


class TableSerializer(serializers.Serializer):
    """A table of the release: its definition, its size and where its rows are."""

    id = serializers.ChoiceField(choices=[spec.id for spec in TABLES])
    title = serializers.CharField()
    description = serializers.CharField()
    notes = serializers.ListField(
        child=serializers.IntegerField(), help_text="Numbers of the notes that apply."
    )
    columns = ColumnSerializer(many=True)
    rows = serializers.IntegerField()
    url = serializers.URLField(help_text="The table's rows in this API.")


class MissingCodeSerializer(serializers.Serializer):
    """A short code shown in a cell that has no figure."""

    code = serializers.ChoiceField(choices=list(MISSING_CODES.items()))
    shown_as = serializers.CharField(help_text="How spreadsheets and CSV files show it.")
    meaning = serializers.CharField()


class RevisionSerializer(serializers.Serializer):
    """A release of the same series: the revisions table."""

    identifier = serializers.SlugField()
    version = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Release.Status.choices)
    release_date = serializers.DateField(allow_null=True)
    correction_reason = serializers.CharField()
    url = serializers.URLField()
    api_url = serializers.URLField()


class ReleaseDetailSerializer(ReleaseSerializer):
    """A release with its methodology, the changes from the release it corrects, its
    revisions and the definitions of its tables."""

    methodology = MethodologySerializer()
    changes = ChangeSerializer(many=True)
    revisions = RevisionSerializer(many=True)
    missing_codes = MissingCodeSerializer(many=True)
    tables = TableSerializer(many=True)

    def record(self, release: Release) -> dict[str, Any]:
        user = self.context["request"].user
        revisions = Release.objects.visible_to(user).filter(series=release.series)
        return {
            **super().record(release),
            "methodology": release.methodology,
            "changes": release.changes,
            "revisions": [
                {**_revision(r), **_release_links(r)} for r in revisions.order_by("version")
            ],
            "missing_codes": [
                {"code": code, "shown_as": format_code(code), "meaning": meaning}
                for code, meaning in MISSING_CODES.items()
            ],
            "tables": [
                {
                    "id": spec.id,
                    "title": spec.title,
                    "description": spec.description,
                    "notes": list(spec.notes),
                    "columns": spec.columns,
                    "rows": len(release.tables.get(spec.id, [])),
                    "url": absolute_url(
                        reverse("api:release_table", args=[release.identifier, spec.id])
                    ),
                }
                for spec in TABLES
            ],
        }


def _revision(release: Release) -> dict[str, Any]:
    return {
        "identifier": release.identifier,
        "version": release.version,
        "status": release.status,
        "release_date": release.release_date,
        "correction_reason": release.correction_reason,
    }


@extend_schema_field(
    {
        "oneOf": [{"type": "string"}, {"type": "number"}],
        "nullable": True,
        "description": "A figure, a label or an ISO date; null where the row's missing "
        "codes say why there is no figure.",
    }
)
class CellField(serializers.Field):
    """One stored cell of a release table, as it was approved."""

    def to_representation(self, value: Any) -> Any:
        return value


class ReleaseRowSerializer(serializers.Serializer):
    """One stored row of a release table."""

    values = serializers.DictField(
        child=CellField(allow_null=True), help_text="Column key -> value (see the columns)."
    )
    missing = serializers.DictField(
        child=serializers.ChoiceField(choices=list(MISSING_CODES.items())),
        help_text="Column key -> short code, for every value that is null (see missing_codes).",
    )
    suppression = serializers.ChoiceField(
        choices=[("C", "primary"), ("D", "secondary")],
        allow_null=True,
        help_text="C: suppressed for too few tasks; D: withheld by secondary suppression.",
    )


class ErrorSerializer(serializers.Serializer):
    """Why a request was refused: no such thing, or not visible to the caller."""

    detail = serializers.CharField()


class ReleaseFilterSerializer(serializers.Serializer):
    """Narrows the list of releases."""

    series = serializers.SlugField(required=False, help_text="Only releases of this series.")
    status = serializers.ChoiceField(
        choices=Release.Status.choices,
        required=False,
        help_text="Only approved releases, or only drafts (drafts need the right to view them).",
    )


__all__ = [
    "CategoryReportSerializer",
    "ModelReportSerializer",
    "ModelSerializer",
    "NationalSerializer",
    "ReleaseDetailSerializer",
    "ReleaseFilterSerializer",
    "ReleaseRowSerializer",
    "ReleaseSerializer",
]
