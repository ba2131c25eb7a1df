"""A release in SDMX: every figure as an SDMX-CSV 2.0 observation, and the SDMX-ML 3.0
structure message that describes them.

The data structure is the project's own. Its agency is the publisher
(EVALBUILDER_PUBLISHER, as an SDMX identifier) and its artefacts are the dataflow
AI_OCCUPATIONS, the data structure DSD_AI_OCCUPATIONS, the concept scheme
CS_AI_OCCUPATIONS and the code lists CL_*, all at version 1.0.0. That version follows the
layout of the release tables (reports.release_tables), not the release: every release
shares the structure, and a release is told apart by its file, its identifier and its
checksum. The code lists of areas, job categories, occupations and models are sent as
partial lists (isPartial): each structure file holds the codes its own release uses.

One observation is one figure: a measure column of one stored row. Its key is
REF_AREA.JOB_CATEGORY.OCCUPATION.MODEL.MEASURE.TIME_PERIOD, where a dimension a figure does
not break down by is the total _T (every job category, every model), _Z where it does not
apply (employment has no model), and TIME_PERIOD is the end of the release's reference
period unless the table is a time series.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date
from typing import Any
from xml.etree import ElementTree
from xml.etree.ElementTree import Element

from django.conf import settings

from reports.exports.base import ExportFile, status_line
from reports.models import Release
from reports.release_tables import (
    DECIMALS,
    MISSING_CODES,
    NOT_APPLICABLE,
    SDMX_DIMENSIONS,
    TABLES,
    TOTAL,
    Column,
    Table,
)

DATAFLOW_ID = "AI_OCCUPATIONS"
DSD_ID = "DSD_AI_OCCUPATIONS"
CONCEPT_SCHEME_ID = "CS_AI_OCCUPATIONS"
VERSION = "1.0.0"
"""Semantic version of every artefact: the major number changes when a dimension, attribute
or measure changes meaning, the minor when one is added."""
DEFAULT_AGENCY = "EVALBUILDER"

DATA_CONTENT_TYPE = "application/vnd.sdmx.data+csv; version=2.0.0; charset=utf-8"
STRUCTURE_CONTENT_TYPE = "application/vnd.sdmx.structure+xml; version=3.0.0; charset=utf-8"

MEASURE_ID = "OBS_VALUE"
ATTRIBUTES = (
    "UNIT_MEASURE",
    "OBS_STATUS",
    "CONF_STATUS",
    "LOWER_BOUND",
    "UPPER_BOUND",
    "MISSING_CODE",
)
"""Observation attributes, in the order of the data structure and of the CSV columns."""

OBS_STATUS: dict[str, tuple[str, str]] = {
    "A": ("Normal value", "A published figure."),
    "L": (
        "Missing value; data exist but were not collected",
        "The figure lies beyond what the tasks measured, or an interval has no limit on that "
        "side (codes b, u).",
    ),
    "M": (
        "Missing value; data cannot exist",
        "The figure could not be estimated, does not apply, is never reached or was already "
        "reached (codes x, z, n, r).",
    ),
    "O": (
        "Missing value",
        "The figure is withheld for disclosure control (code c); CONF_STATUS says why.",
    ),
}
"""The SDMX observation statuses used, with what they mean here."""

STATUS_OF_MISSING = {"c": "O", "x": "M", "z": "M", "n": "M", "r": "M", "b": "L", "u": "L"}
"""OBS_STATUS of a figure that is missing, by its missing-figure code."""

CONF_STATUS: dict[str, tuple[str, str]] = {
    "F": ("Free", "Published without restriction."),
    "C": (
        "Confidential statistical information",
        "Primary suppression: based on fewer than the minimum number of tasks.",
    ),
    "D": (
        "Secondary confidentiality set by the sender, not for publication",
        "Secondary suppression: withheld so that a suppressed figure cannot be worked out "
        "from totals.",
    ),
}
"""The SDMX confidentiality statuses used: C and D match the rows' `suppression`."""

