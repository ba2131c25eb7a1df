"""The SDMX exports of a release (SDMX-CSV 2.0 data, SDMX-ML 3.0 structure), read back with
the sdmx1 library and the csv module and checked against the figures stored on the release."""

import copy
import csv
import datetime
import io

import pytest
import sdmx

from reports.exports import build
from reports.exports import sdmx as sdmx_export
from reports.release_tables import MISSING_CODES, SDMX_DIMENSIONS, TABLES

pytestmark = pytest.mark.django_db

FLOW = "EVALBUILDER:AI_OCCUPATIONS(1.0.0)"


def read_structure(release, folder):
    folder.mkdir(parents=True, exist_ok=True)
    file = build(release, "sdmx-structure")
    path = folder / file.filename
    path.write_bytes(file.data)
    return sdmx.read_sdmx(path)


def read_data(release, folder, structure) -> dict[tuple, object]:
    """The observations of the SDMX-CSV file, read by sdmx1, by key."""
    file = build(release, "sdmx")
    path = folder / file.filename
    path.write_bytes(file.data)
    message = sdmx.read_sdmx(path, structure=structure.dataflow["AI_OCCUPATIONS"])
    observations = [obs for dataset in message.data for obs in dataset.obs]
    by_key = {
        tuple(obs.dimension.values[d].value for d in SDMX_DIMENSIONS): obs for obs in observations
    }
    assert len(by_key) == len(observations), "every SDMX key is unique"
    return by_key


def csv_rows(release) -> list[dict[str, str]]:
    file = build(release, "sdmx")
    return list(csv.DictReader(io.StringIO(file.data.decode("utf-8"))))


def attribute(obs, name: str) -> str:
    value = obs.attached_attribute[name].value
    return "" if value is None else str(value)


def as_published(value, column) -> float | None:
    """A stored figure as SDMX publishes it: dates as decimal years."""
    if value is None:
        return None
    if column.type == "date":
        day = datetime.date.fromisoformat(value)
        start = datetime.date(day.year, 1, 1)
        days_in_year = (datetime.date(day.year + 1, 1, 1) - start).days
        return round(day.year + (day - start).days / days_in_year, 2)
    return float(value)


def expected_key(release, spec, row, measure) -> tuple[str, ...]:
    """The SDMX key a stored figure is published under, worked out from the table's
    definition: totals by default, the table's and the row's dimensions, then the measure's."""
    key = dict.fromkeys(SDMX_DIMENSIONS, "_T")
    key["REF_AREA"] = release.scope["reference_area"] or "_Z"
    key["TIME_PERIOD"] = release.period_end.isoformat()
    key.update(spec.sdmx_fixed)
    for column in spec.columns:
        if column.role == "dimension":
            key[column.sdmx] = row["values"][column.key] or "_Z"
    key.update(measure.fixed)
    key["MEASURE"] = measure.sdmx
    return tuple(key[d] for d in SDMX_DIMENSIONS)


