"""Importing any classification as a CSV, and crosswalks between two classifications."""

import io

import pytest
from django.core.management import CommandError, call_command

from occupations.importers.core import TaxonomyImportError
from occupations.importers.crosswalk import import_crosswalk
from occupations.importers.taxonomy_csv import import_taxonomy_csv
from occupations.models import Crosswalk, CrosswalkLink, Occupation, Taxonomy, TaxonomyImport

ISCO = (
    "code,title,level,parent,employment,mean_annual_wage\n"
    '2512,Software developers,4,251,"1,200",52000.50\n'
    "25,Information and communications technology professionals,minor,2,,\n"
    "2,Professionals,major,,,\n"
    "251,Software and applications developers and analysts,broad,25,,\n"
    "2611,Lawyers,detailed,261,,\n"
    "261,Legal professionals,broad,26,,\n"
    '26,"Legal, social and cultural professionals",minor,2,,\n'
)


def isco(text: str = ISCO, **options):
    return import_taxonomy_csv(
        "isco08.csv", text.encode(), taxonomy_name="ISCO", version="08", **options
    )


def isco_problems(text: str) -> list[str]:
    with pytest.raises(TaxonomyImportError) as caught:
        isco(text)
    return [str(problem) for problem in caught.value.problems]


@pytest.mark.django_db
def test_rows_in_any_order_become_a_tree_with_job_categories():
    report = isco(country="gb", credit="Contains ILO data.")

    taxonomy = Taxonomy.objects.get(name="ISCO", version="08")
    assert (taxonomy.country, taxonomy.credit) == ("GB", "Contains ILO data.")
    developers = Occupation.objects.get(taxonomy=taxonomy, code="2512")
    assert developers.level == "detailed"
    assert developers.parent.code == "251" and developers.parent.parent.code == "25"
    assert developers.job_category.code == "2"
    assert (developers.employment, str(developers.mean_annual_wage)) == (1200, "52000.50")
    assert report.of("occupations").added == 7


@pytest.mark.django_db
def test_second_import_is_unchanged_and_an_edit_counts_changed():
    isco()
    again = isco()
    assert again.added == 0 and again.changed == 0 and again.of("occupations").unchanged == 7
    edited = isco(ISCO.replace("Lawyers", "Lawyers and barristers"))
    assert edited.of("occupations").changed == 1
    assert TaxonomyImport.objects.count() == 3


@pytest.mark.django_db
def test_parent_may_be_already_in_the_taxonomy():
    isco()
    report = isco("code,title,level,parent\n2513,Web developers,detailed,251\n")
    assert report.of("occupations").added == 1
    assert Occupation.objects.get(code="2513").parent.code == "251"
    assert "kept: 7 occupations no longer in the source" in str(report)


@pytest.mark.django_db
def test_every_problem_names_its_line_and_field_and_nothing_is_written():
    text = (
        "code,title,level,parent,employment\n"
        "1,Managers,major,,\n"
        "1,Managers again,major,,\n"
        "11,,minor,1,\n"
        "12,Admin managers,level 2,1,\n"
        "13,Sales managers,minor,9,\n"
        "14,Other,minor,1,many\n"
        "15,Self,minor,15,\n"
        "A,Loop a,minor,B,\n"
        "B,Loop b,minor,A,\n"
    )
    problems = isco_problems(text)
    assert problems == [
        "isco08.csv line 3: field 'code': 1 is listed twice (first on line 2)",
        "isco08.csv line 4: field 'title': is blank",
        "isco08.csv line 5: field 'level': must be one of major, minor, broad, detailed "
        "(or 1 to 4), got 'level 2'",
        "isco08.csv line 7: field 'employment': must be a whole number, got 'many'",
        "isco08.csv line 8: field 'parent': is the occupation itself",
        "isco08.csv line 6: field 'parent': '9' is neither in the file nor in ISCO 08",
        "isco08.csv line 9: field 'parent': parents form a cycle: A -> B -> A",
    ]
    assert not Taxonomy.objects.exists()


@pytest.mark.django_db
def test_figures_int_refuses_or_too_large_for_their_fields_are_problems():
    text = (
        "code,title,level,parent,employment,mean_annual_wage\n"
        "1,Managers,major,,\u00b2,\n"
        "2,Professionals,major,,99999999999999999999,\n"
        "3,Technicians,major,,,1e30\n"
    )
    assert isco_problems(text) == [
        "isco08.csv line 2: field 'employment': must be a whole number, got '\u00b2'",
        "isco08.csv line 3: field 'employment': must be a whole number from 0 to "
        "9,223,372,036,854,775,807, got '99999999999999999999'",
        "isco08.csv line 4: field 'mean_annual_wage': must be a number from 0 to less than "
        "10,000,000,000, got '1e30'",
    ]
    assert not Taxonomy.objects.exists()


@pytest.mark.django_db
def test_labels_must_be_given_and_fit_the_taxonomy_fields():
    with pytest.raises(TaxonomyImportError) as caught:
        import_taxonomy_csv(
            "isco08.csv", ISCO.encode(), taxonomy_name="I" * 70, version="", licence="L" * 70
        )
    assert [str(problem) for problem in caught.value.problems] == [
        f"isco08.csv: field 'name': the taxonomy's name '{'I' * 70}' is 70 characters long, "
        "more than 64",
        "isco08.csv: field 'version': the taxonomy's version is blank: give one",
        f"isco08.csv: field 'licence': the taxonomy's licence '{'L' * 70}' is 70 characters "
        "long, more than 64",
    ]
    assert not Taxonomy.objects.exists()


