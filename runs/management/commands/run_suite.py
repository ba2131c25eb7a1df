from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from occupations.models import Suite
from runs import services
from runs.models import ModelEndpoint, Run


class Command(BaseCommand):
    help = "Queue a one-off run of a suite on one or more models (a worker must be running)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--suite", required=True, help="Suite slug.")
        parser.add_argument(
            "--model",
            action="append",
            required=True,
            dest="models",
            help="Model endpoint slug; repeat for several models.",
        )
        parser.add_argument("--samples", type=int, default=1, help="Attempts per task.")
        parser.add_argument(
            "--fresh",
            action="store_true",
            help="Ask the models again instead of reusing cached answers to identical calls.",
        )
        parser.add_argument(
            "--wait", action="store_true", help="Wait until every run has finished."
        )
        parser.add_argument(
            "--timeout", type=int, default=3600, help="Seconds to wait with --wait."
        )

    def handle(self, *args, **options) -> None:
        suite = Suite.objects.filter(slug=options["suite"]).first()
        if suite is None:
            raise CommandError(f"--suite: no suite with slug {options['suite']!r}")
        endpoints = []
        for slug in options["models"]:
            endpoint = ModelEndpoint.objects.filter(slug=slug).first()
            if endpoint is None:
                raise CommandError(f"--model: no model endpoint with slug {slug!r}")
            endpoints.append(endpoint)
        try:
            with transaction.atomic():
                runs = [
                    services.create_run(
                        suite,
                        endpoint,
                        samples_per_task=options["samples"],
                        fresh_samples=options["fresh"],
                    )
                    for endpoint in endpoints
                ]
        except ValueError as error:
            raise CommandError(str(error)) from error
        for run in runs:
            self.stdout.write(f"queued run {run.pk}: {run.endpoint}, {run.planned_samples} samples")
        if not options["wait"]:
            return
        try:
            finished = services.wait_for_runs(
                [run.pk for run in runs], timeout=options["timeout"], on_progress=self._progress
            )
        except TimeoutError as error:
            raise CommandError(str(error)) from error
        failed = [run for run in finished if run.status != Run.Status.COMPLETED]
        if failed:
            raise CommandError(f"{len(failed)} run(s) did not complete")

    def _progress(self, runs: list[Run]) -> None:
        line = "; ".join(
            f"run {run.pk} {run.get_status_display()}: "
            f"{services.run_progress(run)['written']}/{run.planned_samples} samples"
            for run in runs
        )
        if line != getattr(self, "_last", None):
            self.stdout.write(line)
            self._last = line
