"""Official releases as services: preparing, sealing, approving, correcting, disclosure."""

import copy
import datetime
import json
import math

import pytest
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from graders.models import Grade, Grader, GraderValidation
from graders.validation import release_gate
from occupations.models import Occupation, Suite, Task, TaskVersion
from reports import materialise, selectors
from reports.exports.base import metadata
from reports.models import Release
from reports.release_tables import MISSING_CODES, TABLES, format_code, table
from reports.releases import (
    ReleaseError,
    approve,
    correct,
    differences,
    revisions,
    verify,
)
from runs import services as run_services
from runs.models import ModelEndpoint, Run

pytestmark = pytest.mark.django_db

# How a reader tells rows apart from one release to the next, written out by hand.
ROW_KEYS = {
    "national": ("ref_area",),
    "national_over_time": ("time_period",),
    "job_categories": ("job_category_code",),
    "category_models": ("job_category_code", "model_code"),
    "models": ("model_code",),
    "category_trends": ("job_category_code",),
    "occupations": ("job_category_code", "occupation_code"),
}


def published(fraction: float) -> float:
    """A fraction as the release publishes it: a percentage to one decimal."""
    return round(fraction * 100, 1)


RATES = ("success_rate", "mean_score", "pass_at_k", "pass_hat_k")
"""A model's published means over tasks, each between 0 and 100 %."""


def at_a_bound(figures: selectors.ModelFigures) -> bool:
    """Whether the report shows one of these figures' rates at 0 or 100 % (as published)."""
    rates = [figures.success, figures.score]
    if figures.reliability is not None:
        rates += [figures.reliability.pass_at_k, figures.reliability.pass_hat_k]
    return any(rate is not None and published(rate.point) in (0, 100) for rate in rates)


def find(release: Release, table_id: str, **dimensions) -> dict:
    """The one stored row of a table with these column values."""
    rows = [
        row
        for row in release.tables[table_id]
        if all(row["values"][key] == value for key, value in dimensions.items())
    ]
    assert len(rows) == 1, (table_id, dimensions, len(rows))
    return rows[0]


def filters_of(release: Release) -> selectors.ReportFilters:
    """The report filters a release's scope stands for."""
    return selectors.ReportFilters(
        grader=release.grader,
        suite=release.suite,
        endpoints=tuple(sorted(release.endpoints.values_list("pk", flat=True))),
        released_from=release.period_start,
        released_to=release.period_end,
        taxonomy=release.taxonomy,
    )


def fail_every_attempt(run: Run) -> None:
    """Regrade a run so that none of its attempts succeed, and refresh the report tables."""
    Grade.objects.filter(sample__run=run, status=Grade.Status.SCORED).update(success=False)
    materialise.refresh_run(run.pk)


def shown(row: dict | None, key: str) -> str:
    if row is None:
        return "(no row)"
    value = row["values"][key]
    return format_code(row["missing"][key]) if value is None else str(value)


def every_difference(old: dict, new: dict) -> set[tuple]:
    """Each (table, row, column header, old, new) that differs, compared cell by cell."""
    found = set()
    for spec in TABLES:
        keys = ROW_KEYS[spec.id]

        def label(row, keys=keys):
            return " / ".join(str(row["values"][k]) for k in keys)

        before = {label(row): row for row in old[spec.id]}
        after = {label(row): row for row in new[spec.id]}
        for name in set(before) | set(after):
            for column in spec.columns:
                was, now = shown(before.get(name), column.key), shown(after.get(name), column.key)
                if was != now:
                    found.add((spec.id, name, column.header, was, now))
    return found


def change_set(release: Release) -> set[tuple]:
    return {(c["table"], c["row"], c["column"], c["old"], c["new"]) for c in release.changes}


@pytest.fixture
def open_release(make_release, users) -> Release:
    """An approved release with a threshold of one task: every figure is published."""
    return approve(make_release(disclosure_min_tasks=1), users["analyst"])


# --- freezing the figures ----------------------------------------------------------------


