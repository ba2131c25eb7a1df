"""Every file the application serves is built here, so each one carries the same safe headers.

A file is a download (Content-Disposition: attachment) unless it is one of our own HTML
documents meant to be read in the browser: today only the printable release report. Every
file says its type and forbids sniffing another; the policy of a download lets nothing run
or load even if a browser opened it; and anything not public (held-out tasks, drafts,
staff-only exports) is kept by no cache.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import IO
from urllib.parse import quote

from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    StreamingHttpResponse,
)
from django.utils.cache import get_conditional_response

from evalbuilder.uploads import display_name

DOWNLOAD_POLICY = "default-src 'none'; sandbox"
"""For every file that is not a page of ours: no script, style, image or frame, no origin."""

PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
"""For our own HTML documents: their inline style and data: images, nothing else, no origin."""

PUBLIC_CACHE = "public, no-cache"
"""Public files: any cache may keep them, and checks its copy (ETag) before using it."""

PRIVATE_CACHE = "private, no-store"
"""Everything else: kept by no cache, shared or not, so it cannot outlive the session."""

ASCII_UNSAFE = re.compile(r"[^A-Za-z0-9 ._()+,=-]")


def file_response(
    content: bytes | str | IO[bytes] | Iterable[bytes | str],
    *,
    filename: str,
    content_type: str,
    public: bool = False,
    page: bool = False,
    etag: str | None = None,
) -> HttpResponseBase:
    """A response serving one file with safe headers.

    content: the bytes or text; an open binary file, streamed and closed; or an iterator of
        pieces, streamed as they are made (a large export).
    filename: the name offered to save it under; it is made safe again here.
    public: anyone may see the file (an approved release); otherwise no cache keeps it.
    page: one of our own HTML documents, shown in the browser rather than saved.
    etag: the file's version, for a browser to ask whether its copy is still current.
    """
    if hasattr(content, "read"):
        response: HttpResponseBase = FileResponse(content, content_type=content_type)
    elif isinstance(content, bytes | str):
        response = HttpResponse(content, content_type=content_type)
    else:
        response = StreamingHttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition(filename, inline=page)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = PAGE_POLICY if page else DOWNLOAD_POLICY
    response["Cache-Control"] = PUBLIC_CACHE if public else PRIVATE_CACHE
    if etag is not None:
        response["ETag"] = etag
    return response


def not_modified(request: HttpRequest, etag: str, *, public: bool) -> HttpResponse | None:
    """A 304 answer when the browser's copy has this ETag, with the headers of the file."""
    response = get_conditional_response(request, etag=etag)
    if response is None:
        return None
    response["ETag"] = etag
    response["Cache-Control"] = PUBLIC_CACHE if public else PRIVATE_CACHE
    return response


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """The Content-Disposition of a file (RFC 6266): an ASCII name for old browsers, then
    the full UTF-8 name (filename*), which current browsers use."""
    name = display_name(filename, fallback="download")
    disposition = "inline" if inline else "attachment"
    return (
        f"{disposition}; filename=\"{_ascii_name(name)}\"; filename*=UTF-8''{quote(name, safe='')}"
    )


def _ascii_name(name: str) -> str:
    """The name in ASCII without quotes or backslashes, for browsers that ignore filename*."""
    ascii_only = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    stem, dot, extension = ASCII_UNSAFE.sub("_", ascii_only).rpartition(".")
    if not dot:
        stem, extension = extension, ""
    stem = stem.strip(" .") or "download"
    return f"{stem}.{extension}" if extension else stem