UNITS: dict[str, tuple[str, str]] = {
    "PC": ("Percent", "Percentage, 0 to 100."),
    "NUMBER": ("Number", "A count."),
    "PS": ("Persons", "Number of persons employed."),
    "XDC": ("National currency", "Domestic currency of the reference area, per year."),
    "MIN": ("Minutes", "Minutes of estimated human working time."),
    "MONTHS": ("Months", "Calendar months."),
    "YR": (
        "Decimal year",
        "A date as a decimal year: the year plus the elapsed fraction of it "
        "(1 July 2027 is 2027.50), to two decimal places.",
    ),
}
"""UNIT_MEASURE codes of the release tables."""

CONCEPTS: dict[str, tuple[str, str]] = {
    "REF_AREA": ("Reference area", "Country of the occupational classification (ISO 3166)."),
    "JOB_CATEGORY": (
        "Job category",
        "Top-level group of the occupational classification; _T is every job category.",
    ),
    "OCCUPATION": ("Occupation", "Occupation of the classification; _T is every occupation."),
    "MODEL": (
        "AI model",
        "The AI model a figure is about; _T is every model (or the best of them) and _Z a "
        "figure that is not about a model.",
    ),
    "MEASURE": ("Measure", "What the figure measures."),
    "TIME_PERIOD": (
        "Reference date",
        "Models released up to this date count: the end of the release's reference period, "
        "or the date of a point of a time series.",
    ),
    "OBS_VALUE": ("Observation value", "The figure, in the unit of UNIT_MEASURE."),
    "UNIT_MEASURE": ("Unit of measure", "Unit the figure and its bounds are in."),
    "OBS_STATUS": ("Observation status", "Whether the figure is published, or why it is not."),
    "CONF_STATUS": ("Confidentiality status", "Whether the figure is withheld for disclosure."),
    "LOWER_BOUND": ("Lower bound", "Lower bound of the 95 % interval of the figure."),
    "UPPER_BOUND": ("Upper bound", "Upper bound of the 95 % interval of the figure."),
    "MISSING_CODE": (
        "Missing-figure code",
        "Why there is no figure: the short code shown as [c], [x], ... in the other formats.",
    ),
}

CODELIST_OF = {
    "REF_AREA": "CL_REF_AREA",
    "JOB_CATEGORY": "CL_JOB_CATEGORY",
    "OCCUPATION": "CL_OCCUPATION",
    "MODEL": "CL_MODEL",
    "MEASURE": "CL_MEASURE",
    "UNIT_MEASURE": "CL_UNIT_MEASURE",
    "OBS_STATUS": "CL_OBS_STATUS",
    "CONF_STATUS": "CL_CONF_STATUS",
    "MISSING_CODE": "CL_MISSING_CODE",
}
"""The code list enumerating each coded component."""

RELEASE_CODELISTS = ("CL_REF_AREA", "CL_JOB_CATEGORY", "CL_OCCUPATION", "CL_MODEL")
"""Code lists holding only the codes of the release they are published with."""

SPECIAL_CODES = {
    TOTAL: ("Total", "Every value of the dimension (for MODEL, every model or the best one)."),
    NOT_APPLICABLE: ("Not applicable", "The dimension does not apply to the figure."),
}

DSD_DESCRIPTION = (
    "AI models measured against the occupations of an economy: success rates, rubric "
    "scores, reliability, time horizons, trends and the national index, by job category, "
    "occupation and model. Each observation is one figure; its 95 % confidence bounds are "
    "the attributes LOWER_BOUND and UPPER_BOUND, in the unit of the figure. Measures whose "
    "figures are dates (projected dates, unit YR) are published as decimal years, the year "
    "plus the elapsed fraction of it (1 July 2027 is 2027.50), with their bounds likewise. "
    "A missing figure has an empty OBS_VALUE, an OBS_STATUS other than A and a MISSING_CODE; "
    "figures withheld for disclosure control have CONF_STATUS C (primary) or D (secondary). "
    "An empty LOWER_BOUND or UPPER_BOUND beside a published figure means the 95 % interval "
    "has no limit on that side (code u)."
)

_ID_INVALID = re.compile(r"[^A-Za-z0-9_@$\-]")


class SdmxKeyError(ValueError):
    """Two different figures of a release would share one SDMX key."""