def test_a_release_holds_the_figures_the_reports_show_for_its_scope(make_release):
    # With a threshold of one task nothing is withheld, so every figure can be compared.
    release = make_release(disclosure_min_tasks=1)
    filters = filters_of(release)
    assert release.status == Release.Status.DRAFT and release.identifier == "ai-and-work-v1"
    assert release.methodology["suppressed"] == {"primary": 0, "secondary": 0}

    nation = selectors.national_overview(filters, success_level=0.5, min_tasks=5)
    national = release.tables["national"][0]["values"]
    assert national["occupations"] == nation.occupations
    assert national["occupations_covered"] == nation.occupations_covered
    assert national["employment"] == nation.employment_total
    assert national["employment_coverage"] == published(nation.coverage)
    if nation.employment_index is None:
        assert release.tables["national"][0]["missing"]["employment_index"] == "x"
    else:
        assert national["employment_index"] == published(nation.employment_index)

    category = Occupation.objects.get(code="13-0000")
    report = selectors.category_report(category, filters, min_tasks=5)
    for figures in report.models:
        row = find(
            release,
            "category_models",
            job_category_code="13-0000",
            model_code=figures.endpoint.slug,
        )["values"]
        assert row["tasks"] == figures.tasks == 3
        assert row["samples"] == figures.samples
        assert row["success_rate"] == published(figures.success.point)
        assert row["success_rate_lower"] == published(figures.success.low)
        assert row["success_rate_upper"] == published(figures.success.high)
        assert row["mean_score"] == published(figures.score.point)

    named = 0
    for overview in nation.categories:
        if overview.frontier_model is None:
            continue
        row = find(release, "job_categories", job_category_code=overview.category.code)
        assert row["values"]["frontier_model_code"] == overview.frontier_model.slug
        assert row["values"]["frontier_model"] == overview.frontier_model.display_name
        assert row["values"]["frontier_success_rate"] == published(overview.success.point)
        named += 1
    assert named == 10  # the demo suite's job categories

    for endpoint in release.endpoints.all():
        overall = selectors.model_report(endpoint, filters).overall
        row = find(release, "models", model_code=endpoint.slug)["values"]
        assert (row["tasks"], row["samples"]) == (overall.tasks, overall.samples)
        assert row["model"] == endpoint.display_name
        assert row["release_date"] == endpoint.release_date.isoformat()
        assert (row["success_rate_lower"], row["success_rate"], row["success_rate_upper"]) == (
            published(overall.success.low),
            published(overall.success.point),
            published(overall.success.high),
        )
        assert row["mean_score"] == published(overall.score.point)


def horizon_columns(key: str) -> tuple[str, str, str]:
    return key, f"{key}_lower", f"{key}_upper"


def assert_horizons_as_the_pages_read_them(row: dict, figures: selectors.ModelFigures) -> set:
    """Each horizon of a stored row as the report pages read the model's fit: [x] with no
    fit or a curve that does not fall, [b] when the curve is still at the level on the
    longest task, otherwise the crossing with [u] for an unbounded side. The cases met."""
    seen = set()
    for key, name, level in (
        ("horizon_p50", "p50_minutes", 0.5),
        ("horizon_p80", "p80_minutes", 0.8),
    ):
        columns = horizon_columns(key)
        estimate, longest = figures.horizon, figures.longest_task_minutes
        if estimate is None:
            expected = "x"
        elif estimate.fit.success_probability(longest) >= level:
            expected = "b"
        elif not estimate.fit.decreasing or not math.isfinite(getattr(estimate, name).point):
            expected = "x"
        else:
            expected = "published"
        seen.add(expected)
        if expected != "published":
            assert [row["missing"].get(c) for c in columns] == [expected] * 3, (key, row)
            assert all(row["values"][c] is None for c in columns)
            continue
        interval = getattr(estimate, name)
        assert row["values"][key] == round(interval.point, 1)
        for column, side in ((columns[1], interval.low), (columns[2], interval.high)):
            if math.isfinite(side):
                assert row["values"][column] == round(side, 1)
            else:
                assert row["values"][column] is None and row["missing"][column] == "u"
    return seen


def test_time_horizons_and_projections_are_published_as_the_report_pages_read_them(make_release):
    release = make_release(disclosure_min_tasks=1)
    filters = filters_of(release)
    overall = {e.slug: selectors.model_report(e, filters).overall for e in release.endpoints.all()}

    # Every horizon, over all tasks and per job category, follows the pages' reading. The
    # simulated outcomes depend on database ids, so the rule is checked wherever it lands.
    seen: set[str] = set()
    for slug, figures in overall.items():
        row = find(release, "models", model_code=slug)
        seen |= assert_horizons_as_the_pages_read_them(row, figures)
    categories = {o.code: o for o in Occupation.objects.filter(job_category_id=F("pk"))}
    for row in release.tables["category_models"]:
        report = selectors.category_report(categories[row["values"]["job_category_code"]], filters)
        figures = next(m for m in report.models if m.endpoint.slug == row["values"]["model_code"])
        seen |= assert_horizons_as_the_pages_read_them(row, figures)
    # The demo's models succeed more often on later release dates, so some horizon is out
    # of reach ([x]) and some is published or beyond the longest task.
    assert "x" in seen and seen & {"published", "b"}

    unbounded = 0
    for row in release.tables["category_trends"]:
        category = Occupation.objects.get(code=row["values"]["job_category_code"])
        report = selectors.category_report(category, filters)
        success, horizon = report.success_trend, report.horizon_trend
        for key, projection in (
            ("success_50_date", success.to_50 if success else None),
            ("success_80_date", success.to_80 if success else None),
            ("working_day_date", horizon.to_working_day if horizon else None),
        ):
            lower, upper = f"{key}_lower", f"{key}_upper"
            if projection is None or projection.when is None:
                code = "x"
                if projection is not None and projection.never_crossed:
                    code = "n"
                elif projection is not None and projection.already_crossed:
                    code = "r"
                assert [row["missing"].get(c) for c in (key, lower, upper)] == [code] * 3
                continue
            assert row["values"][key] == projection.when.isoformat()
            for column, side in ((lower, projection.low), (upper, projection.high)):
                if side is None:
                    assert row["values"][column] is None and row["missing"][column] == "u"
                    unbounded += 1
                else:
                    assert row["values"][column] == side.isoformat()
    assert unbounded > 0


