"""Which task statements a task may cite, how they are suggested, and statement coverage."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.db import transaction
from django.db.models import ProtectedError

from occupations import statements
from occupations.models import (
    Crosswalk,
    CrosswalkLink,
    LockedVersionError,
    Occupation,
    Task,
    TaskStatement,
    TaskStatementCitation,
    TaskVersion,
    Taxonomy,
)

pytestmark = pytest.mark.django_db

CORE = TaskStatement.TaskType.CORE
SUPPLEMENTAL = TaskStatement.TaskType.SUPPLEMENTAL


@dataclass
class Catalogue:
    soc: Taxonomy
    onet: Taxonomy
    occupations: dict[str, Occupation]
    statements: dict[str, TaskStatement]


def occupation(taxonomy: Taxonomy, code: str, level: str, parent=None) -> Occupation:
    return Occupation.objects.create(
        taxonomy=taxonomy, code=code, title=f"Occupation {code}", level=level, parent=parent
    )


def statement(on: Occupation, number: int, text: str, kind: str = CORE) -> TaskStatement:
    return TaskStatement.objects.create(
        occupation=on, statement_id=number, text=text, task_type=kind
    )


@pytest.fixture
def catalogue() -> Catalogue:
    """SOC 2018 with one major group and three detailed occupations; O*NET-SOC 26.3 with
    statements; a crosswalk each way (O*NET -> SOC for chief executives, SOC -> O*NET for
    marketing managers)."""
    soc = Taxonomy.objects.create(name="SOC", version="2018")
    onet = Taxonomy.objects.create(name="O*NET-SOC", version="26.3", credit="O*NET credit")
    major = occupation(soc, "11-0000", "major")
    o = {
        "11-0000": major,
        "11-1011": occupation(soc, "11-1011", "detailed", major),
        "11-2021": occupation(soc, "11-2021", "detailed", major),
        "11-3031": occupation(soc, "11-3031", "detailed", major),
        "11-1011.00": occupation(onet, "11-1011.00", "detailed"),
        "11-1011.03": occupation(onet, "11-1011.03", "detailed"),
        "11-2021.00": occupation(onet, "11-2021.00", "detailed"),
    }
    s = {
        "budget": statement(
            o["11-1011.00"], 8823, "Direct or coordinate the financial and budget activities."
        ),
        "approve": statement(o["11-1011.00"], 8824, "Prepare budgets for approval.", SUPPLEMENTAL),
        "board": statement(o["11-1011.00"], 8825, "Confer with board members on policies."),
        "sustain": statement(
            o["11-1011.03"], 19997, "Identify risks and opportunities of sustainability."
        ),
        "pricing": statement(o["11-2021.00"], 4567, "Develop pricing strategies for products."),
    }
    to_soc = Crosswalk.objects.create(source=onet, target=soc)
    for code in ("11-1011.00", "11-1011.03"):
        CrosswalkLink.objects.create(crosswalk=to_soc, source=o[code], target=o["11-1011"])
    to_onet = Crosswalk.objects.create(source=soc, target=onet)
    CrosswalkLink.objects.create(crosswalk=to_onet, source=o["11-2021"], target=o["11-2021.00"])
    return Catalogue(soc, onet, o, s)


def names(catalogue: Catalogue, found) -> list[str]:
    by_pk = {s.pk: name for name, s in catalogue.statements.items()}
    return [by_pk[s.pk] for s in found]


# --- statements_for ----------------------------------------------------------------------


def test_a_soc_occupation_sees_the_statements_of_every_onet_occupation_linked_to_it(
    catalogue, django_assert_num_queries
):
    # Two queries find the occupations reached, one loads their statements.
    with django_assert_num_queries(3):
        found = list(statements.statements_for(catalogue.occupations["11-1011"]))
    # Core first, then by id; the supplemental statement last.
    assert names(catalogue, found) == ["budget", "board", "sustain", "approve"]
    assert found[0].occupation.taxonomy == catalogue.onet


def test_a_crosswalk_links_in_either_direction(catalogue):
    marketing = statements.statements_for(catalogue.occupations["11-2021"])
    assert names(catalogue, marketing) == ["pricing"]
    # From the O*NET side: its own statements, and none through SOC 11-1011 (one step only).
    chief = statements.statements_for(catalogue.occupations["11-1011.00"])
    assert names(catalogue, chief) == ["budget", "board", "approve"]


def test_a_job_category_sees_the_statements_linked_to_its_descendants(catalogue):
    found = statements.statements_for(catalogue.occupations["11-0000"])
    assert names(catalogue, found) == ["pricing", "budget", "board", "sustain", "approve"]


def test_an_occupation_without_links_or_statements_sees_none(catalogue):
    assert list(statements.statements_for(catalogue.occupations["11-3031"])) == []


def test_the_credit_of_the_source_goes_with_the_statements(catalogue):
    found = statements.statements_for(catalogue.occupations["11-1011"])
    assert list(statements.statement_sources(found)) == [catalogue.onet]
    assert statements.statement_taxonomies(found) == [catalogue.onet]
    empty = statements.statements_for(catalogue.occupations["11-3031"])
    assert list(statements.statement_sources(empty)) == []


# --- suggestions -------------------------------------------------------------------------


def draft(on: Occupation, title: str, **content) -> TaskVersion:
    task = Task.objects.create(slug=title.lower().replace(" ", "-"), occupation=on, title=title)
    fields = {
        "instructions": "",
        "deliverable": "",
        "estimated_minutes": 30,
        "reference_solution": "",
    }
    return TaskVersion.objects.create(task=task, number=1, **{**fields, **content})


def test_words_drop_short_and_stop_words_and_plurals():
    assert statements.words("Prepare the budgets for an approval of IT") == {
        "prepare",
        "budget",
        "approval",
    }


def test_statements_are_ranked_by_words_shared_with_the_draft(catalogue):
    version = draft(
        catalogue.occupations["11-1011"],
        "Budget for the board",
        instructions="The board asks for a budget with the financial activities of the year.",
        deliverable="A budget table for approval.",
    )
    found = statements.statements_for(catalogue.occupations["11-1011"])
    ranked = statements.suggest_statements(version, found, limit=2)
    # budget shares budget, financial and activities; approve budget and approval.
    assert [(names(catalogue, [r.statement])[0], r.score) for r in ranked] == [
        ("budget", 3),
        ("approve", 2),
        ("board", 1),
        ("sustain", 0),
    ]
    assert [r.suggested for r in ranked] == [True, True, False, False]


def test_a_core_statement_ranks_before_a_supplemental_one_with_the_same_score(catalogue):
    version = draft(catalogue.occupations["11-1011"], "Approval", instructions="Confer.")
    found = statements.statements_for(catalogue.occupations["11-1011"])
    ranked = statements.suggest_statements(version, found, limit=1)
    top = [(names(catalogue, [r.statement])[0], r.score, r.suggested) for r in ranked[:2]]
    assert top == [("board", 1, True), ("approve", 1, False)]


def test_nothing_is_suggested_when_no_word_is_shared(catalogue):
    version = draft(catalogue.occupations["11-1011"], "Xylophone", instructions="Zither.")
    found = statements.statements_for(catalogue.occupations["11-1011"])
    ranked = statements.suggest_statements(version, found)
    assert len(ranked) == 4
    assert not any(r.suggested for r in ranked)
    assert names(catalogue, [r.statement for r in ranked]) == names(catalogue, found)


# --- coverage ----------------------------------------------------------------------------


def task_citing(
    on: Occupation,
    slug: str,
    *cited: TaskStatement,
    published: bool = True,
    status: str = Task.Status.PUBLISHED,
    visibility: str = Task.Visibility.PUBLIC,
) -> Task:
    task = Task.objects.create(
        slug=slug, occupation=on, title=slug, status=status, visibility=visibility
    )
    version = TaskVersion.objects.create(
        task=task,
        number=1,
        instructions="x",
        deliverable="y",
        estimated_minutes=30,
        reference_solution="z",
    )
    version.task_statements.set(cited)
    if published:
        version.lock()
        task.published_version = version
        task.save()
    return task


@pytest.fixture
def tasks(catalogue) -> dict[str, Task]:
    o, s = catalogue.occupations, catalogue.statements
    found = {
        "public": task_citing(o["11-1011"], "public", s["budget"], s["approve"]),
        "held-out": task_citing(
            o["11-1011"], "held-out", s["sustain"], visibility=Task.Visibility.HELD_OUT
        ),
        "draft": task_citing(o["11-1011"], "draft", s["board"], published=False),
        "retired": task_citing(o["11-2021"], "retired", s["pricing"], status="retired"),
        "no-statements": task_citing(o["11-3031"], "no-statements"),
    }
    # A published task whose newer draft cites more: only the published version counts.
    newer = TaskVersion.objects.create(
        task=found["public"],
        number=2,
        instructions="x",
        deliverable="y",
        estimated_minutes=30,
        reference_solution="z",
    )
    newer.task_statements.set([s["budget"], s["board"]])
    return found


def figures(rows) -> dict[str, tuple[int, int, float | None]]:
    return {r.occupation.code: (r.core_count, r.covered_count, r.share) for r in rows}


def test_coverage_counts_core_statements_cited_by_published_versions(
    catalogue, tasks, django_assert_max_num_queries
):
    scope = Occupation.objects.filter(taxonomy=catalogue.soc, level="detailed")
    with django_assert_max_num_queries(6):
        rows = statements.statement_coverage(scope)
    # 11-1011: budget (public) and sustain (held out) are covered; board only by a draft
    # and a newer unpublished version. 11-2021: pricing only by a retired task. 11-3031 has
    # a task but no statements.
    assert figures(rows) == {
        "11-1011": (3, 2, 2 / 3),
        "11-2021": (1, 0, 0.0),
        "11-3031": (0, 0, None),
    }


def test_coverage_of_the_source_occupations_and_of_a_job_category(catalogue, tasks):
    onet = statements.statement_coverage(Occupation.objects.filter(taxonomy=catalogue.onet))
    assert figures(onet) == {
        "11-1011.00": (2, 1, 0.5),
        "11-1011.03": (1, 1, 1.0),
        "11-2021.00": (1, 0, 0.0),
    }
    major = statements.statement_coverage(Occupation.objects.filter(code="11-0000"))
    assert figures(major) == {"11-0000": (4, 2, 0.5)}


def test_occupations_with_neither_tasks_nor_statements_are_left_out(catalogue):
    scope = Occupation.objects.filter(taxonomy=catalogue.soc, level="detailed")
    assert set(figures(statements.statement_coverage(scope))) == {"11-1011", "11-2021"}


def test_totals_count_a_statement_reached_from_two_occupations_once(catalogue, tasks):
    o = catalogue.occupations
    crosswalk = Crosswalk.objects.get(source=catalogue.onet)
    CrosswalkLink.objects.create(crosswalk=crosswalk, source=o["11-1011.03"], target=o["11-2021"])
    scope = Occupation.objects.filter(taxonomy=catalogue.soc, level="detailed")
    rows = statements.statement_coverage(scope)
    assert figures(rows)["11-2021"] == (2, 1, 0.5)
    (group,) = statements.coverage_groups(rows)
    assert group.category == o["11-0000"]
    assert (group.core_count, group.covered_count) == (4, 2)
    total = statements.coverage_total(rows)
    assert (total.core_count, total.covered_count, total.share) == (4, 2, 0.5)


def test_cited_statements_are_those_of_public_published_versions(catalogue, tasks):
    found = statements.statements_for(catalogue.occupations["11-1011"])
    # sustain is cited only by a held-out task: it counts in the figures, but is not listed.
    assert names(catalogue, statements.cited_statements(found)) == ["budget", "approve"]


def test_reachable_statements_on_plain_ids():
    parent = {1: None, 2: 1, 3: 1, 10: None}
    links = [(10, 2)]
    by_occupation = {10: [100, 101], 3: [300]}
    reached = statements.reachable_statements([1, 2, 3, 10], parent, links, by_occupation)
    assert reached == {
        1: frozenset({100, 101, 300}),
        2: frozenset({100, 101}),
        3: frozenset({300}),
        10: frozenset({100, 101}),
    }


def test_reachability_has_no_depth_limit():
    # A chain seven levels deep: the top reaches the statements of the bottom.
    parent = {1: None, **{n: n - 1 for n in range(2, 9)}}
    reached = statements.reachable_occupations([1, 8], parent, [(8, 20)])
    assert reached == {1: frozenset({*range(1, 9), 20}), 8: frozenset({8, 20})}


def test_a_submitted_version_refuses_every_change_to_its_citations(catalogue, tasks):
    version = tasks["public"].published_version
    s = catalogue.statements
    before = {st.pk for st in version.task_statements.all()}
    attempts = [
        lambda: version.task_statements.add(s["board"]),
        lambda: version.task_statements.remove(s["budget"]),
        lambda: version.task_statements.clear(),
        lambda: version.task_statements.set([s["board"]]),
        lambda: s["board"].task_versions.add(version),
        lambda: s["budget"].task_versions.remove(version),
        lambda: s["budget"].task_versions.clear(),
    ]
    for attempt in attempts:
        with pytest.raises(LockedVersionError), transaction.atomic():
            attempt()
    assert {st.pk for st in version.task_statements.all()} == before


def test_an_occupation_whose_statements_a_published_version_cites_cannot_be_deleted(
    catalogue, tasks
):
    citations = TaskStatementCitation.objects.count()
    with pytest.raises(ProtectedError), transaction.atomic():
        catalogue.occupations["11-1011.03"].delete()  # sustain, cited by a held-out task
    with pytest.raises(ProtectedError), transaction.atomic():
        catalogue.statements["budget"].delete()
    assert TaskStatementCitation.objects.count() == citations
    assert TaskStatement.objects.filter(pk=catalogue.statements["sustain"].pk).exists()
    version = tasks["held-out"].published_version
    assert names(catalogue, version.task_statements.all()) == ["sustain"]


def test_one_occupations_figures_agree_with_the_coverage_table(
    catalogue, tasks, django_assert_max_num_queries
):
    for code in ("11-1011", "11-0000", "11-2021"):
        on = catalogue.occupations[code]
        with django_assert_max_num_queries(6):
            figures_of_one = statements.occupation_statements(on)
        (row,) = statements.statement_coverage(Occupation.objects.filter(pk=on.pk))
        assert (figures_of_one.core_count, figures_of_one.covered_count) == (
            row.core_count,
            row.covered_count,
        )
        assert figures_of_one.sources == (catalogue.onet,)
    chief = statements.occupation_statements(catalogue.occupations["11-1011"])
    assert (chief.statement_count, chief.core_count, chief.covered_count) == (4, 3, 2)
    assert names(catalogue, chief.cited) == ["budget", "approve"]


def test_an_occupation_without_statements_costs_three_queries(catalogue, django_assert_num_queries):
    with django_assert_num_queries(3):
        found = statements.occupation_statements(catalogue.occupations["11-3031"])
    assert (found.statement_count, found.core_count, found.share, found.sources) == (
        0,
        0,
        None,
        (),
    )


# --- statements the source has not rated --------------------------------------------------


@pytest.fixture
def unrated(catalogue) -> dict[str, TaskStatement]:
    """O*NET 11-3031.00 (linked to SOC 11-3031) with two statements of no task type."""
    o = catalogue.occupations
    o["11-3031.00"] = occupation(catalogue.onet, "11-3031.00", "detailed")
    crosswalk = Crosswalk.objects.get(source=catalogue.onet)
    CrosswalkLink.objects.create(crosswalk=crosswalk, source=o["11-3031.00"], target=o["11-3031"])
    return {
        "ledger": statement(o["11-3031.00"], 7001, "Keep the general ledger.", ""),
        "audit": statement(o["11-3031.00"], 7002, "Prepare for the annual audit.", ""),
    }


def test_unrated_statements_count_as_core_where_none_is_rated(catalogue, unrated):
    o = catalogue.occupations
    task_citing(o["11-3031"], "ledger", unrated["ledger"])
    scope = Occupation.objects.filter(taxonomy=catalogue.soc, level="detailed")
    rows = {row.occupation.code: row for row in statements.statement_coverage(scope)}
    assert figures(rows.values())["11-3031"] == (2, 1, 0.5)
    assert rows["11-3031"].unrated and not rows["11-1011"].unrated
    one = statements.occupation_statements(o["11-3031"])
    assert (one.statement_count, one.core_count, one.covered_count, one.unrated) == (
        2,
        2,
        1,
        True,
    )
    # The job category also reaches rated statements: there only Core ones count.
    (major,) = statements.statement_coverage(Occupation.objects.filter(pk=o["11-0000"].pk))
    assert (major.core_count, major.unrated) == (4, False)
    assert statements.occupation_statements(o["11-0000"]).core_count == 4


def test_an_occupation_reaching_only_supplemental_statements_counts_no_core(catalogue):
    o = catalogue.occupations
    only = occupation(catalogue.onet, "11-3031.00", "detailed")
    statement(only, 7001, "Keep the general ledger.", SUPPLEMENTAL)
    crosswalk = Crosswalk.objects.get(source=catalogue.onet)
    CrosswalkLink.objects.create(crosswalk=crosswalk, source=only, target=o["11-3031"])
    scope = Occupation.objects.filter(taxonomy=catalogue.soc, level="detailed")
    assert "11-3031" not in figures(statements.statement_coverage(scope))
    one = statements.occupation_statements(o["11-3031"])
    assert (one.statement_count, one.core_count, one.unrated) == (1, 0, False)


def test_only_published_tasks_add_a_row_for_an_occupation_without_core_statements(catalogue):
    o = catalogue.occupations
    scope = Occupation.objects.filter(taxonomy=catalogue.soc, level="detailed")
    task_citing(o["11-3031"], "draft", published=False, status=Task.Status.DRAFT)
    task_citing(
        o["11-3031"],
        "held-out-draft",
        published=False,
        status=Task.Status.IN_REVIEW,
        visibility=Task.Visibility.HELD_OUT,
    )
    task_citing(o["11-3031"], "approved", published=False, status=Task.Status.APPROVED)
    task_citing(o["11-3031"], "retired", status=Task.Status.RETIRED)
    assert "11-3031" not in figures(statements.statement_coverage(scope))
    task_citing(o["11-3031"], "held-out-published", visibility=Task.Visibility.HELD_OUT)
    assert figures(statements.statement_coverage(scope))["11-3031"] == (0, 0, None)
