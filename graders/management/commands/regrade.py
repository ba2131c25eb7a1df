from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from graders import regrading
from graders.management.grader_option import find_grader
from runs.models import Run


class Command(BaseCommand):
    help = (
        "Queue grading of runs' done samples by one grader version (a worker must be running). "
        "Grades of other versions stay."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs):
        # --version names the grader version here; Django's own --version gives way to it.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser) -> None:
        parser.add_argument("--grader", required=True, help="Grader name.")
        parser.add_argument(
            "--version", type=int, help="Grader version; the latest version when left out."
        )
        parser.add_argument(
            "--run", type=int, action="append", required=True, dest="runs", help="Run id."
        )
        parser.add_argument(
            "--unscored",
            action="store_true",
            help="Only grade again the samples this version left unscored.",
        )

    def handle(
        self, *args, grader: str, version: int | None, runs: list[int], unscored: bool, **options
    ) -> None:
        chosen = find_grader("grader", grader, version)
        found = Run.objects.in_bulk(runs)
        missing = [str(pk) for pk in runs if pk not in found]
        if missing:
            raise CommandError(f"--run: no run {', '.join(missing)}")
        try:
            queued = regrading.regrade(chosen, found.values(), only_unscored=unscored)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        removed = ""
        if queued.deleted_unscored:
            removed = f" ({queued.deleted_unscored} unscored grades removed)"
        self.stdout.write(
            f"{queued.samples} samples of run(s) {', '.join(map(str, queued.runs))} queued "
            f"for {chosen.label} in {queued.batches} message(s){removed}."
        )
