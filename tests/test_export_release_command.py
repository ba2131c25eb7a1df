"""`manage.py export_release`: writing a release's files from the command line."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from reports import exports, releases
from reports.exports.base import ExportFile
from reports.management.commands.export_release import Command

pytestmark = pytest.mark.django_db


def export(*args: str) -> str:
    out = StringIO()
    call_command("export_release", *args, stdout=out)
    return out.getvalue()


def test_export_release_writes_every_format_and_prints_each_path(approved_release, tmp_path):
    printed = export(approved_release.identifier, "--format", "all", "--output", str(tmp_path))
    paths = printed.split()
    assert len(paths) == len(exports.FORMATS)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(p.rsplit("/", 1)[-1] for p in paths)
    for key in exports.FORMATS:
        expected = exports.build(approved_release, key)
        assert (tmp_path / expected.filename).stat().st_size > 0, key
    # The printable report is the same bytes however often it is built.
    assert (tmp_path / "ai-and-work-v1.pdf").read_bytes() == exports.build(
        approved_release, "pdf"
    ).data


def test_export_release_writes_the_report_into_the_current_folder(
    approved_release, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    printed = export(approved_release.identifier, "--format", "html", "pdf")
    assert printed.splitlines() == ["ai-and-work-v1.html", "ai-and-work-v1.pdf"]
    assert (tmp_path / "ai-and-work-v1.pdf").read_bytes().startswith(b"%PDF-")
    assert b"Official release ai-and-work-v1" in (tmp_path / "ai-and-work-v1.html").read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_export_release_takes_formats_repeated_or_listed_after_one_option(
    approved_release, tmp_path, monkeypatch
):
    repeated = export(
        approved_release.identifier, "--format", "xlsx", "--format", "sdmx", "--output",
        str(tmp_path / "repeated"),
    )  # fmt: skip
    assert [p.rsplit("/", 1)[-1] for p in repeated.split()] == [
        exports.build(approved_release, key).filename for key in ("xlsx", "sdmx")
    ]
    assert len(list((tmp_path / "repeated").iterdir())) == 2
    mixed = export(
        approved_release.identifier, "--format", "json", "csv", "--format", "dcat", "--output",
        str(tmp_path / "mixed"),
    )  # fmt: skip
    assert len(mixed.split()) == 3 and len(list((tmp_path / "mixed").iterdir())) == 3
    # Without --format, every format: the builders are stood in for, as only the choice counts.
    monkeypatch.setattr(
        exports, "build", lambda release, key: ExportFile(f"{key}.txt", "text/plain", b"x")
    )
    everything = export(approved_release.identifier, "--output", str(tmp_path / "all"))
    assert everything.split() == [str(tmp_path / "all" / f"{key}.txt") for key in exports.FORMATS]


def test_export_release_refuses_a_draft_unless_asked(make_release, tmp_path):
    draft = make_release()
    with pytest.raises(CommandError, match=r"is a draft.*--draft"):
        export(draft.identifier, "--format", "html", "--output", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
    printed = export(
        draft.identifier, "--format", "html", "--draft", "--output", str(tmp_path / "out")
    )
    written = (tmp_path / "out" / exports.build(draft, "html").filename).read_text()
    assert printed.split() == [str(tmp_path / "out" / exports.build(draft, "html").filename)]
    assert f"DRAFT {draft.identifier}: not approved" in written


def test_export_release_names_close_matches_for_an_unknown_release(approved_release):
    with pytest.raises(
        CommandError, match=re.escape("No release 'ai-and-wrk-v1'. Did you mean ai-and-work-v1?")
    ):
        export("ai-and-wrk-v1")
    with pytest.raises(CommandError, match="--list"):
        export("nothing-like-it")


def test_export_release_rejects_an_unknown_format_naming_the_known_ones(approved_release, tmp_path):
    with pytest.raises(CommandError) as error:
        export(approved_release.identifier, "--format", "html", "xls", "--output", str(tmp_path))
    assert "unknown xls" in str(error.value)
    for key in exports.FORMATS:
        assert key in str(error.value)
    assert not list(tmp_path.iterdir())


def test_export_release_lists_releases_with_their_status(approved_release, users):
    correction = releases.correct(approved_release, user=users["analyst"], reason="Regraded.")
    lines = export("--list").splitlines()
    assert lines[0].split()[:3] == [
        approved_release.identifier, "approved", str(approved_release.release_date),
    ]  # fmt: skip
    assert lines[1].split()[:2] == [correction.identifier, "DRAFT"]
    assert approved_release.title in lines[0]


def test_export_release_help_lists_every_format(db):
    parser = Command().create_parser("manage.py", "export_release")
    text = parser.format_help()
    for key, spec in exports.FORMATS.items():
        assert f"{key}" in text and spec.label in text
    assert "--draft" in text and "--list" in text and "--output" in text


def test_export_release_without_an_identifier_says_what_to_do(db):
    with pytest.raises(CommandError, match="Name the release"):
        export()
