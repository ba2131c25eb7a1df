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

from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When

from occupations.models import (
    CrosswalkLink,
    Occupation,
    Task,
    TaskStatement,
    TaskVersion,
    Taxonomy,
)

# Deep enough for every taxonomy level (major > minor > broad > detailed) and one more,
# for a source that nests its own occupations under a detailed one.
_MAX_DEPTH = 5

_CORE_FIRST = Case(
    When(task_type=TaskStatement.TaskType.CORE, then=Value(0)),
    default=Value(1),
    output_field=IntegerField(),
)


def _descendants(occupation: Occupation) -> QuerySet[Occupation]:
    """The occupation and every occupation below it, as one subquery."""
    condition = Q(pk=occupation.pk)
    for depth in range(1, _MAX_DEPTH + 1):
        condition |= Q(**{"__".join(["parent"] * depth): occupation.pk})
    return Occupation.objects.filter(condition)


def statements_for(occupation: Occupation) -> QuerySet[TaskStatement]:
    """The statements a task written against `occupation` may cite, core first then by id.

    Those of the occupation and of the occupations under it, and those of every occupation
    a crosswalk links to any of them, in either direction. One query.
    """
    under = _descendants(occupation).values("pk")
    linked_to = CrosswalkLink.objects.filter(source__in=under).values("target")
    linked_from = CrosswalkLink.objects.filter(target__in=under).values("source")
    return (
        TaskStatement.objects.filter(
            Q(occupation__in=under) | Q(occupation__in=linked_to) | Q(occupation__in=linked_from)
        )
        .select_related("occupation__taxonomy")
        .order_by(_CORE_FIRST, "statement_id", "pk")
    )


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


@dataclass(frozen=True)
class StatementCoverage:
    """How many of the core statements reachable from an occupation published tasks cite."""

    occupation: Occupation
    core: frozenset[int]
    """Ids of the core statements reachable (statements_for) from the occupation."""
    covered: frozenset[int]
    """Those of them cited by the published version of a published, not retired task."""

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


def reachable_statements(
    roots: Iterable[int],
    parent: Mapping[int, int | None],
    links: Iterable[tuple[int, int]],
    statements: Mapping[int, Iterable[int]],
) -> dict[int, frozenset[int]]:
    """Per root occupation id, the statement ids reachable from it, computed on plain ids.

    `parent` maps every occupation id to its parent id, `links` are crosswalk (source,
    target) pairs, `statements` maps an occupation id to its statements' ids.
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
        under, todo = set(), [root]
        while todo:
            pk = todo.pop()
            if pk not in under:
                under.add(pk)
                todo.extend(children.get(pk, ()))
        occupations = set(under)
        for pk in under:
            occupations |= linked.get(pk, set())
        found: set[int] = set()
        for pk in occupations:
            found.update(statements.get(pk, ()))
        result[root] = frozenset(found)
    return result


def published_citations() -> QuerySet:
    """The (task version, statement) rows of the versions published tasks use now."""
    through = TaskVersion.task_statements.through
    return through.objects.filter(
        taskversion_id__in=Task.objects.published().values("published_version")
    )


def statement_coverage(occupations: QuerySet[Occupation] | None = None) -> list[StatementCoverage]:
    """Core statement coverage of the occupations that tasks are written against and of
    those with core statements reachable, among `occupations` (default: all), by job
    category then code. Held-out tasks count: the figures never name a task.

    A fixed number of queries whatever the number of occupations; counting is one pass
    over ids.
    """
    scope = Occupation.objects.all() if occupations is None else occupations
    rows = list(
        scope.select_related("job_category", "taxonomy").order_by(
            "job_category__code", "code", "pk"
        )
    )
    if not rows:
        return []
    taxonomies = {o.taxonomy_id for o in rows}
    parent = dict(Occupation.objects.filter(taxonomy__in=taxonomies).values_list("pk", "parent_id"))
    links = list(CrosswalkLink.objects.values_list("source_id", "target_id"))
    core: dict[int, list[int]] = defaultdict(list)
    for pk, occupation in TaskStatement.objects.filter(
        task_type=TaskStatement.TaskType.CORE
    ).values_list("pk", "occupation_id"):
        core[occupation].append(pk)
    reachable = reachable_statements((o.pk for o in rows), parent, links, core)
    cited = set(published_citations().values_list("taskstatement_id", flat=True))
    with_tasks = set(
        Task.objects.filter(occupation__in=scope.values("pk")).values_list(
            "occupation_id", flat=True
        )
    )
    return [
        StatementCoverage(o, reachable[o.pk], reachable[o.pk] & cited)
        for o in rows
        if reachable[o.pk] or o.pk in with_tasks
    ]


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


def cited_statements(occupation: Occupation) -> QuerySet[TaskStatement]:
    """The statements reachable from the occupation that published tasks cite."""
    cited = published_citations().values("taskstatement_id")
    return statements_for(occupation).filter(pk__in=cited)


@dataclass(frozen=True)
class OccupationStatements:
    """One occupation's core statement coverage, the statements cited and their sources."""

    core_count: int
    covered_count: int
    cited: tuple[TaskStatement, ...]
    """Statements reachable from the occupation (core or not) that published tasks cite."""
    sources: tuple[Taxonomy, ...]
    """The taxonomies of the statements reachable, whose credit lines go with the figures."""

    @property
    def share(self) -> float | None:
        return self.covered_count / self.core_count if self.core_count else None


def occupation_statements(occupation: Occupation) -> OccupationStatements:
    """The coverage figures of one occupation, counted in the database: one query when no
    statement is reachable, three otherwise."""
    core = Q(task_type=TaskStatement.TaskType.CORE)
    cited = Q(pk__in=published_citations().values("taskstatement_id"))
    per_source = list(
        statements_for(occupation)
        .order_by()
        .values("occupation__taxonomy")
        .annotate(core=Count("pk", filter=core), covered=Count("pk", filter=core & cited))
    )
    if not per_source:
        return OccupationStatements(0, 0, (), ())
    taxonomies = Taxonomy.objects.in_bulk([row["occupation__taxonomy"] for row in per_source])
    return OccupationStatements(
        core_count=sum(row["core"] for row in per_source),
        covered_count=sum(row["covered"] for row in per_source),
        cited=tuple(cited_statements(occupation)),
        sources=tuple(taxonomies[pk] for pk in sorted(taxonomies)),
    )
