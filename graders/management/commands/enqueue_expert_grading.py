from django.core.management.base import BaseCommand, CommandError

from graders import experts
from graders.management.grader_option import find_grader
from runs.models import Run


class Command(BaseCommand):
    help = "Add finished samples of a run to a human grader's blind expert queue."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--grader", required=True, help="The human grader's name (its newest version)."
        )
        parser.add_argument("--run", required=True, type=int, help="Run id.")
        parser.add_argument(
            "--count",
            type=int,
            help="Samples to draw at random; every finished sample not queued yet when left out.",
        )

    def handle(self, *args, grader: str, run: int, count: int | None, **options) -> None:
        found = find_grader("grader", grader)
        queued_run = Run.objects.filter(pk=run).first()
        if queued_run is None:
            raise CommandError(f"--run: no run {run}")
        try:
            added = experts.enqueue_run(found, queued_run, count=count)
        except experts.ExpertGradingError as error:
            raise CommandError(f"--{error.field or 'grader'}: {error}") from None
        self.stdout.write(f"{len(added)} samples of run {run} added to {found.label}.")