def test_results_that_arrive_after_preparation_do_not_change_a_release(
    open_release, graded_models, make_release, django_capture_on_commit_callbacks
):
    frozen, seal = copy.deepcopy(open_release.tables), open_release.checksum
    late = graded_models[-1]
    before = find(open_release, "models", model_code="sim-late")["values"]["success_rate"]
    assert before > 0

    fail_every_attempt(late)
    with django_capture_on_commit_callbacks(execute=True):
        extra = run_services.create_run(late.suite, graded_models[0].endpoint, samples_per_task=2)
    assert Run.objects.get(pk=extra.pk).status == Run.Status.COMPLETED

    open_release.refresh_from_db()
    assert open_release.tables == frozen and open_release.checksum == seal
    assert verify(open_release)
    # The reports moved on: a new release of the same scope shows the new figures.
    fresh = make_release(series="ai-and-work-later", disclosure_min_tasks=1)
    assert find(fresh, "models", model_code="sim-late")["values"]["success_rate"] == 0
    early = find(fresh, "models", model_code="sim-early")["values"]["samples"]
    assert early > find(open_release, "models", model_code="sim-early")["values"]["samples"]


def test_a_release_takes_the_models_released_in_its_period_and_the_default_threshold(
    make_release, settings
):
    settings.EVALBUILDER_DISCLOSURE_MIN_TASKS = 4
    release = make_release(period_start=datetime.date(2024, 1, 1))
    assert set(release.endpoints.values_list("slug", flat=True)) == {"sim-mid", "sim-late"}
    assert [r["values"]["model_code"] for r in release.tables["models"]] == ["sim-mid", "sim-late"]
    assert release.disclosure_min_tasks == 4
    with pytest.raises(ReleaseError) as refused:
        make_release(series="empty", period_start=datetime.date(2025, 7, 1))
    assert "endpoints" in refused.value.message_dict
    assert make_release(series="strict", disclosure_min_tasks=9).disclosure_min_tasks == 9


# --- the checksum and approval -----------------------------------------------------------


def test_a_tampered_release_fails_its_checksum_and_cannot_be_approved(make_release, users):
    release = make_release()
    assert len(release.checksum) == 64 and verify(release)

    tables = copy.deepcopy(release.tables)
    tables["models"][0]["values"]["tasks"] += 1
    Release.objects.filter(pk=release.pk).update(tables=tables)
    release.refresh_from_db()
    assert not verify(release)
    with pytest.raises(ReleaseError, match="checksum"):
        approve(release, users["analyst"])
    assert Release.objects.get(pk=release.pk).status == Release.Status.DRAFT

    other = make_release(series="other")
    methodology_sealed = other.methodology
    methodology = copy.deepcopy(other.methodology)
    methodology["sections"][0]["paragraphs"].append("A sentence added after preparation.")
    Release.objects.filter(pk=other.pk).update(methodology=methodology)
    other.refresh_from_db()
    assert not verify(other)

    # The checksum also covers what the release says about itself and what it corrects.
    Release.objects.filter(pk=other.pk).update(methodology=methodology_sealed)
    assert verify(Release.objects.get(pk=other.pk))
    scope = copy.deepcopy(other.scope)
    scope["models"][0]["name"] = "Another name"
    for field, value in (
        ("scope", scope),
        ("description", "Another description."),
        ("correction_reason", "A reason added later."),
        ("changes", [{"table": "models", "row": "x", "column": "y", "old": "1", "new": "2"}]),
        ("supersedes", release),
    ):
        sealed = getattr(Release.objects.get(pk=other.pk), field)
        Release.objects.filter(pk=other.pk).update(**{field: value})
        assert not verify(Release.objects.get(pk=other.pk)), field
        Release.objects.filter(pk=other.pk).update(**{field: sealed})
    assert verify(Release.objects.get(pk=other.pk))


def test_approval_needs_the_permission_records_who_and_when_and_happens_once(make_release, users):
    release = make_release()
    for role in ("author", "reviewer", "operator"):
        with pytest.raises(PermissionDenied):
            approve(release, users[role])
    assert Release.objects.get(pk=release.pk).status == Release.Status.DRAFT

    approved = approve(release, users["analyst"])
    assert approved.status == Release.Status.APPROVED and approved.is_approved
    assert approved.approved_by == users["analyst"]
    assert approved.approved_at is not None
    assert approved.release_date == timezone.localdate()
    assert approved.prepared_by == users["analyst"]
    assert verify(approved)
    with pytest.raises(ReleaseError, match="already approved"):
        approve(release, users["admin"])
    assert Release.objects.get(pk=release.pk).approved_by == users["analyst"]