def agency() -> str:
    """The maintenance agency: the publisher as an SDMX identifier, e.g. 'OFFICE_FOR_X'."""
    slug = re.sub(r"[^A-Z0-9]+", "_", settings.EVALBUILDER_PUBLISHER.upper()).strip("_")
    return slug if slug[:1].isalpha() else DEFAULT_AGENCY


def code(value: Any) -> str:
    """A value as an SDMX code: characters an SDMX identifier cannot hold become '_'."""
    return _ID_INVALID.sub("_", str(value))


def decimal_year(iso_date: str) -> float:
    """A date as a decimal year: 2027-07-02 (day 183 of 365) is 2027.50."""
    day = date.fromisoformat(iso_date)
    start = date(day.year, 1, 1)
    length = (date(day.year + 1, 1, 1) - start).days
    return round(day.year + (day - start).days / length, DECIMALS["YR"])


def _dataflow_ref() -> str:
    return f"{agency()}:{DATAFLOW_ID}({VERSION})"


# --- observations ----------------------------------------------------------------------


@dataclass(frozen=True)
class Observation:
    """One figure of a release as SDMX sees it."""

    key: tuple[str, ...]
    """Codes of the dimensions, in the order of SDMX_DIMENSIONS."""
    value: float | int | None
    """The figure (dates as decimal years); None where it is missing."""
    unit: str
    obs_status: str
    conf_status: str
    lower: float | int | None
    upper: float | int | None
    missing_code: str | None
    """Why the figure is missing (a key of MISSING_CODES); None where it is published."""

    def attributes(self) -> dict[str, Any]:
        """The attribute values, by attribute id."""
        return {
            "UNIT_MEASURE": self.unit,
            "OBS_STATUS": self.obs_status,
            "CONF_STATUS": self.conf_status,
            "LOWER_BOUND": self.lower,
            "UPPER_BOUND": self.upper,
            "MISSING_CODE": self.missing_code,
        }


def _figure(row: dict, column: Column | None) -> float | int | None:
    if column is None:
        return None
    value = row["values"].get(column.key)
    if value is not None and column.type == "date":
        return decimal_year(value)
    return value


def _dimensions(release: Release, spec: Table, row: dict) -> dict[str, str]:
    """The row's key before the measure: table and row dimensions over the defaults."""
    key = {dimension: TOTAL for dimension in SDMX_DIMENSIONS}
    country = release.scope["reference_area"]
    key["REF_AREA"] = code(country) if country else NOT_APPLICABLE
    key["TIME_PERIOD"] = release.period_end.isoformat()
    key.update(spec.sdmx_fixed)
    for column in spec.columns:
        if column.role != "dimension" or column.sdmx is None:
            continue
        value = row["values"].get(column.key)
        if value is None:
            key[column.sdmx] = NOT_APPLICABLE
        elif column.sdmx == "TIME_PERIOD":
            key[column.sdmx] = str(value)
        else:
            key[column.sdmx] = code(value)
    return key


def _observation(spec: Table, row: dict, measure: Column, dimensions: dict) -> Observation:
    key = {**dimensions, **measure.fixed, "MEASURE": measure.sdmx}
    value = _figure(row, measure)
    missing = None if value is not None else row["missing"].get(measure.key, "x")
    lower, upper = spec.bounds(measure.key)
    suppressed = row.get("suppression") if measure.suppressible else None
    return Observation(
        key=tuple(key[dimension] for dimension in SDMX_DIMENSIONS),
        value=value,
        unit=measure.unit or "NUMBER",
        obs_status="A" if missing is None else STATUS_OF_MISSING.get(missing, "O"),
        conf_status=suppressed or "F",
        lower=_figure(row, lower),
        upper=_figure(row, upper),
        missing_code=missing,
    )


