from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from occupations.importers.commands import importing_user
from occupations.jsonl import TaskImportError, import_tasks


class Command(BaseCommand):
    help = (
        "Create draft tasks from a JSON Lines file, one task per line (docs/task-format.md). "
        "All or nothing: any invalid line is reported with its number and field, and nothing "
        "is written."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, help="JSON Lines file, one task record per line.")
        parser.add_argument(
            "--as",
            dest="username",
            required=True,
            metavar="USERNAME",
            help="The user who imports: owner of the new tasks and author of their drafts.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Check every line and write nothing."
        )

    def handle(self, *args, **options) -> None:
        user = importing_user(options["username"])
        path: Path = options["file"]
        try:
            # utf-8-sig: files saved by spreadsheet tools often start with a byte order mark.
            with path.open(encoding="utf-8-sig") as lines:
                report = import_tasks(lines, user=user, dry_run=options["dry_run"])
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error}") from error
        except UnicodeDecodeError as error:
            raise CommandError(f"{path} is not UTF-8 text: {error}") from error
        except TaskImportError as error:
            raise CommandError(f"{path}: {error}") from error
        self.stdout.write(self.style.SUCCESS(f"{path}: {report}."))
        for slug in report.slugs:
            self.stdout.write(f"  {slug}")