@pytest.mark.django_db
def test_a_parent_that_moves_takes_its_descendants_to_its_new_job_category():
    before = "code,title,level,parent\nA,Alpha,major,\nC,Gamma,major,\nB,Beta,minor,A\n"
    before += "D,Delta,detailed,B\n"
    isco(before)
    report = isco(before.replace("B,Beta,minor,A", "B,Beta,minor,C"))

    assert report.of("occupations").changed == 1
    delta = Occupation.objects.get(code="D")
    assert delta.parent.parent.code == "C"
    assert delta.job_category.code == "C"
    assert Occupation.objects.get(code="B").job_category.code == "C"


@pytest.mark.django_db
def test_a_cycle_through_occupations_already_stored_is_a_problem():
    isco("code,title,level,parent\nA,Alpha,major,\nB,Beta,minor,A\n")

    assert isco_problems("code,title,level,parent\nA,Alpha,major,B\n") == [
        "isco08.csv line 2: field 'parent': parents form a cycle: A -> B -> A"
    ]
    assert Occupation.objects.get(code="A").parent is None


@pytest.mark.django_db
def test_header_is_required():
    assert isco_problems("1,Managers,major,\n")[0].startswith(
        "isco08.csv line 1: field 'code': column is missing"
    )


@pytest.mark.django_db
def test_dry_run_writes_nothing():
    report = isco(dry_run=True)
    assert report.of("occupations").added == 7 and report.of("taxonomies").added == 1
    assert not Taxonomy.objects.exists() and not TaxonomyImport.objects.exists()


@pytest.mark.django_db
def test_import_taxonomy_command(tmp_path):
    path = tmp_path / "uk.csv"
    path.write_text("code,title,level,parent\n1,Managers,1,\n11,Corporate managers,2,1\n")
    out = io.StringIO()
    call_command(
        "import_taxonomy",
        str(path),
        "--name",
        "UK SOC",
        "--version",
        "2020",
        "--country",
        "GB",
        stdout=out,
    )
    assert "Taxonomy CSV into UK SOC 2020: imported" in out.getvalue()
    assert Occupation.objects.get(code="11").level == "minor"


# --- crosswalks -----------------------------------------------------------------------------


@pytest.fixture
def two_taxonomies(db):
    isco()
    soc = Taxonomy.objects.create(name="SOC", version="2018")
    major = Occupation.objects.create(taxonomy=soc, code="15-0000", title="Computer", level="major")
    for code in ("15-1252", "15-1253"):
        Occupation.objects.create(
            taxonomy=soc, code=code, title=code, level="detailed", parent=major
        )
    return soc


CROSSWALK = "source_code,target_code,source_title\n2512,15-1252,x\n2512,15-1253,y\n"


def crosswalk(text: str = CROSSWALK, **options):
    return import_crosswalk(
        "isco-soc.csv", text.encode(), source="ISCO 08", target="SOC 2018", **options
    )


@pytest.mark.django_db
def test_crosswalk_links_are_added_once(two_taxonomies):
    report = crosswalk()
    assert report.of("links").added == 2
    walk = Crosswalk.objects.get(source__name="ISCO", target=two_taxonomies)
    assert {link.target.code for link in walk.links.all()} == {"15-1252", "15-1253"}
    again = crosswalk()
    assert again.added == 0 and again.of("links").unchanged == 2
    assert CrosswalkLink.objects.count() == 2


@pytest.mark.django_db
def test_crosswalk_replace_drops_links_not_in_the_file(two_taxonomies):
    crosswalk()
    one = "source_code,target_code\n2512,15-1252\n"
    kept = crosswalk(one)
    assert CrosswalkLink.objects.count() == 2 and "--replace removes them" in str(kept)
    dry = crosswalk(one, replace=True, dry_run=True)
    assert dry.of("links").removed == 1 and CrosswalkLink.objects.count() == 2
    crosswalk(one, replace=True)
    assert list(CrosswalkLink.objects.values_list("target__code", flat=True)) == ["15-1252"]


@pytest.mark.django_db
def test_crosswalk_unknown_codes_and_taxonomies_are_problems(two_taxonomies):
    with pytest.raises(TaxonomyImportError) as caught:
        crosswalk("source_code,target_code\n9999,15-1252\n2512,99-9999\n")
    assert [str(p) for p in caught.value.problems] == [
        "isco-soc.csv line 2: field 'source_code': '9999' is not an occupation of ISCO 08",
        "isco-soc.csv line 3: field 'target_code': '99-9999' is not an occupation of SOC 2018",
    ]
    assert not Crosswalk.objects.exists()
    with pytest.raises(TaxonomyImportError, match="no taxonomy 'ESCO 1' \\(--to\\)"):
        import_crosswalk("x.csv", CROSSWALK.encode(), source="ISCO 08", target="ESCO 1")


@pytest.mark.django_db
def test_import_crosswalk_command(two_taxonomies, tmp_path):
    path = tmp_path / "walk.csv"
    path.write_text(CROSSWALK)
    out = io.StringIO()
    call_command("import_crosswalk", str(path), "--from", "ISCO 08", "--to", "SOC 2018", stdout=out)
    assert "Crosswalk CSV into ISCO 08 to SOC 2018: imported" in out.getvalue()
    path.write_text("source_code,target_code\n2512,nope\n")
    with pytest.raises(CommandError, match="line 2: field 'target_code'"):
        call_command("import_crosswalk", str(path), "--from", "ISCO 08", "--to", "SOC 2018")
