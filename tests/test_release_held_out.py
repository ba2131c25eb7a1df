"""No export of a release carries held-out task content, in any format.

Every format is generated for a release whose suite holds held-out tasks with results, and
every file (each member of an archive, the text of the PDF) is scanned for the held-out
tasks' titles, instructions, context, deliverables, reference solutions, rubric criteria and
canary GUIDs.
"""

import html
import io
import json
import re
import zipfile

import pytest
from pypdf import PdfReader

from occupations.models import Task
from reports import exports

pytestmark = pytest.mark.django_db

SNIPPET = 40
"""Characters of each held-out text searched for: long enough never to occur by chance."""


def held_out_secrets(suite) -> list[str]:
    """Everything about the suite's held-out tasks that must never leave the building."""
    secrets: list[str] = []
    versions = suite.task_versions.filter(task__visibility=Task.Visibility.HELD_OUT)
    for version in versions.select_related("task").prefetch_related("criteria"):
        task = version.task
        secrets += [task.title, str(task.canary), task.canary.hex, task.canary_string]
        for text in (
            version.instructions,
            version.context,
            version.deliverable,
            version.reference_solution,
            *(criterion.text for criterion in version.criteria.all()),
        ):
            text = " ".join(text.split())
            if len(text) >= 12:
                secrets.append(text[:SNIPPET])
    return secrets


def readable_parts(name: str, data: bytes) -> list[tuple[str, str]]:
    """(where, text) for a file: archives (zip, xlsx, ods) member by member, PDFs by their
    extracted text and their raw bytes, everything else as UTF-8."""
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return [
                part
                for member in archive.namelist()
                for part in readable_parts(f"{name}/{member}", archive.read(member))
            ]
    parts = [(name, data.decode("utf-8", errors="replace"))]
    if data[:5] == b"%PDF-":
        text = "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)
        parts.append((f"{name} (text)", text))
    return parts


WINDOW = 24
"""Characters of each window of a secret searched for on its own: a secret cut, quoted or
escaped in one place is still found by another window."""


def windows(secret: str) -> list[str]:
    flat = " ".join(secret.split()).lower()
    if len(flat) <= WINDOW:
        return [flat]
    step = max(1, (len(flat) - WINDOW) // 2)
    return [flat[i : i + WINDOW] for i in range(0, len(flat) - WINDOW + 1, step)]


def unescaped(text: str) -> str:
    """The text as a reader sees it: HTML and XML entities, JSON string escapes and CSV's
    doubled quotes undone, whitespace collapsed, lower case."""
    text = html.unescape(text)
    text = text.replace("\\n", " ").replace("\\t", " ").replace('\\"', '"').replace('""', '"')
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    return " ".join(text.split()).lower()


def leaks(name: str, data: bytes, secrets: list[str]) -> list[str]:
    found = []
    for where, text in readable_parts(name, data):
        flat = unescaped(text)
        found += [
            f"{where}: {secret!r}"
            for secret in secrets
            if any(window in flat for window in windows(secret))
        ]
    return found


def test_the_scan_finds_a_planted_canary_in_an_archive_and_a_pdf(demo_suite):
    """The scanner itself can fail: a held-out canary hidden in a zip member is found."""
    secrets = held_out_secrets(demo_suite)
    assert len(secrets) >= 8, "the demo suite should hold held-out tasks with content"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data/table.csv", f"a,b\n1,{secrets[1]}\n")
    assert leaks("planted.zip", buffer.getvalue(), secrets)
    assert not leaks("clean.txt", b"nothing to see", secrets)
    # Escaped as HTML, or inside a JSON string, a held-out text is still found.
    text = next(s for s in secrets if len(s) >= 30)
    assert leaks("page.html", html.escape(text.replace(" ", "\n")).encode(), secrets)
    assert leaks("data.json", json.dumps({"t": text.replace(" ", "\n")}).encode(), secrets)


def test_no_format_of_a_release_with_held_out_tasks_carries_their_content(make_release, users):
    from reports import releases

    # A low threshold publishes as many figures as possible, so more could leak.
    release = releases.approve(make_release(disclosure_min_tasks=1), users["analyst"])
    suite = release.suite
    assert suite.task_versions.filter(task__visibility=Task.Visibility.HELD_OUT).exists()
    secrets = held_out_secrets(suite)
    found = []
    for key in exports.FORMATS:
        file = exports.build(release, key)
        assert file.data, key
        assert file.filename.startswith(release.identifier), key
        assert "DRAFT" not in file.filename, key
        found += leaks(file.filename, file.data, secrets)
    assert found == []
