"""The task statements (O*NET) an occupation involves, which tasks cite them, and coverage.

A task written against an occupation may cite the statements of that occupation, of the
occupations under it, and of every occupation a crosswalk links to any of those (in either
direction): a task on SOC 11-1011 sees the statements of O*NET 11-1011.00 and 11-1011.03.
Coverage counts the core statements reachable so that a panel can see which kinds of work
its published tasks measure and which they miss.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from occupations.models import (
    CrosswalkLink,
    Occupation,
    Task,
    TaskStatement,
    TaskStatementCitation,
    TaskVersion,
    Taxonomy,
)

_CORE_FIRST = Case(
    When(task_type=TaskStatement.TaskType.CORE, then=Value(0)),
    default=Value(1),
    output_field=IntegerField(),
)


# --- which statements an occupation reaches ----------------------------------------------


def reachable_occupations(
    roots: Iterable[int],
    parent: Mapping[int, int | None],
    links: Iterable[tuple[int, int]],
) -> dict[int, frozenset[int]]:
    """Per root occupation id, the ids of the occupations whose statements it reaches: the
    root, every occupation below it (at any depth), and every occupation a crosswalk links
    to any of those, in either direction (one step: not the occupations under a linked one).

    `parent` maps occupation ids to their parent id, `links` are crosswalk (source, target)
    pairs. The one definition of reachability; the queries below build on it.
    """
    children: dict[int, list[int]] = defaultdict(list)
    for pk, up in parent.items():
        if up is not None:
            children[up].append(pk)
    linked: dict[int, set[int]] = defaultdict(set)
    for source, target in links:
        linked[source].add(target)
        linked[target].add(source)
    result = {}
    for root in roots:
        under: set[int] = set()
        todo = [root]
        while todo:
            pk = todo.pop()
            if pk not in under:
                under.add(pk)
                todo.extend(children.get(pk, ()))
        reached = set(under)
        for pk in under:
            reached |= linked.get(pk, set())
        result[root] = frozenset(reached)
    return result


def reachable_statements(
    roots: Iterable[int],
    parent: Mapping[int, int | None],
    links: Iterable[tuple[int, int]],
    statements: Mapping[int, Iterable[int]],
) -> dict[int, frozenset[int]]:
    """Per root occupation id, the ids of the statements of its reachable_occupations;
    `statements` maps an occupation id to its statements' ids."""
    result = {}
    for root, occupations in reachable_occupations(roots, parent, links).items():
        found: set[int] = set()
        for pk in occupations:
            found.update(statements.get(pk, ()))
        result[root] = frozenset(found)
    return result


def _occupation_graph(
    taxonomies: Iterable[int],
) -> tuple[dict[int, int | None], list[tuple[int, int]]]:
    """The parent of every occupation of the taxonomies, and the crosswalk links that touch
    them: two queries."""
    taxonomies = set(taxonomies)
    parent = dict(Occupation.objects.filter(taxonomy__in=taxonomies).values_list("pk", "parent_id"))
    links = list(
        CrosswalkLink.objects.filter(
            Q(source__taxonomy__in=taxonomies) | Q(target__taxonomy__in=taxonomies)
        ).values_list("source_id", "target_id")
    )
    return parent, links


def statements_for(occupation: Occupation) -> QuerySet[TaskStatement]:
    """The statements a task written against `occupation` may cite (its
    reachable_occupations' statements), core first then by id. Two queries to find the
    occupations, then the queryset."""
    parent, links = _occupation_graph([occupation.taxonomy_id])
    reached = reachable_occupations([occupation.pk], parent, links)[occupation.pk]
    return (
        TaskStatement.objects.filter(occupation__in=sorted(reached))
        .select_related("occupation__taxonomy")
        .order_by(_CORE_FIRST, "statement_id", "pk")
    )


def no_longer_linked(
    version: TaskVersion, citable: QuerySet[TaskStatement]
) -> QuerySet[TaskStatement]:
    """The statements the version cites that are not among `citable` (statements_for its
    occupation) any more, because a crosswalk link was removed since they were cited."""
    return (
        version.task_statements.exclude(pk__in=citable.values("pk"))
        .select_related("occupation__taxonomy")
        .order_by("statement_id", "pk")
    )


def accepted_citations(
    version: TaskVersion, citable: QuerySet[TaskStatement]
) -> QuerySet[TaskStatement]:
    """What the version's editor accepts: the `citable` statements and those the version
    cites already, so that saving a draft never drops a citation its author kept."""
    kept = TaskStatementCitation.objects.filter(task_version=version).values("task_statement")
    return TaskStatement.objects.filter(Q(pk__in=citable.values("pk")) | Q(pk__in=kept))


def statement_taxonomies(statements: Iterable[TaskStatement]) -> list[Taxonomy]:
    """The taxonomies the statements come from, each once (their credit lines are shown)."""
    found: dict[int, Taxonomy] = {}
    for statement in statements:
        found.setdefault(statement.occupation.taxonomy_id, statement.occupation.taxonomy)
    return [found[pk] for pk in sorted(found)]


