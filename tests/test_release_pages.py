"""The release pages: an analyst prepares, approves, corrects and discards releases; the
public reads approved releases and downloads them, never drafts or held-out content."""

from __future__ import annotations

import datetime
import html
import re

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from occupations.models import Task
from reports import exports, release_views, releases
from reports.models import Release
from reports.release_tables import TABLES
from reports.selectors import default_taxonomy
from runs.models import ModelEndpoint
from tests.test_api import copies_of

pytestmark = pytest.mark.django_db


def page_of(response) -> str:
    return response.content.decode()


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def new_release_data(graded_models, grader, **overrides) -> dict:
    """What an analyst fills in on the form for the three graded models."""
    return {
        "series": "ai-and-work",
        "title": "AI models and the work of the nation",
        "description": "Success of AI models on expert-written tasks.",
        "suite": graded_models[0].suite.pk,
        "grader": grader.pk,
        "endpoints": [run.endpoint.pk for run in graded_models],
        "taxonomy": default_taxonomy().pk,
        "period_start": "2023-01-01",
        "period_end": "2025-12-31",
        "disclosure_min_tasks": "2",
        **overrides,
    }


@pytest.fixture
def analyst(client, users):
    client.force_login(users["analyst"])
    return users["analyst"]


# --- preparing -------------------------------------------------------------------------


def test_an_analyst_prepares_a_release_through_the_form_and_lands_on_the_draft(
    client, analyst, graded_models, simulated_grader, settings
):
    settings.EVALBUILDER_RELEASE_REQUIRES_VALIDATION = False
    form = client.get(reverse("reports:release_new"))
    assert form.status_code == 200
    initial = form.context["form"].initial
    # The defaults: the graded suite and grader, the models with results, today.
    assert initial["suite"] == graded_models[0].suite
    assert initial["grader"] == simulated_grader
    assert {m.slug for m in initial["endpoints"]} == {"sim-early", "sim-mid", "sim-late"}
    assert initial["period_start"] == datetime.date(2023, 6, 1)
    assert initial["disclosure_min_tasks"] == settings.EVALBUILDER_DISCLOSURE_MIN_TASKS
    assert 'name="endpoints"' in page_of(form) and "Sim Late (simulated)" in page_of(form)

    response = client.post(
        reverse("reports:release_new"), new_release_data(graded_models, simulated_grader)
    )
    release = Release.objects.get()
    assert response.status_code == 302
    assert response["Location"] == release.get_absolute_url() == "/releases/ai-and-work-v1/"
    # The figures are computed by a worker: until then the page says so and reloads itself.
    assert release.status == Release.Status.PREPARING and release.prepared_by == analyst
    assert release.disclosure_min_tasks == 2
    waiting = page_of(client.get(response["Location"]))
    assert "ai-and-work-v1 is being prepared" in waiting
    assert 'http-equiv="refresh"' in waiting and "Approve and publish" not in waiting
    assert client.get(reverse("reports:release_download", args=[release.identifier, "json"])
                      ).status_code == 404  # fmt: skip

    releases.fill_release(release)  # what the worker does
    draft = client.get(response["Location"])
    page = page_of(draft)
    assert "Draft: not approved" in page and 'http-equiv="refresh"' not in page
    assert "Approve and publish" in page and "Discard draft" in page

    # A run's page can link to the form with its suite, grader and models chosen.
    query = f"?suite=demo&grader={simulated_grader.pk}&model=sim-mid&model=sim-late"
    prefilled = client.get(reverse("reports:release_new") + query).context["form"]
    assert prefilled.initial["suite"].slug == "demo"
    assert [m.slug for m in prefilled.initial["endpoints"]] == ["sim-mid", "sim-late"]
    assert prefilled.initial["period_start"] == datetime.date(2024, 6, 1)


