"""Rebuild the materialised report results: all of them, one run's, or one grader's."""

from django.core.management.base import BaseCommand, CommandError

from graders.models import Grader
from reports import materialise
from runs.models import Run


class Command(BaseCommand):
    help = "Rebuild the materialised results report pages read (all, --run or --grader)."

    def add_arguments(self, parser):
        parser.add_argument("--run", type=int, help="Only the results this run feeds.")
        parser.add_argument("--grader", type=int, help="Only this grader version's results.")

    def handle(self, *args, run=None, grader=None, **options):
        if run is not None:
            if not Run.objects.filter(pk=run).exists():
                raise CommandError(f"--run: no run {run}")
            done = materialise.refresh_run(run)
            self.stdout.write(f"run {run}: {done.rows} rows for {done.graders} graders")
        elif grader is not None:
            if not Grader.objects.filter(pk=grader).exists():
                raise CommandError(f"--grader: no grader {grader}")
            rows = materialise.refresh_grader(grader)
            self.stdout.write(f"grader {grader}: {rows} rows")
        else:
            done = materialise.refresh_all()
            self.stdout.write(f"{done.rows} rows for {done.graders} graders")
