"""Importing the O*NET database: checks, all or nothing, idempotency, releases, crosswalk."""

import datetime
import io
import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from occupations.importers.core import TaxonomyImportError
from occupations.importers.onet import import_onet, read_onet_files
from occupations.models import (
    Crosswalk,
    Occupation,
    TaskStatement,
    Taxonomy,
    TaxonomyImport,
    WorkActivity,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

OCCUPATIONS = (
    "O*NET-SOC Code\tTitle\tDescription\n"
    "15-1252.00\tSoftware Developers\tResearch, design, and develop software.\n"
    "23-2011.00\tParalegals and Legal Assistants\tAssist lawyers.\n"
    "23-2011.01\tLegal Researchers\tResearch the law.\n"
)
STATEMENTS = (
    "O*NET-SOC Code\tTask ID\tTask\tTask Type\tIncumbents Responding\tDate\tDomain Source\n"
    "15-1252.00\t101\tModify existing software to correct errors.\tCore\t25\t07/2014\tIncumbent\n"
    '15-1252.00\t102\tWrite "clean" code.\tSupplemental\tn/a\t08/2019\tAnalyst\n'
    "23-2011.00\t201\tPrepare legal documents.\tn/a\tn/a\tn/a\tOccupational Expert\n"
    "23-2011.01\t301\tFind case law.\t\t\t\tAnalyst\n"
)
LINKS = (
    "O*NET-SOC Code\tTask ID\tDWA ID\tDate\tDomain Source\n"
    "15-1252.00\t101\t4.A.3.b.1.I01.D01\t07/2014\tAnalyst\n"
    "23-2011.00\t201\t4.A.3.b.6.I01.D02\t07/2014\tAnalyst\n"
)
ACTIVITIES = (
    "Element ID\tIWA ID\tDWA ID\tDWA Title\n"
    "4.A.3.b.1\t4.A.3.b.1.I01\t4.A.3.b.1.I01.D01\tModify software programs.\n"
    "4.A.3.b.6\t4.A.3.b.6.I01\t4.A.3.b.6.I01.D02\tPrepare legal documents.\n"
)
README = "O*NET 26.3 Database\nMay 2022 Release\n"


def onet_files(**overrides: str | None) -> dict[str, bytes]:
    files = {
        "Occupation Data.txt": OCCUPATIONS,
        "Task Statements.txt": STATEMENTS,
        "Tasks to DWAs.txt": LINKS,
        "DWA Reference.txt": ACTIVITIES,
        "Read Me.txt": README,
    } | overrides
    return {name: text.encode() for name, text in files.items() if text is not None}


def problems_of(files: dict[str, bytes], **options) -> list[str]:
    with pytest.raises(TaxonomyImportError) as caught:
        import_onet(files, **options)
    return [str(problem) for problem in caught.value.problems]


@pytest.fixture
def soc(db) -> Taxonomy:
    taxonomy = Taxonomy.objects.create(name="SOC", version="2018", country="US")
    major = Occupation.objects.create(
        taxonomy=taxonomy, code="23-0000", title="Legal Occupations (SOC)", level="major"
    )
    Occupation.objects.create(
        taxonomy=taxonomy, code="23-2011", title="Paralegals", level="detailed", parent=major
    )
    return taxonomy


@pytest.mark.django_db
def test_import_creates_release_occupations_statements_and_work_activities():
    report = import_onet(onet_files())

    taxonomy = Taxonomy.objects.get(name="O*NET-SOC", version="26.3")
    assert taxonomy.licence == "CC BY 4.0"
    assert "O*NET 26.3 Database" in taxonomy.credit and "unmodified" in taxonomy.credit
    assert report.of("occupations").added == 5  # three detailed, two major groups
    developers = Occupation.objects.get(taxonomy=taxonomy, code="15-1252.00")
    assert developers.level == "detailed"
    assert developers.description == "Research, design, and develop software."
    assert developers.parent.code == "15-0000"
    assert developers.parent.title == "Computer and Mathematical Occupations"
    assert developers.job_category == developers.parent
    assert developers.parent.job_category == developers.parent

    core = TaskStatement.objects.get(occupation=developers, statement_id=101)
    assert (core.task_type, core.incumbents_responding) == ("core", 25)
    assert core.dated == datetime.date(2014, 7, 1)
    quoted = TaskStatement.objects.get(statement_id=102)
    assert quoted.text == 'Write "clean" code.'
    assert (quoted.task_type, quoted.incumbents_responding) == ("supplemental", None)
    blank = TaskStatement.objects.get(statement_id=201)
    assert (blank.task_type, blank.incumbents_responding, blank.dated) == ("", None, None)

    activity = WorkActivity.objects.get(activity_id="4.A.3.b.1.I01.D01")
    assert (activity.group_id, activity.element_id) == ("4.A.3.b.1.I01", "4.A.3.b.1")
    assert list(core.work_activities.all()) == [activity]


@pytest.mark.django_db
def test_import_records_one_taxonomy_import_and_one_audit_event(django_user_model):
    user = django_user_model.objects.create_user("importer")
    import_onet(onet_files(), user=user)

    record = TaxonomyImport.objects.get()
    assert record.kind == "onet" and record.imported_by == user
    assert record.added > 0 and record.changed == 0
    assert {item["name"] for item in record.files} >= {"Task Statements.txt"}
    assert all(len(item["sha256"]) == 64 for item in record.files)
    event = AuditEvent.objects.get(action=AuditEvent.Action.IMPORT)
    assert event.actor_username == "importer"
    assert event.details["taxonomy"] == "O*NET-SOC 26.3"


@pytest.mark.django_db
def test_second_import_of_the_same_files_adds_and_changes_nothing():
    import_onet(onet_files())
    report = import_onet(onet_files())

    assert report.added == 0 and report.changed == 0
    assert report.of("statements").unchanged == 4
    assert report.of("statement links").unchanged == 2
    assert TaskStatement.objects.count() == 4


@pytest.mark.django_db
def test_a_newer_file_changes_statements_and_keeps_those_it_lacks():
    import_onet(onet_files())
    newer = STATEMENTS.replace("Prepare legal documents.", "Prepare legal briefs.")
    newer = "\n".join(line for line in newer.splitlines() if "\t301\t" not in line) + "\n"
    report = import_onet(onet_files(**{"Task Statements.txt": newer, "Tasks to DWAs.txt": None}))

    assert report.of("statements").changed == 1
    assert TaskStatement.objects.get(statement_id=201).text == "Prepare legal briefs."
    assert TaskStatement.objects.filter(statement_id=301).exists()
    assert any("kept: 1 statements no longer in the source" in note for note in report.notes)
    assert "kept: 1 statements" in str(report)


@pytest.mark.django_db
def test_dry_run_reports_the_same_counts_and_writes_nothing():
    report = import_onet(onet_files(), dry_run=True)

    assert report.dry_run and report.of("statements").added == 4
    assert "dry run, nothing was written" in str(report)
    assert not Taxonomy.objects.exists()
    assert not TaskStatement.objects.exists()
    assert not TaxonomyImport.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.IMPORT).exists()


