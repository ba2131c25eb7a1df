"""The JSON export of a release: read back with the json module and checked against the
figures stored on the release."""

import datetime
import json

import pytest

from occupations.models import Suite
from reports import releases
from reports.exports import build
from reports.release_tables import MISSING_CODES, TABLES
from runs.models import ModelEndpoint

pytestmark = pytest.mark.django_db


def read(release) -> dict:
    file = build(release, "json")
    assert file.content_type.startswith("application/json")
    return json.loads(file.data.decode("utf-8"))


def test_json_round_trips_every_stored_figure(approved_release):
    document = read(approved_release)
    assert [t["id"] for t in document["tables"]] == [spec.id for spec in TABLES]
    for spec, table in zip(TABLES, document["tables"], strict=True):
        stored = approved_release.tables[spec.id]
        assert [c["key"] for c in table["columns"]] == [c.key for c in spec.columns]
        assert table["rows"] == [row["values"] for row in stored]
        assert table["missing"] == [row["missing"] for row in stored]
        assert table["suppression"] == [row["suppression"] for row in stored]
        assert [n["number"] for n in table["notes"]] == list(spec.notes)
        numeric = [c.key for c in spec.columns if c.type in ("number", "integer")]
        for row, missing in zip(table["rows"], table["missing"], strict=True):
            for key in numeric:
                assert row[key] is None or isinstance(row[key], int | float), (spec.id, key)
                assert (row[key] is None) == (key in missing)
    assert document["methodology"] == approved_release.methodology
    assert document["missing_codes"] == MISSING_CODES
    assert document["metadata"]["identifier"] == approved_release.identifier
    assert document["metadata"]["checksum_sha256"] == approved_release.checksum
    assert document["dcat"]["dct:identifier"] == approved_release.identifier
    assert document["status"].startswith("Official release")


def test_json_bytes_are_utf8_sorted_and_stable_when_models_are_renamed_later(approved_release):
    data = build(approved_release, "json").data
    assert data == build(approved_release, "json").data
    text = data.decode("utf-8")
    resorted = json.dumps(json.loads(text), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    assert text == resorted

    # Names and dates are those frozen when the release was prepared.
    ModelEndpoint.objects.filter(slug="sim-late").update(
        display_name="Renamed model", release_date=datetime.date(2025, 7, 1)
    )
    Suite.objects.filter(pk=approved_release.suite_id).update(name="Renamed suite")
    approved_release.refresh_from_db()
    assert build(approved_release, "json").data == data
    metadata = json.loads(text)["metadata"]
    assert metadata["suite"]["name"] == "Demo suite"
    assert {"code": "sim-late", "name": "Sim Late", "release_date": "2025-06-01"} in (
        metadata["models"]
    )
    assert releases.verify(approved_release)


def test_json_of_a_draft_says_it_is_a_draft(make_release):
    document = read(make_release())
    assert document["status"].startswith("DRAFT")
    assert document["metadata"]["release_date"] is None
    assert "dct:issued" not in document["dcat"]
    assert document["dcat"]["dct:title"].startswith("DRAFT: ")


def test_json_of_a_correction_names_what_it_supersedes_and_why(approved_release, users):
    correction = releases.correct(
        approved_release, user=users["analyst"], reason="The grader was re-run on one task."
    )
    document = read(correction)
    assert document["metadata"]["supersedes"] == approved_release.identifier
    assert document["metadata"]["correction_reason"] == "The grader was re-run on one task."
    assert document["changes"] == correction.changes
    assert document["dcat"]["dct:replaces"]["dct:identifier"] == approved_release.identifier
