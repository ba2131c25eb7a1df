"""Task statements on the authoring pages, the coverage page and the occupation pages."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.urls import reverse

from occupations import workflow
from occupations.models import (
    Crosswalk,
    CrosswalkLink,
    Occupation,
    Task,
    TaskStatement,
    TaskVersion,
    Taxonomy,
)
from tests.authoring import make_world, publish_through_review, write_draft
from tests.test_authoring_pages import SIX_CRITERIA, editor_post

pytestmark = pytest.mark.django_db

CREDIT = "This product includes information from the O*NET 26.3 Database (test credit)."


@dataclass
class Statements:
    chronology: TaskStatement
    pleadings: TaskStatement
    research: TaskStatement
    nursing: TaskStatement
    """A statement of another occupation: no paralegal task may cite it."""


@pytest.fixture
def world(seeded, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return make_world()


@pytest.fixture
def onet(world) -> Statements:
    taxonomy = Taxonomy.objects.create(name="O*NET-SOC", version="26.3", credit=CREDIT)
    paralegal = Occupation.objects.create(
        taxonomy=taxonomy, code="23-2011.00", title="Paralegals", level="detailed"
    )
    nurse = Occupation.objects.create(
        taxonomy=taxonomy, code="29-1141.00", title="Registered Nurses", level="detailed"
    )
    crosswalk = Crosswalk.objects.create(source=taxonomy, target=world.occupation_a.taxonomy)
    CrosswalkLink.objects.create(crosswalk=crosswalk, source=paralegal, target=world.occupation_a)

    def statement(on, number, text, kind=TaskStatement.TaskType.CORE):
        return TaskStatement.objects.create(
            occupation=on, statement_id=number, text=text, task_type=kind
        )

    return Statements(
        chronology=statement(paralegal, 1001, "Prepare a chronology of the events in a file."),
        pleadings=statement(paralegal, 1002, "File pleadings with the court clerk."),
        research=statement(
            paralegal,
            1003,
            "Research laws and court decisions.",
            TaskStatement.TaskType.SUPPLEMENTAL,
        ),
        nursing=statement(nurse, 2001, "Record patient medical histories."),
    )


def cited(version: TaskVersion) -> set[int]:
    return set(TaskVersion.objects.get(pk=version.pk).task_statements.values_list("pk", flat=True))


def published_citing(world, *statements, title="Chronology", visibility="public") -> Task:
    author = world.users["author_a"]
    version = write_draft(author, world.occupation_a, title=title, visibility=visibility)
    version.task_statements.set(statements)
    task = publish_through_review(
        version, author, [world.users["reviewer_a"], world.users["reviewer_a2"]]
    )
    workflow.publish(task, user=world.users["reviewer_a"])
    return Task.objects.get(pk=task.pk)


# --- the editor ----------------------------------------------------------------------------


def test_the_editor_lists_the_occupations_statements_with_suggestions_first(client, world, onet):
    version = write_draft(world.users["author_a"], world.occupation_a)
    version.task_statements.set([onet.pleadings])
    client.force_login(world.users["author_a"])
    page = client.get(reverse("occupations:edit", args=[version.task.slug]))
    html = page.content.decode()
    ranked = [s.statement for s in page.context["suggestions"]]
    # The draft is about a chronology of events: that statement comes first, suggested.
    assert ranked[0] == onet.chronology
    assert page.context["suggestions"][0].suggested
    assert set(ranked) == {onet.chronology, onet.pleadings, onet.research}
    assert html.count('name="task_statements"') == 3
    assert html.index(onet.chronology.text) < html.index(onet.pleadings.text)
    assert '<span class="tag">suggested</span> Prepare a chronology' in html
    assert f'value="{onet.pleadings.pk}" id="id_task_statements_1" checked' in html
    assert onet.nursing.text not in html
    assert CREDIT in html


def test_saving_the_draft_saves_its_citations(client, world, onet):
    version = write_draft(world.users["author_a"], world.occupation_a)
    client.force_login(world.users["author_a"])
    url = reverse("occupations:edit", args=[version.task.slug])
    data = editor_post(
        version, SIX_CRITERIA, task_statements=[onet.chronology.pk, onet.research.pk]
    )
    response = client.post(url, data)
    assert response.status_code == 302
    assert cited(version) == {onet.chronology.pk, onet.research.pk}
    # Unticking them all removes them.
    version.refresh_from_db()
    response = client.post(url, editor_post(version, SIX_CRITERIA))
    assert response.status_code == 302
    assert cited(version) == set()


def test_a_statement_of_another_occupation_is_refused_naming_the_field(client, world, onet):
    version = write_draft(world.users["author_a"], world.occupation_a)
    version.task_statements.set([onet.chronology])
    client.force_login(world.users["author_a"])
    url = reverse("occupations:edit", args=[version.task.slug])
    data = editor_post(version, SIX_CRITERIA, task_statements=[onet.nursing.pk])
    page = client.post(url, data)
    assert page.status_code == 200
    html = page.content.decode()
    assert "There is a problem" in html
    assert (
        f'href="#id_task_statements">Task statements: {onet.nursing.pk} is not a task '
        "statement of this task&#x27;s occupation." in html
    )
    assert 'id="id_task_statements"' in html
    assert cited(version) == {onet.chronology.pk}
    assert TaskVersion.objects.get(pk=version.pk).revision == version.revision


def test_autosave_saves_the_citations_and_refuses_a_foreign_one(client, world, onet):
    version = write_draft(world.users["author_a"], world.occupation_a)
    client.force_login(world.users["author_a"])
    url = reverse("occupations:edit", args=[version.task.slug])
    data = editor_post(version, SIX_CRITERIA, task_statements=[onet.pleadings.pk], save="1")
    response = client.post(url, data, HTTP_X_REQUESTED_WITH="fetch")
    assert response.status_code == 200
    assert response.json() == {"revision": version.revision + 1, "saved": True}
    assert cited(version) == {onet.pleadings.pk}
    version.refresh_from_db()
    bad = editor_post(version, SIX_CRITERIA, task_statements=[onet.nursing.pk], save="1")
    response = client.post(url, bad, HTTP_X_REQUESTED_WITH="fetch")
    assert response.status_code == 400
    assert "error" in response.json()
    assert cited(version) == {onet.pleadings.pk}


def test_a_citation_no_longer_linked_stays_ticked_and_is_kept_until_unticked(client, world, onet):
    version = write_draft(world.users["author_a"], world.occupation_a)
    version.task_statements.set([onet.chronology, onet.pleadings])
    # A crosswalk import with --replace removes the link the statements came through.
    CrosswalkLink.objects.filter(target=world.occupation_a).delete()
    client.force_login(world.users["author_a"])
    url = reverse("occupations:edit", args=[version.task.slug])
    html = client.get(url).content.decode()
    assert html.count('name="task_statements"') == 2
    assert html.count("no longer linked to this occupation") == 2
    assert f'value="{onet.chronology.pk}" id="id_task_statements_unlinked_0" checked' in html
    assert CREDIT in html
    # The autosave posts what is ticked: both stay cited.
    data = editor_post(
        version, SIX_CRITERIA, task_statements=[onet.chronology.pk, onet.pleadings.pk], save="1"
    )
    response = client.post(url, data, HTTP_X_REQUESTED_WITH="fetch")
    assert response.json() == {"revision": version.revision + 1, "saved": True}
    assert cited(version) == {onet.chronology.pk, onet.pleadings.pk}
    # Unticking one removes it, and it cannot be cited again.
    version.refresh_from_db()
    data = editor_post(version, SIX_CRITERIA, task_statements=[onet.chronology.pk])
    assert client.post(url, data).status_code == 302
    assert cited(version) == {onet.chronology.pk}
    version.refresh_from_db()
    again = editor_post(version, SIX_CRITERIA, task_statements=[onet.pleadings.pk])
    page = client.post(url, again)
    assert "is not a task statement of this task&#x27;s occupation." in page.content.decode()
    assert cited(version) == {onet.chronology.pk}


def test_a_concurrent_edit_saves_no_citations(client, world, onet):
    version = write_draft(world.users["author_a"], world.occupation_a)
    client.force_login(world.users["author_a"])
    url = reverse("occupations:edit", args=[version.task.slug])
    stale = editor_post(
        version, SIX_CRITERIA, task_statements=[onet.pleadings.pk], revision=version.revision - 1
    )
    response = client.post(url, stale, HTTP_X_REQUESTED_WITH="fetch")
    assert response.status_code == 409
    assert cited(version) == set()


# --- versions ------------------------------------------------------------------------------


def test_a_new_version_copies_the_citations_and_the_diff_shows_changes(client, world, onet):
    task = published_citing(world, onet.chronology, onet.pleadings)
    client.force_login(world.users["author_a"])
    response = client.post(reverse("occupations:new_version", args=[task.slug]))
    assert response.status_code == 302
    draft = task.latest_version()
    assert draft.number == 2
    assert cited(draft) == {onet.chronology.pk, onet.pleadings.pk}
    url = reverse("occupations:edit", args=[task.slug])
    data = editor_post(draft, SIX_CRITERIA, task_statements=[onet.chronology.pk, onet.research.pk])
    assert client.post(url, data).status_code == 302
    html = client.get(reverse("occupations:diff", args=[task.slug])).content.decode()
    assert "<h2>Task statements</h2>" in html
    rows = html.split("<tr>")
    added = next(row for row in rows if onet.research.text in row)
    removed = next(row for row in rows if onet.pleadings.text in row)
    kept = next(row for row in rows if onet.chronology.text in row)
    assert "Added" in added and "1003" in added and "23-2011.00" in added
    assert "Removed" in removed
    assert "Cited by both" in kept
    assert CREDIT in html


def test_the_diff_of_versions_that_differ_only_in_citations_is_not_the_same(client, world, onet):
    task = published_citing(world, onet.chronology)
    client.force_login(world.users["author_a"])
    client.post(reverse("occupations:new_version", args=[task.slug]))
    task.latest_version().task_statements.set([])
    html = client.get(reverse("occupations:diff", args=[task.slug])).content.decode()
    assert "The two versions are the same" not in html
    assert "Removed" in html


def test_a_submitted_version_shows_its_citations_read_only(client, world, onet):
    author = world.users["author_a"]
    version = write_draft(author, world.occupation_a)
    version.task_statements.set([onet.chronology])
    workflow.submit(version, user=author)
    client.force_login(author)
    edit = reverse("occupations:edit", args=[version.task.slug])
    assert client.get(edit).url == reverse("occupations:task", args=[version.task.slug])
    # A post from an editor left open is refused and changes nothing.
    version.refresh_from_db()
    data = editor_post(version, SIX_CRITERIA, task_statements=[onet.pleadings.pk])
    page = client.post(edit, data)
    assert "Your changes were not saved" in page.content.decode()
    assert cited(version) == {onet.chronology.pk}
    html = client.get(reverse("occupations:task", args=[version.task.slug])).content.decode()
    assert "Task statements" in html
    assert onet.chronology.text in html and "23-2011.00" in html and "1001" in html
    assert 'name="task_statements"' not in html
    assert "frozen with the version" in html
    assert CREDIT in html


# --- public pages --------------------------------------------------------------------------


def test_the_coverage_page_counts_published_citations_held_out_included(client, world, onet):
    published_citing(world, onet.chronology, title="Public chronology")
    published_citing(world, onet.pleadings, title="Secret pleading bundle", visibility="held_out")
    draft = write_draft(world.users["author_a"], world.occupation_a, title="Draft research")
    draft.task_statements.set([onet.research])
    page = client.get(reverse("reports:statement_coverage"))
    assert page.status_code == 200
    html = page.content.decode()
    rows = {
        row.occupation.code: (row.core_count, row.covered_count)
        for group in page.context["groups"]
        for row in group.rows
    }
    # The default taxonomy is SOC: the paralegals reach both core O*NET statements.
    assert rows["23-2011"] == (2, 2)
    assert rows["29-1141"] == (0, 0)  # seeded tasks, no statements linked
    total = page.context["total"]
    assert (total.core_count, total.covered_count) == (2, 2)
    assert "Secret pleading bundle" not in html
    assert "Public chronology" not in html
    assert CREDIT in html
    assert 'class="bar-fill" width="1.000"' in html


def test_a_draft_adds_no_coverage_row_but_a_published_task_does(client, world):
    lonely = Occupation.objects.create(
        taxonomy=world.occupation_a.taxonomy,
        code="23-2099",
        title="Legal Support Workers, All Other",
        level="detailed",
        parent=world.occupation_a.parent,
    )
    url = reverse("reports:statement_coverage")
    author = world.users["author_a"]
    write_draft(author, lonely, title="Secret draft", visibility="held_out")
    html = client.get(url).content.decode()
    assert "Legal Support Workers, All Other" not in html
    task = published_citing(world, title="Published on the lonely occupation")
    Task.objects.filter(pk=task.pk).update(occupation=lonely)
    html = client.get(url).content.decode()
    assert "Legal Support Workers, All Other" in html
    assert "Secret draft" not in html


def test_unrated_statements_count_as_core_on_the_public_pages(client, world, onet):
    TaskStatement.objects.filter(occupation__code="23-2011.00").update(task_type="")
    published_citing(world, onet.research)
    html = client.get(reverse("reports:occupation", args=[world.occupation_a.pk])).content
    html = html.decode()
    assert "1 of the 3</strong> core task statements" in html
    assert "None of these statements is rated core or supplemental" in html
    assert "not rated" in html
    coverage = client.get(reverse("reports:statement_coverage")).content.decode()
    assert "every statement counts as core" in coverage


def test_the_occupation_page_counts_held_out_citations_but_lists_only_public_ones(
    client, world, onet
):
    published_citing(world, onet.chronology, title="Secret chronology", visibility="held_out")
    url = reverse("reports:occupation", args=[world.occupation_a.pk])
    html = client.get(url).content.decode()
    assert "1 of the 2</strong> core task statements" in html
    assert onet.chronology.text not in html
    assert "Secret chronology" not in html
    assert CREDIT in html
    published_citing(world, onet.pleadings, title="Public pleadings")
    html = client.get(url).content.decode()
    assert "2 of the 2</strong> core task statements" in html
    assert onet.pleadings.text in html
    assert onet.chronology.text not in html
    taxonomy = world.occupation_a.taxonomy_id
    coverage = reverse("reports:statement_coverage")
    assert f"{coverage}?taxonomy={taxonomy}&amp;level=detailed#category-" in html


def test_onet_pages_show_the_credit_and_the_coverage_link_keeps_the_taxonomy(client, world, onet):
    taxonomy = onet.chronology.occupation.taxonomy
    major = Occupation.objects.create(
        taxonomy=taxonomy, code="23-0000", title="Legal Occupations (O*NET)", level="major"
    )
    bare = Occupation.objects.create(
        taxonomy=taxonomy, code="23-1011.00", title="Lawyers", level="detailed", parent=major
    )
    page = client.get(reverse("reports:job_category", args=[major.pk]))
    html = page.content.decode()
    assert "Lawyers" in html
    assert CREDIT in html
    coverage = reverse("reports:statement_coverage")
    assert (
        f"{coverage}?taxonomy={taxonomy.pk}&amp;level={page.context['filters'].occupation_level}"
        f"#category-{major.pk}" in html
    )
    # An O*NET occupation without statements still shows its titles' credit, once.
    html = client.get(reverse("reports:occupation", args=[bare.pk])).content.decode()
    assert "No task statements are loaded for this occupation." in html
    assert html.count(CREDIT) == 1
    paralegal = onet.chronology.occupation
    html = client.get(reverse("reports:occupation", args=[paralegal.pk])).content.decode()
    assert html.count(CREDIT) == 1
    # The national and coverage pages of the O*NET taxonomy carry it too.
    query = {"taxonomy": taxonomy.pk}
    assert CREDIT in client.get(reverse("reports:home"), query).content.decode()
    html = client.get(reverse("reports:statement_coverage"), query).content.decode()
    assert html.count(CREDIT) == 1


def test_the_admin_refuses_to_delete_an_occupation_whose_statements_are_cited(client, world, onet):
    published_citing(world, onet.chronology, title="Secret chronology", visibility="held_out")
    paralegal = onet.chronology.occupation
    client.force_login(world.users["admin"])
    url = reverse("admin:occupations_occupation_delete", args=[paralegal.pk])
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    # The statements are read-only in the admin and a published version cites one.
    assert "Cannot delete occupation" in html
    assert "Secret chronology" not in html
    page = client.post(url, {"post": "yes"})
    assert page.status_code == 200
    assert Occupation.objects.filter(pk=paralegal.pk).exists()
    assert onet.chronology.pk in set(
        Task.objects.get(title="Secret chronology").published_version.task_statements.values_list(
            "pk", flat=True
        )
    )


def test_the_occupation_page_shows_employment_and_wages_with_their_symbols(client, world):
    Occupation.objects.filter(pk=world.occupation_a.pk).update(
        employment=None,
        employment_flag="**",
        mean_annual_wage=61000,
        median_annual_wage=None,
        median_wage_flag="#",
    )
    html = client.get(reverse("reports:occupation", args=[world.occupation_a.pk])).content
    html = html.decode()
    assert "an employment estimate is not available" in html
    assert "$239,200 per year" in html
    assert "61,000" in html
    assert "No task statements are loaded for this occupation." in html


def test_the_job_category_page_lists_every_occupation_with_employment_and_wages(client, world):
    Occupation.objects.filter(pk=world.occupation_a.pk).update(
        employment=None, employment_flag="**", median_annual_wage=58330
    )
    category = world.occupation_a.job_category
    html = client.get(reverse("reports:job_category", args=[category.pk])).content.decode()
    for occupation in Occupation.objects.filter(job_category=category, level="detailed"):
        assert occupation.title in html
    assert "Median annual wage" in html
    assert "58,330" in html
    assert '<abbr title="an employment estimate is not available">**</abbr>' in html
    assert "Symbols: ** an employment estimate is not available." in html
    coverage = reverse("reports:statement_coverage")
    assert f"{coverage}?taxonomy={category.taxonomy_id}&amp;level=detailed" in html