def statement_sources(found: QuerySet[TaskStatement] | None = None) -> QuerySet[Taxonomy]:
    """The taxonomies the statements (default: every statement) come from, whose credit
    lines go wherever their statements or figures drawn from them appear."""
    found = TaskStatement.objects.all() if found is None else found
    sources = found.order_by().values("occupation__taxonomy")
    return Taxonomy.objects.filter(pk__in=sources).order_by("pk")


# --- suggestions -----------------------------------------------------------------------

_STOP_WORDS = """
    about above after again against all also and any are because been before being below
    between both but can could did does doing down during each few for from further had has
    have having her here hers him his how include includes including into its itself just
    more most must not now off once only other others our ours out over own related same she
    should some such than that the their theirs them then there these they this those through
    too under until upon use used using various very was were what when where which while who
    whom why will with would you your yours
"""
STOP_WORDS = frozenset(_STOP_WORDS.split())
"""Words too common in task statements to say what a task is about."""

_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> set[str]:
    """The words of a text that say what it is about: lowercase, three letters or more,
    no stop words, a plural 's' dropped ("reports" and "report" are the same word)."""
    found = set()
    for word in _WORD.findall(text.lower()):
        if len(word) < 3 or word in STOP_WORDS:
            continue
        if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        found.add(word)
    return found


@dataclass(frozen=True)
class Suggestion:
    """A statement ranked against a draft."""

    statement: TaskStatement
    score: int
    """How many of the statement's words the draft uses."""
    suggested: bool
    """Among the top suggestions: it scores above zero and ranks within the limit."""


def draft_words(version: TaskVersion) -> set[str]:
    """The words of a draft's title, instructions, input material and deliverable."""
    parts = (version.task.title, version.instructions, version.context, version.deliverable)
    return words(" ".join(parts))


def suggest_statements(
    version: TaskVersion, statements: Iterable[TaskStatement], limit: int = 5
) -> list[Suggestion]:
    """Every statement ranked by the words it shares with the draft (ties: core first, then
    in the given order); the first `limit` with a score above zero are flagged suggested."""
    vocabulary = draft_words(version)
    scored = [(len(words(statement.text) & vocabulary), statement) for statement in statements]
    order = sorted(
        range(len(scored)),
        key=lambda i: (-scored[i][0], not scored[i][1].is_core, i),
    )
    ranked = []
    for rank, i in enumerate(order):
        score, statement = scored[i]
        ranked.append(Suggestion(statement, score, suggested=score > 0 and rank < limit))
    return ranked


# --- coverage --------------------------------------------------------------------------


def _unrated(task_types: Mapping[int, str]) -> bool:
    return bool(task_types) and not any(task_types.values())


def counted_as_core(task_types: Mapping[int, str]) -> frozenset[int]:
    """Of the statements reachable from one occupation (statement id -> task type), those
    coverage counts as core: the Core ones; or all of them when none has a task type, as
    for the O*NET occupations whose statements are not rated core or supplemental yet."""
    if _unrated(task_types):
        return frozenset(task_types)
    return frozenset(pk for pk, kind in task_types.items() if kind == TaskStatement.TaskType.CORE)


@dataclass(frozen=True)
class StatementCoverage:
    """How many of the core statements reachable from an occupation published tasks cite."""

    occupation: Occupation
    statement_count: int
    """Statements reachable (statements_for) from the occupation, core or not."""
    core: frozenset[int]
    """Ids of those counted as core (counted_as_core)."""
    covered: frozenset[int]
    """Those of them cited by the published version of a published, not retired task."""
    unrated: bool = False
    """None of the statements reachable has a task type, so all of them count as core."""

    @property
    def core_count(self) -> int:
        return len(self.core)

    @property
    def covered_count(self) -> int:
        return len(self.covered)

    @property
    def share(self) -> float | None:
        """Covered over reachable; None when no core statement is reachable."""
        return len(self.covered) / len(self.core) if self.core else None


@dataclass(frozen=True)
class CoverageGroup:
    """Rows of one job category with their totals (each statement counted once)."""

    category: Occupation | None
    rows: tuple[StatementCoverage, ...]
    core_count: int
    covered_count: int

    @property
    def share(self) -> float | None:
        return self.covered_count / self.core_count if self.core_count else None


def published_citations(*, public_only: bool = False) -> QuerySet[TaskStatementCitation]:
    """The (task version, statement) rows of the versions published tasks use now; with
    `public_only`, those of public tasks alone (what a public page may list)."""
    tasks = Task.objects.published()
    if public_only:
        tasks = tasks.filter(visibility=Task.Visibility.PUBLIC)
    return TaskStatementCitation.objects.filter(
        task_version_id__in=tasks.values("published_version")
    )


