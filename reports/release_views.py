"""Pages of official releases: list, prepare, review, approve, correct, discard, download.

Approved releases are public; drafts are seen only by those who may prepare releases. The
work is done by reports.releases (prepare, approve, correct, verify, revisions) and
reports.exports (every file); these views show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.cache import cache
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from evalbuilder.downloads import file_response, not_modified
from reports import exports, releases
from reports.exports.base import ExportFile, cell
from reports.exports.dcat import catalogue_record
from reports.models import Release
from reports.release_forms import CorrectionForm, ReleaseForm, add_release_errors
from reports.release_tables import MISSING_CODES, TABLES, Table, table
from reports.releases import ReleaseError


def _visible(request: HttpRequest, identifier: str) -> Release:
    """The release if this user may see it: drafts are 404 for the public."""
    return get_object_or_404(
        Release.objects.visible_to(request.user).select_related(
            "suite", "grader", "taxonomy", "prepared_by", "approved_by", "supersedes"
        ),
        identifier=identifier,
    )


def _successor(request: HttpRequest, release: Release) -> Release | None:
    """The release correcting this one, where this user may see it."""
    return (
        Release.objects.visible_to(request.user)
        .filter(supersedes=release)
        .only("identifier", "title", "status")
        .first()
    )


# --- what the release page shows -------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One cell of a release table as the page shows it."""

    text: str
    code_meaning: str = ""
    """Meaning of the short code the cell holds instead of a figure ('' for a figure)."""
    numeric: bool = False


def _cells(spec: Table, row: dict) -> list[Cell]:
    shown = []
    for column in spec.columns:
        numeric = column.type in ("integer", "number")
        value = cell(row, column.key)
        if row["values"].get(column.key) is None:
            code = row["missing"].get(column.key, "x")
            shown.append(Cell(str(value), MISSING_CODES.get(code, ""), numeric))
        else:
            # Thousands separated for reading; the files carry the plain figures.
            text = f"{value:,}" if isinstance(value, int | float) else str(value)
            shown.append(Cell(text, numeric=numeric))
    return shown


def _tables(release: Release) -> list[dict[str, Any]]:
    """Every table of the release with its rows of published cells."""
    return [
        {"spec": spec, "rows": [_cells(spec, row) for row in release.tables.get(spec.id, [])]}
        for spec in TABLES
    ]


def _summary(release: Release) -> list[tuple[str, Cell]]:
    """The national index figures: each measure of the national table with its cell."""
    spec = table("national")
    rows = release.tables.get(spec.id, [])
    if not rows:
        return []
    cells = _cells(spec, rows[0])
    return [
        (column.header, shown)
        for column, shown in zip(spec.columns, cells, strict=True)
        if column.role == "measure"
    ]


def _changes(release: Release) -> list[dict[str, Any]]:
    """The figures a correction changed, each with its table's title."""
    titles = {spec.id: spec.title for spec in TABLES}
    return [
        {**change, "table_title": titles.get(change["table"], change["table"])}
        for change in release.changes
    ]


@dataclass(frozen=True)
class Term:
    """A value of the catalogue record, with its address where it has one."""

    text: str
    url: str = ""


def _term(value: Any) -> Term:
    """A JSON-LD value as text: a node by its name (or its address), a literal as it is."""
    if isinstance(value, dict):
        name = next(
            (value[k] for k in ("foaf:name", "dct:title", "rdfs:label", "@value") if k in value),
            None,
        )
        url = value.get("@id", "")
        url = url if str(url).startswith(("http://", "https://")) else ""
        return Term(str(name if name is not None else value.get("@id", "")), url)
    text = "" if value is None else str(value)
    return Term(text, text if text.startswith(("http://", "https://")) else "")


CATALOGUE_TERMS = (
    ("dct:title", "Title"),
    ("dct:description", "Description"),
    ("dct:publisher", "Publisher"),
    ("dct:issued", "Issued"),
    ("dct:modified", "Modified"),
    ("dct:license", "Licence"),
)
"""The terms of the catalogue record the release page shows, with their labels."""


