"""Statistical disclosure control for released figures: pure functions, no database.

A figure based on fewer than k tasks is too fragile to publish (one task moves it a lot, and
with a handful of tasks it comes close to describing single, possibly held-out tasks), so it
is suppressed: primary suppression. Some published figures are task-weighted means of others
(a model's rate over every job category is the task-weighted mean of its rates per
category), so a lone suppressed cell could be worked back from its total and its published
siblings. Secondary suppression closes that: no linear relation may hold exactly one
suppressed cell.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum


class Suppression(StrEnum):
    """Why a figure is withheld, with the SDMX confidentiality status it is published with."""

    PRIMARY = "C"
    """Confidential: based on fewer than k tasks."""
    SECONDARY = "D"
    """Withheld so that a primary suppression cannot be recovered from totals."""


@dataclass(frozen=True)
class Relation:
    """A total and the cells it is a (task-weighted) combination of."""

    total: Hashable
    members: tuple[Hashable, ...]


def suppress(
    tasks: Mapping[Hashable, int],
    relations: Iterable[Relation],
    min_tasks: int,
    *,
    at_bound: Collection[Hashable] = (),
    contained: Iterable[Relation] = (),
    depends_on: Mapping[Hashable, Iterable[Hashable]] | None = None,
) -> dict[Hashable, Suppression]:
    """The cells to withhold, and why.

    tasks maps every published cell to the number of tasks its figures are based on. Cells
    with fewer than min_tasks are primary suppressions. Then, until nothing changes, each
    relation with exactly one withheld cell among its total and members withholds one more:
    the unsuppressed member with the fewest tasks (ties: the first listed), or the total when
    every member is already withheld. Cells a relation names but `tasks` lacks are
    unpublished: they count as unknown (a relation with one withheld and one unpublished
    cell is safe) and are never chosen. Relations without members are ignored. The result
    is deterministic: the same cells for any order of `tasks`; with a tie in tasks among
    candidates the member listed first in its relation is chosen.

    Rates live in [0, 1], so a total published at a bound gives away every member: a model
    at 0 % overall is at 0 % in each category. A published total in `at_bound` is therefore
    withheld (secondary) as soon as one of its members is, for `relations` and for
    `contained` (cells based on some of the total's tasks, without the exact sum: a model's
    rate in an occupation within its rate in the job category). Cells in `depends_on` are figures
    derived from other cells in no linear way (a trend through the frontier models' rates):
    each is withheld once any cell it depends on is.
    """
    withheld: dict[Hashable, Suppression] = {
        cell: Suppression.PRIMARY for cell, count in tasks.items() if count < min_tasks
    }
    relations = [r for r in relations if r.members]
    bounded = [*relations, *(r for r in contained if r.members)]
    changed = True
    while changed:
        changed = False
        for relation in relations:
            cells = (relation.total, *relation.members)
            # An unpublished cell is as unknown to a reader as a withheld one.
            unknown = {c for c in cells if c in withheld or c not in tasks}
            if len(unknown) != 1 or not unknown <= withheld.keys():
                continue
            candidates = [m for m in relation.members if m not in unknown]
            if candidates:
                pick = min(candidates, key=lambda m: (tasks[m], candidates.index(m)))
            else:
                pick = relation.total
            if pick in unknown:  # a total listed among its own members: nothing left to hide
                continue
            withheld[pick] = Suppression.SECONDARY
            changed = True
        for relation in bounded:
            if (
                relation.total in at_bound
                and relation.total in tasks
                and relation.total not in withheld
                and any(m in withheld for m in relation.members)
            ):
                withheld[relation.total] = Suppression.SECONDARY
                changed = True
    for cell, sources in (depends_on or {}).items():
        if cell in tasks and cell not in withheld and any(s in withheld for s in sources):
            withheld[cell] = Suppression.SECONDARY
    return withheld