def test_an_approved_release_can_be_neither_saved_nor_deleted_but_a_draft_can_go(
    approved_release, make_release
):
    title = approved_release.title
    approved_release.title = "Another title"
    with pytest.raises(ValueError, match="approved"):
        approved_release.save()
    with pytest.raises(ValueError, match="approved"):
        approved_release.delete()
    assert Release.objects.get(pk=approved_release.pk).title == title
    draft = make_release(series="discarded")
    draft.delete()
    assert list(Release.objects.all()) == [approved_release]


def test_an_approved_release_refuses_bulk_changes_and_changes_to_its_models_from_either_side(
    approved_release, make_release, make_endpoint, users
):
    models = set(approved_release.endpoints.values_list("slug", flat=True))
    approved = Release.objects.filter(pk=approved_release.pk)
    with pytest.raises(ValueError, match="Approved releases cannot change"):
        approved.update(title="Another title")
    with pytest.raises(ValueError, match="Approved releases cannot be deleted"):
        approved.delete()
    endpoint = approved_release.endpoints.get(slug="sim-mid")
    newcomer = make_endpoint("sim-new")
    for change in (
        lambda: approved_release.endpoints.remove(endpoint),
        lambda: approved_release.endpoints.add(newcomer),
        lambda: approved_release.endpoints.set([endpoint]),
        lambda: approved_release.endpoints.clear(),
        lambda: endpoint.releases.remove(approved_release),
        lambda: endpoint.releases.clear(),
        lambda: newcomer.releases.add(approved_release),
    ):
        # Refused inside Django's own transaction for the change: roll back to a savepoint.
        refused = pytest.raises(ValueError, match="models of an approved release cannot change")
        with refused, transaction.atomic():
            change()
    fresh = Release.objects.get(pk=approved_release.pk)
    assert set(fresh.endpoints.values_list("slug", flat=True)) == models
    assert fresh.title == approved_release.title and verify(fresh)

    # A copy loaded while the release was a draft cannot delete it once it is approved.
    draft = make_release(series="approved-meanwhile")
    stale = Release.objects.get(pk=draft.pk)
    approve(draft, users["analyst"])
    with pytest.raises(ValueError, match="approved"):
        stale.delete()
    assert Release.objects.filter(pk=draft.pk, status=Release.Status.APPROVED).exists()

    # Drafts stay open to change, one by one and in bulk, and one approved release among
    # many keeps a bulk delete from starting.
    draft = make_release(series="still-a-draft")
    draft.endpoints.remove(endpoint)
    assert Release.objects.filter(pk=draft.pk).update(title="Retitled") == 1
    with pytest.raises(ValueError, match="Approved releases cannot be deleted"):
        Release.objects.all().delete()
    assert Release.objects.count() == 3
    Release.objects.filter(status=Release.Status.DRAFT).delete()
    assert Release.objects.count() == 2


def test_renaming_a_model_after_approval_changes_neither_the_release_nor_its_exports(
    approved_release,
):
    endpoint = ModelEndpoint.objects.get(slug="sim-mid")
    endpoint.display_name = "Sim Mid (renamed)"
    endpoint.family = "Cassiopeia"
    endpoint.release_date = datetime.date(2024, 7, 1)
    endpoint.save()

    release = Release.objects.get(pk=approved_release.pk)
    assert verify(release)
    described = metadata(release)["models"]
    assert [m["code"] for m in described] == ["sim-early", "sim-mid", "sim-late"]
    assert described[1] == {"code": "sim-mid", "name": "Sim Mid", "release_date": "2024-06-01"}
    assert release.scope["models"][1]["family"] == "Aster"
    assert find(release, "models", model_code="sim-mid")["values"]["model"] == "Sim Mid"
    assert "Sim Mid (renamed)" not in json.dumps([release.scope, release.methodology])


# --- the release gate --------------------------------------------------------------------


def test_an_unvalidated_llm_grader_is_refused_at_preparation_and_at_approval(
    make_release, simulated_grader, users, settings
):
    draft = make_release()
    settings.EVALBUILDER_RELEASE_REQUIRES_VALIDATION = True
    allowed, reason = release_gate(simulated_grader)
    assert not allowed and "never been validated" in reason
    with pytest.raises(ReleaseError) as refused:
        make_release(series="gated")
    assert refused.value.message_dict == {"grader": [reason]}
    assert not Release.objects.filter(series="gated").exists()
    with pytest.raises(ReleaseError) as refused:
        approve(draft, users["analyst"])
    assert refused.value.message_dict == {"grader": [reason]}
    assert Release.objects.get(pk=draft.pk).status == Release.Status.DRAFT


def test_a_grader_that_passed_its_validation_enters_a_release(
    make_release, simulated_grader, users, settings
):
    settings.EVALBUILDER_RELEASE_REQUIRES_VALIDATION = True
    experts = Grader.objects.create(name="Expert panel", kind=Grader.Kind.HUMAN)
    GraderValidation.objects.create(
        grader=simulated_grader,
        experts=experts,
        samples=40,
        items=200,
        margin=0.05,
        passed=True,
        figures={"reason": "Agreement within the margin of the experts' own."},
    )
    release = approve(make_release(), users["analyst"])
    grader_section = next(s for s in release.methodology["sections"] if s["heading"] == "Grader")
    assert any("passed its latest validation" in p for p in grader_section["paragraphs"])