def _catalogue(release: Release) -> dict[str, Any]:
    """The release's DCAT catalogue record as rows of the page's table."""
    record = catalogue_record(release)
    distributions = record.get("dcat:distribution") or []
    if isinstance(distributions, dict):
        distributions = [distributions]
    return {
        "terms": [
            (label, _term(record.get(key)), key)
            for key, label in CATALOGUE_TERMS
            if key in record or key == "dct:issued"
        ],
        "distributions": [
            {
                "title": _term(d.get("dct:title")).text,
                "url": _term(d.get("dcat:downloadURL")).text,
                "media_type": _term(d.get("dcat:mediaType")).text,
            }
            for d in distributions
        ],
    }


# --- pages -----------------------------------------------------------------------------


def release_list(request: HttpRequest) -> HttpResponse:
    visible = Release.objects.visible_to(request.user)
    shown = list(visible.select_related("suite", "supersedes").order_by("series", "-version"))
    corrections = visible.filter(supersedes__isnull=False).only("identifier", "supersedes")
    successors = {r.supersedes_id: r for r in corrections}
    return render(
        request,
        "reports/release_list.html",
        {
            "rows": [(release, successors.get(release.pk)) for release in shown],
            "can_prepare": request.user.has_perm("reports.add_release"),
            "sees_drafts": request.user.has_perm("reports.view_release"),
        },
    )


@login_required
@permission_required("reports.add_release", raise_exception=True)
def release_new(request: HttpRequest) -> HttpResponse:
    form = ReleaseForm(request.POST if request.method == "POST" else None, query=request.GET)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            release = releases.prepare_release(
                user=request.user,
                series=data["series"],
                title=data["title"],
                description=data["description"],
                suite=data["suite"],
                grader=data["grader"],
                endpoints=list(data["endpoints"]),
                taxonomy=data["taxonomy"],
                period_start=data["period_start"],
                period_end=data["period_end"],
                disclosure_min_tasks=data["disclosure_min_tasks"],
                background=True,
            )
        except ReleaseError as error:
            add_release_errors(form, error)
        else:
            messages.success(
                request,
                f"{release.identifier} is being prepared: its figures are computed in the "
                "background. Check them once they are in, then approve it to publish it.",
            )
            return redirect(release)
    return render(request, "reports/release_form.html", {"form": form})


def release_detail(request: HttpRequest, identifier: str) -> HttpResponse:
    release = _visible(request, identifier)
    user = request.user
    if not release.is_prepared:
        # Being prepared (the page reloads itself until the figures are in) or failed.
        return render(
            request,
            "reports/release_preparing.html",
            {
                "release": release,
                "can_discard": user.has_perm("reports.delete_release"),
            },
        )
    sees_drafts = user.has_perm("reports.view_release")
    history = [r for r in releases.revisions(release) if sees_drafts or r.is_approved]
    return render(
        request,
        "reports/release_detail.html",
        {
            "release": release,
            "verified": releases.verify(release),
            "successor": _successor(request, release),
            "catalogue": _catalogue(release),
            "formats": exports.FORMATS.values(),
            "summary": _summary(release),
            "tables": _tables(release),
            "missing_codes": MISSING_CODES.items(),
            "changes": _changes(release),
            "revisions": history,
            "can_approve": not release.is_approved and user.has_perm("reports.approve_release"),
            "can_discard": not release.is_approved and user.has_perm("reports.delete_release"),
            "can_correct": release.is_approved
            and not hasattr(release, "superseded_by")
            and user.has_perm("reports.add_release"),
        },
    )


@require_POST
@login_required
@permission_required("reports.approve_release", raise_exception=True)
def release_approve(request: HttpRequest, identifier: str) -> HttpResponse:
    release = _visible(request, identifier)
    try:
        approved = releases.approve(release, request.user)
    except ReleaseError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            f"{approved.identifier} is approved and published on {approved.release_date}. "
            "It can no longer change; a correction makes a new version.",
        )
    return redirect(release)


