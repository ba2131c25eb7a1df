"""The API's endpoints: read-only, GET only.

Releases are listed as Release.objects.visible_to(user) allows: approved releases for
everyone, drafts too for users with reports.view_release (signed in, or with a token).
The public aggregates are the report pages' figures, from reports.selectors.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.db.models import F, OuterRef, QuerySet, Subquery
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.generics import GenericAPIView, ListAPIView, RetrieveAPIView
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from occupations.models import Occupation
from reports import selectors
from reports.api import serializers
from reports.exports.base import absolute_url
from reports.forms import MIN_TASKS, SUCCESS_LEVELS, national_options
from reports.models import Release, TaskResult
from reports.release_tables import TABLE_BY_ID
from reports.selectors import ReportFilters
from runs.models import ModelEndpoint

NOT_FOUND = OpenApiResponse(
    serializers.ErrorSerializer, description="No such thing, or not visible to the caller."
)

REFUSED = {
    401: OpenApiResponse(
        serializers.ErrorSerializer,
        description="The Authorization header holds a token that is not valid (without the "
        "header the caller is anonymous).",
    ),
    403: OpenApiResponse(
        serializers.ErrorSerializer,
        description="A signed-in session that has not finished two-step sign-in.",
    ),
}
"""What any endpoint answers a caller whose credentials are refused."""

SLUG = {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"}
"""A path segment matched by Django's slug converter; any other text is not an API address."""

IDENTIFIER = OpenApiParameter(
    "identifier", SLUG, OpenApiParameter.PATH, description="The release's identifier."
)

REPORT_PARAMETERS = [
    OpenApiParameter("grader", int, description="Grader version id; default: the default grader."),
    OpenApiParameter("suite", int, description="Only results on this suite (id); default: all."),
    OpenApiParameter("taxonomy", int, description="Classification (id); default: the largest one."),
    OpenApiParameter(
        "level",
        str,
        enum=Occupation.Level.values,
        description="Level of the occupations figures are computed at; default: detailed.",
    ),
    OpenApiParameter(
        "from", OpenApiTypes.DATE, description="Only models released on or after this date."
    ),
    OpenApiParameter(
        "to", OpenApiTypes.DATE, description="Only models released on or before this date."
    ),
    OpenApiParameter(
        "family", str, many=True, explode=True, description="Only models of these families."
    ),
    OpenApiParameter("model", int, many=True, explode=True, description="Only these models (ids)."),
]
"""The query string of every report page; unknown values are ignored, as on the pages."""


class Pages(LimitOffsetPagination):
    """Pages of a list: 100 items unless ?limit= asks for others, never more than 500. The
    links to the next and previous pages start at the site's public address, as every
    other address the API gives does."""

    default_limit = 100
    max_limit = 500

    def get_next_link(self) -> str | None:
        return _public(super().get_next_link())

    def get_previous_link(self) -> str | None:
        return _public(super().get_previous_link())


def _public(link: str | None) -> str | None:
    """The link with the request's scheme and host replaced by EVALBUILDER_PUBLIC_URL."""
    if link is None:
        return None
    parts = urlsplit(link)
    return absolute_url(urlunsplit(("", "", parts.path, parts.query, "")))


def _filters(request: Request) -> ReportFilters:
    return ReportFilters.from_query(request.query_params)


# --- releases ----------------------------------------------------------------------------


def _releases(request: Request) -> QuerySet[Release]:
    visible = Release.objects.visible_to(request.user).prepared()
    return (
        visible.select_related(
            "suite", "grader", "taxonomy", "supersedes", "approved_by", "prepared_by"
        )
        # The correction the caller may see, in the same query as the release.
        .annotate(
            visible_successor=Subquery(
                visible.filter(supersedes=OuterRef("pk")).values("identifier")[:1]
            )
        )
        .order_by("series", "-version")
    )


@extend_schema(
    tags=["releases"],
    summary="Official releases",
    parameters=[serializers.ReleaseFilterSerializer],
    responses={
        200: serializers.ReleaseSerializer(many=True),
        400: OpenApiResponse(OpenApiTypes.OBJECT, description="A filter has an unknown value."),
        **REFUSED,
    },
)
class ReleaseList(ListAPIView):
    """Approved releases, newest version first in each series; drafts too for users who
    may prepare releases."""

    serializer_class = serializers.ReleaseSerializer
    pagination_class = Pages

    def get_queryset(self) -> QuerySet[Release]:
        query = serializers.ReleaseFilterSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        releases = _releases(self.request)
        if series := query.validated_data.get("series"):
            releases = releases.filter(series=series)
        if status := query.validated_data.get("status"):
            releases = releases.filter(status=status)
        return releases