# --- series and corrections --------------------------------------------------------------


def test_a_series_takes_new_versions_only_by_correcting_an_approved_release(
    approved_release, make_release, users
):
    with pytest.raises(ReleaseError) as refused:
        make_release()
    (message,) = refused.value.message_dict["series"]
    assert "already has releases" in message and "correct the latest" in message
    with pytest.raises(ReleaseError) as refused:
        correct(approved_release, user=users["analyst"], reason="   ")
    assert "correction_reason" in refused.value.message_dict
    draft = make_release(series="ai-and-work-2026")
    assert draft.identifier == "ai-and-work-2026-v1"
    with pytest.raises(ReleaseError, match="Only an approved release"):
        correct(draft, user=users["analyst"], reason="A typo.")
    assert Release.objects.count() == 2


def test_a_correction_is_the_next_version_and_records_nothing_changed_when_nothing_did(
    approved_release, users
):
    correction = correct(approved_release, user=users["analyst"], reason="  Checked again.  ")
    assert correction.version == 2 and correction.identifier == "ai-and-work-v2"
    assert correction.supersedes == approved_release and correction.status == "draft"
    assert correction.correction_reason == "Checked again."
    assert correction.disclosure_min_tasks == approved_release.disclosure_min_tasks
    assert set(correction.endpoints.all()) == set(approved_release.endpoints.all())
    assert correction.tables == approved_release.tables
    assert correction.changes == [] and verify(correction)
    assert revisions(correction) == [approved_release, correction]


def test_a_correction_lists_exactly_the_figures_that_changed(open_release, graded_models, users):
    fail_every_attempt(graded_models[-1])
    correction = correct(open_release, user=users["analyst"], reason="Judge fixed.")
    changes = change_set(correction)
    assert len(correction.changes) == len(changes)
    assert changes == every_difference(open_release.tables, correction.tables)
    recomputed = differences(open_release.tables, correction.tables)
    assert changes == {tuple(change.values()) for change in recomputed}

    old = find(open_release, "models", model_code="sim-late")["values"]["success_rate"]
    assert ("models", "sim-late", "Success rate (%)", str(old), "0.0") in changes
    # Only sim-late's own figures moved; a new frontier is a changed figure on the same row.
    for table_id, row, *_ in changes:
        if table_id in ("models", "category_models"):
            assert row.endswith("sim-late")
    assert not any(column.startswith("Employment") for _, _, column, _, _ in changes)
    frontier = {
        (row, old, new)
        for table_id, row, column, old, new in changes
        if table_id == "job_categories" and column == "Frontier model code"
    }
    assert frontier and all(old == "sim-late" for _, old, _ in frontier)

    approve(correction, users["analyst"])
    identifiers = [r.identifier for r in revisions(open_release)]
    assert identifiers == ["ai-and-work-v1", "ai-and-work-v2"]


def test_a_stricter_threshold_in_a_correction_shows_as_newly_suppressed_figures(
    approved_release, make_release
):
    correction = make_release(
        supersedes=approved_release, correction_reason="Threshold raised.", disclosure_min_tasks=3
    )
    changes = change_set(correction)
    assert changes and changes == every_difference(approved_release.tables, correction.tables)
    assert {new for *_, new in changes} == {"[c]"}
    rows = {(table_id, row.split(" / ")[0]) for table_id, row, *_ in changes}
    assert {category for _, category in rows} == {"15-0000", "29-0000", "43-0000"}
    # Their frontier figures and trends were already withheld (secondary suppressions), so
    # a reader sees only the other models' figures change; the reason moves to primary.
    assert {t for t, _ in rows} == {"category_models"}
    for category in ("15-0000", "29-0000", "43-0000"):
        for table_id in ("job_categories", "category_trends"):
            before = find(approved_release, table_id, job_category_code=category)
            after = find(correction, table_id, job_category_code=category)
            assert before["suppression"] == "D" and after["suppression"] == "C"


def test_only_the_latest_release_of_a_series_can_be_corrected_and_only_once(
    approved_release, make_release, users
):
    analyst = users["analyst"]
    correction = correct(approved_release, user=analyst, reason="First look.")
    with pytest.raises(ReleaseError, match="already corrected by ai-and-work-v2"):
        correct(approved_release, user=analyst, reason="Second look.")
    fresh = Release.objects.get(pk=approved_release.pk)
    with pytest.raises(ReleaseError, match="already corrected by ai-and-work-v2"):
        correct(fresh, user=analyst, reason="Second look.")
    correction = approve(correction, analyst)
    with pytest.raises(ReleaseError, match="already corrected"):
        correct(fresh, user=analyst, reason="Third look.")
    with pytest.raises(ReleaseError) as refused:
        make_release(supersedes=fresh, correction_reason="Again.")
    (message,) = refused.value.message_dict["supersedes"]
    assert "ai-and-work-v2" in message
    third = correct(correction, user=analyst, reason="Third look.")
    assert (third.version, third.supersedes) == (3, correction)
    assert Release.objects.filter(series="ai-and-work").count() == 3


