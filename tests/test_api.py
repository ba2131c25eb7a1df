"""The read-only REST API: its OpenAPI schema, every endpoint answering as documented, who
sees drafts, and that no held-out task content ever leaves through it."""

from __future__ import annotations

import html
import json
import math
import re
from datetime import date

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from occupations.models import Occupation, Task
from reports import exports, releases, selectors, stats
from reports.api.serializers import (
    HorizonFrontierPointSerializer,
    UnboundedIntervalSerializer,
)
from reports.models import Release
from reports.release_tables import MISSING_CODES, TABLES
from reports.selectors import FrontierPoint, ModelFigures, ReportFilters
from runs.models import ModelEndpoint

pytestmark = pytest.mark.django_db

WRITES = ("post", "put", "patch", "delete")


# --- the documented shapes ----------------------------------------------------------------


def openapi(client) -> dict:
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def mismatches(value, schema: dict, document: dict, where: str = "body") -> list[str]:
    """Where a JSON value strays from an OpenAPI 3.0 schema: a key missing or not
    documented, a wrong type, a value outside an enum, a null where none is allowed."""
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if value is None and schema.get("nullable"):
        return []
    if "allOf" in schema:
        return [p for part in schema["allOf"] for p in mismatches(value, part, document, where)]
    if "oneOf" in schema or "anyOf" in schema:
        options = schema.get("oneOf") or schema["anyOf"]
        if any(not mismatches(value, option, document, where) for option in options):
            return []
        return [f"{where}: {value!r} matches none of {options}"]
    if "enum" in schema:
        return [] if value in schema["enum"] else [f"{where}: {value!r} not in {schema['enum']}"]
    if value is None:
        return [f"{where}: null is not documented"]
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{where}: {value!r} is not an object"]
        problems = []
        properties = schema.get("properties")
        if properties is not None:
            if set(value) != set(properties):
                problems.append(f"{where}: keys {sorted(value)} != {sorted(properties)}")
            for key in set(value) & set(properties):
                problems += mismatches(value[key], properties[key], document, f"{where}.{key}")
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, item in value.items():
                problems += mismatches(item, extra, document, f"{where}.{key}")
        return problems
    if kind == "array":
        if not isinstance(value, list):
            return [f"{where}: {value!r} is not an array"]
        return [
            p
            for i, item in enumerate(value)
            for p in mismatches(item, schema.get("items", {}), document, f"{where}[{i}]")
        ]
    expected = {
        "string": (str,),
        "integer": (int,),
        "number": (int, float),
        "boolean": (bool,),
    }.get(kind)
    if expected is None:
        return []
    if not isinstance(value, expected) or (kind != "boolean" and isinstance(value, bool)):
        return [f"{where}: {value!r} is not {kind}"]
    if schema.get("format") == "date":
        try:
            date.fromisoformat(value)
        except ValueError:
            return [f"{where}: {value!r} is not a date"]
    if schema.get("format") == "uri" and not value.startswith(("http://", "https://")):
        return [f"{where}: {value!r} is not an absolute address"]
    return []


