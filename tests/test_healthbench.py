import json
import uuid

import pytest

from interop import healthbench
from interop.conversion import ImportOptions
from interop.formats import import_text
from occupations.jsonl import TaskImportError
from occupations.models import RubricCriterion, Task, TaskEvent, TaskVersion
from tests.authoring import make_user

pytestmark = pytest.mark.django_db

OPTIONS = ImportOptions(occupation="29-1141", minutes=20)


@pytest.fixture
def importer(seeded):
    return make_user("importer", "author")


def example(prompt_id: str = "a1b2", **changes) -> dict:
    """A HealthBench example as the published file holds one."""
    data = {
        "prompt": [
            {"role": "system", "content": "You are a careful health assistant."},
            {"role": "user", "content": "My father is 82 and fell last night."},
            {"role": "assistant", "content": "I am sorry to hear that. Is he hurt?"},
            {"role": "user", "content": "He says his hip hurts when he stands. What should I do?"},
        ],
        "rubrics": [
            {
                "criterion": "Advises urgent assessment for a possible hip fracture",
                "points": 8,
                "tags": ["level:example", "axis:accuracy"],
            },
            {
                "criterion": "Uses plain language",
                "points": 3,
                "tags": ["axis:communication_quality"],
            },
            {
                "criterion": "Asks whether he hit his head",
                "points": 4,
                "tags": ["axis:context_awareness", "evalbuilder:critical"],
            },
            {
                "criterion": "Tells him to walk it off",
                "points": -7,
                "tags": ["axis:completeness"],
            },
        ],
        "example_tags": ["theme:emergency_referrals"],
        "prompt_id": prompt_id,
        "ideal_completions_data": {
            "ideal_completion": "Pain on standing after a fall at 82 can mean a broken hip.",
            "ideal_completions_group": "Group 1",
        },
    }
    data.update(changes)
    return data


def as_text(*examples: dict) -> str:
    return "".join(json.dumps(e) + "\n" for e in examples)


def sizes() -> dict[str, int]:
    return {m.__name__: m.objects.count() for m in (Task, TaskVersion, RubricCriterion, TaskEvent)}


def test_a_conversation_becomes_a_draft_task_with_its_rubric(importer):
    report = import_text("healthbench", as_text(example()), user=importer, options=OPTIONS)

    assert report.slugs == ["a1b2"]
    task = Task.objects.get(slug="a1b2")
    version = task.latest_version()
    assert task.status == Task.Status.DRAFT and importer in task.owners.all()
    assert task.occupation.code == "29-1141"
    assert task.title == "He says his hip hurts when he stands. What should I do?"
    assert version.instructions == "He says his hip hurts when he stands. What should I do?"
    assert "**System message:** You are a careful health assistant." in version.context
    assert "**Assistant:** I am sorry to hear that. Is he hurt?" in version.context
    assert version.reference_solution.startswith("Pain on standing")
    assert version.estimated_minutes == 20
    assert "Assumed on import" in version.minutes_estimate_method
    assert version.pass_threshold == 0.7
    criteria = [(c.text[:10], c.points, c.tag, c.critical) for c in version.criteria.all()]
    assert criteria == [
        ("Advises ur", 8, "accuracy", False),
        ("Uses plain", 3, "communication", False),
        ("Asks wheth", 4, "context_awareness", True),
        ("Tells him ", -7, "completeness", False),
    ]
    assert "HealthBench" in task.events.get().note


def test_every_problem_names_its_line_and_the_healthbench_field(importer):
    bad_points = example("p2")
    bad_points["rubrics"][2]["points"] = 12
    zero = example("p3")
    zero["rubrics"][0]["points"] = 0
    no_ideal = example("p4", ideal_completions_data=None)
    assistant_last = example("p5")
    assistant_last["prompt"].append({"role": "assistant", "content": "Call an ambulance."})
    text = (
        as_text(example("p1"), bad_points, zero) + "{not json\n" + as_text(no_ideal, assistant_last)
    )
    before = sizes()

    with pytest.raises(TaskImportError) as raised:
        import_text("healthbench", text, user=importer, options=OPTIONS)

    problems = [str(p) for p in raised.value.problems]
    assert len(problems) == 5, problems
    assert problems[0].startswith("line 2: ") and "field 'rubrics[2].points'" in problems[0]
    assert "between -10 and 10, got 12" in problems[0]
    assert problems[1].startswith("line 3: ") and "field 'rubrics[0].points'" in problems[1]
    assert problems[2].startswith("line 4: ") and "not valid JSON" in problems[2]
    assert problems[3].startswith("line 5: ")
    assert "field 'ideal_completions_data.ideal_completion'" in problems[3]
    assert problems[4].startswith("line 6: ") and "field 'prompt[4].role'" in problems[4]
    assert sizes() == before


def test_without_occupation_or_minutes_each_line_says_what_to_give(importer):
    with pytest.raises(TaskImportError) as raised:
        import_text("healthbench", as_text(example()), user=importer, options=ImportOptions())

    fields = [p.field for p in raised.value.problems]
    assert fields == ["occupation", "minutes"]