def test_the_structure_reads_back_with_its_dimensions_attributes_and_code_lists(
    approved_release, tmp_path
):
    message = read_structure(approved_release, tmp_path)
    flow = message.dataflow["AI_OCCUPATIONS"]
    assert flow.maintainer.id == "EVALBUILDER" and str(flow.version) == "1.0.0"
    dsd = flow.structure
    assert [d.id for d in dsd.dimensions.components] == list(SDMX_DIMENSIONS)
    assert type(dsd.dimensions.get("TIME_PERIOD")).__name__ == "TimeDimension"
    assert [m.id for m in dsd.measures.components] == ["OBS_VALUE"]
    assert [a.id for a in dsd.attributes.components] == list(sdmx_export.ATTRIBUTES)
    description = str(message.structure["DSD_AI_OCCUPATIONS"].description)
    assert "decimal years" in description

    codelists = message.codelist
    assert set(codelists["CL_MEASURE"].items) == {
        column.sdmx for spec in TABLES for column in spec.measures
    }
    assert "Published as a decimal year" in str(
        codelists["CL_MEASURE"]["PROJ_SUCCESS_50"].description
    )
    models = codelists["CL_MODEL"]
    for row in approved_release.tables["models"]:
        assert str(models[row["values"]["model_code"]].name) == row["values"]["model"]
    assert {"_T", "_Z"} <= set(models.items)
    categories = codelists["CL_JOB_CATEGORY"]
    for row in approved_release.tables["job_categories"]:
        assert (
            str(categories[row["values"]["job_category_code"]].name)
            == row["values"]["job_category"]
        )
    occupations = codelists["CL_OCCUPATION"]
    for row in approved_release.tables["occupations"]:
        assert (
            str(occupations[row["values"]["occupation_code"]].name) == row["values"]["occupation"]
        )
    assert set(codelists["CL_REF_AREA"].items) == {"US"}
    assert set(codelists["CL_CONF_STATUS"].items) == {"F", "C", "D"}
    assert set(codelists["CL_MISSING_CODE"].items) == set(MISSING_CODES)
    assert str(codelists["CL_MISSING_CODE"]["u"].description) == MISSING_CODES["u"]
    assert models.is_partial in (True, "true")
    assert not message.header.test


def assert_every_figure_reads_back(release, folder) -> set[str]:
    """Every stored figure is one observation under its key, with its bounds, unit and
    statuses; the OBS_STATUS codes met on the way."""
    observations = read_data(release, folder, read_structure(release, folder))
    figures, statuses = 0, set()
    for spec in TABLES:
        for row in release.tables[spec.id]:
            for measure in spec.measures:
                figures += 1
                obs = observations[expected_key(release, spec, row, measure)]
                stored = as_published(row["values"][measure.key], measure)
                published = float(obs.value) if obs.value not in (None, "") else None
                assert published == stored, (spec.id, measure.key, row["values"])
                assert attribute(obs, "UNIT_MEASURE") == measure.unit
                lower, upper = spec.bounds(measure.key)
                for name, bound in (("LOWER_BOUND", lower), ("UPPER_BOUND", upper)):
                    value = as_published(row["values"][bound.key], bound) if bound else None
                    text = attribute(obs, name)
                    assert (float(text) if text else None) == value
                withheld = row["suppression"] if measure.suppressible else None
                assert attribute(obs, "CONF_STATUS") == (withheld or "F")
                statuses.add(attribute(obs, "OBS_STATUS"))
                if stored is None:
                    code = row["missing"][measure.key]
                    assert attribute(obs, "OBS_STATUS") == sdmx_export.STATUS_OF_MISSING[code]
                    assert attribute(obs, "MISSING_CODE") == code
                else:
                    assert attribute(obs, "OBS_STATUS") == "A"
                    assert attribute(obs, "MISSING_CODE") == ""
    # No table repeats a figure in these releases, so every figure is its own observation.
    assert len(observations) == figures
    return statuses


def test_every_stored_figure_reads_back_from_sdmx_csv_under_its_key(
    approved_release, unsuppressed_release, tmp_path
):
    assert "O" in assert_every_figure_reads_back(approved_release, tmp_path / "suppressed")
    # Horizons beyond the longest task measured ([b]) are missing with status L.
    statuses = assert_every_figure_reads_back(unsuppressed_release, tmp_path / "all")
    assert {"A", "L", "M"} <= statuses and "O" not in statuses


