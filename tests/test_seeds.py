import shutil
from pathlib import Path

import pytest
import yaml

from graders.scoring import CriterionOutcome, rubric_score
from occupations.models import (
    Occupation,
    RubricCriterion,
    Suite,
    Task,
    TaskStatement,
    TaskVersion,
    Taxonomy,
)
from occupations.seeding import SEED_DIR, SeedError, load_seeds, read_seeds
from runs.providers.textmatch import criterion_matches

pytestmark = pytest.mark.django_db


def counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Occupation, Task, TaskVersion, RubricCriterion, Suite)
    }


def test_loading_the_seeds_twice_creates_nothing_the_second_time():
    first = load_seeds()
    after_first = counts()
    second = load_seeds()
    assert counts() == after_first
    assert first.counts["task versions created"] == after_first["TaskVersion"]
    assert second.counts["task versions created"] == 0
    assert second.counts["occupations created"] == 0


def test_the_taxonomy_has_every_soc_major_group_and_enough_detailed_occupations():
    load_seeds()
    majors = Occupation.objects.filter(level=Occupation.Level.MAJOR)
    assert majors.count() == 23
    assert majors.filter(employment__isnull=False).count() == 22
    assert majors.get(code="55-0000").employment is None
    detailed = Occupation.objects.filter(level=Occupation.Level.DETAILED)
    assert detailed.count() >= 30
    assert detailed.values("job_category").distinct().count() >= 10
    assert not detailed.filter(employment__isnull=True).exists()
    assert not detailed.filter(mean_annual_wage__isnull=True).exists()
    paralegals = Occupation.objects.get(code="23-2011")
    assert paralegals.job_category.code == "23-0000"


def test_seed_tasks_are_realistic_and_gradable():
    _, tasks, _ = read_seeds()
    assert len(tasks) >= 12
    assert len({t["occupation"][:2] for t in tasks}) >= 8
    assert any(t["visibility"] == "held_out" for t in tasks)
    for task in tasks:
        rubric = task["criteria"]
        assert 6 <= len(rubric) <= 15, task["slug"]
        assert any(c["points"] < 0 for c in rubric), task["slug"]
        assert 10 <= task["estimated_minutes"] <= 480, task["slug"]
        assert task["reference_solution"].strip(), task["slug"]


def _simulated_score(task: dict, output: str) -> float:
    return rubric_score(
        [
            CriterionOutcome(c["points"], criterion_matches(c["text"], output), c["critical"])
            for c in task["criteria"]
        ]
    )


def test_under_the_simulated_judge_references_pass_and_empty_answers_score_nothing():
    _, tasks, _ = read_seeds()
    for task in tasks:
        assert _simulated_score(task, task["reference_solution"]) >= task["pass_threshold"]
        assert _simulated_score(task, "") == 0.0
        echo = task["instructions"] + "\n" + task["deliverable"]
        assert _simulated_score(task, echo) < task["pass_threshold"], task["slug"]


def test_seed_task_versions_are_published_and_frozen():
    load_seeds()
    assert not Task.objects.exclude(status=Task.Status.PUBLISHED).exists()
    assert not TaskVersion.objects.filter(submitted_at__isnull=True).exists()
    _, specs, _ = read_seeds()
    held_out = {spec["slug"]: spec for spec in specs if spec["visibility"] == "held_out"}
    assert held_out
    for task in Task.objects.filter(visibility=Task.Visibility.HELD_OUT):
        # The GUID is the one written in the file, so it is the same in every installation.
        assert task.canary == held_out[task.slug]["canary"]
        text = (SEED_DIR / "tasks" / f"{task.slug}.yaml").read_text()
        assert f"evalbuilder canary GUID {task.canary}" in text


@pytest.fixture
def seed_copy(tmp_path) -> Path:
    target = tmp_path / "seeds"
    shutil.copytree(SEED_DIR, target)
    return target


def _edit_task(seed_dir: Path, slug: str, change) -> None:
    path = seed_dir / "tasks" / f"{slug}.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _problem_for(seed_dir: Path) -> str:
    with pytest.raises(SeedError) as caught:
        load_seeds(seed_dir)
    assert counts()["Task"] == 0, "nothing may be written when a seed file is bad"
    return str(caught.value)