def test_refusals_show_on_their_fields_the_release_gate_reason_on_the_grader(
    client, analyst, make_release, graded_models, simulated_grader, settings
):
    settings.EVALBUILDER_RELEASE_REQUIRES_VALIDATION = True
    response = client.post(
        reverse("reports:release_new"), new_release_data(graded_models, simulated_grader)
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == ["grader"]
    assert "never been validated against experts" in errors["grader"][0]
    page = page_of(response)
    assert "There is a problem" in page and 'href="#id_grader"' in page
    assert not Release.objects.exists()

    settings.EVALBUILDER_RELEASE_REQUIRES_VALIDATION = False
    make_release()  # takes the series
    taken = client.post(
        reverse("reports:release_new"), new_release_data(graded_models, simulated_grader)
    )
    assert "already has releases" in taken.context["form"].errors["series"][0]
    backwards = client.post(
        reverse("reports:release_new"),
        new_release_data(
            graded_models, simulated_grader, series="other", period_start="2026-01-01"
        ),
    )
    assert "must not end before it starts" in backwards.context["form"].errors["period_end"][0]
    assert Release.objects.count() == 1


def test_an_empty_submission_shows_every_required_field_as_missing(
    client, analyst, approved_release
):
    response = client.post(reverse("reports:release_new"), {})
    assert response.status_code == 200
    errors = response.context["form"].errors
    required = {"series", "title", "suite", "grader", "endpoints", "taxonomy"}
    required |= {"period_start", "period_end", "disclosure_min_tasks"}
    assert set(errors) == required
    assert "There is a problem" in page_of(response)
    correction = client.post(reverse("reports:release_correct", args=[approved_release.identifier]))
    assert correction.status_code == 200
    assert list(correction.context["form"].errors) == ["correction_reason"]
    assert Release.objects.count() == 1


@pytest.mark.parametrize("threshold", ["0", "-3", "1001", "99999999999999999999"])
def test_a_disclosure_threshold_outside_1_to_1000_is_refused_on_its_field(
    client, analyst, graded_models, simulated_grader, settings, threshold
):
    settings.EVALBUILDER_RELEASE_REQUIRES_VALIDATION = False
    response = client.post(
        reverse("reports:release_new"),
        new_release_data(graded_models, simulated_grader, disclosure_min_tasks=threshold),
    )
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["disclosure_min_tasks"]
    assert not Release.objects.exists()


def test_a_malformed_grader_in_the_address_prefills_the_default_grader(
    client, analyst, graded_models, simulated_grader
):
    for asked in ("²", "99999999999999999999", "-1", "x"):
        response = client.get(reverse("reports:release_new"), {"grader": asked})
        assert response.status_code == 200, asked
        assert response.context["form"].initial["grader"] == simulated_grader, asked


def test_only_those_who_prepare_releases_see_the_form(client, users):
    assert client.get(reverse("reports:release_new")).status_code == 302
    client.force_login(users["author"])
    assert client.get(reverse("reports:release_new")).status_code == 403
    list_page = page_of(client.get(reverse("reports:release_list")))
    assert "Prepare a release" not in list_page
    client.force_login(users["analyst"])
    assert "Prepare a release" in page_of(client.get(reverse("reports:release_list")))


# --- who sees what ---------------------------------------------------------------------


def test_a_draft_is_invisible_to_the_public_who_can_neither_approve_nor_discard_it(
    client, users, make_release
):
    draft = make_release()
    page_urls = [
        draft.get_absolute_url(),
        reverse("reports:release_download", args=[draft.identifier, "json"]),
        reverse("reports:release_correct", args=[draft.identifier]),
    ]
    approve = reverse("reports:release_approve", args=[draft.identifier])
    discard = reverse("reports:release_discard", args=[draft.identifier])
    anonymous = client.post(approve)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login")
    for user in (None, users["author"], users["reviewer"], users["operator"]):
        if user is not None:
            client.force_login(user)
            assert client.post(approve).status_code == 403, user
            assert client.post(discard).status_code == 403, user
        assert client.get(page_urls[0]).status_code == 404, user
        assert client.get(page_urls[1]).status_code == 404, user
        assert draft.identifier not in page_of(client.get(reverse("reports:release_list")))
    # Actions are POST only, whoever asks.
    client.force_login(users["analyst"])
    assert client.get(approve).status_code == 405 and client.get(discard).status_code == 405
    draft.refresh_from_db()
    assert not draft.is_approved
    assert client.get(draft.get_absolute_url()).status_code == 200
    listed = page_of(client.get(reverse("reports:release_list")))
    assert draft.identifier in listed and "Draft: not approved" in listed


def test_an_analyst_approves_a_draft_and_the_public_then_sees_it(
    client, users, analyst, make_release, settings
):
    draft = make_release()
    url = reverse("reports:release_approve", args=[draft.identifier])
    # A refusal (here the release gate, closed again) shows as a message on the page.
    settings.EVALBUILDER_RELEASE_REQUIRES_VALIDATION = True
    refused = client.post(url, follow=True)
    assert "never been validated against experts" in page_of(refused)
    draft.refresh_from_db()
    assert not draft.is_approved

    settings.EVALBUILDER_RELEASE_REQUIRES_VALIDATION = False
    response = client.post(url)
    assert response.status_code == 302 and response["Location"] == draft.get_absolute_url()
    draft.refresh_from_db()
    assert draft.is_approved and draft.approved_by == analyst
    assert any("is approved and published" in m for m in messages_of(response))
    client.logout()
    page = page_of(client.get(draft.get_absolute_url()))
    assert "Draft: not approved" not in page
    assert "<dt>Approved by</dt><dd>analyst</dd>" in page
    download = reverse("reports:release_download", args=[draft.identifier, "json"])
    assert client.get(download).status_code == 200


# --- the release page ------------------------------------------------------------------


def test_the_public_reads_an_approved_release_with_its_summary_tables_and_methodology(
    client, approved_release
):
    response = client.get(approved_release.get_absolute_url())
    assert response.status_code == 200
    page = page_of(response)
    assert "Draft: not approved" not in page
    assert approved_release.checksum in page and "Verified:" in page
    assert approved_release.release_date.strftime("%-d %B %Y") in page
    for action in ("Approve and publish", "Discard draft", "Correct this release"):
        assert action not in page
    listed = page_of(client.get(reverse("reports:release_list")))
    assert approved_release.identifier in listed and approved_release.title in listed

    national = approved_release.tables["national"][0]
    assert "Summary: the national index" in page and "Employment coverage (%)" in page
    assert str(national["values"]["employment_coverage"]) in page
    for spec in TABLES:
        assert html.escape(spec.title) in page
        for column in spec.columns:
            assert f">{html.escape(column.header)}</th>" in page
        shown = next(t for t in response.context["tables"] if t["spec"] is spec)
        assert len(shown["rows"]) == len(approved_release.tables[spec.id])
    # Suppressed figures show as [c], explained where they stand and in the key.
    assert any(r["suppression"] for r in approved_release.tables["category_models"])
    assert '<abbr title="Suppressed for disclosure control' in page and ">[c]</abbr>" in page
    assert "<dt>[c]</dt>" in page
    for section in approved_release.methodology["sections"]:
        assert f"<h3>{html.escape(section['heading'])}</h3>" in page
    for note in approved_release.methodology["notes"]:
        assert f'id="note-{note["number"]}"' in page
    assert 'href="#note-3"' in page


def test_the_release_page_links_every_format_and_the_catalogue_record(client, approved_release):
    page = page_of(client.get(approved_release.get_absolute_url()))
    for fmt in exports.FORMATS.values():
        url = reverse("reports:release_download", args=[approved_release.identifier, fmt.key])
        assert f'href="{url}">{html.escape(fmt.label)}</a>' in page
        assert html.escape(fmt.description) in page
    dcat = reverse("reports:release_download", args=[approved_release.identifier, "dcat"])
    assert f'rel="alternate" type="application/ld+json" href="{dcat}"' in page
    for term in ("dct:title", "dct:publisher", "dct:issued", "dct:modified", "dct:license"):
        assert f"({term})" in page
    assert "(dcat:distribution)" in page
    json_url = reverse("reports:release_download", args=[approved_release.identifier, "json"])
    assert f"{json_url}</a>" in page

    links = re.findall(
        rf'href="(/releases/{approved_release.identifier}/download/([\w-]+)/)"', page
    )
    assert {key for _, key in links} == set(exports.FORMATS)
    for url, key in dict(links).items():
        response = client.get(url)
        assert response.status_code == 200, key
        assert response.content, key
        media_type = response["Content-Type"].split(";")[0]
        assert media_type == EXPECTED_TYPES[key], key
        assert "filename=" in response["Content-Disposition"], key
    assert client.get(f"/releases/{approved_release.identifier}/download/docx/").status_code == 404


EXPECTED_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "csv": "application/zip",
    "sdmx": "application/vnd.sdmx.data+csv",
    "sdmx-structure": "application/vnd.sdmx.structure+xml",
    "datapackage": "application/zip",
    "dcat": "application/ld+json",
    "json": "application/json",
    "html": "text/html",
    "pdf": "application/pdf",
}
"""The media type each format is served with."""


