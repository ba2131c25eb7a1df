import argparse
import shutil
import time
from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from occupations.models import Suite
from runs import services
from runs.models import ModelEndpoint, Run
from runs.progress import format_duration

BAR_WIDTH = 24
PLAIN_EVERY_SECONDS = 10.0
"""How often a line per run is printed when stdout is not a terminal (and on every status
change), so that logs show progress without a line a second."""


class RunsStopped(Exception):
    """Every run still open is paused: it waits for an operator, not for time."""


def budget(value: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not amount.is_finite() or amount < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return amount


def progress_line(run: Run, progress: dict) -> str:
    """One run on one line: a bar, samples written of planned, rate, time left, cost."""
    planned, written = progress["planned"], progress["written"]
    filled = BAR_WIDTH if not planned else min(BAR_WIDTH, BAR_WIDTH * written // planned)
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    failed = f", {progress['failed']} failed" if progress["failed"] else ""
    cost = f"cost {progress['cost']:.4f}"
    if progress["budget"] is not None:
        cost += f" of {progress['budget']:.4f}"
    eta = progress["eta_seconds"]
    parts = [
        f"run {run.pk} {run.endpoint.slug} [{bar}] {written}/{planned}{failed}",
        f"{progress['samples_per_minute']}/min",
        f"ETA {format_duration(eta)}" if eta is not None else "",
        cost,
        run.get_status_display().lower(),
    ]
    return "  ".join(part for part in parts if part)


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
            "--budget",
            type=budget,
            default=None,
            help="Cost cap of each run: it pauses once its cost reaches this (default: no cap).",
        )
        parser.add_argument(
            "--wait",
            action="store_true",
            help="Follow the runs to the end: a progress bar per run on a terminal, a line "
            "per run every few seconds otherwise.",
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
                        budget=options["budget"],
                    )
                    for endpoint in endpoints
                ]
        except ValueError as error:
            raise CommandError(str(error)) from error
        for run in runs:
            self.stdout.write(f"queued run {run.pk}: {run.endpoint}, {run.planned_samples} samples")
        if not options["wait"]:
            return
        self._tty = self.stdout.isatty()
        self._drawn = 0
        self._printed: dict[int, tuple[str, float, str]] = {}
        try:
            finished = services.wait_for_runs(
                [run.pk for run in runs], timeout=options["timeout"], on_progress=self._progress
            )
        except TimeoutError as error:
            raise CommandError(str(error)) from error
        except RunsStopped as stopped:
            raise CommandError(str(stopped)) from None
        failed = [run for run in finished if run.status != Run.Status.COMPLETED]
        if failed:
            raise CommandError(f"{len(failed)} run(s) did not complete")

    def _progress(self, runs: list[Run]) -> None:
        runs = sorted(runs, key=lambda run: run.pk)
        lines = [(run, progress_line(run, services.run_progress(run))) for run in runs]
        if self._tty:
            self._redraw([line for _, line in lines])
        else:
            self._print_changes(lines)
        still_open = [run for run in runs if not run.is_finished]
        if still_open and all(run.status == Run.Status.PAUSED for run in still_open):
            reasons = "; ".join(f"run {run.pk}: {run.stop_reason}" for run in still_open)
            raise RunsStopped(f"paused, waiting for an operator to resume: {reasons}")

    def _redraw(self, lines: list[str]) -> None:
        """Draw one line per run, over the lines drawn last time (cursor up, then \\r)."""
        width = max(20, shutil.get_terminal_size().columns - 1)
        up = f"\x1b[{self._drawn}A" if self._drawn else ""
        text = "".join(f"\r{line[:width]}\x1b[K\n" for line in lines)
        self.stdout.write(up + text, ending="")
        self.stdout.flush()
        self._drawn = len(lines)

    def _print_changes(self, lines: list[tuple[Run, str]]) -> None:
        """A plain line per run when its status changes, else at most every few seconds."""
        now = time.monotonic()
        for run, line in lines:
            status, printed_at, last_line = self._printed.get(run.pk, ("", 0.0, ""))
            due = now - printed_at >= PLAIN_EVERY_SECONDS and line != last_line
            if run.status != status or due:
                self.stdout.write(line)
                self._printed[run.pk] = (run.status, now, line)
