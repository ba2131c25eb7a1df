"""The Frictionless Data Package and the DCAT catalogue record of a release: the package is
validated and read back with the frictionless library, the record read as JSON-LD."""

import datetime
import io
import json
import zipfile

import frictionless
import pytest

from reports import releases
from reports.exports import FORMATS, build
from reports.exports.base import MISSING_VALUES, ZIP_DATE, download_url, table_csv
from reports.exports.dcat import catalogue_record
from reports.release_tables import MISSING_CODES, TABLES, format_code

pytestmark = pytest.mark.django_db


def unpack(release, folder) -> dict:
    """Extract the release's data package into folder; its descriptor."""
    with zipfile.ZipFile(io.BytesIO(build(release, "datapackage").data)) as archive:
        archive.extractall(folder)
    return json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))


def as_stored(value, column):
    """A value read by frictionless in the form the release stores it."""
    if value is None:
        return None
    if column.type == "date":
        assert isinstance(value, datetime.date)
        return value.isoformat()
    if column.type == "number":
        return float(value)
    return value


def assert_valid_and_as_stored(release, folder) -> None:
    """The release's package validates (types, missing values, unique primary keys) and
    every cell reads back as stored."""
    unpack(release, folder)
    report = frictionless.validate(folder / "datapackage.json")
    assert report.valid, report.flatten(["resourceName", "rowNumber", "fieldName", "note"])

    package = frictionless.Package(folder / "datapackage.json")
    assert [resource.name for resource in package.resources] == [spec.id for spec in TABLES]
    for spec, resource in zip(TABLES, package.resources, strict=True):
        stored = release.tables[spec.id]
        rows = resource.read_rows()
        assert len(rows) == len(stored), spec.id
        for row, expected in zip(rows, stored, strict=True):
            for column in spec.columns:
                value = expected["values"][column.key]
                wanted = float(value) if column.type == "number" and value is not None else value
                assert as_stored(row[column.key], column) == wanted, (spec.id, column.key)


def test_the_data_package_is_valid_and_reads_back_as_stored(
    approved_release, make_release, users, tmp_path, unsuppressed_release
):
    assert_valid_and_as_stored(approved_release, tmp_path / "suppressed")
    # Nothing suppressed: date and number columns hold [b] and [u] as well, read as missing.
    unsuppressed = unsuppressed_release
    codes = {
        code
        for spec in TABLES
        for r in unsuppressed.tables[spec.id]
        for code in r["missing"].values()
    }
    assert {"b", "u"} <= codes
    assert_valid_and_as_stored(unsuppressed, tmp_path / "all")


def test_the_package_holds_the_csv_export_with_a_schema_per_table(approved_release, tmp_path):
    descriptor = unpack(approved_release, tmp_path)
    for spec, resource in zip(TABLES, descriptor["resources"], strict=True):
        assert resource["path"] == f"data/{spec.id}.csv"
        assert (tmp_path / resource["path"]).read_bytes() == table_csv(approved_release, spec)
        schema = resource["schema"]
        assert [f["name"] for f in schema["fields"]] == [c.key for c in spec.columns]
        assert [f["title"] for f in schema["fields"]] == [c.header for c in spec.columns]
        assert [f["type"] for f in schema["fields"]] == [c.type for c in spec.columns]
        assert schema["missingValues"] == MISSING_VALUES
        assert set(MISSING_VALUES) == {"", *(format_code(code) for code in MISSING_CODES)}
        # A row is known by the same columns in every release, and by no two rows alike.
        assert schema["primaryKey"] == list(spec.identity)
        keys = [
            tuple(row["values"][key] for key in spec.identity)
            for row in approved_release.tables[spec.id]
        ]
        assert all(None not in key for key in keys), spec.id
        assert len(set(keys)) == len(keys), spec.id
    keys = {r["name"]: r["schema"]["primaryKey"] for r in descriptor["resources"]}
    assert keys["category_models"] == ["job_category_code", "model_code"]
    assert keys["models"] == ["model_code"]
    assert keys["national_over_time"] == ["time_period"]
    # The frontier and best models are findings about a row (withheld when it is
    # suppressed), not part of what it is.
    assert keys["job_categories"] == ["job_category_code"]
    assert keys["occupations"] == ["job_category_code", "occupation_code"]


