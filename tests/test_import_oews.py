"""Importing BLS OEWS employment and wages into SOC: levels, parents, flags, all or nothing."""

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from openpyxl import Workbook

from occupations.importers.core import TaxonomyImportError
from occupations.importers.oews import import_oews, source_from_name
from occupations.models import Occupation, Task, Taxonomy, TaxonomyImport

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HEADER = "AREA_TYPE,I_GROUP,OCC_CODE,OCC_TITLE,O_GROUP,TOT_EMP,A_MEAN,A_MEDIAN\n"
ROWS = (
    '1,cross-industry,00-0000,All Occupations,total,"154,187,380",67920,49500\n'
    "1,cross-industry,15-0000,Computer and Mathematical Occupations,major,5192890,116810,105850\n"
    "1,cross-industry,15-1200,Computer Occupations,minor,4985550,117000,106000\n"
    "1,cross-industry,15-1210,Computer and Information Analysts,broad,700000,110000,100000\n"
    "1,cross-industry,15-1211,Computer Systems Analysts,detailed,**,109000,#\n"
    "1,cross-industry,15-1212,Information Security Analysts,detailed,179430,*,~\n"
    "1,cross-industry,13-0000,Business and Financial Operations Occupations,major,10,1,1\n"
    "1,cross-industry,13-1020,Buyers and Purchasing Agents,broad,500,70000,68000\n"
    "1,cross-industry,13-1000,Business Operations Specialists,minor,600,70000,68000\n"
    "1,cross-industry,13-1020,Buyers and Purchasing Agents,detailed,500,70000,68000\n"
)
NAME = "national_M2024_dl.csv"


def oews(rows: str = ROWS, **options):
    return import_oews(NAME, (HEADER + rows).encode(), **options)


def problems_of(rows: str) -> list[str]:
    with pytest.raises(TaxonomyImportError) as caught:
        oews(rows)
    return [str(problem) for problem in caught.value.problems]


def soc(code: str) -> Occupation:
    return Occupation.objects.get(taxonomy__name="SOC", taxonomy__version="2018", code=code)


@pytest.mark.django_db
def test_levels_and_parents_come_from_the_file():
    oews()

    assert soc("15-0000").level == "major" and soc("15-0000").parent is None
    assert soc("15-1200").parent == soc("15-0000")
    assert soc("15-1210").parent == soc("15-1200")
    assert soc("15-1211").parent == soc("15-1210")
    assert soc("15-1211").job_category == soc("15-0000")
    assert soc("15-0000").job_category == soc("15-0000")
    # Listed before its minor group, and also as detailed under the same code: kept once.
    assert soc("13-1020").level == "detailed" and soc("13-1020").parent == soc("13-1000")
    assert not Occupation.objects.filter(code="00-0000").exists()
    assert Taxonomy.objects.get(name="SOC", version="2018").country == "US"


@pytest.mark.django_db
def test_suppressed_figures_are_kept_as_their_symbols_never_as_numbers():
    report = oews()

    analysts = soc("15-1211")
    assert (analysts.employment, analysts.employment_flag) == (None, "**")
    assert analysts.mean_annual_wage == Decimal("109000")
    assert (analysts.median_annual_wage, analysts.median_wage_flag) == (None, "#")
    security = soc("15-1212")
    assert (security.mean_annual_wage, security.wage_flag) == (None, "*")
    assert (security.median_annual_wage, security.median_wage_flag) == (None, "~")
    assert security.employment == 179430 and security.employment_flag == ""
    assert security.source == "BLS OEWS May 2024"
    assert "top-coded" in str(report)


@pytest.mark.django_db
def test_report_counts_the_total_and_merged_rows_as_skipped():
    report = oews()
    assert report.of("occupations").added == 8
    assert report.of("occupations").skipped == 2
    text = str(report)
    assert "1 occupations: national total, not an occupation" in text
    assert "1 occupations: broad rows also listed as detailed (same code): kept once" in text


