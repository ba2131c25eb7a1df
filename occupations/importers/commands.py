"""What the import commands share: the importing user, errors, and how a report is printed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from occupations.importers.core import ImportReport, TaxonomyImportError


def add_common_arguments(parser: CommandParser) -> None:
    """--dry-run and --as, which every import command takes."""
    parser.add_argument(
        "--dry-run", action="store_true", help="Check everything and report; write nothing."
    )
    parser.add_argument(
        "--as",
        dest="username",
        metavar="USERNAME",
        help="The user the import is recorded as done by (default: none).",
    )


def importing_user(username: str | None) -> Any:
    """The user named by --as, or None; a name that is no user is an error."""
    if not username:
        return None
    User = get_user_model()
    try:
        return User.objects.get(**{User.USERNAME_FIELD: username})
    except User.DoesNotExist as error:
        raise CommandError(f"No user called {username!r}.") from error


def print_report(command: BaseCommand, report: ImportReport) -> None:
    """The report on standard output: its first line in the success colour."""
    first, _, rest = str(report).partition("\n")
    command.stdout.write(command.style.SUCCESS(first))
    if rest:
        command.stdout.write(rest)


def run_import(command: BaseCommand, path: Path, do_import: Callable[[], ImportReport]) -> None:
    """Run an import of the file or folder at `path` and print its report. A file that cannot
    be read, or an import refused with its problems, is a CommandError naming `path`."""
    try:
        report = do_import()
    except OSError as error:
        raise CommandError(f"Cannot read {path}: {error}") from error
    except TaxonomyImportError as error:
        raise CommandError(f"{path}: {error}") from error
    print_report(command, report)