@extend_schema(
    tags=["releases"],
    summary="One release, with its methodology, changes and table definitions",
    parameters=[IDENTIFIER],
    responses={200: serializers.ReleaseDetailSerializer, 404: NOT_FOUND, **REFUSED},
)
class ReleaseDetail(RetrieveAPIView):
    serializer_class = serializers.ReleaseDetailSerializer
    lookup_field = "identifier"

    def get_queryset(self) -> QuerySet[Release]:
        return _releases(self.request)


@extend_schema(
    tags=["releases"],
    summary="The stored rows of one table of a release",
    parameters=[
        IDENTIFIER,
        OpenApiParameter(
            "table_id", str, OpenApiParameter.PATH, enum=list(TABLE_BY_ID), description="Table."
        ),
    ],
    responses={200: serializers.ReleaseRowSerializer(many=True), 404: NOT_FOUND, **REFUSED},
)
class ReleaseTable(ListAPIView):
    """Rows exactly as approved: values, the short codes of missing figures, suppression."""

    serializer_class = serializers.ReleaseRowSerializer
    pagination_class = Pages

    def get_queryset(self) -> list[dict[str, Any]]:
        if getattr(self, "swagger_fake_view", False):
            return []
        release = get_object_or_404(_releases(self.request), identifier=self.kwargs["identifier"])
        table_id = self.kwargs["table_id"]
        if table_id not in TABLE_BY_ID:
            raise Http404("No such table.")
        return release.tables.get(table_id, [])


# --- public aggregates -------------------------------------------------------------------


@extend_schema(
    tags=["aggregates"],
    summary="The national index and every job category's frontier model",
    parameters=[
        *REPORT_PARAMETERS,
        OpenApiParameter(
            "success",
            int,
            enum=list(SUCCESS_LEVELS),
            description="Success level (%) the best model must reach; default 50.",
        ),
        OpenApiParameter(
            "min_tasks",
            int,
            enum=list(MIN_TASKS),
            description="Published tasks an occupation needs to count as covered; default 5.",
        ),
    ],
    responses={200: serializers.NationalSerializer, **REFUSED},
)
class National(APIView):
    """Live figures of the national overview page."""

    def get(self, request: Request) -> Response:
        success, min_tasks = national_options(request.query_params)
        overview = selectors.national_overview(
            _filters(request), success_level=success / 100, min_tasks=min_tasks
        )
        return Response(serializers.NationalSerializer(overview, context={"request": request}).data)


@extend_schema(
    tags=["aggregates"],
    summary="A job category: every model's figures, the frontier, trends and projections",
    parameters=[
        OpenApiParameter(
            "id",
            {"type": "integer", "minimum": 0},
            OpenApiParameter.PATH,
            description="The job category's id, as /api/national/ gives it.",
        ),
        *REPORT_PARAMETERS,
    ],
    responses={200: serializers.CategoryReportSerializer, 404: NOT_FOUND, **REFUSED},
)
class CategoryDetail(GenericAPIView):
    """Live figures of a job category page (id from /api/national/)."""

    queryset = Occupation.objects.filter(job_category_id=F("pk")).select_related("taxonomy")
    serializer_class = serializers.CategoryReportSerializer

    def get(self, request: Request, pk: int) -> Response:
        report = selectors.category_report(self.get_object(), _filters(request))
        return Response(self.get_serializer(report).data)


def _models_with_results() -> QuerySet[ModelEndpoint]:
    return ModelEndpoint.objects.filter(
        pk__in=TaskResult.objects.filter(attempts__gt=0).values("endpoint")
    ).order_by("release_date", "display_name")


@extend_schema(
    tags=["aggregates"],
    summary="Models with results",
    responses={200: serializers.ModelSerializer(many=True), **REFUSED},
)
class ModelList(ListAPIView):
    """Every model with scored results, by release date."""

    serializer_class = serializers.ModelSerializer
    pagination_class = Pages

    def get_queryset(self) -> QuerySet[ModelEndpoint]:
        return _models_with_results()


@extend_schema(
    tags=["aggregates"],
    summary="One model across job categories, with its time horizon",
    parameters=[
        OpenApiParameter("slug", SLUG, OpenApiParameter.PATH, description="The model's slug."),
        *REPORT_PARAMETERS,
    ],
    responses={200: serializers.ModelReportSerializer, 404: NOT_FOUND, **REFUSED},
)
class ModelDetail(GenericAPIView):
    """Live figures of a model page."""

    serializer_class = serializers.ModelReportSerializer
    lookup_field = "slug"

    def get_queryset(self) -> QuerySet[ModelEndpoint]:
        return _models_with_results()

    def get(self, request: Request, slug: str) -> Response:
        report = selectors.model_report(self.get_object(), _filters(request))
        return Response(self.get_serializer(report).data)