@login_required
@permission_required("reports.add_release", raise_exception=True)
def release_correct(request: HttpRequest, identifier: str) -> HttpResponse:
    release = _visible(request, identifier)
    if not release.is_approved:
        messages.error(request, "Only an approved release can be corrected: discard the draft.")
        return redirect(release)
    if hasattr(release, "superseded_by"):
        messages.error(
            request,
            f"{release.identifier} is already corrected by {release.superseded_by.identifier}: "
            "correct the latest version.",
        )
        return redirect(release)
    form = CorrectionForm(request.POST if request.method == "POST" else None, release=release)
    if request.method == "POST" and form.is_valid():
        try:
            correction = releases.correct(
                release,
                user=request.user,
                reason=form.cleaned_data["correction_reason"],
                grader=form.cleaned_data["grader"],
                background=True,
            )
        except ReleaseError as error:
            add_release_errors(form, error)
        else:
            messages.success(
                request,
                f"Correction {correction.identifier} is being prepared: its figures, and "
                "those that changed, are computed in the background. Approve it to publish it.",
            )
            return redirect(correction)
    return render(request, "reports/release_correct.html", {"release": release, "form": form})


@require_POST
@login_required
@permission_required("reports.delete_release", raise_exception=True)
def release_discard(request: HttpRequest, identifier: str) -> HttpResponse:
    release = _visible(request, identifier)
    if release.is_approved:
        messages.error(request, f"{release.identifier} is approved and cannot be discarded.")
        return redirect(release)
    try:
        with transaction.atomic():
            # Only while still a draft: an approval may have landed since the page loaded.
            # The row is locked first, as approval locks it, so the two cannot interleave.
            still_draft = Release.objects.filter(pk=release.pk).exclude(
                status=Release.Status.APPROVED
            )
            locked = still_draft.select_for_update().first() is not None
            deleted = still_draft.delete()[0] if locked else 0
    except ValueError:
        deleted = 0
    if deleted:
        messages.success(request, f"Draft {release.identifier} discarded.")
        return redirect("reports:release_list")
    if Release.objects.filter(pk=release.pk).exists():
        messages.error(request, f"{release.identifier} was already approved and is kept.")
        return redirect(release)
    messages.error(request, f"{release.identifier} was already discarded.")
    return redirect("reports:release_list")


def release_download(request: HttpRequest, identifier: str, fmt: str) -> HttpResponseBase:
    """The release in one format. An approved release never changes, so its files are
    built once, kept in the cache, and answered 304 to a browser that already has them;
    a draft is built afresh each time and kept by no one."""
    release = _visible(request, identifier)
    if fmt not in exports.FORMATS or not release.is_prepared:
        raise Http404("No such format, or no figures yet.")
    if not release.is_approved:
        return _file_response(exports.build(release, fmt), fmt, public=False)
    etag = f'"{release.checksum}-{fmt}"'
    unchanged = not_modified(request, etag, public=True)
    if unchanged is not None:
        return unchanged
    key = f"release-file:{release.identifier}:{release.checksum}:{fmt}"
    file = cache.get(key)
    if file is None:
        file = exports.build(release, fmt)
        cache.set(key, file, settings.REPORTS_CACHE_SECONDS)
    return _file_response(file, fmt, public=True, etag=etag)


PAGE_FORMATS = frozenset({"html"})
"""Formats read in the browser: the printable report, one of our own HTML documents. The
PDF is saved: a browser's PDF viewer does not run under the sandbox every download gets."""


def _file_response(
    file: ExportFile, fmt: str, *, public: bool, etag: str | None = None
) -> HttpResponseBase:
    return file_response(
        file.data,
        filename=file.filename,
        content_type=file.content_type,
        public=public,
        page=fmt in PAGE_FORMATS,
        etag=etag,
    )
