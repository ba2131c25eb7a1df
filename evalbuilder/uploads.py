"""Uploaded files: a size cap per form enforced while the request streams in, and safe names.

The cap is checked three times. UploadSizeLimitMiddleware answers 413 to a multipart request
whose Content-Length is over the cap (plus room for the form) before any of its body is read.
Without the middleware, such a request is refused at its first file, without reading that
file. Otherwise the bytes of each file are counted as they arrive and the file is dropped as
soon as it passes the cap, before the rest of it is buffered or written to a temporary file,
and the view gets a RefusedUpload to show ("report.pdf is larger than 10 MB"), never a
half-read file.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile, StopUpload
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve

MB = 1024 * 1024

UPLOAD_LIMIT_SETTINGS = {
    "occupations:upload_attachment": "EVALBUILDER_MAX_ATTACHMENT_BYTES",
    "occupations:import": "EVALBUILDER_MAX_IMPORT_BYTES",
    "interop:import_tasks": "EVALBUILDER_MAX_IMPORT_BYTES",
    "interop:import_eval_log": "EVALBUILDER_MAX_EVAL_LOG_BYTES",
    "admin:occupations_taxonomy_import": "EVALBUILDER_MAX_TAXONOMY_BYTES",
}
"""The setting that caps the file of each route that takes one."""

OTHER_ROUTES_LIMIT_SETTINGS = ("EVALBUILDER_MAX_ATTACHMENT_BYTES", "EVALBUILDER_MAX_IMPORT_BYTES")
"""Other routes (the admin's forms) get the larger of these: the official files and eval logs
that need more are taken only on their own routes."""

FORM_OVERHEAD_BYTES = 64 * 1024
"""Room in a request's body, beyond its file, for the multipart framing and the other fields."""

MAX_NAME_BYTES = 255  # the longest file name most file systems store, in UTF-8
MAX_EXTENSION_CHARS = 16
FORBIDDEN_IN_NAMES = set('<>:"/\\|?*')  # not allowed in a Windows file name
WINDOWS_RESERVED_STEMS = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{device}{n}" for device in ("COM", "LPT") for n in "0123456789¹²³"}
)


def human_size(size: int) -> str:
    """A size as people read it in a message: '10 MB', '1.5 MB', '1,000 bytes'."""
    if size >= MB:
        return f"{size / MB:.1f}".removesuffix(".0") + " MB"
    return f"{size:,} bytes"


# --- names ---------------------------------------------------------------------------------