# --- correcting ------------------------------------------------------------------------


def test_a_correction_shows_the_revisions_table_with_both_versions_and_the_changed_figures(
    client, users, analyst, approved_release
):
    renamed = ModelEndpoint.objects.get(slug="sim-late")
    renamed.display_name = "Sim Late Corrected"
    renamed.save()
    v1 = approved_release.identifier
    url = reverse("reports:release_correct", args=[v1])
    form = client.get(url)
    assert form.status_code == 200 and "ai-and-work-v2" in page_of(form)
    empty = client.post(url, {"correction_reason": "  "})
    assert "correction_reason" in empty.context["form"].errors
    response = client.post(
        url, {"correction_reason": "The latest model's name was misspelt.", "grader": ""}
    )
    correction = Release.objects.get(version=2)
    assert response["Location"] == correction.get_absolute_url()
    assert correction.status == Release.Status.PREPARING
    correction = releases.fill_release(correction)  # what the worker does
    assert correction.supersedes == approved_release and correction.changes
    page = page_of(client.get(correction.get_absolute_url()))
    revisions = page[page.index('id="revisions-heading"') :]
    assert v1 in revisions and correction.identifier in revisions
    assert "The latest model&#x27;s name was misspelt." in revisions
    assert f'<td class="num">{len(correction.changes)}</td>' in revisions
    assert f"Figures changed from {v1}" in revisions
    assert "Sim Late Corrected" in revisions and "Results by model, all job categories" in revisions
    # A release is corrected once; a draft is not corrected but discarded.
    again = client.get(url, follow=True)
    assert "already corrected by ai-and-work-v2" in page_of(again)
    refused = client.get(reverse("reports:release_correct", args=[correction.identifier]))
    assert refused["Location"] == correction.get_absolute_url()
    assert Release.objects.count() == 2

    # The public sees the revision once the correction is approved, not before.
    client.logout()
    old = page_of(client.get(approved_release.get_absolute_url()))
    assert correction.identifier not in old and "Corrected by" not in old
    client.force_login(analyst)
    client.post(reverse("reports:release_approve", args=[correction.identifier]))
    client.logout()
    old = page_of(client.get(approved_release.get_absolute_url()))
    assert f"Corrected by {correction.identifier}" in old
    listed = page_of(client.get(reverse("reports:release_list")))
    assert f'Superseded by <a href="{correction.get_absolute_url()}">' in listed