@pytest.mark.django_db
def test_one_bad_line_writes_nothing_and_every_problem_names_line_and_field():
    bad = STATEMENTS + (
        "15-1252.00\t0\tZero id.\tCore\t1\t07/2014\tAnalyst\n"
        "15-1252.00\t103\tWrong type.\tCor\t1\t07/2014\tAnalyst\n"
        "15-1252.00\t104\tBad count.\tCore\tmany\t07/2014\tAnalyst\n"
        "15-1252.00\t105\tBad month.\tCore\t1\t13/2014\tAnalyst\n"
        "99-9999.00\t106\tUnknown occupation.\tCore\t1\t07/2014\tAnalyst\n"
        "15-1252.00\t101\tDuplicate.\tCore\t1\t07/2014\tAnalyst\n"
        "15-1252.00\t107\t\tCore\t1\t07/2014\tAnalyst\n"
    )
    problems = problems_of(onet_files(**{"Task Statements.txt": bad}))

    assert problems == [
        "Task Statements.txt line 6: field 'Task ID': must be a whole number above 0, got '0'",
        "Task Statements.txt line 7: field 'Task Type': must be Core, Supplemental or n/a, "
        "got 'Cor'",
        "Task Statements.txt line 8: field 'Incumbents Responding': must be a whole number "
        "or n/a, got 'many'",
        "Task Statements.txt line 9: field 'Date': must be a month as MM/YYYY, got '13/2014'",
        "Task Statements.txt line 10: field 'O*NET-SOC Code': '99-9999.00' is not an "
        "occupation in Occupation Data.txt",
        "Task Statements.txt line 11: field 'Task ID': task 101 of 15-1252.00 is listed twice "
        "(first on line 2)",
        "Task Statements.txt line 12: field 'Task': is blank",
    ]
    assert not Taxonomy.objects.exists() and not Occupation.objects.exists()


