"""The taxonomy admin: importing official files from the browser, and the imported records."""

import io
import zipfile

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.loader import render_to_string
from django.urls import reverse

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
from tests.test_import_onet import onet_files

IMPORT_URL = "admin:occupations_taxonomy_import"


def onet_zip() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in onet_files().items():
            archive.writestr(f"db_26_3_text/{name}", data)
    return SimpleUploadedFile("db_26_3_text.zip", buffer.getvalue())


@pytest.fixture
def admin_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.org", "pw")
    client.force_login(admin)
    return client


@pytest.mark.django_db
def test_taxonomy_list_has_an_import_button(admin_client):
    page = admin_client.get(reverse("admin:occupations_taxonomy_changelist"))
    assert page.status_code == 200
    assert reverse(IMPORT_URL).encode() in page.content


@pytest.mark.django_db
def test_dry_run_of_an_onet_zip_shows_the_report_and_writes_nothing(admin_client):
    page = admin_client.post(
        reverse(IMPORT_URL), {"kind": "onet", "files": onet_zip(), "dry_run": "on"}
    )
    assert page.status_code == 200
    text = page.content.decode()
    assert "Check only: nothing was written" in text
    assert "statements: 4 added" in text
    assert not Taxonomy.objects.exists()


@pytest.mark.django_db
def test_importing_separate_onet_files_writes_and_records_the_admin(admin_client):
    uploads = [SimpleUploadedFile(name, data) for name, data in onet_files().items()]
    answer = admin_client.post(reverse(IMPORT_URL), {"kind": "onet", "files": uploads})

    record = TaxonomyImport.objects.get()
    assert record.imported_by.username == "root"
    assert TaskStatement.objects.count() == 4
    # A redirect to the record of the import: reloading the page cannot import again.
    assert answer.status_code == 302
    assert answer.url == reverse("admin:occupations_taxonomyimport_change", args=[record.pk])
    page = admin_client.get(answer.url)
    text = page.content.decode()
    assert "O*NET database into O*NET-SOC 26.3: imported" in text
    assert "statements: 4 added" in text


@pytest.mark.django_db
def test_the_page_says_how_many_files_may_be_sent_at_once(admin_client):
    page = admin_client.get(reverse(IMPORT_URL))
    assert "at most 5 files at once" in page.content.decode()


@pytest.mark.django_db
def test_a_damaged_zip_sent_as_a_dry_run_is_a_problem_on_the_page(admin_client):
    data = bytearray(onet_zip().read())
    first = zipfile.ZipFile(io.BytesIO(bytes(data))).infolist()[0]
    start = first.header_offset + 30 + len(first.filename.encode())
    data[start : start + 20] = b"\xff" * 20
    upload = SimpleUploadedFile("db_26_3_text.zip", bytes(data))
    page = admin_client.post(
        reverse(IMPORT_URL), {"kind": "onet", "files": upload, "dry_run": "on"}
    )

    assert page.status_code == 200
    assert "db_26_3_text.zip: is not a readable .zip archive" in page.content.decode()


@pytest.mark.django_db
def test_a_task_id_int_refuses_sent_as_a_dry_run_is_a_problem_on_the_page(admin_client):
    statements = onet_files()["Task Statements.txt"].replace(b"\t101\t", "\t\u00b2\t".encode())
    uploads = [
        SimpleUploadedFile(name, statements if name == "Task Statements.txt" else data)
        for name, data in onet_files().items()
    ]
    page = admin_client.post(
        reverse(IMPORT_URL), {"kind": "onet", "files": uploads, "dry_run": "on"}
    )

    assert page.status_code == 200
    assert "Task Statements.txt line 2: field &#x27;Task ID&#x27;: must be a whole number" in (
        page.content.decode()
    )


@pytest.mark.django_db
def test_an_oews_figure_too_large_is_a_problem_of_the_dry_run(admin_client):
    csv_file = (
        "OCC_CODE,OCC_TITLE,O_GROUP,TOT_EMP,A_MEAN,A_MEDIAN\n"
        "15-0000,Computer and Mathematical Occupations,major,1e30,1,1\n"
    )
    upload = SimpleUploadedFile("national_M2024_dl.csv", csv_file.encode())
    page = admin_client.post(
        reverse(IMPORT_URL), {"kind": "oews", "files": upload, "dry_run": "on"}
    )

    assert page.status_code == 200
    assert "national_M2024_dl.csv line 2: field &#x27;TOT_EMP&#x27;" in page.content.decode()
    assert not Taxonomy.objects.exists()


@pytest.mark.django_db
def test_problems_are_listed_with_line_and_field(admin_client):
    upload = SimpleUploadedFile("isco.csv", b"code,title,level,parent\n1,,major,\n")
    page = admin_client.post(
        reverse(IMPORT_URL),
        {"kind": "taxonomy", "files": upload, "name": "ISCO", "version": "08"},
    )
    assert "isco.csv line 2: field &#x27;title&#x27;: is blank" in page.content.decode()
    assert not Taxonomy.objects.exists()


@pytest.mark.django_db
def test_a_taxonomy_csv_needs_name_and_version(admin_client):
    upload = SimpleUploadedFile("isco.csv", b"code,title,level,parent\n1,Managers,major,\n")
    page = admin_client.post(reverse(IMPORT_URL), {"kind": "taxonomy", "files": upload})
    assert "needs the taxonomy&#x27;s name and version" in page.content.decode()