def test_a_reference_given_on_import_fills_examples_without_an_ideal_completion(importer):
    options = ImportOptions(occupation="29-1141", minutes=20, reference="To be written.")
    import_text(
        "healthbench", as_text(example(ideal_completions_data={})), user=importer, options=options
    )

    assert Task.objects.get(slug="a1b2").latest_version().reference_solution == "To be written."


def test_a_dry_run_checks_everything_and_writes_nothing(importer):
    before = sizes()

    report = import_text(
        "healthbench", as_text(example()), user=importer, options=OPTIONS, dry_run=True
    )

    assert report.slugs == ["a1b2"] and report.dry_run
    assert sizes() == before


def test_a_slug_that_exists_is_refused_and_the_prefix_avoids_it(importer):
    import_text("healthbench", as_text(example()), user=importer, options=OPTIONS)
    with pytest.raises(TaskImportError) as raised:
        import_text("healthbench", as_text(example()), user=importer, options=OPTIONS)
    assert raised.value.problems[0].field == "prompt_id"

    options = ImportOptions(occupation="29-1141", minutes=20, prefix="again-")
    assert import_text("healthbench", as_text(example()), user=importer, options=options).slugs == [
        "again-a1b2"
    ]


def test_an_example_without_prompt_id_is_named_by_its_line(importer):
    data = example()
    del data["prompt_id"]
    report = import_text("healthbench", as_text(data), user=importer, options=OPTIONS)
    assert report.slugs == ["healthbench-line-1"]


def round_trip(suite, importer, *, include_held_out: bool, tmp_path) -> dict[str, str]:
    """Export the suite, give the originals new canaries, import under a prefix: new slug ->
    the slug it was exported from."""
    healthbench.write_suite(suite, tmp_path, include_held_out=include_held_out)
    for task in Task.objects.filter(versions__suites=suite):
        Task.objects.filter(pk=task.pk).update(canary=uuid.uuid4())
    text = (tmp_path / healthbench.FILENAME).read_text(encoding="utf-8")
    report = import_text("healthbench", text, user=importer, options=ImportOptions(prefix="copy-"))
    return {slug: slug.removeprefix("copy-") for slug in report.slugs}


def test_export_then_import_restores_every_field_of_every_version(small_suite, importer, tmp_path):
    originals = {v.task.slug: (v.task, v) for v in small_suite.task_versions.all()}
    canaries = {slug: task.canary for slug, (task, _) in originals.items()}

    copies = round_trip(small_suite, importer, include_held_out=True, tmp_path=tmp_path)

    assert sorted(copies.values()) == sorted(originals)
    for copy_slug, slug in copies.items():
        task, version = originals[slug]
        copy = Task.objects.get(slug=copy_slug)
        copied = copy.latest_version()
        assert (copy.title, copy.occupation, copy.visibility) == (
            task.title,
            task.occupation,
            task.visibility,
        )
        for name in TaskVersion.CONTENT_FIELDS:
            assert getattr(copied, name) == getattr(version, name), name
        assert [(c.text, c.points, c.tag, c.critical) for c in copied.criteria.all()] == [
            (c.text, c.points, c.tag, c.critical) for c in version.criteria.all()
        ]
        if task.is_held_out:
            assert copy.canary == canaries[slug]


def test_held_out_tasks_are_exported_only_when_asked(small_suite, tmp_path):
    held_out = small_suite.task_versions.get(task__visibility=Task.Visibility.HELD_OUT)

    healthbench.write_suite(small_suite, tmp_path / "public", include_held_out=False)
    healthbench.write_suite(small_suite, tmp_path / "all", include_held_out=True)

    public = (tmp_path / "public" / healthbench.FILENAME).read_text(encoding="utf-8")
    everything = (tmp_path / "all" / healthbench.FILENAME).read_text(encoding="utf-8")
    assert len(public.splitlines()) == 1 and len(everything.splitlines()) == 2
    assert str(held_out.task.canary) not in public and held_out.task.slug not in public
    assert str(held_out.task.canary) in everything


def test_the_prompt_is_what_the_models_are_sent(small_suite, tmp_path):
    from runs.prompting import task_messages

    healthbench.write_suite(small_suite, tmp_path, include_held_out=False)
    line = json.loads((tmp_path / healthbench.FILENAME).read_text(encoding="utf-8"))
    version = small_suite.task_versions.get(task__visibility=Task.Visibility.PUBLIC)

    assert line["prompt"] == task_messages(version, suite=small_suite)
    assert line["prompt_id"] == f"{version.task.slug}-v{version.number}"
    assert line["ideal_completions_data"]["ideal_completion"] == version.reference_solution
    assert all(tag.startswith("axis:") for r in line["rubrics"] for tag in r["tags"][:1])


def test_fields_missing_from_the_evalbuilder_object_are_named_inside_it(importer):
    partial = example("a", evalbuilder={"slug": "x", "title": "A title"})
    odd = example("b", evalbuilder={"slug": "y", "task_statements": "all"})

    with pytest.raises(TaskImportError) as raised:
        import_text("healthbench", as_text(partial, odd), user=importer, options=ImportOptions())

    fields = {(p.file, p.field) for p in raised.value.problems}
    assert {("line 1", "evalbuilder.occupation"), ("line 1", "evalbuilder.deliverable")} <= fields
    assert ("line 2", "evalbuilder.task_statements") in fields
    assert not {field for _, field in fields} & {"occupation", "deliverable"}