# --- discarding ------------------------------------------------------------------------


def test_an_analyst_discards_a_draft_but_never_an_approved_release(
    client, analyst, approved_release
):
    draft = releases.correct(approved_release, user=analyst, reason="A grade was wrong.")
    response = client.post(reverse("reports:release_discard", args=[draft.identifier]))
    assert response["Location"] == reverse("reports:release_list")
    assert any(f"Draft {draft.identifier} discarded" in m for m in messages_of(response))
    assert not Release.objects.filter(pk=draft.pk).exists()
    kept = client.post(
        reverse("reports:release_discard", args=[approved_release.identifier]), follow=True
    )
    assert "is approved and cannot be discarded" in page_of(kept)
    assert Release.objects.filter(pk=approved_release.pk).exists()


def test_a_draft_approved_while_its_page_was_open_is_kept_not_discarded(
    client, analyst, make_release, monkeypatch
):
    draft = make_release()
    shown = release_views._visible

    def approved_after_loading(request, identifier: str) -> Release:
        loaded = shown(request, identifier)
        releases.approve(Release.objects.get(pk=loaded.pk), analyst)
        return loaded

    monkeypatch.setattr(release_views, "_visible", approved_after_loading)
    response = client.post(reverse("reports:release_discard", args=[draft.identifier]))
    assert response["Location"] == draft.get_absolute_url()
    assert any("was already approved and is kept" in m for m in messages_of(response))
    assert Release.objects.get(pk=draft.pk).is_approved