@pytest.mark.django_db
def test_existing_occupations_keep_their_ids_and_tasks(seeded):
    developers = soc("15-1252")
    tasks_before = Task.objects.filter(occupation=developers).count()
    rows = ROWS + "1,cross-industry,15-1252,Software Developers,detailed,1654440,144570,133080\n"
    rows += "1,cross-industry,15-1250,Software and Web Developers,broad,1,1,1\n"
    report = oews(rows)

    updated = soc("15-1252")
    assert updated.pk == developers.pk
    assert updated.parent.code == "15-1250"
    assert updated.median_annual_wage == Decimal("133080")
    assert Task.objects.filter(occupation=updated).count() == tasks_before
    assert report.of("occupations").changed >= 2  # the major group and 15-1252
    assert "kept:" in str(report)  # seeded occupations the file lacks


@pytest.mark.django_db
def test_second_import_is_unchanged_and_a_newer_file_counts_changes():
    oews()
    again = oews()
    assert again.added == 0 and again.changed == 0
    assert again.of("occupations").unchanged == 8

    newer = oews(ROWS.replace("179430", "180000"))
    assert newer.of("occupations").changed == 1
    assert soc("15-1212").employment == 180000


@pytest.mark.django_db
def test_dry_run_writes_nothing():
    report = oews(dry_run=True)
    assert report.of("occupations").added == 8
    assert not Occupation.objects.exists()
    assert not Taxonomy.objects.exists()
    assert not TaxonomyImport.objects.exists()


@pytest.mark.django_db
def test_bad_values_are_problems_with_line_and_field_and_nothing_is_written():
    rows = ROWS + (
        "1,cross-industry,15-1299,Other,detailed,n.a.,1,1\n"
        "1,cross-industry,15-1298,Other,detailed,1,lots,1\n"
        "1,cross-industry,15-1297,Other,group,1,1,1\n"
        "1,cross-industry,15-12,Other,detailed,1,1,1\n"
        "1,cross-industry,17-2051,Civil Engineers,detailed,1,1,\n"
        "1,cross-industry,15-1211,Again,detailed,1,1,1\n"
    )
    assert problems_of(rows) == [
        "national_M2024_dl.csv line 12: field 'TOT_EMP': must be a whole number or one of "
        "* ** # ~, got 'n.a.'",
        "national_M2024_dl.csv line 13: field 'A_MEAN': must be a number or one of * ** # ~, "
        "got 'lots'",
        "national_M2024_dl.csv line 14: field 'O_GROUP': must be one of total, major, minor, "
        "broad, detailed, got 'group'",
        "national_M2024_dl.csv line 15: field 'OCC_CODE': must be an SOC code like 15-1252, "
        "got '15-12'",
        "national_M2024_dl.csv line 16: field 'A_MEDIAN': must be a number or one of * ** # ~, "
        "got ''",
        "national_M2024_dl.csv line 17: field 'OCC_CODE': 15-1211 is listed twice "
        "(first on line 6)",
    ]
    assert not Occupation.objects.exists()


@pytest.mark.django_db
def test_a_row_without_a_parent_in_its_major_group_is_a_problem():
    rows = "1,cross-industry,17-2051,Civil Engineers,detailed,1,1,1\n"
    assert problems_of(rows) == [
        "national_M2024_dl.csv line 2: field 'OCC_CODE': 17-2051 (detailed) has no "
        "higher-level row of its major group"
    ]


@pytest.mark.django_db
def test_rows_that_are_not_national_cross_industry_are_skipped():
    rows = ROWS + "2,cross-industry,15-1211,Computer Systems Analysts,detailed,5,5,5\n"
    report = oews(rows)
    assert "not national estimates" in str(report)
    assert soc("15-1211").employment is None