@pytest.mark.django_db
def test_problems_in_occupations_and_links_name_line_and_field():
    occupations = OCCUPATIONS + (
        "15-1252\tNo detail\tx\n15-1252.00\tTwice\tx\n15-1299.08\t\tx\n99-1111.00\tNo group\tx\n"
    )
    links = LINKS + (
        "15-1252.00\t999\t4.A.3.b.1.I01.D01\t07/2014\tAnalyst\n"
        "15-1252.00\t101\t4.X\t07/2014\tAnalyst\n"
    )
    problems = problems_of(
        onet_files(**{"Occupation Data.txt": occupations, "Tasks to DWAs.txt": links})
    )

    assert problems == [
        "Occupation Data.txt line 5: field 'O*NET-SOC Code': must look like 11-1011.00, "
        "got '15-1252'",
        "Occupation Data.txt line 6: field 'O*NET-SOC Code': 15-1252.00 is listed twice "
        "(first on line 2)",
        "Occupation Data.txt line 7: field 'Title': is blank",
        "Occupation Data.txt line 8: field 'O*NET-SOC Code': 99-1111.00 is in no SOC major "
        "group (99-0000 is not one)",
        "Tasks to DWAs.txt line 4: field 'Task ID': task 999 of 15-1252.00 is not in "
        "Task Statements.txt",
        "Tasks to DWAs.txt line 5: field 'DWA ID': '4.X' is not in DWA Reference.txt",
    ]


@pytest.mark.django_db
def test_missing_column_and_missing_file_are_named():
    no_type = STATEMENTS.replace("\tTask Type", "\tKind")
    problems = problems_of(
        onet_files(**{"Task Statements.txt": no_type, "Occupation Data.txt": None})
    )
    assert problems == ["Occupation Data.txt: is missing: it is required"]

    problems = problems_of(onet_files(**{"Task Statements.txt": no_type}))
    assert len(problems) == 1
    assert problems[0].startswith(
        "Task Statements.txt line 1: field 'Task Type': column is missing"
    )


@pytest.mark.django_db
def test_release_comes_from_the_option_else_read_me_else_is_asked_for():
    import_onet(onet_files(), release="27.0")
    assert Taxonomy.objects.filter(name="O*NET-SOC", version="27.0").exists()

    problems = problems_of(onet_files(**{"Read Me.txt": None}))
    assert problems == ["Read Me.txt: does not name the release: give it (--release 26.3)"]


@pytest.mark.django_db
def test_a_new_release_is_a_new_taxonomy_and_leaves_the_old_one_alone():
    import_onet(onet_files())
    before = list(TaskStatement.objects.values_list("pk", "text"))
    import_onet(
        onet_files(**{"Task Statements.txt": STATEMENTS.replace("clean", "tidy")}), release="27.0"
    )

    assert Taxonomy.objects.filter(name="O*NET-SOC").count() == 2
    old = TaskStatement.objects.filter(occupation__taxonomy__version="26.3")
    assert list(old.values_list("pk", "text")) == before


@pytest.mark.django_db
def test_optional_files_absent_are_said_in_the_report():
    report = import_onet(onet_files(**{"Tasks to DWAs.txt": None, "DWA Reference.txt": None}))
    assert not WorkActivity.objects.exists()
    assert "DWA Reference.txt is absent" in str(report)