def statement_coverage(occupations: QuerySet[Occupation] | None = None) -> list[StatementCoverage]:
    """Core statement coverage of the occupations, among `occupations` (default: all), that
    published tasks are written against or that reach a core statement, by job category
    then code. Held-out tasks count: the figures never name a task. Drafts never add a row.

    Six queries whatever the number of occupations; counting is one pass over ids.
    """
    scope = Occupation.objects.all() if occupations is None else occupations
    rows = list(
        scope.select_related("job_category", "taxonomy").order_by(
            "job_category__code", "code", "pk"
        )
    )
    if not rows:
        return []
    parent, links = _occupation_graph({o.taxonomy_id for o in rows})
    by_occupation: dict[int, list[int]] = defaultdict(list)
    task_type: dict[int, str] = {}
    for pk, occupation, kind in TaskStatement.objects.values_list(
        "pk", "occupation_id", "task_type"
    ):
        by_occupation[occupation].append(pk)
        task_type[pk] = kind
    reachable = reachable_statements((o.pk for o in rows), parent, links, by_occupation)
    cited = set(published_citations().values_list("task_statement_id", flat=True))
    with_tasks = set(
        Task.objects.published()
        .filter(occupation__in=scope.values("pk"))
        .values_list("occupation_id", flat=True)
    )
    found = []
    for o in rows:
        types = {pk: task_type[pk] for pk in reachable[o.pk]}
        core = counted_as_core(types)
        if core or o.pk in with_tasks:
            found.append(StatementCoverage(o, len(types), core, core & cited, _unrated(types)))
    return found


def coverage_groups(rows: Iterable[StatementCoverage]) -> list[CoverageGroup]:
    """Rows grouped by job category, in the order given, with each group's totals."""
    grouped: dict[int | None, list[StatementCoverage]] = {}
    for row in rows:
        grouped.setdefault(row.occupation.job_category_id, []).append(row)
    return [
        coverage_total(members, category=members[0].occupation.job_category)
        for members in grouped.values()
    ]


def coverage_total(
    rows: Iterable[StatementCoverage], category: Occupation | None = None
) -> CoverageGroup:
    """The rows with their totals: each statement counted once however many rows reach it."""
    rows = tuple(rows)
    core = frozenset().union(*(row.core for row in rows))
    covered = frozenset().union(*(row.covered for row in rows))
    return CoverageGroup(category, rows, len(core), len(covered))


def cited_statements(found: QuerySet[TaskStatement]) -> QuerySet[TaskStatement]:
    """Of the statements, those the published versions of public tasks cite: a public page
    lists these, while held-out tasks count only in the figures."""
    return found.filter(pk__in=published_citations(public_only=True).values("task_statement_id"))


@dataclass(frozen=True)
class OccupationStatements:
    """One occupation's core statement coverage, the statements cited and their sources."""

    statement_count: int
    """Statements reachable from the occupation, core or not."""
    core_count: int
    covered_count: int
    unrated: bool
    """None of the statements reachable has a task type, so all of them count as core."""
    cited: tuple[TaskStatement, ...]
    """Statements reachable from the occupation (core or not) that public published tasks
    cite."""
    sources: tuple[Taxonomy, ...]
    """The taxonomies of the statements reachable, whose credit lines go with the figures."""

    @property
    def share(self) -> float | None:
        return self.covered_count / self.core_count if self.core_count else None


def occupation_statements(occupation: Occupation) -> OccupationStatements:
    """The coverage figures of one occupation, counted as statement_coverage counts them:
    three queries when no statement is reachable, six otherwise."""
    found = statements_for(occupation)
    task_types = dict(found.order_by().values_list("pk", "task_type"))
    if not task_types:
        return OccupationStatements(0, 0, 0, False, (), ())
    core = counted_as_core(task_types)
    cited = set(
        published_citations()
        .filter(task_statement__in=found.order_by().values("pk"))
        .values_list("task_statement_id", flat=True)
    )
    return OccupationStatements(
        statement_count=len(task_types),
        core_count=len(core),
        covered_count=len(core & cited),
        unrated=_unrated(task_types),
        cited=tuple(cited_statements(found)),
        sources=tuple(statement_sources(found)),
    )


# --- citations in task records ---------------------------------------------------------

StatementKey = tuple[str, str, int]
"""A task statement as task records and exports name it: (taxonomy, occupation code,
statement id), e.g. ('O*NET-SOC 26.3', '23-2011.00', 8821)."""


def citation_records(version: TaskVersion) -> list[dict]:
    """The task statements the version cites as a task record carries them, each as
    {taxonomy, occupation, statement_id}, by occupation code then statement id."""
    cited = version.task_statements.select_related("occupation__taxonomy")
    return [
        {
            "taxonomy": str(statement.occupation.taxonomy),
            "occupation": statement.occupation.code,
            "statement_id": statement.statement_id,
        }
        for statement in cited.order_by("occupation__code", "statement_id")
    ]


def statements_named(keys: Iterable[StatementKey]) -> list[TaskStatement]:
    """The task statements named by `keys` that exist in the database; the others are left
    out (a record may cite statements of a taxonomy not imported here). One query, none
    when there are no keys."""
    wanted = set(keys)
    if not wanted:
        return []
    found = TaskStatement.objects.filter(
        statement_id__in={number for _, _, number in wanted}
    ).select_related("occupation__taxonomy")
    return [
        statement
        for statement in found
        if (str(statement.occupation.taxonomy), statement.occupation.code, statement.statement_id)
        in wanted
    ]