def observations(release: Release) -> list[Observation]:
    """Every figure of the release, one per measure column of each stored row, in table,
    row and column order. A figure that appears in two tables under one key (the national
    index is also the last point of its series when the dates coincide) is kept once.

    Raises SdmxKeyError when two different figures would share a key.
    """
    kept: dict[tuple[str, ...], tuple[str, Observation]] = {}
    for spec in TABLES:
        for row in release.tables.get(spec.id, []):
            dimensions = _dimensions(release, spec, row)
            for measure in spec.measures:
                observation = _observation(spec, row, measure, dimensions)
                earlier = kept.get(observation.key)
                if earlier is None:
                    kept[observation.key] = (spec.id, observation)
                elif earlier[1] != observation:
                    raise SdmxKeyError(
                        f"The SDMX key {'.'.join(observation.key)} has two different figures: "
                        f"{earlier[1].value!r} in the table '{earlier[0]}' and "
                        f"{observation.value!r} in the table '{spec.id}'."
                    )
    return [observation for _, observation in kept.values()]


# --- SDMX-CSV 2.0 ----------------------------------------------------------------------


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def data_header() -> list[str]:
    """The SDMX-CSV 2.0 header: structure columns, dimensions, the measure, attributes."""
    return ["STRUCTURE", "STRUCTURE_ID", "ACTION", *SDMX_DIMENSIONS, MEASURE_ID, *ATTRIBUTES]