def test_a_correction_sees_figures_edited_behind_the_back_of_the_cached_report_pages(
    approved_release, users
):
    filters = filters_of(approved_release)
    category = Occupation.objects.get(code="13-0000")
    occupation = Occupation.objects.get(code="13-1071")
    before = occupation.employment
    # The report pages cache their figures, and an edit that sends no signal leaves them stale.
    selectors.national_overview(filters, success_level=0.5, min_tasks=5)
    selectors.category_report(category, filters, min_tasks=5)
    Occupation.objects.filter(pk=occupation.pk).update(employment=before + 1000)
    cached = selectors.category_report(category, filters, min_tasks=5)
    assert next(r for r in cached.occupations if r.occupation == occupation).employment == before

    correction = correct(approved_release, user=users["analyst"], reason="Employment revised.")
    row = find(correction, "occupations", occupation_code="13-1071")
    assert row["values"]["employment"] == before + 1000
    changes = change_set(correction)
    assert (
        "occupations",
        "13-0000 / 13-1071",
        "Employment (persons)",
        str(before),
        str(before + 1000),
    ) in changes
    assert changes == every_difference(approved_release.tables, correction.tables)


def test_two_preparations_of_the_same_new_series_leave_one_release(make_release, monkeypatch):
    first = make_release(series="ai-and-work-2026")
    with pytest.raises(ReleaseError) as refused:
        make_release(series="ai-and-work-2026", title="The other one")
    assert "series" in refused.value.message_dict
    assert list(Release.objects.filter(series="ai-and-work-2026")) == [first]

    # Another preparation may save the same version between this one's look at the series
    # and its own save: the database refuses the later one, with a message that says why.
    save = Release.save
    raced: list[Release] = []

    def save_after_a_rival(release: Release, *args, **kwargs) -> None:
        if release.pk is None and release.series == "ai-and-work-2027" and not raced:
            rival = Release.objects.get(pk=first.pk)
            rival.pk, rival.series = None, "ai-and-work-2027"
            save(rival)
            raced.append(rival)
        save(release, *args, **kwargs)

    monkeypatch.setattr(Release, "save", save_after_a_rival)
    with pytest.raises(ReleaseError) as refused:
        make_release(series="ai-and-work-2027")
    (message,) = refused.value.message_dict["series"]
    assert "changed while this release was prepared" in message
    assert raced and raced[0].version == 1


def test_a_correction_cannot_be_approved_before_the_release_it_corrects(make_release, users):
    first = make_release()
    second = make_release(supersedes=first, correction_reason="Early fix.")
    with pytest.raises(ReleaseError, match="corrects first"):
        approve(second, users["analyst"])
    approve(first, users["analyst"])
    assert approve(second, users["analyst"]).is_approved


# --- disclosure control in a release -----------------------------------------------------


def suppressed_cells(release: Release, code: str) -> int:
    """Cells withheld with a code: a job category's frontier shares its category x model
    cell, so the job_categories table is not counted again."""
    return sum(
        row["suppression"] == code
        for table_id in ("category_models", "models", "category_trends", "occupations")
        for row in release.tables[table_id]
    )


def test_a_high_threshold_suppresses_every_category_figure_and_the_totals_that_give_them_away(
    make_release,
):
    release = make_release(disclosure_min_tasks=10)
    filters = filters_of(release)
    suppressible = [c.key for c in table("category_models").columns if c.suppressible]
    assert "success_rate_upper" in suppressible and "tasks" not in suppressible
    for row in release.tables["category_models"]:
        assert row["suppression"] == "C"
        assert all(row["values"][key] is None for key in suppressible)
        assert all(row["missing"][key] == "c" for key in suppressible)
        assert row["values"]["tasks"] < 10 and row["values"]["samples"] > 0
    categories = release.tables["job_categories"]
    assert any(row["suppression"] == "C" for row in categories)
    for row in categories:
        if row["suppression"] is None:  # no task in the category: no frontier to name
            assert row["values"]["frontier_tasks"] is None
            assert row["missing"]["frontier_model_code"] == "x"
            assert row["missing"]["frontier_success_rate"] == "x"
        else:  # which model leads a suppressed category is withheld too
            assert row["suppression"] == "C" and row["values"]["frontier_success_rate"] is None
            for key in ("frontier_model_code", "frontier_model"):
                assert row["values"][key] is None and row["missing"][key] == "c"
    # A model total stays published unless a rate of it sits at 0 or 100 %, which would
    # give every suppressed category of that model away.
    at_bound = set()
    for row in release.tables["models"]:
        assert row["values"]["tasks"] == 15
        endpoint = release.endpoints.get(slug=row["values"]["model_code"])
        if at_a_bound(selectors.model_report(endpoint, filters).overall):
            at_bound.add(endpoint.slug)
            assert row["suppression"] == "D" and row["values"]["success_rate"] is None
        else:
            assert row["suppression"] is None and row["values"]["success_rate"] is not None
    assert release.methodology["suppressed"] == {
        "primary": suppressed_cells(release, "C"),
        "secondary": suppressed_cells(release, "D"),
    }
    assert release.methodology["suppressed"]["secondary"] == len(at_bound)


