"""The taxonomy admin: importing official files from the browser, and the imported records."""

import io
import zipfile

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.loader import render_to_string
from django.urls import reverse

from occupations.models import TaskStatement, Taxonomy, TaxonomyImport
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
    page = admin_client.post(reverse(IMPORT_URL), {"kind": "onet", "files": uploads})
    assert "O*NET database into O*NET-SOC 26.3: imported" in page.content.decode()
    assert TaskStatement.objects.count() == 4
    assert TaxonomyImport.objects.get().imported_by.username == "root"


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


def test_credit_template_renders_nothing_without_a_credit():
    assert render_to_string("occupations/_credit.html", {"taxonomy": Taxonomy()}).strip() == ""
    rendered = render_to_string(
        "occupations/_credit.html",
        {"taxonomy": Taxonomy(credit="Contains ILO data.", licence="ILO")},
    )
    assert '<p class="credit meta">Contains ILO data.</p>' in rendered
    assert "creativecommons" not in rendered
