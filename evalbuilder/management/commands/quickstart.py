"""Everything a newcomer needs in one command: data, users, models, a real worker and beat,
a graded demo run for every simulated model, and the web UI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count, Q

from evalbuilder.demo import install_demo
from graders.models import Grade
from occupations.seeding import SeedError, load_seeds
from runs import services as run_services
from runs.models import Run, Sample


class Command(BaseCommand):
    help = (
        "Set up a local evalbuilder (SQLite, embedded broker), run the demo suite on simulated "
        "models through a real Celery worker and beat, grade it, and serve the UI."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--no-serve",
            action="store_true",
            help="Do everything but serve the UI; exit 0 once the demo runs are complete.",
        )
        parser.add_argument("--addrport", default="127.0.0.1:8000", help="Where to serve the UI.")
        parser.add_argument(
            "--timeout", type=int, default=900, help="Seconds to wait for the demo runs."
        )
        parser.add_argument(
            "--fresh",
            action="store_true",
            help="Run the demo suite again even on models that already have a completed run.",
        )

    def handle(self, *args, **options) -> None:
        self.children: list[subprocess.Popen] = []
        # Stopping quickstart (Ctrl-C or SIGTERM) must also stop the worker and beat.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        try:
            self._set_up()
            runs = self._start_runs(fresh=options["fresh"])
            self._wait(runs, timeout=options["timeout"])
            self._summary(runs)
            if options["no_serve"]:
                return
            self.step(f"Serving the UI on http://{options['addrport']}/ (Ctrl-C to stop)")
            call_command("runserver", options["addrport"], use_reloader=False)
        finally:
            self._stop_children()

    # --- steps ----------------------------------------------------------------------

    def step(self, message: str) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(f"==> {message}"))

    def _set_up(self) -> None:
        database = settings.DATABASES["default"]
        self.step(f"Database: {database['ENGINE'].rsplit('.', 1)[-1]} {database['NAME']}")
        call_command("migrate", interactive=False, verbosity=0)
        self.step("Loading seeds (taxonomy, example tasks, demo suite)")
        try:
            report = load_seeds()
        except SeedError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"    {report}")
        for note in report.notes:
            self.stdout.write(self.style.WARNING(f"    {note}"))
        self.step("Registering simulated models, the judge, the schedule and demo users")
        self.demo = install_demo()
        for endpoint in self.demo.endpoints:
            self.stdout.write(f"    model {endpoint} released {endpoint.release_date}")
        self.stdout.write(f"    schedule '{self.demo.schedule}' ({self.demo.schedule.cron})")
        self.stdout.write("    sign in at /accounts/login/ with:")
        for username, password in self.demo.credentials.items():
            self.stdout.write(f"      {username:<9} {password}")
        self.step(f"Starting a Celery worker and beat (broker: {settings.CELERY_BROKER_URL})")
        self._start_children()

    def _start_children(self) -> None:
        log_dir = Path(settings.VAR_DIR) / "log"
        log_dir.mkdir(exist_ok=True)
        celery = [sys.executable, "-m", "celery", "-A", "evalbuilder"]
        commands = {
            "worker": [*celery, "worker", "--loglevel=INFO", "--concurrency=2"],
            "beat": [*celery, "beat", "--loglevel=INFO"],
        }
        for name, command in commands.items():
            log = (log_dir / f"{name}.log").open("a")
            self.children.append(
                subprocess.Popen(
                    command,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=settings.BASE_DIR,
                    env=os.environ.copy(),
                    start_new_session=True,
                )
            )
            self.stdout.write(f"    {name}: pid {self.children[-1].pid}, log {log.name}")

    def _stop_children(self) -> None:
        for child in self.children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        for child in self.children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
        self.children = []

    def _start_runs(self, *, fresh: bool) -> list[Run]:
        schedule = self.demo.schedule
        runs = []
        for endpoint in schedule.endpoints.order_by("release_date"):
            latest = Run.objects.filter(suite=schedule.suite, endpoint=endpoint).first()
            if (
                latest
                and not fresh
                and latest.status
                in (Run.Status.COMPLETED, Run.Status.QUEUED, Run.Status.RUNNING, Run.Status.GRADING)
            ):
                runs.append(latest)
                continue
            runs.append(
                run_services.create_run(
                    schedule.suite,
                    endpoint,
                    samples_per_task=schedule.samples_per_task,
                    schedule=schedule,
                )
            )
        self.step(f"Running suite '{schedule.suite}' on {len(runs)} simulated models")
        return runs

    def _wait(self, runs: list[Run], *, timeout: int) -> None:
        deadline = time.monotonic() + timeout
        run_ids = [run.pk for run in runs]
        planned = sum(run.planned_samples for run in runs)
        interactive = self.stdout.isatty()
        last_line = ""
        while True:
            for child in self.children:
                if child.poll() is not None:
                    raise CommandError(
                        f"a Celery process exited with code {child.returncode}; see var/log/"
                    )
            statuses = list(Run.objects.filter(pk__in=run_ids).values_list("status", flat=True))
            counts = Sample.objects.filter(run_id__in=run_ids).aggregate(
                written=Count("pk"), failed=Count("pk", filter=Q(status=Sample.Status.FAILED))
            )
            graded = Grade.objects.filter(sample__run_id__in=run_ids).count()
            finished = sum(s in (Run.Status.COMPLETED, Run.Status.FAILED) for s in statuses)
            line = (
                f"    samples {counts['written']}/{planned} (failed {counts['failed']}), "
                f"grades {graded}, runs finished {finished}/{len(runs)}"
            )
            if line != last_line:
                self.stdout.write(f"\r{line}" if interactive else line, ending="")
                if not interactive:
                    self.stdout.write("")
                last_line = line
            if finished == len(runs):
                if interactive:
                    self.stdout.write("")
                return
            if time.monotonic() > deadline:
                raise CommandError(
                    f"the demo runs did not finish within {timeout} s; see var/log/worker.log"
                )
            time.sleep(1)

    def _summary(self, runs: list[Run]) -> None:
        problems = []
        self.step("Demo runs")
        finished = Run.objects.filter(pk__in=[r.pk for r in runs]).select_related("endpoint")
        for run in finished.order_by("endpoint__release_date"):
            progress = run_services.run_progress(run)
            grades = Grade.objects.filter(sample__run=run).aggregate(
                scored=Count("pk", filter=Q(status=Grade.Status.SCORED)),
                unscored=Count("pk", filter=Q(status=Grade.Status.UNSCORED)),
            )
            self.stdout.write(
                f"    {run.endpoint}: {run.get_status_display()}, {progress['done']} samples "
                f"({progress['failed']} failed), {grades['scored']} scored "
                f"({grades['unscored']} unscored), model cost {progress['cost']:.2f}"
            )
            if run.status != Run.Status.COMPLETED or not grades["scored"]:
                problems.append(run)
        if problems:
            raise CommandError(f"{len(problems)} demo run(s) did not complete with scored grades")
        self.stdout.write(self.style.SUCCESS("    every demo run completed and was graded"))
