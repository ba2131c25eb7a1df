"""A crosswalk between two taxonomy releases as a CSV: columns source_code, target_code (other
columns, such as titles, are ignored). Links are added once (importing again adds nothing);
with replace, the crosswalk's links that the file lacks are removed.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from occupations.importers.core import (
    BATCH_SIZE,
    ImportProblem,
    ImportReport,
    TaxonomyImportError,
    decode_text,
    file_record,
    find_taxonomy,
    read_table,
    record_import,
)
from occupations.models import Crosswalk, CrosswalkLink, Occupation, TaxonomyImport

REQUIRED = ("source_code", "target_code")


def import_crosswalk(
    name: str,
    data: bytes,
    *,
    source: str,
    target: str,
    replace: bool = False,
    dry_run: bool = False,
    user: Any = None,
) -> ImportReport:
    """Import the links of a crosswalk CSV from the taxonomy `source` to `target` (each named
    '<name> <version>', e.g. 'ISCO 08', and already imported).

    Raises TaxonomyImportError listing every problem (an unknown code names its line and
    column); nothing is written then, nor with dry_run.
    """
    problems: list[ImportProblem] = []
    source_taxonomy, target_taxonomy = find_taxonomy(source), find_taxonomy(target)
    for label, found, option in (
        (source, source_taxonomy, "--from"),
        (target, target_taxonomy, "--to"),
    ):
        if found is None:
            message = f"no taxonomy {label!r} ({option}): import it first"
            problems.append(ImportProblem(name, None, "", message))
    if source_taxonomy is not None and source_taxonomy == target_taxonomy:
        problems.append(ImportProblem(name, None, "", "--from and --to name the same taxonomy"))
    text = decode_text(name, data, problems)
    rows = read_table(name, text, REQUIRED, problems) if text is not None else None
    if rows is None or problems:
        raise TaxonomyImportError(problems)
    sources = dict(Occupation.objects.filter(taxonomy=source_taxonomy).values_list("code", "pk"))
    targets = dict(Occupation.objects.filter(taxonomy=target_taxonomy).values_list("code", "pk"))
    report = ImportReport(
        f"{source_taxonomy} to {target_taxonomy}", TaxonomyImport.Kind.CROSSWALK, dry_run
    )
    report.files = [file_record(name, data)]
    wanted: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    for row in rows:
        source_pk = sources.get(row["source_code"])
        target_pk = targets.get(row["target_code"])
        if source_pk is None:
            message = f"{row['source_code']!r} is not an occupation of {source_taxonomy}"
            problems.append(ImportProblem(name, row.line, "source_code", message))
        if target_pk is None:
            message = f"{row['target_code']!r} is not an occupation of {target_taxonomy}"
            problems.append(ImportProblem(name, row.line, "target_code", message))
        if source_pk is None or target_pk is None:
            continue
        if (source_pk, target_pk) in seen:
            report.skip("links", "listed more than once in the file")
            continue
        seen.add((source_pk, target_pk))
        wanted.append((source_pk, target_pk))
    if problems:
        raise TaxonomyImportError(problems)
    counts = report.of("links")
    with transaction.atomic():
        crosswalk = Crosswalk.objects.filter(source=source_taxonomy, target=target_taxonomy).first()
        stored = (
            dict(((link.source_id, link.target_id), link.pk) for link in crosswalk.links.all())
            if crosswalk
            else {}
        )
        new = [pair for pair in wanted if pair not in stored]
        counts.added = len(new)
        counts.unchanged = len(wanted) - len(new)
        stale = [pk for pair, pk in stored.items() if pair not in seen]
        if replace:
            counts.removed = len(stale)
        elif stale:
            report.notes.append(
                f"kept: {len(stale)} links not in the file (--replace removes them)"
            )
        if not dry_run:
            if crosswalk is None:
                crosswalk = Crosswalk.objects.create(source=source_taxonomy, target=target_taxonomy)
            CrosswalkLink.objects.bulk_create(
                [CrosswalkLink(crosswalk=crosswalk, source_id=s, target_id=t) for s, t in new],
                batch_size=BATCH_SIZE,
            )
            if replace and stale:
                CrosswalkLink.objects.filter(pk__in=stale).delete()
            record_import(source_taxonomy, report, user)
    return report