def test_a_rubric_without_positive_criteria_is_rejected_naming_file_record_and_field(seed_copy):
    def only_negative(data):
        data["rubric"] = [c for c in data["rubric"] if c["points"] < 0]

    message = _problem_for_after(seed_copy, "paralegal-chronology", only_negative)
    assert "tasks/paralegal-chronology.yaml" in message
    assert "task paralegal-chronology" in message
    assert "field 'rubric'" in message
    assert "positive points" in message


def _problem_for_after(seed_dir, slug, change) -> str:
    _edit_task(seed_dir, slug, change)
    return _problem_for(seed_dir)


def test_points_out_of_range_are_rejected(seed_copy):
    message = _problem_for_after(
        seed_copy, "nurse-shift-handover", lambda d: d["rubric"][1].update(points=12)
    )
    assert "task nurse-shift-handover criterion 2" in message
    assert "field 'points'" in message


def test_an_unknown_occupation_code_is_rejected(seed_copy):
    message = _problem_for_after(
        seed_copy, "accountant-bank-reconciliation", lambda d: d.update(occupation="99-9999")
    )
    assert "field 'occupation'" in message
    assert "99-9999" in message


def test_a_missing_field_is_rejected(seed_copy):
    message = _problem_for_after(
        seed_copy, "customer-service-complaint-reply", lambda d: d.pop("reference_solution")
    )
    assert "task customer-service-complaint-reply" in message
    assert "field 'reference_solution': is missing" in message


def test_every_problem_is_reported_at_once(seed_copy):
    _edit_task(seed_copy, "paralegal-chronology", lambda d: d.pop("title"))
    message = _problem_for_after(
        seed_copy, "nurse-shift-handover", lambda d: d.update(estimated_minutes="long")
    )
    assert "paralegal-chronology" in message
    assert "nurse-shift-handover" in message
    assert "2 problem(s)" in message


def test_invalid_yaml_names_the_file_and_line(seed_copy):
    (seed_copy / "tasks" / "broken.yaml").write_text("slug: broken\ntitle: [unclosed\n")
    message = _problem_for(seed_copy)
    assert "broken.yaml" in message
    assert "line" in message


def test_an_edited_seed_task_becomes_a_new_version_and_the_old_one_is_unchanged(seed_copy):
    load_seeds(seed_copy)
    task = Task.objects.get(slug="paralegal-chronology")
    original = task.latest_version()
    original_text = original.instructions
    _edit_task(seed_copy, "paralegal-chronology", lambda d: d.update(instructions="Revised."))
    load_seeds(seed_copy)
    original.refresh_from_db()
    assert original.instructions == original_text
    latest = task.latest_version()
    assert latest.number == original.number + 1
    assert latest.instructions == "Revised."
    assert latest.criteria.count() == original.criteria.count()


def test_a_held_out_task_without_a_canary_is_rejected(seed_copy):
    message = _problem_for_after(seed_copy, "nurse-shift-handover", lambda d: d.pop("canary"))
    assert "task nurse-shift-handover: field 'canary': is missing" in message


def test_a_canary_must_be_a_guid(seed_copy):
    message = _problem_for_after(
        seed_copy, "pharmacist-medication-review", lambda d: d.update(canary="not-a-guid")
    )
    assert "field 'canary': must be a GUID" in message


def test_bad_taxonomy_files_are_rejected_naming_the_field(seed_copy):
    path = seed_copy / "taxonomy" / "soc2018.yaml"
    data = yaml.safe_load(path.read_text())
    data["occupations"][0]["mean_annual_wage"] = -5
    data["occupations"][1]["employment"] = "many"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    message = _problem_for(seed_copy)
    assert "taxonomy/soc2018.yaml: occupation 11-0000: field 'mean_annual_wage'" in message
    assert "occupation 13-0000: field 'employment'" in message
    path.write_text(yaml.safe_dump({"taxonomy": "SOC", "occupations": []}))
    assert "field 'taxonomy': must be a mapping" in _problem_for(seed_copy)


def test_a_suite_must_list_task_slugs(seed_copy):
    (seed_copy / "suites.yaml").write_text(
        "suites:\n  - {slug: s, name: S, tasks: [{slug: x}, no-such-task]}\n"
    )
    message = _problem_for(seed_copy)
    assert "suites.yaml: suite s: field 'tasks': must list task slugs" in message
    assert "unknown task slug 'no-such-task'" in message