@pytest.fixture
def partial_suite(graded_models, demo_suite, django_capture_on_commit_callbacks) -> Suite:
    """The demo tasks of four job categories (3, 2, 2 and 2 tasks) and one task of a fifth,
    run by the three graded models, so that one category of each model falls below 2."""
    versions = list(
        demo_suite.task_versions.filter(
            task__occupation__job_category__code__in=["13-0000", "15-0000", "29-0000", "43-0000"]
        )
    )
    versions.append(
        demo_suite.task_versions.filter(task__occupation__job_category__code="17-0000").first()
    )
    suite = Suite.objects.create(name="Partial", slug="partial")
    suite.task_versions.set(versions)
    for run in graded_models:
        with django_capture_on_commit_callbacks(execute=True):
            run_services.create_run(suite, run.endpoint, samples_per_task=3)
    return suite


def test_a_lone_suppressed_category_of_a_model_takes_its_smallest_sibling_with_it(
    make_release, partial_suite
):
    release = make_release(suite=partial_suite, series="partial", disclosure_min_tasks=2)
    filters = filters_of(release)
    assert release.endpoints.count() == 3
    for endpoint in release.endpoints.all():
        rows = [
            r
            for r in release.tables["category_models"]
            if r["values"]["model_code"] == endpoint.slug
        ]
        by_category = {r["values"]["job_category_code"]: r for r in rows}
        assert by_category["17-0000"]["suppression"] == "C"
        assert by_category["17-0000"]["values"]["tasks"] == 1
        # 15-0000 is the first of the smallest other categories (2 tasks each).
        assert by_category["15-0000"]["suppression"] == "D"
        assert by_category["15-0000"]["values"]["success_rate"] is None
        assert by_category["15-0000"]["missing"]["success_rate"] == "c"
        assert by_category["15-0000"]["values"]["tasks"] == 2
        total = find(release, "models", model_code=endpoint.slug)
        assert total["values"]["tasks"] == 10
        # The total is published unless it sits at 0 or 100 %, where it would give away
        # the suppressed category.
        if at_a_bound(selectors.model_report(endpoint, filters).overall):
            assert total["suppression"] == "D"
        else:
            assert total["suppression"] is None and total["values"]["success_rate"] is not None
        # No model is left with exactly one withheld figure among its categories and total.
        withheld = [r["suppression"] for r in (*rows, total)]
        assert len(withheld) - withheld.count(None) != 1
    assert find(release, "job_categories", job_category_code="15-0000")["suppression"] == "D"
    counts = release.methodology["suppressed"]
    assert counts == {
        "primary": suppressed_cells(release, "C"),
        "secondary": suppressed_cells(release, "D"),
    }
    disclosure = next(
        s for s in release.methodology["sections"] if s["heading"] == "Disclosure control"
    )
    assert (
        f"{counts['primary']} groups of figures were suppressed and {counts['secondary']} more"
        in disclosure["paragraphs"][1]
    )


def totals_and_parts(release: Release) -> list[tuple[str, dict, selectors.ModelFigures, list]]:
    """Each total of the release with its report figures and the rows of its parts: a model's
    figures over its job categories, and a model's figures in a job category over the
    occupations where the report names it the best model."""
    filters = filters_of(release)
    found = []
    for endpoint in release.endpoints.all():
        parts = [
            row
            for row in release.tables["category_models"]
            if row["values"]["model_code"] == endpoint.slug
        ]
        total = find(release, "models", model_code=endpoint.slug)
        figures = selectors.model_report(endpoint, filters).overall
        found.append((endpoint.slug, total, figures, parts))
    min_tasks = max(release.disclosure_min_tasks, selectors.MIN_TASKS)
    codes = {row["values"]["job_category_code"] for row in release.tables["category_models"]}
    for category in Occupation.objects.filter(code__in=codes):
        report = selectors.category_report(category, filters, min_tasks=min_tasks)
        for figures in report.models:
            slug = figures.endpoint.slug
            parts = [
                find(release, "occupations", occupation_code=row.occupation.code)
                for row in report.occupations
                if row.best_model == figures.endpoint
            ]
            total = find(
                release, "category_models", job_category_code=category.code, model_code=slug
            )
            found.append((f"{category.code} / {slug}", total, figures, parts))
    return found


def test_no_suppressed_figure_can_be_worked_back_from_a_total_at_0_or_100_percent(
    approved_release,
):
    withheld_at_bound = set()
    for name, total, figures, parts in totals_and_parts(approved_release):
        hidden = [part for part in parts if part["suppression"]]
        if total["suppression"] is None:
            shown = [total["values"][key] for key in RATES]
            assert not (hidden and any(value in (0, 100) for value in shown)), name
        elif hidden and at_a_bound(figures):
            # Withheld on its own few tasks, or else to protect its parts.
            enough = total["values"]["tasks"] >= approved_release.disclosure_min_tasks
            assert total["suppression"] == ("D" if enough else "C"), name
            if enough:
                withheld_at_bound.add(name)
    # Sim Early succeeds nowhere (0 % overall); Sim Late succeeds at least once on every
    # task of 13-0000 (pass@k 100 %), whose occupations are each a single task.
    assert {"sim-early", "13-0000 / sim-late"} <= withheld_at_bound