def test_a_discard_the_database_refuses_is_a_message_not_an_error(
    client, analyst, make_release, monkeypatch
):
    draft = make_release()

    def refuse(queryset, *args, **kwargs):
        raise ValueError("Approved releases cannot be deleted.")

    monkeypatch.setattr(type(Release.objects.all()), "delete", refuse)
    monkeypatch.setattr(Release, "delete", refuse)
    response = client.post(reverse("reports:release_discard", args=[draft.identifier]))
    assert response.status_code == 302 and response["Location"] == draft.get_absolute_url()
    assert any("already approved" in m for m in messages_of(response))
    assert Release.objects.filter(pk=draft.pk).exists()


# --- downloading -----------------------------------------------------------------------


@pytest.fixture
def builds(monkeypatch) -> list[tuple[str, str]]:
    """Every file built for a download, as (release identifier, format)."""
    built = []
    build = exports.build

    def counted(release: Release, key: str):
        built.append((release.identifier, key))
        return build(release, key)

    monkeypatch.setattr(exports, "build", counted)
    return built


def test_an_approved_release_file_is_built_once_and_revalidated_by_its_etag(
    client, approved_release, builds
):
    url = reverse("reports:release_download", args=[approved_release.identifier, "json"])
    first, second = client.get(url), client.get(url)
    assert first.status_code == second.status_code == 200
    assert builds == [(approved_release.identifier, "json")]
    assert first.content == second.content
    etag = f'"{approved_release.checksum}-json"'
    assert first["ETag"] == second["ETag"] == etag
    assert "no-store" not in first.get("Cache-Control", "")

    unchanged = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged["ETag"] == etag
    other = client.get(url, HTTP_IF_NONE_MATCH=f'"{approved_release.checksum}-csv"')
    assert other.status_code == 200 and other.content == first.content
    # Each format is its own file.
    csv = reverse("reports:release_download", args=[approved_release.identifier, "csv"])
    assert client.get(csv)["ETag"] == f'"{approved_release.checksum}-csv"'
    assert builds == [(approved_release.identifier, "json"), (approved_release.identifier, "csv")]


def test_a_draft_file_is_built_afresh_each_time_and_kept_by_no_cache(
    client, analyst, make_release, builds
):
    draft = make_release()
    url = reverse("reports:release_download", args=[draft.identifier, "json"])
    responses = [client.get(url), client.get(url, HTTP_IF_NONE_MATCH=f'"{draft.checksum}-json"')]
    assert [r.status_code for r in responses] == [200, 200]
    assert builds == [(draft.identifier, "json")] * 2
    for response in responses:
        assert response["Cache-Control"] == "private, no-store"
        assert "ETag" not in response
        assert b"DRAFT" in response.content


# --- the admin -------------------------------------------------------------------------


def test_the_admin_list_of_releases_asks_the_database_as_often_for_ten_as_for_two(
    client, users, approved_release
):
    client.force_login(users["admin"])
    copies_of(approved_release, 1)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get("/admin/reports/release/")
        assert response.status_code == 200
        assert page_of(response).count('class="field-identifier"') == Release.objects.count()
        return len(captured)

    few = queries()
    copies_of(approved_release, 8)
    assert queries() == few


# --- held-out tasks --------------------------------------------------------------------


def test_release_pages_never_show_held_out_task_titles_or_canaries(client, users, approved_release):
    held_out = list(Task.objects.filter(visibility=Task.Visibility.HELD_OUT))
    assert len(held_out) == 2
    public = [
        reverse("reports:release_list"),
        approved_release.get_absolute_url(),
        reverse("reports:release_download", args=[approved_release.identifier, "html"]),
    ]
    pages = "".join(page_of(client.get(url)) for url in public)
    client.force_login(users["analyst"])
    pages += page_of(client.get(reverse("reports:release_new")))
    pages += page_of(
        client.get(reverse("reports:release_correct", args=[approved_release.identifier]))
    )
    correction = releases.correct(approved_release, user=users["analyst"], reason="Regraded.")
    for url in (*public, correction.get_absolute_url()):
        response = client.get(url)
        assert response.status_code == 200, url
        pages += page_of(response)
    assert "Figures changed from" in pages and "Prepare a release" in pages
    for task in held_out:
        version = task.latest_version()
        assert html.escape(task.title) not in pages and task.title not in pages
        assert str(task.canary) not in pages
        assert html.escape(version.instructions[:60]) not in pages