def test_an_occupation_code_is_looked_up_in_the_named_taxonomy(seed_copy):
    message = _problem_for_after(
        seed_copy, "paralegal-chronology", lambda d: d.update(taxonomy="ISCO 08")
    )
    assert "unknown occupation code '23-2011' in ISCO 08" in message


OEWS_CSV = (
    "OCC_CODE,OCC_TITLE,O_GROUP,TOT_EMP,A_MEAN,A_MEDIAN\n"
    "23-0000,Legal Occupations,major,1300000,140000,100000\n"
    "23-2000,Legal Support Workers,minor,500000,70000,60000\n"
    "23-2010,Paralegals and Legal Assistants,broad,400000,66000,61000\n"
    "23-2011,Paralegals and Legal Assistants,detailed,400000,66000,61000\n"
)


def _import_oews() -> None:
    from occupations.importers.oews import import_oews

    import_oews("national_M2025_dl.csv", OEWS_CSV.encode())


def _paralegals() -> tuple:
    paralegals = Occupation.objects.get(taxonomy__name="SOC", code="23-2011")
    return paralegals.parent.code, paralegals.employment, paralegals.source


def test_seeding_after_an_oews_import_keeps_the_imported_occupations():
    load_seeds()
    _import_oews()
    imported = _paralegals()
    assert imported == ("23-2010", 400000, "BLS OEWS May 2025")

    report = load_seeds()
    assert _paralegals() == imported
    assert report.counts["occupations updated"] == 0
    assert report.counts["occupations kept as imported"] == counts()["Occupation"] - 2


def test_seeding_after_an_oews_import_into_an_empty_database_only_adds_what_is_missing():
    _import_oews()
    report = load_seeds()

    assert _paralegals() == ("23-2010", 400000, "BLS OEWS May 2025")
    assert Occupation.objects.get(code="23-0000").employment == 1300000
    assert report.counts["occupations kept as imported"] == 2  # 23-0000 and 23-2011
    assert report.counts["occupations updated"] == 0
    assert Occupation.objects.filter(level=Occupation.Level.MAJOR).count() == 23
    assert Occupation.objects.get(code="15-1252").job_category.code == "15-0000"


CHRONOLOGY_STATEMENT = {
    "taxonomy": "O*NET-SOC 26.3",
    "occupation": "23-2011.00",
    "statement_id": 8821,
}


def _import_chronology_statement() -> TaskStatement:
    onet = Taxonomy.objects.create(name="O*NET-SOC", version="26.3")
    paralegals = Occupation.objects.create(
        taxonomy=onet, code="23-2011.00", title="Paralegals", level="detailed"
    )
    return TaskStatement.objects.create(
        occupation=paralegals, statement_id=8821, text="Prepare a chronology of the case."
    )


def test_a_seed_task_citing_statements_not_imported_yet_loads_and_cites_them_once_imported(
    seed_copy,
):
    _edit_task(
        seed_copy,
        "paralegal-chronology",
        lambda d: d.update(task_statements=[CHRONOLOGY_STATEMENT]),
    )

    report = load_seeds(seed_copy)

    task = Task.objects.get(slug="paralegal-chronology")
    first = task.published_version
    assert list(first.task_statements.all()) == []
    assert any(
        "task paralegal-chronology cites 1 task statement(s) not in the database" in note
        for note in report.notes
    )

    statement = _import_chronology_statement()
    report = load_seeds(seed_copy)

    task.refresh_from_db()
    assert task.published_version.number == first.number + 1
    assert list(task.published_version.task_statements.all()) == [statement]
    assert task.published_version.is_locked
    assert report.notes == []
    assert load_seeds(seed_copy).counts["task versions created"] == 0


def test_a_seed_without_task_statements_keeps_the_citations_of_a_version_made_in_the_app():
    load_seeds()
    task = Task.objects.get(slug="paralegal-chronology")
    seeded = task.published_version
    statement = _import_chronology_statement()
    cited = TaskVersion.objects.create_with_rubric(
        task=task,
        number=seeded.number + 1,
        content={name: getattr(seeded, name) for name in TaskVersion.CONTENT_FIELDS},
        criteria=[
            {"text": c.text, "points": c.points, "tag": c.tag, "critical": c.critical}
            for c in seeded.criteria.all()
        ],
    )
    cited.task_statements.set([statement])

    report = load_seeds()

    assert report.counts["task versions created"] == 0
    assert task.latest_version() == cited
    assert list(cited.task_statements.all()) == [statement]
