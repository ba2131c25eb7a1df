"""Disclosure control: which figures are withheld, and why (reports.disclosure)."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from reports.disclosure import Relation, Suppression, suppress

PRIMARY, SECONDARY = Suppression.PRIMARY, Suppression.SECONDARY


def test_suppressions_carry_the_sdmx_confidentiality_codes():
    assert (PRIMARY.value, SECONDARY.value) == ("C", "D")


def test_nothing_is_withheld_when_every_figure_rests_on_enough_tasks():
    tasks = {"total": 30, "a": 10, "b": 5, "c": 15}
    assert suppress(tasks, [Relation("total", ("a", "b", "c"))], 5) == {}


def test_a_figure_on_exactly_k_tasks_is_published_and_one_fewer_is_not():
    assert suppress({"a": 5}, [], 5) == {}
    assert suppress({"a": 4}, [], 5) == {"a": PRIMARY}


def test_a_lone_small_figure_pulls_its_smallest_sibling_with_it():
    tasks = {"total": 30, "small": 2, "large": 16, "medium": 12}
    withheld = suppress(tasks, [Relation("total", ("small", "large", "medium"))], 5)
    assert withheld == {"small": PRIMARY, "medium": SECONDARY}


def test_a_small_figure_with_a_small_sibling_needs_no_secondary_suppression():
    tasks = {"total": 30, "a": 2, "b": 3, "c": 25}
    assert suppress(tasks, [Relation("total", ("a", "b", "c"))], 5) == {
        "a": PRIMARY,
        "b": PRIMARY,
    }


def test_a_total_of_a_single_small_member_is_withheld_with_it():
    # The total equals its only member, so publishing it would publish the member.
    assert suppress({"total": 9, "only": 3}, [Relation("total", ("only",))], 5) == {
        "only": PRIMARY,
        "total": SECONDARY,
    }


def test_a_small_total_of_a_single_small_member_is_only_primary():
    assert suppress({"total": 4, "only": 4}, [Relation("total", ("only",))], 5) == {
        "total": PRIMARY,
        "only": PRIMARY,
    }


def test_a_small_total_pulls_a_member_so_that_it_cannot_be_summed_back():
    tasks = {"total": 4, "a": 9, "b": 7}
    assert suppress(tasks, [Relation("total", ("a", "b"))], 5) == {
        "total": PRIMARY,
        "b": SECONDARY,
    }


def test_when_everything_is_small_everything_is_primary_and_nothing_secondary():
    tasks = {"total": 4, "a": 1, "b": 2, "c": 1}
    withheld = suppress(tasks, [Relation("total", ("a", "b", "c"))], 5)
    assert withheld == dict.fromkeys(tasks, PRIMARY)


def test_a_withheld_cell_in_two_relations_protects_both_in_turn():
    # Two rows and two columns of a grid: a small corner pulls its row neighbour, which
    # leaves that column with one withheld cell, and so on round the grid.
    tasks = {"row1": 20, "row2": 20, "col1": 20, "col2": 20, "a": 3, "b": 10, "c": 9, "d": 8}
    relations = [
        Relation("row1", ("a", "b")),
        Relation("row2", ("c", "d")),
        Relation("col1", ("a", "c")),
        Relation("col2", ("b", "d")),
    ]
    withheld = suppress(tasks, relations, 5)
    assert withheld == {"a": PRIMARY, "b": SECONDARY, "c": SECONDARY, "d": SECONDARY}
    for relation in relations:
        assert sum(c in withheld for c in (relation.total, *relation.members)) != 1


def test_a_model_total_over_categories_and_a_category_over_occupations():
    # The release's own shape: a model's overall figure over its job categories, and a
    # category's figure over the occupations it is made of.
    tasks = {"model": 30, "cat1": 4, "cat2": 10, "cat3": 16, "occ1": 6, "occ2": 4}
    relations = [
        Relation("model", ("cat1", "cat2", "cat3")),
        Relation("cat2", ("occ1", "occ2")),
    ]
    withheld = suppress(tasks, relations, 5)
    assert withheld == {"cat1": PRIMARY, "occ2": PRIMARY, "cat2": SECONDARY}


def test_ties_go_to_the_member_listed_first_whatever_the_order_of_the_counts():
    tasks = {"total": 20, "small": 2, "b": 6, "c": 6}
    assert suppress(tasks, [Relation("total", ("small", "b", "c"))], 5)["b"] is SECONDARY
    assert "c" not in suppress(tasks, [Relation("total", ("small", "b", "c"))], 5)
    assert suppress(tasks, [Relation("total", ("small", "c", "b"))], 5) == {
        "small": PRIMARY,
        "c": SECONDARY,
    }
    reordered = {"c": 6, "b": 6, "small": 2, "total": 20}
    assert suppress(reordered, [Relation("total", ("small", "b", "c"))], 5) == {
        "small": PRIMARY,
        "b": SECONDARY,
    }


def test_an_unpublished_member_already_hides_a_lone_small_figure():
    tasks = {"total": 30, "small": 2, "large": 16}  # "unpublished" has no figure at all
    relation = Relation("total", ("small", "large", "unpublished"))
    assert suppress(tasks, [relation], 5) == {"small": PRIMARY}


def test_an_unpublished_total_already_hides_a_lone_small_figure():
    relation = Relation("unpublished", ("small", "large"))
    assert suppress({"small": 2, "large": 16}, [relation], 5) == {"small": PRIMARY}


def test_unpublished_cells_are_never_withheld_and_alone_withhold_nothing():
    tasks = {"total": 30, "a": 16, "b": 9}
    relations = [Relation("total", ("a", "b", "unpublished")), Relation("gone", ("a",))]
    assert suppress(tasks, relations, 5) == {}


def test_a_relation_without_members_is_ignored():
    assert suppress({"total": 3}, [Relation("total", ())], 5) == {"total": PRIMARY}


# --- totals at 0 or 100 %, and derived figures -------------------------------------------


def test_a_total_at_0_or_100_percent_is_withheld_with_any_suppressed_part():
    # A model at 0 % overall is at 0 % in every category: its small category is given away.
    tasks = {"model": 30, "cat1": 4, "cat2": 10, "cat3": 16}
    relation = Relation("model", ("cat1", "cat2", "cat3"))
    assert "model" not in suppress(tasks, [relation], 5)
    withheld = suppress(tasks, [relation], 5, at_bound={"model"})
    assert withheld["model"] is SECONDARY and withheld["cat1"] is PRIMARY
    assert "cat3" not in withheld


def test_a_total_at_a_bound_stays_published_while_all_its_parts_are():
    tasks = {"model": 30, "cat1": 14, "cat2": 16}
    assert suppress(tasks, [Relation("model", ("cat1", "cat2"))], 5, at_bound={"model"}) == {}


def test_a_total_that_only_contains_a_suppressed_part_is_withheld_only_at_a_bound():
    # An occupation's tasks are some of its job category's: no exact sum gives it back, but
    # a category at 100 % says the occupation is at 100 % too.
    tasks = {"category": 12, "occupation": 1, "other": 11}
    contained = [Relation("category", ("occupation",))]
    assert suppress(tasks, [], 5, contained=contained) == {"occupation": PRIMARY}
    assert suppress(tasks, [], 5, contained=contained, at_bound={"category"}) == {
        "occupation": PRIMARY,
        "category": SECONDARY,
    }


def test_a_total_withheld_at_its_bound_protects_the_relations_it_belongs_to():
    # The category withheld for its occupation is then the lone withheld part of the
    # model's total, which takes the model's smallest other category with it.
    tasks = {"model": 40, "cat1": 12, "cat2": 9, "cat3": 19, "occupation": 1}
    withheld = suppress(
        tasks,
        [Relation("model", ("cat1", "cat2", "cat3"))],
        5,
        at_bound={"cat1"},
        contained=[Relation("cat1", ("occupation",))],
    )
    assert withheld == {"occupation": PRIMARY, "cat1": SECONDARY, "cat2": SECONDARY}


def test_an_unpublished_total_at_a_bound_is_never_withheld():
    contained = [Relation("unpublished", ("occupation",))]
    assert suppress({"occupation": 2}, [], 5, contained=contained, at_bound={"unpublished"}) == {
        "occupation": PRIMARY
    }


def test_a_trend_is_withheld_with_any_figure_it_is_fitted_to():
    tasks = {"trend": 9, "early": 9, "late": 3}
    depends_on = {"trend": ["early", "late"]}
    assert suppress(tasks, [], 5, depends_on=depends_on) == {"late": PRIMARY, "trend": SECONDARY}
    assert suppress({**tasks, "late": 9}, [], 5, depends_on=depends_on) == {}


def test_a_trend_follows_a_figure_withheld_only_to_protect_another():
    tasks = {"total": 30, "small": 2, "frontier": 10, "large": 18, "trend": 10}
    withheld = suppress(
        tasks,
        [Relation("total", ("small", "frontier", "large"))],
        5,
        depends_on={"trend": ["frontier"]},
    )
    assert withheld == {"small": PRIMARY, "frontier": SECONDARY, "trend": SECONDARY}


def test_a_trend_on_too_few_tasks_is_a_primary_suppression_and_an_unpublished_one_nothing():
    depends_on = {"trend": ["cell"], "unpublished": ["cell"]}
    assert suppress({"trend": 2, "cell": 1}, [], 5, depends_on=depends_on) == {
        "trend": PRIMARY,
        "cell": PRIMARY,
    }


# --- properties --------------------------------------------------------------------------


@st.composite
def tables(draw, *, distinct_counts: bool = False, unpublished: bool = False):
    """Cells with task counts and relations among them (a total and distinct members)."""
    size = draw(st.integers(1, 12))
    cells = list(range(size))
    if distinct_counts:
        counts = draw(st.permutations(range(size)))
    else:
        counts = draw(st.lists(st.integers(0, 20), min_size=size, max_size=size))
    tasks = dict(zip(cells, counts, strict=True))
    named = cells + ([size, size + 1] if unpublished else [])  # the last two have no figure
    relations = []
    for _ in range(draw(st.integers(0, 6))):
        total = draw(st.sampled_from(named))
        others = [c for c in named if c != total]
        if others:
            members = draw(st.lists(st.sampled_from(others), min_size=1, unique=True))
            relations.append(Relation(total, tuple(members)))
    return tasks, relations, draw(st.integers(0, 15))


@given(tables(unpublished=True))
@settings(max_examples=300)
def test_exactly_the_figures_below_k_are_primary_suppressions(table):
    tasks, relations, k = table
    withheld = suppress(tasks, relations, k)
    assert {c for c, why in withheld.items() if why is PRIMARY} == {
        c for c, n in tasks.items() if n < k
    }


@given(tables(unpublished=True))
@settings(max_examples=300)
def test_secondary_suppressions_are_published_figures_on_at_least_k_tasks(table):
    tasks, relations, k = table
    withheld = suppress(tasks, relations, k)
    assert set(withheld) <= set(tasks)
    assert all(tasks[c] >= k for c, why in withheld.items() if why is SECONDARY)


@given(tables())
@settings(max_examples=300)
def test_no_relation_is_left_with_exactly_one_withheld_figure(table):
    tasks, relations, k = table
    withheld = suppress(tasks, relations, k)
    for relation in relations:
        cells = (relation.total, *relation.members)
        assert sum(c in withheld for c in cells) != 1


@given(tables(unpublished=True))
@settings(max_examples=300)
def test_no_withheld_figure_is_the_only_unknown_in_its_relation(table):
    tasks, relations, k = table
    withheld = suppress(tasks, relations, k)
    for relation in relations:
        cells = (relation.total, *relation.members)
        unknown = {c for c in cells if c in withheld or c not in tasks}
        assert len(unknown) != 1 or not unknown <= set(withheld)


@given(tables(unpublished=True), st.randoms(use_true_random=False))
@settings(max_examples=200)
def test_the_order_of_the_cells_does_not_change_what_is_withheld(table, rnd: random.Random):
    tasks, relations, k = table
    shuffled = list(tasks.items())
    rnd.shuffle(shuffled)
    assert suppress(dict(shuffled), relations, k) == suppress(tasks, relations, k)


@given(tables(distinct_counts=True, unpublished=True), st.randoms(use_true_random=False))
@settings(max_examples=200)
def test_without_ties_the_order_of_members_does_not_change_what_is_withheld(
    table, rnd: random.Random
):
    tasks, relations, k = table
    reordered = []
    for relation in relations:
        members = list(relation.members)
        rnd.shuffle(members)
        reordered.append(Relation(relation.total, tuple(members)))
    assert suppress(tasks, reordered, k) == suppress(tasks, relations, k)


@st.composite
def controlled_tables(draw):
    """Published cells with exact relations, contained relations, totals at a bound and
    derived cells (trends) that depend on cells but take part in no relation."""
    tasks, relations, k = draw(tables())
    cells = list(tasks)
    contained = []
    for _ in range(draw(st.integers(0, 4))):
        total = draw(st.sampled_from(cells))
        members = draw(st.lists(st.sampled_from(cells), min_size=1, max_size=3, unique=True))
        contained.append(Relation(total, tuple(m for m in members if m != total)))
    at_bound = set(draw(st.lists(st.sampled_from(cells), unique=True)))
    depends_on = {}
    for trend in range(len(cells), len(cells) + draw(st.integers(0, 3))):
        tasks[trend] = draw(st.integers(0, 20))
        depends_on[trend] = draw(st.lists(st.sampled_from(cells), min_size=1, unique=True))
    return (
        tasks,
        relations,
        k,
        {
            "at_bound": at_bound,
            "contained": contained,
            "depends_on": depends_on,
        },
    )


@given(controlled_tables())
@settings(max_examples=300)
def test_a_published_total_at_a_bound_never_sits_beside_a_withheld_part(table):
    tasks, relations, k, extra = table
    withheld = suppress(tasks, relations, k, **extra)
    for relation in [*relations, *extra["contained"]]:
        if relation.total in extra["at_bound"] and relation.total not in withheld:
            assert not any(m in withheld for m in relation.members)


@given(controlled_tables())
@settings(max_examples=300)
def test_a_derived_figure_is_published_only_when_everything_it_depends_on_is(table):
    tasks, relations, k, extra = table
    withheld = suppress(tasks, relations, k, **extra)
    for cell, sources in extra["depends_on"].items():
        assert (cell in withheld) == (tasks[cell] < k or any(s in withheld for s in sources))


@given(controlled_tables())
@settings(max_examples=300)
def test_the_rules_for_exact_totals_and_primaries_hold_with_bounds_and_trends(table):
    tasks, relations, k, extra = table
    withheld = suppress(tasks, relations, k, **extra)
    assert {c for c, why in withheld.items() if why is PRIMARY} == {
        c for c, n in tasks.items() if n < k
    }
    assert all(tasks[c] >= k for c, why in withheld.items() if why is SECONDARY)
    for relation in relations:
        cells = (relation.total, *relation.members)
        assert sum(c in withheld for c in cells) != 1


@given(controlled_tables(), st.randoms(use_true_random=False))
@settings(max_examples=200)
def test_the_order_of_the_cells_does_not_change_what_is_withheld_with_bounds_and_trends(
    table, rnd: random.Random
):
    tasks, relations, k, extra = table
    shuffled = list(tasks.items())
    rnd.shuffle(shuffled)
    assert suppress(dict(shuffled), relations, k, **extra) == suppress(tasks, relations, k, **extra)
