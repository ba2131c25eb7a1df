from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from interop.eval_logs import EvalLogError, import_eval_log
from occupations.importers.commands import importing_user


class Command(BaseCommand):
    help = (
        "Import an Inspect AI eval log (.eval or .json) as a run of the suite its samples "
        "belong to; the samples are then graded here like those of any run. All or nothing: "
        "every problem is reported with the sample or log member and the field, and nothing "
        "is written."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, help="The eval log, as Inspect wrote it.")
        parser.add_argument(
            "--suite",
            metavar="SLUG",
            help="The suite the log ran; default: the one its samples' metadata names.",
        )
        parser.add_argument(
            "--model",
            metavar="SLUG",
            help="Record the run on this registered model; default: the imported-results "
            "model of the log's model name, registered on its first import.",
        )
        parser.add_argument(
            "--release-date",
            metavar="YYYY-MM-DD",
            help="Public release date of the model, needed when this import registers it.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Check everything and write nothing."
        )
        parser.add_argument(
            "--as", dest="username", metavar="USERNAME", help="Record the import as this user's."
        )

    def handle(self, *args, **options) -> None:
        user = importing_user(options["username"])
        path: Path = options["file"]
        try:
            report = import_eval_log(
                path,
                suite=options["suite"],
                endpoint=options["model"],
                release_date=options["release_date"],
                user=user,
                dry_run=options["dry_run"],
            )
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error}") from error
        except EvalLogError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(self.style.SUCCESS(f"{path}: {report}."))