def display_name(raw: str, *, fallback: str = "attachment") -> str:
    """A name to show and to offer on download, made from the name a browser sent.

    Folders, control and formatting characters (bidi overrides such as U+202E turn
    "invoice\u202egpj.exe" into "invoiceexe.jpg" on screen), characters Windows refuses,
    leading and trailing dots and spaces and Windows device names (CON, LPT1, ...) are
    removed, and the name is shortened to what a file system stores, its extension kept.
    """
    name = unicodedata.normalize("NFC", raw or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    kept = []
    for char in name:
        category = unicodedata.category(char)
        if category.startswith("C"):  # control, format (bidi, zero-width), surrogate, unassigned
            continue
        if category in ("Zl", "Zp") or char.isspace():
            kept.append(" ")
        else:
            kept.append("_" if char in FORBIDDEN_IN_NAMES else char)
    name = " ".join("".join(kept).split())
    name = name.lstrip(". ").rstrip(". ")
    stem, dot, extension = name.partition(".")
    if stem.rstrip(" ").upper() in WINDOWS_RESERVED_STEMS:
        name = f"{fallback}{dot}{extension}" if extension else fallback
    name = _shortened(name)
    return name or fallback


def _shortened(name: str) -> str:
    if len(name.encode()) <= MAX_NAME_BYTES:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > MAX_EXTENSION_CHARS:
        stem, extension = name, ""
    suffix = f".{extension}" if extension else ""
    budget = MAX_NAME_BYTES - len(suffix.encode())
    # Cut on a character boundary: a name never ends in half a UTF-8 sequence.
    stem = stem.encode()[:budget].decode(errors="ignore").rstrip(". ")
    return f"{stem}{suffix}"


# --- size caps -----------------------------------------------------------------------------


def upload_limit(request: HttpRequest | None) -> int:
    """The most bytes one file may have on this request's route."""
    route = _route_name(request) if request is not None else None
    if route in UPLOAD_LIMIT_SETTINGS:
        return getattr(settings, UPLOAD_LIMIT_SETTINGS[route])
    return max(getattr(settings, name) for name in OTHER_ROUTES_LIMIT_SETTINGS)


def _route_name(request: HttpRequest) -> str | None:
    match = getattr(request, "resolver_match", None)
    if match is None:  # parsed before the URL was resolved, e.g. by a middleware
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return None
    return match.view_name


class UploadSizeLimitMiddleware:
    """Answers 413 to a multipart POST whose declared length is over its route's cap plus the
    room for the form, before anything reads its body.

    The upload handler stops such a request at its first file; a body with no file part in it
    would still be read to its end, however long. Goes after AuthenticationMiddleware (the
    page shows who is signed in): the form is first read by CsrfViewMiddleware's
    process_view, which runs after every middleware's own call.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and request.content_type == "multipart/form-data":
            limit = upload_limit(request)
            if _declared_length(request) > limit + FORM_OVERHEAD_BYTES:
                return render(request, "413.html", {"limit": human_size(limit)}, status=413)
        return self.get_response(request)


def _declared_length(request: HttpRequest) -> int:
    """The request's Content-Length, or 0 where it has none (Django then reads no body)."""
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


@dataclass(frozen=True)
class RefusedUpload:
    """A file of a request that was dropped for being over its route's cap."""

    field_name: str
    """The form field the file was sent in."""
    file_name: str
    """The file's display name."""
    limit: int
    """The cap it passed, in bytes."""

    def __str__(self) -> str:
        return (
            f"{self.file_name} is larger than {human_size(self.limit)}, the largest file "
            "accepted here. Nothing was uploaded."
        )


class CappedUploadHandler(FileUploadHandler):
    """Counts each file's bytes as they arrive and drops the file once it passes the cap.

    First in FILE_UPLOAD_HANDLERS, so the handlers that buffer in memory or write temporary
    files never receive more than the cap (plus one chunk) of a file that is refused.
    """

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.limit = upload_limit(request)
        self.body_too_large = False
        self.received = 0

    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],
        content_length: int,
        boundary: bytes,
        encoding: str | None = None,
    ) -> None:
        # Parsing goes on up to the first file, so that the fields before it (the CSRF
        # token) still arrive and the refusal is shown on the page, not as a CSRF failure.
        self.body_too_large = content_length > self.limit + FORM_OVERHEAD_BYTES

    def new_file(self, field_name: str, file_name: str, *args: Any, **kwargs: Any) -> None:
        super().new_file(field_name, file_name, *args, **kwargs)
        self.received = 0
        if self.body_too_large:
            self._refuse()
            # The rest of the body is left unread, however large the client says it is.
            raise StopUpload(connection_reset=True)
        if self.content_length is not None and self.content_length > self.limit:
            self._refuse()
            raise SkipFile

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            self._refuse()
            # The file is dropped; the rest of the body is at most FORM_OVERHEAD_BYTES, since
            # a larger Content-Length was refused above, and is read to keep later fields.
            raise SkipFile
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler builds the uploaded file

    def _refuse(self) -> None:
        refusal = RefusedUpload(self.field_name, display_name(self.file_name), self.limit)
        if self.request is not None:
            if not hasattr(self.request, "refused_uploads"):
                self.request.refused_uploads = []
            self.request.refused_uploads.append(refusal)


def refused_upload(request: HttpRequest, field_name: str) -> RefusedUpload | None:
    """The refusal of the file sent in `field_name` of this request, if it was over the cap."""
    if request.method != "POST":
        return None
    _ = request.FILES  # parsing the body is what records the refusals
    refused = getattr(request, "refused_uploads", [])
    return next((r for r in refused if r.field_name == field_name), None)


def read_capped(
    uploaded_file: UploadedFile, limit: int, chunk_size: int = 64 * 1024
) -> bytes | None:
    """The bytes of an upload, or None as soon as more than `limit` of them have been read.

    The declared size is enough to refuse a file; it is never trusted to accept one.
    """
    if uploaded_file.size is not None and uploaded_file.size > limit:
        return None
    data = bytearray()
    for chunk in uploaded_file.chunks(chunk_size):
        data += chunk
        if len(data) > limit:
            return None
    return bytes(data)