def test_national_employment_and_wage_bill_are_not_about_a_model(approved_release):
    national = approved_release.tables["national"][0]["values"]
    rows = {
        (r["MODEL"], r["MEASURE"]): r
        for r in csv_rows(approved_release)
        if (r["JOB_CATEGORY"], r["OCCUPATION"]) == ("_T", "_T")
        and r["TIME_PERIOD"] == approved_release.period_end.isoformat()
    }
    assert rows["_Z", "EMPLOYMENT"]["OBS_VALUE"] == str(national["employment"])
    assert rows["_Z", "EMPLOYMENT"]["UNIT_MEASURE"] == "PS"
    assert rows["_Z", "WAGE_BILL"]["OBS_VALUE"] == str(national["wage_bill"])
    assert rows["_Z", "OCCUPATIONS"]["OBS_VALUE"] == str(national["occupations"])
    assert ("_T", "EMPLOYMENT") not in rows and ("_T", "WAGE_BILL") not in rows
    # Figures about the best of the models keep MODEL=_T.
    assert rows["_T", "EMPLOYMENT_COVERAGE"]["OBS_VALUE"] == str(national["employment_coverage"])
    assert rows["_T", "OCCUPATIONS_MET"]["OBS_VALUE"] == str(national["occupations_met"])


def test_the_reference_area_is_the_one_frozen_with_the_release(approved_release, tmp_path):
    taxonomy = approved_release.taxonomy
    taxonomy.country = "GB"
    taxonomy.save()
    approved_release.refresh_from_db()
    assert {r["REF_AREA"] for r in csv_rows(approved_release)} == {"US"}
    assert set(read_structure(approved_release, tmp_path).codelist["CL_REF_AREA"].items) == {"US"}


def test_suppressed_figures_are_empty_flagged_confidential_and_name_no_model(approved_release):
    rows = csv_rows(approved_release)
    suppressed = [r for r in rows if r["CONF_STATUS"] != "F"]
    assert {r["CONF_STATUS"] for r in suppressed} == {"C", "D"}
    for row in suppressed:
        assert row["OBS_VALUE"] == "" and row["LOWER_BOUND"] == "" and row["UPPER_BOUND"] == ""
        assert row["MISSING_CODE"] == "c" and row["OBS_STATUS"] == "O"
    # Counts behind suppressed figures stay public, primary (C) or secondary (D).
    model_rows = approved_release.tables["category_models"]
    for status in ("C", "D"):
        withheld = next(r["values"] for r in model_rows if r["suppression"] == status)
        by_measure = {
            r["MEASURE"]: r
            for r in rows
            if (r["JOB_CATEGORY"], r["OCCUPATION"], r["MODEL"])
            == (withheld["job_category_code"], "_T", withheld["model_code"])
        }
        assert by_measure["SUCCESS_RATE"]["CONF_STATUS"] == status
        assert by_measure["SUCCESS_RATE"]["OBS_VALUE"] == ""
        assert by_measure["TASKS"]["CONF_STATUS"] == "F"
        assert by_measure["TASKS"]["OBS_VALUE"] == str(withheld["tasks"])
    assert all(r["OBS_VALUE"] != "" for r in rows if r["OBS_STATUS"] == "A")

    # Which model is the frontier of a suppressed job category is withheld too: no key
    # names it.
    categories = approved_release.tables["job_categories"]
    withheld = {r["values"]["job_category_code"] for r in categories if r["suppression"]}
    assert withheld, "the fixture suppresses some job categories"
    frontier = {
        (r["JOB_CATEGORY"], r["MODEL"])
        for r in rows
        if r["MEASURE"] in ("FRONTIER_TASKS", "FRONTIER_SUCCESS_RATE", "FRONTIER_MEAN_SCORE")
        and r["JOB_CATEGORY"] in withheld
    }
    assert frontier and {model for _, model in frontier} == {"_Z"}