@pytest.mark.django_db
def test_a_byte_order_mark_is_accepted_and_bad_utf8_is_a_problem():
    files = onet_files()
    files["Occupation Data.txt"] = b"\xef\xbb\xbf" + files["Occupation Data.txt"]
    import_onet(files)
    assert Occupation.objects.filter(code="15-1252.00").exists()

    files["Task Statements.txt"] += b"15-1252.00\t108\tBad \xff byte\tCore\t1\t07/2014\tX\n"
    problems = problems_of(files)
    assert problems == ["Task Statements.txt line 6: is not UTF-8 text"]


@pytest.mark.django_db
def test_crosswalk_links_each_occupation_to_its_soc_code(soc):
    report = import_onet(onet_files())

    crosswalk = Crosswalk.objects.get(source__name="O*NET-SOC", target=soc)
    pairs = {(link.source.code, link.target.code) for link in crosswalk.links.all()}
    assert pairs == {("23-2011.00", "23-2011"), ("23-2011.01", "23-2011")}
    assert report.of("crosswalk links").skipped == 1  # 15-1252 is not in this SOC
    assert "no SOC 2018 occupation has the code's first 7 characters" in str(report)
    # The major group takes the SOC taxonomy's title.
    assert Occupation.objects.get(taxonomy__name="O*NET-SOC", code="23-0000").title == (
        "Legal Occupations (SOC)"
    )
    paralegal_statements = TaskStatement.objects.filter(
        occupation__in=[link.source for link in crosswalk.links.filter(target__code="23-2011")]
    )
    assert set(paralegal_statements.values_list("statement_id", flat=True)) == {201, 301}


@pytest.mark.django_db
def test_without_the_soc_taxonomy_the_report_says_no_crosswalk_was_made():
    report = import_onet(onet_files())
    assert not Crosswalk.objects.exists()
    assert "no SOC 2018 taxonomy: no crosswalk was made" in str(report)


@pytest.mark.django_db
def test_command_reads_a_zip_of_the_release(tmp_path, django_user_model):
    django_user_model.objects.create_user("operator")
    archive = tmp_path / "db_26_3_text.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for name, data in onet_files().items():
            zipped.writestr(f"db_26_3_text/{name}", data)
    out = io.StringIO()
    call_command("import_onet", str(archive), "--as", "operator", stdout=out)

    assert "O*NET database into O*NET-SOC 26.3: imported" in out.getvalue()
    assert TaskStatement.objects.count() == 4
    names = {item["name"] for item in TaxonomyImport.objects.get().files}
    assert "db_26_3_text.zip/Task Statements.txt" in names


@pytest.mark.django_db
def test_command_dry_run_and_errors(tmp_path):
    folder = tmp_path / "onet"
    folder.mkdir()
    for name, data in onet_files().items():
        (folder / name).write_bytes(data)
    out = io.StringIO()
    call_command("import_onet", str(folder), "--dry-run", stdout=out)
    assert "dry run, nothing was written" in out.getvalue()
    assert not Taxonomy.objects.exists()

    (folder / "Task Statements.txt").write_text(STATEMENTS.replace("Core\t25", "Cor\t25"))
    with pytest.raises(CommandError, match="line 2: field 'Task Type'"):
        call_command("import_onet", str(folder))
    with pytest.raises(CommandError, match="No user called 'nobody'"):
        call_command("import_onet", str(folder), "--as", "nobody")


@pytest.mark.skipif(not (DATA / "onet-26.3").is_dir(), reason="no shared reference data")
@pytest.mark.django_db
def test_real_onet_26_3_imports_every_occupation_and_statement_once(soc):
    files = read_onet_files(DATA / "onet-26.3")
    report = import_onet(files)

    taxonomy = Taxonomy.objects.get(name="O*NET-SOC", version="26.3")
    detailed = Occupation.objects.filter(taxonomy=taxonomy, level="detailed")
    assert detailed.count() == 1016
    assert TaskStatement.objects.filter(occupation__taxonomy=taxonomy).count() == 19259
    assert report.of("work activities").added == WorkActivity.objects.count() > 2000
    assert report.of("statement links").added > 23000
    assert Occupation.objects.filter(taxonomy=taxonomy, level="major").count() == 23

    again = import_onet(files)
    assert again.added == 0 and again.changed == 0
    assert again.of("statements").unchanged == 19259