@pytest.mark.django_db
def test_staff_without_the_permission_are_refused_and_with_it_may_import(client, django_user_model):
    staff = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    client.force_login(staff)
    assert client.get(reverse(IMPORT_URL)).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="add_taxonomy"))
    assert client.get(reverse(IMPORT_URL)).status_code == 200


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_sign_in(client):
    page = client.get(reverse(IMPORT_URL))
    assert page.status_code == 302


@pytest.mark.django_db
def test_statement_list_shows_the_onet_credit_line(admin_client):
    from occupations.importers.onet import import_onet

    import_onet(onet_files())
    page = admin_client.get(reverse("admin:occupations_taskstatement_changelist"))
    text = page.content.decode()
    assert "O*NET 26.3 Database" in text
    assert "https://creativecommons.org/licenses/by/4.0/" in text
    assert "Modify existing software" in text


def onet_and_soc() -> None:
    from occupations.importers.onet import import_onet

    soc, _ = Taxonomy.objects.get_or_create(name="SOC", version="2018", country="US")
    major, _ = Occupation.objects.get_or_create(
        taxonomy=soc, code="23-0000", defaults={"title": "Legal", "level": "major"}
    )
    Occupation.objects.get_or_create(
        taxonomy=soc,
        code="23-2011",
        defaults={"title": "Paralegals", "level": "detailed", "parent": major},
    )
    import_onet(onet_files())


CREDIT = "O*NET® is a trademark of USDOL/ETA."


@pytest.mark.django_db
def test_every_admin_page_showing_onet_content_shows_its_credit(admin_client):
    onet_and_soc()
    onet = Taxonomy.objects.get(name="O*NET-SOC")
    statement = TaskStatement.objects.get(statement_id=101)
    activity = WorkActivity.objects.get(activity_id="4.A.3.b.1.I01.D01")
    crosswalk = Crosswalk.objects.get()
    developers = Occupation.objects.get(taxonomy=onet, code="15-1252.00")
    pages = {
        "statement list": reverse("admin:occupations_taskstatement_changelist"),
        "statement": reverse("admin:occupations_taskstatement_change", args=[statement.pk]),
        "work activity list": reverse("admin:occupations_workactivity_changelist"),
        "work activity": reverse("admin:occupations_workactivity_change", args=[activity.pk]),
        "crosswalk list": reverse("admin:occupations_crosswalk_changelist"),
        "crosswalk": reverse("admin:occupations_crosswalk_change", args=[crosswalk.pk]),
        "O*NET occupations": reverse("admin:occupations_occupation_changelist")
        + f"?taxonomy__id__exact={onet.pk}",
        "O*NET occupation": reverse("admin:occupations_occupation_change", args=[developers.pk]),
    }
    for name, url in pages.items():
        page = admin_client.get(url)
        assert page.status_code == 200, name
        text = page.content.decode()
        assert CREDIT in text, name
        assert "https://creativecommons.org/licenses/by/4.0/" in text, name
    assert (
        "Modify software programs."
        in admin_client.get(pages["work activity list"]).content.decode()
    )


@pytest.mark.django_db
def test_occupations_of_a_taxonomy_without_a_credit_show_none(admin_client):
    onet_and_soc()
    soc = Taxonomy.objects.get(name="SOC")
    url = reverse("admin:occupations_occupation_changelist") + f"?taxonomy__id__exact={soc.pk}"
    page = admin_client.get(url)
    assert page.status_code == 200
    assert "Paralegals" in page.content.decode()
    assert CREDIT not in page.content.decode()


@pytest.mark.django_db
def test_a_submitted_version_lists_its_statements_read_only_without_a_select_of_all(
    admin_client, seeded
):
    onet_and_soc()
    version = TaskVersion.objects.filter(submitted_at__isnull=False).first()
    statement = TaskStatement.objects.get(statement_id=101)
    TaskStatementCitation.objects.create(task_version=version, task_statement=statement)
    draft = TaskVersion.objects.create(task=version.task, number=99, estimated_minutes=30)

    page = admin_client.get(reverse("admin:occupations_taskversion_change", args=[version.pk]))
    text = page.content.decode()
    assert page.status_code == 200
    assert 'name="task_statements"' not in text
    assert "101 Modify existing software to correct errors." in text
    assert 'name="_save"' not in text  # a submitted version has nothing to save
    draft_page = admin_client.get(reverse("admin:occupations_taskversion_change", args=[draft.pk]))
    assert draft_page.status_code == 200
    assert 'name="task_statements"' not in draft_page.content.decode()
    assert 'name="_save"' in draft_page.content.decode()


def test_credit_template_renders_nothing_without_a_credit():
    assert render_to_string("occupations/_credit.html", {"taxonomy": Taxonomy()}).strip() == ""
    rendered = render_to_string(
        "occupations/_credit.html",
        {"taxonomy": Taxonomy(credit="Contains ILO data.", licence="ILO")},
    )
    assert '<p class="credit meta">Contains ILO data.</p>' in rendered
    assert "creativecommons" not in rendered