def documented_urls(document: dict, substitutions: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(schema path, URL) for every GET path of the schema, with each path parameter
    replaced by every value given for it."""
    urls = []
    for path, operations in document["paths"].items():
        assert set(operations) <= {"get", "parameters"}, path
        expanded = [path]
        for name in re.findall(r"{(\w+)}", path):
            expanded = [u.replace(f"{{{name}}}", v) for u in expanded for v in substitutions[name]]
        urls += [(path, url) for url in expanded]
    return urls


@pytest.fixture
def substitutions(approved_release) -> dict[str, list[str]]:
    category = Occupation.objects.get(code="13-0000")
    return {
        "identifier": [approved_release.identifier],
        "table_id": [spec.id for spec in TABLES],
        "id": [str(category.pk)],
        "slug": ["sim-late"],
    }


def token_header(user) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Token {Token.objects.create(user=user).key}"}


# --- the schema ---------------------------------------------------------------------------


def test_the_openapi_schema_generates_and_validates_without_a_warning(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    text = target.read_text()
    assert "openapi: 3.0.3" in text
    for path in ("/api/releases/{identifier}/tables/{table_id}/", "/api/national/"):
        assert path in text


def test_the_schema_documents_token_authentication_and_every_filter(client):
    document = openapi(client)
    schemes = document["components"]["securitySchemes"]
    assert schemes["tokenAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": 'Token-based authentication with required prefix "Token"',
    }
    national = {p["name"] for p in document["paths"]["/api/national/"]["get"]["parameters"]}
    assert {"grader", "suite", "taxonomy", "level", "from", "to", "family", "model"} <= national
    listed = {p["name"] for p in document["paths"]["/api/releases/"]["get"]["parameters"]}
    assert {"series", "status", "limit", "offset"} <= listed


def test_every_documented_endpoint_answers_with_the_documented_shape(client, substitutions):
    document = openapi(client)
    urls = documented_urls(document, substitutions)
    assert len(urls) == 6 + len(TABLES)
    for path, url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["Content-Type"] == "application/json", url
        schema = document["paths"][path]["get"]["responses"]["200"]["content"]
        problems = mismatches(response.json(), schema["application/json"]["schema"], document)
        assert problems == [], (url, problems[:5])


def test_the_swagger_ui_is_served_from_this_site_without_a_cdn_or_an_inline_script(client):
    assert client.get("/api/").url == "/api/docs/"
    page = client.get("/api/docs/").content.decode()
    assert 'id="swagger-ui"' in page
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert not re.search(r"https?://", page)
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.DOTALL)
    assert len(scripts) == 3
    assert all('src="' in attributes and not body.strip() for attributes, body in scripts)
    # The start-up script is a file of its own, on this site, pointing at the schema.
    start = html.unescape(re.search(r'<script src="(/api/docs/\?[^"]*)"', page).group(1))
    script = client.get(start)
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()
    assert "/api/schema/" in script.content.decode()


def test_there_is_no_redoc_page_loading_fonts_from_elsewhere(client):
    assert client.get("/api/redoc/").status_code == 404


# --- releases -----------------------------------------------------------------------------


def test_a_release_gives_its_identity_checksum_and_a_download_for_every_format(
    client, approved_release
):
    body = client.get(f"/api/releases/{approved_release.identifier}/").json()
    assert body["identifier"] == "ai-and-work-v1" and body["status"] == "approved"
    assert body["checksum"] == approved_release.checksum and releases.verify(approved_release)
    assert body["release_date"] == approved_release.release_date.isoformat()
    assert body["grader"] == approved_release.grader.label
    assert [m["code"] for m in body["models"]] == ["sim-early", "sim-mid", "sim-late"]
    assert set(body["downloads"]) == set(exports.FORMATS)
    for key, url in body["downloads"].items():
        assert url.endswith(f"/releases/ai-and-work-v1/download/{key}/")
    assert body["methodology"] == approved_release.methodology
    assert body["disclosure_min_tasks"] == 2
    assert [t["id"] for t in body["tables"]] == [spec.id for spec in TABLES]
    national = body["tables"][0]
    assert national["columns"][0]["key"] == "ref_area"
    assert national["rows"] == len(approved_release.tables["national"])
    assert {c["code"] for c in body["missing_codes"]} == set(MISSING_CODES)
    assert {"c", "x", "z", "b", "n"} <= set(MISSING_CODES)


def test_a_table_answers_its_stored_rows_page_by_page_with_suppressed_figures_coded(
    client, approved_release
):
    stored = approved_release.tables["category_models"]
    assert len(stored) > 2
    url = f"/api/releases/{approved_release.identifier}/tables/category_models/"
    first = client.get(url, {"limit": 2}).json()
    assert first["count"] == len(stored)
    assert first["results"] == stored[:2]
    assert first["previous"] is None and "offset=2" in first["next"]
    rows = first["results"]
    while first["next"]:
        first = client.get(first["next"]).json()
        rows += first["results"]
    assert rows == stored

    url = f"/api/releases/{approved_release.identifier}/tables/job_categories/"
    suppressed = [r for r in client.get(url).json()["results"] if r["suppression"] is not None]
    assert suppressed, "the approved fixture suppresses some job categories"
    for row in suppressed:
        assert row["values"]["frontier_success_rate"] is None
        assert row["missing"]["frontier_success_rate"] == "c"


def test_drafts_are_invisible_anonymously_and_to_an_author_but_visible_to_an_analyst(
    client, make_release, users
):
    draft = make_release()
    assert draft.status == Release.Status.DRAFT
    detail = f"/api/releases/{draft.identifier}/"
    table = f"{detail}tables/national/"

    anonymous = client.get("/api/releases/").json()
    assert anonymous["count"] == 0
    assert client.get(detail).status_code == 404
    assert client.get(table).status_code == 404

    author = token_header(users["author"])
    assert client.get("/api/releases/", **author).json()["count"] == 0
    assert client.get(detail, **author).status_code == 404

    analyst = token_header(users["analyst"])
    listed = client.get("/api/releases/", {"status": "draft"}, **analyst).json()
    assert [r["identifier"] for r in listed["results"]] == [draft.identifier]
    assert client.get(detail, **analyst).json()["status"] == "draft"
    assert client.get(table, **analyst).json()["count"] == len(draft.tables["national"])

    client.force_login(users["analyst"])
    assert client.get(detail).json()["identifier"] == draft.identifier


def copies_of(release: Release, count: int) -> list[Release]:
    """`count` more releases with the release's figures and models, each its own series."""
    copies = []
    for _ in range(count):
        copy = Release.objects.get(pk=release.pk)
        copy.pk = None
        copy.series = f"{release.series}-copy-{Release.objects.count()}"
        # Saved as a draft, so its models may be set, then given the release's status.
        copy.status = Release.Status.DRAFT
        copy.save()
        copy.endpoints.set(release.endpoints.all())
        Release.objects.filter(pk=copy.pk).update(status=release.status)
        copies.append(Release.objects.get(pk=copy.pk))
    return copies


def test_the_release_list_asks_the_database_as_often_for_ten_releases_as_for_two(
    client, approved_release, users
):
    analyst = token_header(users["analyst"])
    correction = releases.correct(approved_release, user=users["analyst"], reason="Regraded.")

    def queries() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as captured:
            body = client.get("/api/releases/", **analyst).json()
        assert all(len(r["models"]) == 3 for r in body["results"])
        return len(captured), body["count"]

    few = queries()
    copies_of(approved_release, 8)
    many = queries()
    assert (few[1], many[1]) == (2, 10)
    assert many[0] == few[0]
    listed = client.get("/api/releases/", {"series": "ai-and-work"}, **analyst).json()
    assert [r["superseded_by"] for r in listed["results"]] == [None, correction.identifier]


def test_a_page_holds_at_most_500_items_whatever_limit_is_asked(client, make_release, users):
    draft = make_release()
    row = draft.tables["occupations"][0]
    Release.objects.filter(pk=draft.pk).update(tables={**draft.tables, "occupations": [row] * 1200})
    analyst = token_header(users["analyst"])
    url = f"/api/releases/{draft.identifier}/tables/occupations/"
    body = client.get(url, {"limit": 100000}, **analyst).json()
    assert body["count"] == 1200 and len(body["results"]) == 500
    assert "limit=500" in body["next"] and "offset=500" in body["next"]
    assert len(client.get(url, **analyst).json()["results"]) == 100


def test_page_links_start_at_the_public_address_like_every_other_link(
    client, approved_release, settings
):
    settings.EVALBUILDER_PUBLIC_URL = "https://stats.example.org/"
    url = f"/api/releases/{approved_release.identifier}/tables/category_models/"
    first = client.get(url, {"limit": 2}).json()
    assert first["next"].startswith(f"https://stats.example.org{url}?")
    second = client.get(first["next"]).json()
    assert second["previous"].startswith(f"https://stats.example.org{url}?")
    assert second["results"] == approved_release.tables["category_models"][2:4]
    release = client.get(f"/api/releases/{approved_release.identifier}/").json()
    assert release["api_url"].startswith("https://stats.example.org/api/")


def test_a_wrong_token_is_refused_rather_than_read_as_anonymous(client):
    response = client.get("/api/releases/", HTTP_AUTHORIZATION="Token not-a-real-key")
    assert response.status_code == 401


def test_a_correction_shows_what_changed_and_the_revisions_only_once_published(
    client, approved_release, users
):
    correction = releases.correct(
        approved_release, user=users["analyst"], reason="A grade was entered twice."
    )
    original = f"/api/releases/{approved_release.identifier}/"
    assert client.get(original).json()["superseded_by"] is None
    analyst = token_header(users["analyst"])
    assert client.get(original, **analyst).json()["superseded_by"] == correction.identifier

    releases.approve(correction, users["analyst"])
    body = client.get(f"/api/releases/{correction.identifier}/").json()
    assert body["supersedes"] == approved_release.identifier
    assert body["correction_reason"] == "A grade was entered twice."
    assert body["changes"] == correction.changes
    assert [(r["version"], r["status"]) for r in body["revisions"]] == [
        (1, "approved"),
        (2, "approved"),
    ]
    assert client.get(original).json()["superseded_by"] == correction.identifier
    series = client.get("/api/releases/", {"series": "ai-and-work"}).json()
    assert [r["version"] for r in series["results"]] == [2, 1]
    assert client.get("/api/releases/", {"series": "other"}).json()["count"] == 0


def test_an_unknown_status_filter_is_refused_naming_the_field(client):
    response = client.get("/api/releases/", {"status": "published"})
    assert response.status_code == 400
    assert "status" in response.json()


def test_unknown_identifiers_answer_404(client, approved_release, simulated_grader):
    occupation = Occupation.objects.exclude(job_category_id=F("pk")).first()
    for url in (
        "/api/releases/no-such-release-v1/",
        "/api/releases/no-such-release-v1/tables/national/",
        f"/api/releases/{approved_release.identifier}/tables/no_such_table/",
        "/api/categories/999999/",
        f"/api/categories/{occupation.pk}/",
        "/api/models/no-such-model/",
        f"/api/models/{simulated_grader.judge.slug}/",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "detail" in response.json(), url


def test_the_api_refuses_every_write(client, substitutions, approved_release, users):
    urls = documented_urls(openapi(client), substitutions)
    analyst = token_header(users["analyst"])
    for _, url in urls:
        for method in WRITES:
            assert getattr(client, method)(url).status_code in (403, 405), (method, url)
            assert getattr(client, method)(url, **analyst).status_code == 405, (method, url)
    assert Release.objects.filter(pk=approved_release.pk).exists()


# --- public aggregates --------------------------------------------------------------------


def test_the_national_figures_are_the_overview_pages_figures(client, graded_models):
    body = client.get("/api/national/", {"min_tasks": "1", "success": "50"}).json()
    overview = selectors.national_overview(
        ReportFilters.from_query({}), success_level=0.5, min_tasks=1
    )
    assert body["min_tasks"] == 1 and body["success_level"] == 0.5
    assert body["employment_index"] == pytest.approx(overview.employment_index)
    assert body["coverage"] == pytest.approx(overview.coverage)
    assert body["occupations_met"] == overview.occupations_met
    assert len(body["categories"]) == len(overview.categories)
    measured = [c for c in body["categories"] if c["success"] is not None]
    assert measured and all(
        c["success"]["low"] <= c["success"]["point"] <= c["success"]["high"] for c in measured
    )
    assert [p["date"] for p in body["index_over_time"]] == [
        "2023-06-01",
        "2024-06-01",
        "2025-06-01",
    ]


def test_report_filters_narrow_the_live_figures(client, graded_models):
    category = Occupation.objects.get(code="13-0000")
    everyone = client.get(f"/api/categories/{category.pk}/").json()
    assert [m["model"]["slug"] for m in everyone["models"]] == ["sim-early", "sim-mid", "sim-late"]
    recent = client.get(f"/api/categories/{category.pk}/", {"from": "2024-01-01"}).json()
    assert [m["model"]["slug"] for m in recent["models"]] == ["sim-mid", "sim-late"]
    assert recent["filters"]["released_from"] == "2024-01-01"
    borealis = client.get("/api/national/", {"family": "Borealis"}).json()
    assert borealis["filters"]["families"] == ["Borealis"]
    frontier = {c["frontier_model"]["slug"] for c in borealis["categories"] if c["frontier_model"]}
    assert frontier == {"sim-late"}


def test_a_category_gives_each_models_figures_with_intervals_and_its_trends(client, graded_models):
    category = Occupation.objects.get(code="13-0000")
    body = client.get(f"/api/categories/{category.pk}/").json()
    report = selectors.category_report(category, ReportFilters.from_query({}))
    assert body["category"]["code"] == "13-0000"
    for given, figures in zip(body["models"], report.models, strict=True):
        assert given["success"] == {
            "point": figures.success.point,
            "low": figures.success.low,
            "high": figures.success.high,
            "level": 0.95,
        }
        assert given["tasks"] == figures.tasks
    assert len(body["frontier"]) == len(report.frontier)
    if report.success_trend is not None:
        assert body["success_trend"]["to_50"]["extrapolation"] is True


def test_the_models_list_holds_the_models_with_results_and_not_the_judge(client, graded_models):
    body = client.get("/api/models/").json()
    assert [m["slug"] for m in body["results"]] == ["sim-early", "sim-mid", "sim-late"]
    model = client.get("/api/models/sim-late/").json()
    assert model["model"]["family"] == "Borealis"
    assert model["overall"]["tasks"] > 0 and model["categories"]


def test_infinite_horizons_are_null_with_a_flag():
    interval = UnboundedIntervalSerializer(stats.Interval(math.inf, 120.0, math.inf, 0.95)).data
    assert interval == {
        "point": None,
        "low": 120.0,
        "high": None,
        "level": 0.95,
        "infinite": True,
        "unbounded_above": True,
    }
    finite = UnboundedIntervalSerializer(stats.Interval(30.0, 20.0, 45.0, 0.95)).data
    assert finite["point"] == 30.0 and not finite["infinite"] and not finite["unbounded_above"]


def test_a_horizon_beyond_the_longest_task_is_null_on_the_frontier():
    endpoint = ModelEndpoint(slug="sim-late", display_name="Sim Late")
    figures = ModelFigures(endpoint, 9, 3, None, None, None, 0, None, 0, 0)
    body = HorizonFrontierPointSerializer(FrontierPoint(date(2025, 6, 1), math.inf, figures)).data
    assert body["minutes"] is None and body["beyond_longest_task"] is True
    assert json.loads(json.dumps(body, allow_nan=False))["model"]["slug"] == "sim-late"


# --- held-out protection ------------------------------------------------------------------


def held_out_text() -> list[str]:
    """What must never appear: titles, canary GUIDs, instructions, reference solutions and
    rubric text of every held-out task (long texts by their first line)."""
    found = []
    for task in Task.objects.filter(visibility=Task.Visibility.HELD_OUT):
        found += [task.title, str(task.canary), task.canary_string]
        for version in task.versions.all():
            texts = [version.instructions, version.context, version.reference_solution]
            texts += [criterion.text for criterion in version.criteria.all()]
            found += [t.strip().splitlines()[0][:80] for t in texts if t.strip()]
    return found


def test_no_held_out_task_content_appears_in_any_api_answer(
    client, substitutions, approved_release, make_release, users
):
    draft = make_release(series="ai-and-work-draft")
    secrets = held_out_text()
    assert len(secrets) >= 6, "the demo suite has held-out tasks"
    document = openapi(client)
    urls = [url for _, url in documented_urls(document, substitutions)]
    urls += [f"/api/releases/{draft.identifier}/"]
    urls += [f"/api/releases/{draft.identifier}/tables/{spec.id}/" for spec in TABLES]
    urls += ["/api/schema/", "/api/docs/", "/api/docs/?script="]
    urls += [f"/api/categories/{c.pk}/" for c in Occupation.objects.filter(job_category_id=F("pk"))]
    analyst = token_header(users["analyst"])
    scanned = 0
    for url in urls:
        response = client.get(url, **analyst)
        assert response.status_code == 200, url
        body = response.content.decode()
        for secret in secrets:
            assert secret not in body, (url, secret)
        scanned += 1
    assert scanned == len(urls)


def test_a_filter_value_with_a_nul_character_is_ignored_like_any_unknown_value(client, seeded):
    # PostgreSQL cannot compare text holding a NUL character: the value must not reach it.
    response = client.get("/api/national/", {"family": ["Aster\x00", "\x00"]})
    assert response.status_code == 200
    assert response.json()["filters"]["families"] == []
