"""Importing the O*NET database: checks, all or nothing, idempotency, releases, crosswalk."""

import datetime
import io
import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from occupations.importers.core import TaxonomyImportError
from occupations.importers.onet import files_from_zip, import_onet, read_onet_files
from occupations.models import (
    Crosswalk,
    Occupation,
    TaskStatement,
    TaskStatementCitation,
    TaskVersion,
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
    assert "information from the O*NET 26.3 Database" in taxonomy.credit
    assert "O*NET® is a trademark of USDOL/ETA." in taxonomy.credit
    assert "has modified all or some of this information" in taxonomy.credit
    assert "USDOL/ETA has not approved, endorsed, or tested these modifications." in (
        taxonomy.credit
    )
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
def test_a_newer_file_changes_statements_no_submitted_version_cites_and_keeps_those_it_lacks():
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
        "Task Statements.txt line 6: field 'Task ID': must be a whole number from 1 to "
        "2,147,483,647, got '0'",
        "Task Statements.txt line 7: field 'Task Type': must be Core, Supplemental or n/a, "
        "got 'Cor'",
        "Task Statements.txt line 8: field 'Incumbents Responding': must be a whole number "
        "or n/a, got 'many'",
        "Task Statements.txt line 9: field 'Date': must be a month as MM/YYYY from 1900 on, "
        "got '13/2014'",
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
    import_onet(onet_files(**{"Read Me.txt": None}), release="27.0")
    assert Taxonomy.objects.filter(name="O*NET-SOC", version="27.0").exists()

    problems = problems_of(onet_files(**{"Read Me.txt": None}))
    assert problems == ["Read Me.txt: does not name the release: give it (--release 26.3)"]


@pytest.mark.django_db
def test_a_release_other_than_the_one_read_me_names_is_a_problem():
    assert problems_of(onet_files(), release="27.0") == [
        "Read Me.txt: names the O*NET 26.3 Database, not release 27.0"
    ]
    import_onet(onet_files(), release="26.3")
    assert Taxonomy.objects.filter(name="O*NET-SOC", version="26.3").exists()


@pytest.mark.django_db
def test_a_release_too_long_for_the_taxonomy_version_is_a_problem():
    problems = problems_of(onet_files(**{"Read Me.txt": None}), release="2" * 40)
    assert problems == [
        "Read Me.txt: field 'version': the taxonomy's version '" + "2" * 40 + "' is 40 "
        "characters long, more than 32"
    ]
    assert not Taxonomy.objects.exists()


@pytest.mark.django_db
def test_a_new_release_is_a_new_taxonomy_and_leaves_the_old_one_alone():
    import_onet(onet_files())
    before = list(TaskStatement.objects.values_list("pk", "text"))
    newer = {"Task Statements.txt": STATEMENTS.replace("clean", "tidy"), "Read Me.txt": None}
    import_onet(onet_files(**newer), release="27.0")

    assert Taxonomy.objects.filter(name="O*NET-SOC").count() == 2
    old = TaskStatement.objects.filter(occupation__taxonomy__version="26.3")
    assert list(old.values_list("pk", "text")) == before


@pytest.mark.django_db
def test_optional_files_absent_are_said_in_the_report():
    report = import_onet(onet_files(**{"Tasks to DWAs.txt": None, "DWA Reference.txt": None}))
    assert not WorkActivity.objects.exists()
    assert report.notes[0] == (
        "DWA Reference.txt and Tasks to DWAs.txt are absent: no work activities or links were read"
    )
    assert "Tasks to DWAs.txt is absent" not in str(report)


@pytest.mark.django_db
def test_links_without_the_activity_file_are_read_against_the_stored_activities():
    import_onet(onet_files(**{"Tasks to DWAs.txt": None}))
    assert WorkActivity.objects.count() == 2

    report = import_onet(onet_files(**{"DWA Reference.txt": None}))
    assert report.of("statement links").added == 2
    assert report.notes[0] == (
        "DWA Reference.txt is absent: the links were read against the stored work activities"
    )
    first = import_onet(onet_files(**{"Tasks to DWAs.txt": None}))
    assert first.notes[0] == "Tasks to DWAs.txt is absent: no statement links were read"


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
    assert (
        "1 crosswalk links: no SOC 2018 occupation of their code or its broad or minor group"
        in (str(report))
    )
    assert "not linked to SOC 2018: 15-1252.00" in report.notes
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


@pytest.mark.django_db
def test_digits_int_refuses_and_values_too_large_for_their_field_are_problems():
    bad = STATEMENTS + (
        "15-1252.00\t\u00b2\tSuperscript id.\tCore\t1\t07/2014\tAnalyst\n"
        "15-1252.00\t99999999999999999999\tHuge id.\tCore\t1\t07/2014\tAnalyst\n"
        "15-1252.00\t108\tSuperscript count.\tCore\t\u00b2\t07/2014\tAnalyst\n"
        "15-1252.00\t109\tYear zero.\tCore\t1\t07/0000\tAnalyst\n"
    )
    problems = problems_of(onet_files(**{"Task Statements.txt": bad}))

    assert problems == [
        "Task Statements.txt line 6: field 'Task ID': must be a whole number, got '\u00b2'",
        "Task Statements.txt line 7: field 'Task ID': must be a whole number from 1 to "
        "2,147,483,647, got '99999999999999999999'",
        "Task Statements.txt line 8: field 'Incumbents Responding': must be a whole number "
        "or n/a, got '\u00b2'",
        "Task Statements.txt line 9: field 'Date': must be a month as MM/YYYY from 1900 on, "
        "got '07/0000'",
    ]
    assert not Taxonomy.objects.exists()


def zip_of(files: dict[str, bytes], folders: tuple[str, ...] = ("db_26_3_text",)) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for folder in folders:
            for name, data in files.items():
                archive.writestr(f"{folder}/{name}", data)
    return buffer.getvalue()


def test_a_damaged_zip_is_a_problem_not_a_crash():
    data = bytearray(zip_of(onet_files()))
    first = zipfile.ZipFile(io.BytesIO(bytes(data))).infolist()[0]
    start = first.header_offset + 30 + len(first.filename.encode())
    data[start : start + 20] = b"\xff" * 20  # the deflate stream of the first file

    with pytest.raises(TaxonomyImportError) as caught:
        files_from_zip("db_26_3_text.zip", bytes(data))
    [problem] = caught.value.problems
    assert str(problem).startswith("db_26_3_text.zip: is not a readable .zip archive:")


def test_a_zip_with_two_releases_is_a_problem():
    data = zip_of(onet_files(), folders=("db_26_3_text", "db_27_0_text"))
    with pytest.raises(TaxonomyImportError) as caught:
        files_from_zip("both.zip", data)
    problems = [str(problem) for problem in caught.value.problems]
    assert len(problems) == 5
    assert (
        "both.zip/Task Statements.txt: is in the archive twice "
        "(db_26_3_text/Task Statements.txt and db_27_0_text/Task Statements.txt)"
    ) in problems


def cite(statement_id: int, *, submitted: bool) -> TaskVersion:
    version = TaskVersion.objects.filter(submitted_at__isnull=not submitted).first()
    if version is None:  # the seeds hold submitted versions only
        published = TaskVersion.objects.filter(submitted_at__isnull=False).first()
        version = TaskVersion.objects.create(task=published.task, number=99, estimated_minutes=30)
    TaskStatementCitation.objects.create(
        task_version=version, task_statement=TaskStatement.objects.get(statement_id=statement_id)
    )
    return version


@pytest.mark.django_db
def test_a_statement_cited_by_a_submitted_version_cannot_change_its_text_or_type(seeded):
    import_onet(onet_files())
    version = cite(201, submitted=True)
    edited = STATEMENTS.replace("Prepare legal documents.\tn/a", "Drop the database.\tCore")

    problems = problems_of(onet_files(**{"Task Statements.txt": edited}), dry_run=True)
    message = (
        "statement 201 is cited by submitted task versions and cannot change: import the "
        "file as a new release"
    )
    assert problems == [
        f"Task Statements.txt line 4: field 'Task': {message}",
        f"Task Statements.txt line 4: field 'Task Type': {message}",
    ]
    assert list(version.task_statements.values_list("text", flat=True)) == [
        "Prepare legal documents."
    ]
    # The edited file is welcome as a release of its own.
    import_onet(onet_files(**{"Task Statements.txt": edited, "Read Me.txt": None}), release="27.0")
    assert list(version.task_statements.values_list("text", flat=True)) == [
        "Prepare legal documents."
    ]


@pytest.mark.django_db
def test_a_statement_cited_only_by_a_draft_may_change(seeded):
    import_onet(onet_files())
    draft = cite(201, submitted=False)
    edited = STATEMENTS.replace("Prepare legal documents.", "Prepare legal briefs.")

    report = import_onet(onet_files(**{"Task Statements.txt": edited}))
    assert report.of("statements").changed == 1
    assert list(draft.task_statements.values_list("text", flat=True)) == ["Prepare legal briefs."]


@pytest.mark.django_db
def test_occupations_oews_publishes_summed_link_to_their_broad_or_minor_group():
    soc = Taxonomy.objects.create(name="SOC", version="2018", country="US")
    groups = {}
    for code, level in (("31-0000", "major"), ("21-0000", "major"), ("45-0000", "major")):
        groups[code] = Occupation.objects.create(taxonomy=soc, code=code, title=code, level=level)
    # OEWS lists 31-1120 as a detailed occupation, and 21-1010 as a broad group.
    Occupation.objects.create(
        taxonomy=soc, code="31-1120", title="Aides", level="detailed", parent=groups["31-0000"]
    )
    Occupation.objects.create(
        taxonomy=soc, code="21-1010", title="Counselors", level="broad", parent=groups["21-0000"]
    )
    occupations = OCCUPATIONS + (
        "31-1121.00\tHome Health Aides\tx\n"
        "31-1122.00\tPersonal Care Aides\tx\n"
        "21-1014.00\tMental Health Counselors\tx\n"
        "45-3031.00\tFishing and Hunting Workers\tx\n"
    )
    report = import_onet(onet_files(**{"Occupation Data.txt": occupations}))

    crosswalk = Crosswalk.objects.get(target=soc)
    pairs = {(link.source.code, link.target.code) for link in crosswalk.links.all()}
    assert pairs == {
        ("31-1121.00", "31-1120"),
        ("31-1122.00", "31-1120"),
        ("21-1014.00", "21-1010"),
    }
    # Never the major group: 45-3031 has no SOC occupation below 45-0000.
    assert report.of("crosswalk links").skipped == 4
    assert "not linked to SOC 2018: 15-1252.00, 23-2011.00, 23-2011.01, 45-3031.00" in report.notes
    assert any(
        note.startswith("3 occupations linked to their SOC 2018 broad or minor group")
        and "31-1121.00 to 31-1120" in note
        for note in report.notes
    )


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
