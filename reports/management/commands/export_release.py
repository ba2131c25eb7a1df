"""Write a release's files (spreadsheets, CSV, SDMX, data package, JSON, printable report)
into a folder, or list the releases."""

from __future__ import annotations

import difflib
import os
import tempfile
from argparse import RawDescriptionHelpFormatter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter

from reports import exports
from reports.models import Release

ALL = "all"


class _HelpFormatter(DjangoHelpFormatter, RawDescriptionHelpFormatter):
    """Django's option order, with the list of formats kept as written."""


def _formats_epilog() -> str:
    width = max(len(key) for key in exports.FORMATS)
    lines = [
        f"  {key.ljust(width)}  {f.label}: {f.description}" for key, f in exports.FORMATS.items()
    ]
    return "formats (--format KEY ... or --format all):\n" + "\n".join(lines)


class Command(BaseCommand):
    help = (
        "Write the files of a release into a folder, one per format (default: every format, "
        "into the current folder). Drafts only with --draft. --list lists the releases."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs):
        kwargs.setdefault("epilog", _formats_epilog())
        kwargs.setdefault("formatter_class", _HelpFormatter)
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "identifier", nargs="?", help="The release, e.g. ai-and-work-v2 (see --list)."
        )
        parser.add_argument(
            "--format",
            dest="formats",
            action="extend",
            nargs="+",
            metavar="KEY",
            help=f"Formats to write: keys listed below, or '{ALL}' (the default). "
            "Repeat the option or list several keys after it.",
        )
        parser.add_argument(
            "--output",
            default=".",
            help="Folder to write into; made if missing (default: the current folder).",
        )
        parser.add_argument(
            "--draft",
            action="store_true",
            help="Export a draft too: its files say DRAFT and are not for publication.",
        )
        parser.add_argument("--list", action="store_true", help="List the releases and stop.")

    def handle(self, *args, identifier=None, formats=None, output=".", draft=False, **options):
        if options["list"]:
            self._list()
            return
        if not identifier:
            raise CommandError("Name the release to export (see --list).")
        release = self._release(identifier)
        if not release.is_approved and not draft:
            raise CommandError(
                f"{release.identifier} is a draft: it is not approved for publication. "
                "Pass --draft to export it anyway (its files say DRAFT)."
            )
        keys = self._formats(formats or [ALL])
        folder = Path(output)
        if folder.exists() and not folder.is_dir():
            raise CommandError(f"--output: {folder} is a file, not a folder.")
        # Every file is built before any is written, so a failure leaves no partial set.
        files = []
        for key in keys:
            try:
                files.append(exports.build(release, key))
            except Exception as error:
                raise CommandError(
                    f"The {key} file of {release.identifier} could not be built: {error}. "
                    "Nothing was written."
                ) from error
        folder.mkdir(parents=True, exist_ok=True)
        for file in files:
            path = folder / _safe_name(file.filename)
            _write(path, file.data)
            self.stdout.write(str(path))

    def _list(self) -> None:
        releases = Release.objects.select_related("approved_by").order_by("series", "version")
        if not releases:
            self.stdout.write("No releases yet.")
            return
        width = max(len(r.identifier) for r in releases)
        for release in releases:
            status = f"approved {release.release_date}" if release.is_approved else "DRAFT"
            self.stdout.write(f"{release.identifier.ljust(width)}  {status:<20}  {release.title}")

    def _release(self, identifier: str) -> Release:
        try:
            return Release.objects.get(identifier=identifier)
        except Release.DoesNotExist:
            known = list(Release.objects.values_list("identifier", flat=True))
            close = difflib.get_close_matches(identifier, known, n=3, cutoff=0.6)
            hint = f" Did you mean {' or '.join(close)}?" if close else ""
            raise CommandError(
                f"No release '{identifier}'.{hint} See --list for every release."
            ) from None

    def _formats(self, requested: list[str]) -> list[str]:
        if ALL in requested:
            return list(exports.FORMATS)
        unknown = [key for key in requested if key not in exports.FORMATS]
        if unknown:
            raise CommandError(
                f"--format: unknown {', '.join(unknown)}. Choose from "
                f"{', '.join(exports.FORMATS)} or {ALL}."
            )
        return list(dict.fromkeys(requested))


def _safe_name(filename: str) -> str:
    """The file's name, refusing any that would write outside the folder."""
    name = Path(filename).name
    if name != filename or name in ("", ".", ".."):
        raise CommandError(f"Refusing to write the file name {filename!r}.")
    return name


def _write(path: Path, data: bytes) -> None:
    """Write the file whole or not at all: a reader never sees half of it."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
