from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from interop.conversion import DEFAULT_PASS_THRESHOLD, FolderFiles, ImportOptions
from interop.formats import IMPORTERS, import_text
from occupations.importers.commands import importing_user
from occupations.jsonl import TaskImportError
from occupations.seeding import DEFAULT_TAXONOMY


class Command(BaseCommand):
    help = (
        "Create draft tasks from a HealthBench or GDPval file (docs/formats.md), owned by "
        "--as. All or nothing: every problem is listed by line (or row) and field, and "
        "nothing is written. Drafts must be reviewed and published before a suite can hold them."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, help="The file to import.")
        parser.add_argument("--format", required=True, choices=sorted(IMPORTERS))
        parser.add_argument(
            "--as",
            dest="username",
            required=True,
            metavar="USERNAME",
            help="The user who imports: owner of the new tasks and author of their drafts.",
        )
        parser.add_argument(
            "--occupation", default="", metavar="CODE", help="Occupation code of every task."
        )
        parser.add_argument(
            "--taxonomy",
            default=DEFAULT_TAXONOMY,
            help=f"Taxonomy of the occupation (default {DEFAULT_TAXONOMY!r}).",
        )
        parser.add_argument(
            "--minutes", type=int, metavar="N", help="Estimated minutes of every task."
        )
        parser.add_argument(
            "--pass-threshold",
            type=float,
            default=DEFAULT_PASS_THRESHOLD,
            help=f"Rubric score at which an attempt succeeds (default {DEFAULT_PASS_THRESHOLD}).",
        )
        parser.add_argument(
            "--reference",
            default="",
            metavar="TEXT",
            help="Reference solution of the tasks whose record has none.",
        )
        parser.add_argument(
            "--deliverable", default="", metavar="TEXT", help="What every task must hand back."
        )
        parser.add_argument("--prefix", default="", help="Put before every slug, e.g. 'hb-'.")
        parser.add_argument(
            "--files",
            type=Path,
            metavar="DIR",
            help="Folder the reference files' paths are relative to (default: the file's folder).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Check everything and write nothing."
        )

    def handle(self, *args, **options) -> None:
        user = importing_user(options["username"])
        path: Path = options["file"]
        try:
            # utf-8-sig: files saved by spreadsheet tools often start with a byte order mark.
            text = path.read_text(encoding="utf-8-sig")
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error}") from error
        except UnicodeDecodeError as error:
            raise CommandError(f"{path} is not UTF-8 text: {error}") from error
        import_options = ImportOptions(
            occupation=options["occupation"],
            taxonomy=options["taxonomy"],
            minutes=options["minutes"],
            pass_threshold=options["pass_threshold"],
            reference=options["reference"],
            deliverable=options["deliverable"],
            prefix=options["prefix"],
            files=FolderFiles(options["files"] or path.parent),
        )
        try:
            report = import_text(
                options["format"],
                text,
                user=user,
                options=import_options,
                dry_run=options["dry_run"],
            )
        except TaskImportError as error:
            raise CommandError(f"{path}: {error}") from error
        self.stdout.write(self.style.SUCCESS(f"{path}: {report}."))
        for slug in report.slugs:
            self.stdout.write(f"  {slug}")
        if report.slugs and not report.dry_run:
            self.stdout.write(
                "The tasks are drafts: submit, review and publish them before adding them to "
                "a suite."
            )