def test_sdmx_csv_has_the_standard_header_and_only_codes_of_its_structure(
    approved_release, tmp_path
):
    file = build(approved_release, "sdmx")
    assert file.content_type.startswith("application/vnd.sdmx.data+csv; version=2.0.0")
    header = next(csv.reader(io.StringIO(file.data.decode("utf-8"))))
    assert header == [
        "STRUCTURE", "STRUCTURE_ID", "ACTION",
        "REF_AREA", "JOB_CATEGORY", "OCCUPATION", "MODEL", "MEASURE", "TIME_PERIOD",
        "OBS_VALUE",
        "UNIT_MEASURE", "OBS_STATUS", "CONF_STATUS", "LOWER_BOUND", "UPPER_BOUND",
        "MISSING_CODE",
    ]  # fmt: skip
    codelists = read_structure(approved_release, tmp_path).codelist
    rows = csv_rows(approved_release)
    assert {(r["STRUCTURE"], r["STRUCTURE_ID"], r["ACTION"]) for r in rows} == {
        ("dataflow", FLOW, "I")
    }
    keys = [tuple(r[d] for d in SDMX_DIMENSIONS) for r in rows]
    assert len(set(keys)) == len(keys)
    for component, codelist in sdmx_export.CODELIST_OF.items():
        used = {r[component] for r in rows} - {""}
        assert used <= set(codelists[codelist].items), component
    assert {r["TIME_PERIOD"] for r in rows} >= {"2025-12-31", "2023-06-01"}


def test_projected_dates_are_published_as_decimal_years(unsuppressed_release):
    trends = unsuppressed_release.tables["category_trends"]
    row = next(r for r in trends if r["values"]["success_50_date"] is not None)
    day = datetime.date.fromisoformat(row["values"]["success_50_date"])
    published = next(
        r
        for r in csv_rows(unsuppressed_release)
        if r["MEASURE"] == "PROJ_SUCCESS_50"
        and r["JOB_CATEGORY"] == row["values"]["job_category_code"]
    )
    assert published["UNIT_MEASURE"] == "YR"
    assert int(float(published["OBS_VALUE"])) == day.year
    assert float(published["OBS_VALUE"]) == pytest.approx(
        day.year + (day.timetuple().tm_yday - 1) / (366 if day.year % 4 == 0 else 365), abs=0.005
    )
    assert sdmx_export.decimal_year("2027-07-02") == 2027.5
    assert sdmx_export.decimal_year("2024-01-01") == 2024.0
    assert sdmx_export.decimal_year("2024-12-31") == 2025.0  # day 366 of 366, rounded


def test_a_figure_repeated_under_one_key_is_published_once_and_a_conflict_is_refused(
    approved_release,
):
    release = copy.copy(approved_release)
    release.tables = copy.deepcopy(approved_release.tables)
    national = release.tables["national"][0]
    measures = ("employment_index", "wage_index", "occupations_met")
    repeated = {
        "values": {
            "time_period": release.period_end.isoformat(),
            **{key: national["values"][key] for key in measures},
        },
        "missing": {k: v for k, v in national["missing"].items() if k in measures},
        "suppression": None,
    }
    before = len(sdmx_export.observations(approved_release))
    release.tables["national_over_time"].append(repeated)
    assert len(sdmx_export.observations(release)) == before

    repeated["values"]["occupations_met"] = national["values"]["occupations_met"] + 1
    with pytest.raises(
        sdmx_export.SdmxKeyError, match=r"US\._T\._T\._T\.OCCUPATIONS_MET\.2025-12-31"
    ):
        build(release, "sdmx")


def test_a_draft_structure_is_marked_as_a_test_message(make_release, tmp_path):
    message = read_structure(make_release(), tmp_path)
    assert message.header.test is True or str(message.header.test).lower() == "true"
    assert "DRAFT" in str(message.header.source)


def test_the_agency_is_the_publisher_as_an_sdmx_identifier(settings):
    settings.EVALBUILDER_PUBLISHER = "Office for AI Statistics (OAIS)"
    assert sdmx_export.agency() == "OFFICE_FOR_AI_STATISTICS_OAIS"
    settings.EVALBUILDER_PUBLISHER = "2050 Statistics"
    assert sdmx_export.agency() == "EVALBUILDER"
    assert sdmx_export.code("15-1252.00") == "15-1252_00"