def test_the_package_describes_the_release_and_carries_its_catalogue_record(
    approved_release, tmp_path
):
    descriptor = unpack(approved_release, tmp_path)
    assert descriptor["name"] == "ai-and-work-v1"
    assert descriptor["title"] == approved_release.title
    assert descriptor["version"] == "1.0.0"
    assert descriptor["profile"] == "tabular-data-package"
    assert descriptor["licenses"] == [
        {
            "name": "CC-BY-4.0",
            "path": "https://creativecommons.org/licenses/by/4.0/",
            "title": "Creative Commons Attribution 4.0",
        }
    ]
    assert descriptor["contributors"] == [{"role": "publisher", "title": "evalbuilder"}]
    assert descriptor["sources"][0]["path"].endswith("/releases/ai-and-work-v1/")
    assert descriptor["created"].startswith(approved_release.approved_at.date().isoformat())
    assert "Official release ai-and-work-v1" in descriptor["description"]
    assert descriptor["dcat"]["@type"] == "dcat:Dataset"
    assert descriptor["dcat"]["dct:identifier"] == "ai-and-work-v1"
    data = build(approved_release, "datapackage").data
    assert build(approved_release, "datapackage").data == data
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert {info.date_time for info in archive.infolist()} == {ZIP_DATE}


def test_a_draft_catalogue_record_has_no_issued_date(make_release):
    draft = make_release()
    record = json.loads(build(draft, "dcat").data.decode("utf-8"))
    assert record["dct:title"] == f"DRAFT: {draft.title}"
    assert "dct:issued" not in record
    assert record["dct:modified"]["@value"] == draft.prepared_at.isoformat()
    assert record["adms:status"]["@id"].endswith("UnderDevelopment")


def test_an_approved_catalogue_record_lists_every_distribution(approved_release):
    file = build(approved_release, "dcat")
    assert file.content_type.startswith("application/ld+json")
    record = json.loads(file.data.decode("utf-8"))
    assert record["@context"]["dcat"] == "http://www.w3.org/ns/dcat#"
    assert record["@type"] == "dcat:Dataset"
    assert record["dct:title"] == approved_release.title
    assert record["dct:publisher"] == {"@type": "foaf:Agent", "foaf:name": "evalbuilder"}
    assert record["dct:issued"] == {
        "@value": approved_release.release_date.isoformat(),
        "@type": "xsd:date",
    }
    assert record["dct:modified"]["@value"] == approved_release.approved_at.isoformat()
    assert record["dct:license"]["@id"] == "https://creativecommons.org/licenses/by/4.0/"
    assert record["dcat:version"] == "1"
    assert record["dct:temporal"]["dcat:startDate"]["@value"] == "2023-01-01"
    assert record["dct:temporal"]["dcat:endDate"]["@value"] == "2025-12-31"
    assert record["dct:spatial"]["dct:identifier"] == "US"
    assert "artificial intelligence" in record["dcat:keyword"]

    distributions = {d["dct:identifier"]: d for d in record["dcat:distribution"]}
    assert set(distributions) == set(FORMATS) - {"dcat"}
    for key, distribution in distributions.items():
        assert distribution["dcat:downloadURL"]["@id"] == download_url(approved_release, key)
        assert distribution["dct:title"] == FORMATS[key].label
        assert distribution["dct:format"] == FORMATS[key].format_name
    for key in FORMATS:
        media_type = build(approved_release, key).content_type.split(";")[0]
        assert media_type == FORMATS[key].media_type, key
        if key != "dcat":
            assert distributions[key]["dcat:mediaType"]["rdfs:label"] == media_type


def test_a_correction_replaces_the_release_it_corrects(approved_release, users):
    correction = releases.correct(
        approved_release, user=users["analyst"], reason="One job category was mislabelled."
    )
    record = catalogue_record(correction)
    assert record["dct:replaces"]["dct:identifier"] == approved_release.identifier
    assert record["dct:replaces"]["@id"].endswith(f"/releases/{approved_release.identifier}/")
    assert record["adms:versionNotes"] == "One job category was mislabelled."
    # A draft correction is no part of the published record.
    assert "dct:isReplacedBy" not in catalogue_record(approved_release)

    releases.approve(correction, users["analyst"])
    replaced = catalogue_record(approved_release)
    assert replaced["dct:isReplacedBy"]["dct:identifier"] == correction.identifier
    assert "dct:replaces" not in replaced