def test_suppressed_rows_name_no_model_and_trends_fall_with_their_frontier_figures(
    approved_release,
):
    release = approved_release
    filters = filters_of(release)
    for table_id, keys in (
        ("job_categories", ("frontier_model_code", "frontier_model")),
        ("occupations", ("best_model_code", "best_model")),
    ):
        suppressed = [row for row in release.tables[table_id] if row["suppression"]]
        assert suppressed, table_id
        for row in suppressed:
            for key in keys:
                assert row["values"][key] is None and row["missing"][key] == "c"

    # A job category's frontier figures are its frontier model's cell: they share its fate.
    nation = selectors.national_overview(filters, success_level=0.5, min_tasks=5)
    for overview in nation.categories:
        if overview.frontier_model is not None:
            code = overview.category.code
            cell = find(
                release,
                "category_models",
                job_category_code=code,
                model_code=overview.frontier_model.slug,
            )
            row = find(release, "job_categories", job_category_code=code)
            assert row["suppression"] == cell["suppression"], code

    for row in release.tables["category_trends"]:
        code = row["values"]["job_category_code"]
        report = selectors.category_report(Occupation.objects.get(code=code), filters)
        frontier = {p.model.endpoint.slug for p in (*report.frontier, *report.horizon_frontier)}
        assert frontier, code
        cells = [
            find(release, "category_models", job_category_code=code, model_code=slug)
            for slug in frontier
        ]
        assert (row["suppression"] is None) == all(c["suppression"] is None for c in cells)
    # 13-0000's trend rests on enough tasks, but Sim Late's figures there are withheld.
    trend = find(release, "category_trends", job_category_code="13-0000")
    assert trend["suppression"] == "D" and trend["values"]["tasks"] >= 2


# --- methodology and held-out content ----------------------------------------------------


def test_the_methodology_is_written_from_the_actual_settings(
    make_release, demo_suite, simulated_grader
):
    release = make_release(disclosure_min_tasks=3)
    sections = release.methodology["sections"]
    text = " ".join(p for s in sections for p in s["paragraphs"])
    total = demo_suite.task_versions.count()
    held_out = demo_suite.task_versions.filter(task__visibility=Task.Visibility.HELD_OUT).count()
    assert held_out == 2
    assert f"The suite '{demo_suite.name}' ({demo_suite.slug}) holds {total} task versions" in text
    assert f"{total - held_out} public and {held_out} held out" in text
    assert "with 3 samples (attempts) per task" in text
    assert f"the grader {simulated_grader.label}" in text
    assert "Figures based on fewer than 3 tasks are suppressed" in text
    assert "Sim Early (released 2023-06-01)" in text
    assert release.methodology["results_version"] == selectors.results_version(simulated_grader)
    assert release.methodology["results_version"] is not None
    assert [s["heading"] for s in sections] == [
        "Suite and models",
        "Grader",
        "Statistics",
        "Disclosure control",
    ]
    notes = release.methodology["notes"]
    assert [n["number"] for n in notes] == list(range(1, len(notes) + 1))
    assert any("fewer than 3 tasks" in n["text"] for n in notes)
    for code in MISSING_CODES:
        assert any(n["text"].startswith(f"{format_code(code)}: ") for n in notes)


def held_out_content(suite: Suite) -> list[str]:
    """Every piece of the suite's held-out tasks that must stay unpublished: titles, canary
    GUIDs, and each substantial line of instructions, context, reference solutions and rubric
    criteria."""
    secrets = []
    versions = TaskVersion.objects.filter(
        pk__in=suite.task_versions.values("pk"), task__visibility=Task.Visibility.HELD_OUT
    ).select_related("task")
    for version in versions:
        task = version.task
        secrets += [task.title, str(task.canary), task.canary.hex]
        texts = [version.instructions, version.context, version.reference_solution]
        texts += [criterion.text for criterion in version.criteria.all()]
        secrets += [line.strip() for text in texts for line in text.splitlines()]
    return [s for s in secrets if len(s) >= 25]


def test_no_held_out_task_content_enters_a_release(make_release, demo_suite, users):
    secrets = held_out_content(demo_suite)
    assert len(secrets) > 20
    release = approve(make_release(disclosure_min_tasks=1), users["analyst"])
    correction = correct(release, user=users["analyst"], reason="Routine check.")
    # The held-out tasks' occupations are published, so the scan covers their rows.
    codes = {r["values"]["occupation_code"] for r in release.tables["occupations"]}
    assert {"29-1141", "29-1051"} <= codes
    for stored in (release, correction):
        published_text = json.dumps(
            [stored.tables, stored.methodology, stored.changes, stored.title, stored.description],
            ensure_ascii=False,
        ).lower()
        assert [s for s in secrets if s.lower() in published_text] == []