@pytest.mark.django_db
def test_xlsx_with_numbers_and_notes_sheet(tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "national_M2024_dl"
    for line in (HEADER + ROWS).splitlines():
        cells = next(csv.reader([line]))
        sheet.append([int(c) if c.isdigit() else c for c in cells])
    notes = workbook.create_sheet("Field Descriptions")
    notes.append(["*  = indicates that a wage estimate is not available"])
    path = tmp_path / "national_M2024_dl.xlsx"
    workbook.save(path)

    out = io.StringIO()
    call_command("import_oews", str(path), stdout=out)
    assert "BLS OEWS employment and wages into SOC 2018: imported" in out.getvalue()
    assert soc("15-1212").employment == 179430
    assert soc("15-1211").employment_flag == "**"


@pytest.mark.django_db
def test_source_label_comes_from_the_file_name_or_the_option(tmp_path):
    assert source_from_name("national_M2024_dl.xlsx") == "BLS OEWS May 2024"
    path = tmp_path / "wages.csv"
    path.write_text(HEADER + ROWS)
    with pytest.raises(CommandError, match="give --source"):
        call_command("import_oews", str(path))
    call_command("import_oews", str(path), "--source", "BLS OEWS May 2023", stdout=io.StringIO())
    assert soc("15-1211").source == "BLS OEWS May 2023"


@pytest.mark.django_db
def test_figures_too_large_for_their_fields_are_problems_in_a_dry_run_too():
    rows = ROWS + (
        "1,cross-industry,15-1299,Other,detailed,1,1e30,1\n"
        "1,cross-industry,15-1298,Other,detailed,99999999999999999999999,1,1\n"
        "1,cross-industry,15-1297,Other,detailed,1e20,1,1\n"
        "1,cross-industry,15-1296,Other,detailed,1,1,12345678901234\n"
        "1,cross-industry,15-1295,Other,detailed,\u00b2,1,1\n"
    )
    with pytest.raises(TaxonomyImportError) as caught:
        oews(rows, dry_run=True)

    assert [str(problem) for problem in caught.value.problems] == [
        "national_M2024_dl.csv line 12: field 'A_MEAN': must be a number from 0 to less than "
        "10,000,000,000, got '1e30'",
        "national_M2024_dl.csv line 13: field 'TOT_EMP': must be a whole number from 0 to "
        "9,223,372,036,854,775,807, got '99999999999999999999999'",
        "national_M2024_dl.csv line 14: field 'TOT_EMP': must be a whole number or one of "
        "* ** # ~, got '1e20'",
        "national_M2024_dl.csv line 15: field 'A_MEDIAN': must be a number from 0 to less than "
        "10,000,000,000, got '12345678901234'",
        "national_M2024_dl.csv line 16: field 'TOT_EMP': must be a whole number or one of "
        "* ** # ~, got '\u00b2'",
    ]
    assert not Taxonomy.objects.exists()


@pytest.mark.django_db
def test_the_taxonomy_and_source_labels_must_be_given_and_fit_their_fields():
    def problems(**options) -> list[str]:
        with pytest.raises(TaxonomyImportError) as caught:
            oews(**options)
        return [str(problem) for problem in caught.value.problems]

    assert problems(taxonomy="") == [
        "national_M2024_dl.csv: field 'name': the taxonomy's name is blank: give one",
        "national_M2024_dl.csv: field 'version': the taxonomy's version is blank: give one",
    ]
    long_name = "S" * 70
    assert problems(taxonomy=f"{long_name} 1") == [
        f"national_M2024_dl.csv: field 'name': the taxonomy's name '{long_name}' is 70 "
        "characters long, more than 64"
    ]
    assert problems(source="B" * 130) == [
        f"national_M2024_dl.csv: field 'source': the occupation's source '{'B' * 130}' is 130 "
        "characters long, more than 128"
    ]
    assert not Taxonomy.objects.exists()


@pytest.mark.skipif(not (DATA / "bls-oews-may2024").is_dir(), reason="no shared reference data")
@pytest.mark.django_db
def test_real_oews_may_2024_imports_every_occupation_with_flags_kept(seeded):
    path = DATA / "bls-oews-may2024" / "national_M2024_dl.xlsx"
    report = import_oews(path.name, path.read_bytes())

    taxonomy = Taxonomy.objects.get(name="SOC", version="2018")
    # 1,403 rows: the total, and 7 broad occupations also listed as detailed, are not rows.
    counts = report.of("occupations")
    assert counts.added + counts.changed + counts.unchanged == 1395
    assert counts.skipped == 8
    from_file = Occupation.objects.filter(taxonomy=taxonomy, source="BLS OEWS May 2024")
    assert from_file.count() >= 1395
    assert from_file.filter(wage_flag="*", mean_annual_wage__isnull=True).exists()
    assert from_file.filter(median_wage_flag="#", median_annual_wage__isnull=True).exists()
    assert not from_file.exclude(level="major").filter(parent__isnull=True).exists()
    assert soc("15-1252").parent.code == "15-1250"

    again = import_oews(path.name, path.read_bytes())
    assert again.added == 0 and again.changed == 0