def build_sdmx_data(release: Release) -> ExportFile:
    """Every figure of the release as SDMX-CSV 2.0 (UTF-8), with action I (information)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(data_header())
    flow = _dataflow_ref()
    for observation in observations(release):
        writer.writerow(
            [
                "dataflow",
                flow,
                "I",
                *observation.key,
                _text(observation.value),
                *(_text(value) for value in observation.attributes().values()),
            ]
        )
    return ExportFile(
        f"{release.identifier}-sdmx.csv", DATA_CONTENT_TYPE, out.getvalue().encode("utf-8")
    )


# --- SDMX-ML 3.0 structure -------------------------------------------------------------

NS = {
    "mes": "http://www.sdmx.org/resources/sdmxml/schemas/v3_0/message",
    "str": "http://www.sdmx.org/resources/sdmxml/schemas/v3_0/structure",
    "com": "http://www.sdmx.org/resources/sdmxml/schemas/v3_0/common",
}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
for _prefix, _uri in NS.items():
    ElementTree.register_namespace(_prefix, _uri)

URN = "urn:sdmx:org.sdmx.infomodel."


def _q(name: str) -> str:
    prefix, local = name.split(":")
    return f"{{{NS[prefix]}}}{local}"


def _add(parent: Element, name: str, text: str | None = None, **attrib: str) -> Element:
    element = ElementTree.SubElement(parent, _q(name), attrib)
    if text is not None:
        element.text = text
    return element


def _names(element: Element, name: str, description: str = "") -> None:
    _add(element, "com:Name", name, **{XML_LANG: "en"})
    if description:
        _add(element, "com:Description", description, **{XML_LANG: "en"})


def _maintainable(
    parent: Element, tag: str, urn_class: str, artefact_id: str, **extra: str
) -> Element:
    ref = f"{agency()}:{artefact_id}({VERSION})"
    return _add(
        parent,
        tag,
        urn=f"{URN}{urn_class}={ref}",
        agencyID=agency(),
        id=artefact_id,
        version=VERSION,
        **extra,
    )


def _codelist_urn(codelist: str) -> str:
    return f"{URN}codelist.Codelist={agency()}:{codelist}({VERSION})"


def _concept_urn(concept: str) -> str:
    return f"{URN}conceptscheme.Concept={agency()}:{CONCEPT_SCHEME_ID}({VERSION}).{concept}"


def _strip_unit(header: str) -> str:
    return re.sub(r"\s*\([^()]*\)$", "", header)


def measure_codes() -> dict[str, tuple[str, str]]:
    """Every MEASURE code of the release tables: its name and description (first use)."""
    codes: dict[str, tuple[str, str]] = {}
    for spec in TABLES:
        for column in spec.measures:
            if column.sdmx in codes:
                continue
            description = column.description
            if column.type == "date":
                description += " Published as a decimal year."
            codes[column.sdmx] = (_strip_unit(column.header), description)
    return codes


def _labels(release: Release) -> dict[str, dict[str, str]]:
    """Names of the codes in the release's dimension columns, from the stored label columns
    (model_code is named by model, job_category_code by job_category, ...)."""
    labels: dict[str, dict[str, str]] = {dimension: {} for dimension in SDMX_DIMENSIONS}
    for spec in TABLES:
        keys = {column.key for column in spec.columns}
        for column in spec.columns:
            if column.role != "dimension" or column.sdmx in (None, "TIME_PERIOD"):
                continue
            label = column.key.removesuffix("_code")
            for row in release.tables.get(spec.id, []):
                value = row["values"].get(column.key)
                if value is None:
                    continue
                name = row["values"].get(label) if label in keys else None
                known = labels[column.sdmx].setdefault(code(value), str(name or value))
                if name and known != str(name):
                    raise SdmxKeyError(
                        f"The {column.sdmx} code {code(value)} stands for both '{known}' "
                        f"and '{name}'."
                    )
    return labels


def release_codes(release: Release, found: list[Observation]) -> dict[str, dict[str, str]]:
    """The codes of the release-specific code lists that its observations use, with names."""
    labels = _labels(release)
    country = release.scope["reference_area"]
    if country:
        labels["REF_AREA"][code(country)] = f"{country} (ISO 3166-1 alpha-2)"
    used: dict[str, dict[str, str]] = {}
    for position, dimension in enumerate(SDMX_DIMENSIONS):
        codelist = CODELIST_OF.get(dimension)
        if codelist not in RELEASE_CODELISTS:
            continue
        values = sorted({observation.key[position] for observation in found})
        used[codelist] = {
            value: SPECIAL_CODES[value][0] if value in SPECIAL_CODES else labels[dimension][value]
            for value in values
        }
    return used


def _codelist(
    parent: Element,
    codelist: str,
    name: str,
    codes: dict[str, tuple[str, str]],
    partial: bool = False,
) -> None:
    extra = {"isPartial": "true"} if partial else {}
    element = _maintainable(parent, "str:Codelist", "codelist.Codelist", codelist, **extra)
    _names(element, name)
    for code_id, (code_name, description) in codes.items():
        item = _add(element, "str:Code", id=code_id, urn=f"{_codelist_urn(codelist)}.{code_id}")
        _names(item, code_name, description)


def _representation(
    component: Element, codelist: str | None = None, text_type: str | None = None
) -> None:
    representation = _add(component, "str:LocalRepresentation")
    if codelist:
        _add(representation, "str:Enumeration", _codelist_urn(codelist))
    else:
        _add(representation, "str:TextFormat", textType=text_type or "String")


def _component(
    parent: Element, tag: str, urn_class: str, component_id: str, **attrib: str
) -> Element:
    urn = f"{URN}datastructure.{urn_class}={agency()}:{DSD_ID}({VERSION}).{component_id}"
    component = _add(parent, tag, id=component_id, urn=urn, **attrib)
    _add(component, "str:ConceptIdentity", _concept_urn(component_id))
    return component


def _data_structure(parent: Element) -> None:
    dsd = _maintainable(parent, "str:DataStructure", "datastructure.DataStructure", DSD_ID)
    _names(dsd, "AI models and the occupations of the economy", DSD_DESCRIPTION)
    components = _add(dsd, "str:DataStructureComponents")
    prefix = f"{URN}datastructure"
    ref = f"{agency()}:{DSD_ID}({VERSION})"
    dimensions = _add(
        components,
        "str:DimensionList",
        id="DimensionDescriptor",
        urn=f"{prefix}.DimensionDescriptor={ref}.DimensionDescriptor",
    )
    for position, dimension in enumerate(SDMX_DIMENSIONS, start=1):
        if dimension == "TIME_PERIOD":
            element = _component(dimensions, "str:TimeDimension", "TimeDimension", dimension)
            _representation(element, text_type="ObservationalTimePeriod")
        else:
            element = _component(
                dimensions, "str:Dimension", "Dimension", dimension, position=str(position)
            )
            _representation(element, CODELIST_OF[dimension])
    attributes = _add(
        components,
        "str:AttributeList",
        id="AttributeDescriptor",
        urn=f"{prefix}.AttributeDescriptor={ref}.AttributeDescriptor",
    )
    mandatory = {"UNIT_MEASURE", "OBS_STATUS", "CONF_STATUS"}
    for attribute in ATTRIBUTES:
        usage = "mandatory" if attribute in mandatory else "optional"
        element = _component(attributes, "str:Attribute", "DataAttribute", attribute, usage=usage)
        _representation(element, CODELIST_OF.get(attribute), "Double")
        _add(_add(element, "str:AttributeRelationship"), "str:Observation")
    measures = _add(
        components,
        "str:MeasureList",
        id="MeasureDescriptor",
        urn=f"{prefix}.MeasureDescriptor={ref}.MeasureDescriptor",
    )
    element = _component(measures, "str:Measure", "Measure", MEASURE_ID, usage="optional")
    _representation(element, text_type="Double")


def build_sdmx_structure(release: Release) -> ExportFile:
    """The SDMX-ML 3.0 structure message of the release's SDMX data: code lists, concepts,
    the data structure definition and the dataflow. Drafts are marked as test messages."""
    found = observations(release)
    message = ElementTree.Element(_q("mes:Structure"))
    header = _add(message, "mes:Header")
    _add(header, "mes:ID", code(f"{release.identifier}-structure"))
    _add(header, "mes:Test", "false" if release.is_approved else "true")
    prepared = release.approved_at or release.prepared_at
    _add(header, "mes:Prepared", prepared.isoformat(timespec="seconds"))
    _add(header, "mes:Sender", id=agency())
    _add(header, "mes:Source", status_line(release), **{XML_LANG: "en"})

    structures = _add(message, "mes:Structures")
    codelists = _add(structures, "str:Codelists")
    names = {
        "CL_REF_AREA": "Reference areas",
        "CL_JOB_CATEGORY": "Job categories",
        "CL_OCCUPATION": "Occupations",
        "CL_MODEL": "AI models",
    }
    for codelist, codes in release_codes(release, found).items():
        entries = {value: (name, "") for value, name in codes.items()}
        _codelist(codelists, codelist, names[codelist], entries, partial=True)
    _codelist(codelists, "CL_MEASURE", "Measures", measure_codes())
    units_used = {column.unit for spec in TABLES for column in spec.measures}
    units = {unit: UNITS[unit] for unit in UNITS if unit in units_used}
    _codelist(codelists, "CL_UNIT_MEASURE", "Units of measure", units)
    _codelist(codelists, "CL_OBS_STATUS", "Observation statuses", OBS_STATUS)
    _codelist(codelists, "CL_CONF_STATUS", "Confidentiality statuses", CONF_STATUS)
    _codelist(codelists, "CL_MISSING_CODE", "Missing-figure codes", {
        missing: (missing, meaning) for missing, meaning in MISSING_CODES.items()
    })  # fmt: skip

    schemes = _add(structures, "str:ConceptSchemes")
    scheme = _maintainable(
        schemes, "str:ConceptScheme", "conceptscheme.ConceptScheme", CONCEPT_SCHEME_ID
    )
    _names(scheme, "Concepts of AI models and the occupations of the economy")
    for concept, (name, description) in CONCEPTS.items():
        element = _add(scheme, "str:Concept", id=concept, urn=_concept_urn(concept))
        _names(element, name, description)

    _data_structure(_add(structures, "str:DataStructures"))

    flows = _add(structures, "str:Dataflows")
    flow = _maintainable(flows, "str:Dataflow", "datastructure.Dataflow", DATAFLOW_ID)
    _names(
        flow,
        "AI models and the occupations of the economy",
        "Official releases of the success of AI models on expert-written tasks, by job "
        f"category, occupation and model, published by {settings.EVALBUILDER_PUBLISHER}.",
    )
    _add(flow, "str:Structure", f"{URN}datastructure.DataStructure={agency()}:{DSD_ID}({VERSION})")

    ElementTree.indent(message)
    data = ElementTree.tostring(message, encoding="utf-8", xml_declaration=True)
    return ExportFile(f"{release.identifier}-sdmx-structure.xml", STRUCTURE_CONTENT_TYPE, data)
