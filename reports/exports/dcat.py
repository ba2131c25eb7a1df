"""The catalogue record of a release: a DCAT (v3, DCAT-AP style) dcat:Dataset in JSON-LD.

One record describes the release wherever it is catalogued: this file, the data package
(datapackage.json carries it under "dcat"), the JSON export and the release page.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings

from reports.exports import FORMATS
from reports.exports.base import ExportFile, absolute_url, download_url, licence, metadata
from reports.models import Release

CONTENT_TYPE = "application/ld+json; charset=utf-8"

CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "adms": "http://www.w3.org/ns/adms#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}


KEYWORDS = (
    "artificial intelligence",
    "AI evaluation",
    "occupations",
    "labour market",
    "official statistics",
)

ADMS_STATUS = "http://purl.org/adms/status/"


def _date(value: str) -> dict[str, str]:
    return {"@value": value, "@type": "xsd:date"}


def _licence() -> dict[str, str]:
    terms = licence()
    record = {"dct:identifier": terms["name"], "dct:title": terms["title"]}
    if terms["path"]:
        record["@id"] = terms["path"]
    return record


def _media_type(key: str) -> dict[str, str]:
    media_type = FORMATS[key].media_type
    return {
        "@id": f"https://www.iana.org/assignments/media-types/{media_type}",
        "rdfs:label": media_type,
    }


def _release_reference(release: Release) -> dict[str, str]:
    return {
        "@id": absolute_url(release.get_absolute_url()),
        "dct:identifier": release.identifier,
    }


def distribution(release: Release, key: str) -> dict[str, Any]:
    """The dcat:Distribution of the release in the format `key` (a key of FORMATS)."""
    fmt = FORMATS[key]
    url = download_url(release, key)
    return {
        "@id": url,
        "@type": "dcat:Distribution",
        "dct:identifier": key,
        "dct:title": fmt.label,
        "dct:description": fmt.description,
        "dcat:downloadURL": {"@id": url},
        "dcat:accessURL": {"@id": url},
        "dcat:mediaType": _media_type(key),
        "dct:format": FORMATS[key].format_name,
        "dct:license": _licence(),
    }


def _successor(release: Release) -> Release | None:
    """The approved release correcting this one: drafts are not part of the record."""
    successor = Release.objects.filter(supersedes=release).first()
    return successor if successor is not None and successor.is_approved else None


def catalogue_record(release: Release) -> dict[str, Any]:
    """The release as a DCAT dcat:Dataset (JSON-LD, with its @context). Drafts have no
    dct:issued, since they are not issued."""
    data = metadata(release)
    record: dict[str, Any] = {
        "@context": CONTEXT,
        "@id": data["url"],
        "@type": "dcat:Dataset",
        "dct:identifier": release.identifier,
        "dct:title": release.title if release.is_approved else f"DRAFT: {release.title}",
        "dct:description": release.description or release.title,
        "dct:publisher": {"@type": "foaf:Agent", "foaf:name": settings.EVALBUILDER_PUBLISHER},
        "dct:modified": {
            "@value": (release.approved_at or release.prepared_at).isoformat(),
            "@type": "xsd:dateTime",
        },
        "dct:license": _licence(),
        "dcat:version": str(release.version),
        "dcat:landingPage": {"@id": data["url"]},
        "dct:temporal": {
            "@type": "dct:PeriodOfTime",
            "dcat:startDate": _date(data["period"]["start"]),
            "dcat:endDate": _date(data["period"]["end"]),
            "rdfs:comment": data["period"]["meaning"],
        },
        "dcat:keyword": [*KEYWORDS, data["taxonomy"]],
        "adms:status": {
            "@id": ADMS_STATUS + ("Completed" if release.is_approved else "UnderDevelopment")
        },
        "dcat:distribution": [distribution(release, key) for key in FORMATS if key != "dcat"],
    }
    if release.release_date:
        record["dct:issued"] = _date(data["release_date"])
    if data["reference_area"]:
        record["dct:spatial"] = {
            "@type": "dct:Location",
            "dct:identifier": data["reference_area"],
            "rdfs:label": f"{data['reference_area']} (ISO 3166-1 alpha-2)",
        }
    if release.supersedes is not None:
        record["dct:replaces"] = _release_reference(release.supersedes)
        record["adms:versionNotes"] = release.correction_reason
    successor = _successor(release)
    if successor is not None:
        record["dct:isReplacedBy"] = _release_reference(successor)
    return record


def build_dcat(release: Release) -> ExportFile:
    """The catalogue record as a JSON-LD file (UTF-8, keys sorted; the bytes change only when
    an approved correction adds dct:isReplacedBy)."""
    text = json.dumps(
        catalogue_record(release), ensure_ascii=False, indent=2, sort_keys=True, allow_nan=False
    )
    return ExportFile(f"{release.identifier}-dcat.jsonld", CONTENT_TYPE, (text + "\n").encode())
