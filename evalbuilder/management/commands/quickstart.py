"""Everything a newcomer needs in one command: data, users, models, a real worker and beat,
a graded demo run for every simulated model, and the web UI."""

from __future__ import annotations

import contextlib
import json
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
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from evalbuilder.demo import DemoError, install_demo
from graders.models import Grade
from occupations.seeding import SeedError, load_seeds
from reports import materialise
from reports.models import TaskResult
from runs import services as run_services
from runs.models import Run, Sample

ONE_OFF_PREFIX = "quickstart: run the demo suite"


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
        parser.add_argument(
            "--force",
            action="store_true",
            help="Install the demo even when DATABASE_URL or CELERY_BROKER_URL name servers.",
        )

    def relax_for_demo(self, setting: str, warning: str) -> None:
        """Turn off a rule the demo cannot meet, unless the environment sets it, and say so."""
        if setting in os.environ:
            return
        setattr(settings, setting, False)
        self.stdout.write(self.style.WARNING(f"    {warning}"))

    def handle(self, *args, **options) -> None:
        self._refuse_shared_services(force=options["force"])
        self.children: list[tuple[str, subprocess.Popen]] = []
        # Stopping quickstart (Ctrl-C or SIGTERM) must also stop the worker and beat.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        try:
            self._set_up()
            run_ids = self._start_runs(fresh=options["fresh"])
            self._wait(run_ids, timeout=options["timeout"])
            self._summary(run_ids)
            if options["no_serve"]:
                return
            self.step(f"Serving the UI on http://{options['addrport']}/ (Ctrl-C to stop)")
            call_command("runserver", options["addrport"], use_reloader=False)
        finally:
            self._stop_children()

    def step(self, message: str) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(f"==> {message}"))

    def _refuse_shared_services(self, *, force: bool) -> None:
        """The demo adds users and models; it belongs on a local database, not production's."""
        engine = settings.DATABASES["default"]["ENGINE"]
        shared = []
        if not engine.endswith("sqlite3"):
            shared.append(f"DATABASE_URL names a {engine.rsplit('.', 1)[-1]} server")
        if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
            shared.append("CELERY_BROKER_URL names a broker server")
        if shared and not force:
            raise CommandError(
                f"quickstart installs a demo on the embedded defaults, but {' and '.join(shared)}. "
                "Unset them (check .env) or pass --force to install the demo there."
            )

    # --- set-up ---------------------------------------------------------------------

    def _set_up(self) -> None:
        database = settings.DATABASES["default"]
        self.step(f"Database: {database['ENGINE'].rsplit('.', 1)[-1]} {database['NAME']}")
        call_command("migrate", interactive=False, verbosity=0)
        self.step("Loading seeds (taxonomy, example tasks, demo suite)")
        try:
            report = load_seeds()
            self.stdout.write(f"    {report}")
            for note in report.notes:
                self.stdout.write(self.style.WARNING(f"    {note}"))
            self.step("Registering simulated models, the judge, the schedule and demo users")
            self.demo = install_demo()
            if not TaskResult.objects.exists():
                # Results graded before the report tables existed (an older installation)
                # are gathered once; from then on every graded run refreshes its own.
                materialise.refresh_all()
        except (SeedError, DemoError) as error:
            raise CommandError(str(error)) from error
        for endpoint in self.demo.endpoints:
            self.stdout.write(f"    model {endpoint} released {endpoint.release_date}")
        # The demo's judges are simulated and no experts have graded yet, so no grader could
        # pass validation; the demo lets them into releases, and every release's methodology
        # note says so.
        self.relax_for_demo(
            "EVALBUILDER_RELEASE_REQUIRES_VALIDATION",
            "releases: unvalidated graders are allowed in this demo "
            "(set EVALBUILDER_RELEASE_REQUIRES_VALIDATION=true to require validation)",
        )
        # The demo's operator and admin would otherwise have to set up an authenticator app
        # before seeing anything. The UI is served from this process, so the setting applies
        # to it; the worker and beat never sign anyone in.
        self.relax_for_demo(
            "EVALBUILDER_MFA_REQUIRED",
            "two-step sign-in: not required in this demo; anyone may turn it on at "
            "/accounts/mfa/ (set EVALBUILDER_MFA_REQUIRED=true to require it of operators "
            "and admins)",
        )
        self.stdout.write(f"    schedule '{self.demo.schedule}' ({self.demo.schedule.cron})")
        self.stdout.write("    sign in at /accounts/login/ with:")
        for username, password in self.demo.credentials.items():
            shown = password or "(existing user: password unchanged; see `changepassword`)"
            self.stdout.write(f"      {username:<9} {shown}")
        self.step(f"Starting a Celery worker and beat (broker: {settings.CELERY_BROKER_URL})")
        self._start_children()

    def _start_children(self) -> None:
        log_dir = Path(settings.VAR_DIR) / "log"
        log_dir.mkdir(exist_ok=True)
        celery = [sys.executable, "-m", "celery", "-A", "evalbuilder"]
        commands = {
            "worker": [*celery, "worker", "--loglevel=INFO", "--concurrency=2"],
            "beat": [*celery, "beat", "--loglevel=INFO", "--max-interval=2"],
        }
        for name, command in commands.items():
            with (log_dir / f"{name}.log").open("a") as log:
                child = subprocess.Popen(
                    command,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=settings.BASE_DIR,
                    start_new_session=True,
                )
            self.children.append((name, child))
            self.stdout.write(f"    {name}: pid {child.pid}, log {log.name}")

    def _stop_children(self) -> None:
        # A second Ctrl-C or SIGTERM (a terminal signals uv and quickstart, and uv passes it
        # on) must not cut the clean-up short and leave a worker or beat running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for _, child in self.children:
            self._signal(child, signal.SIGTERM)
        for _, child in self.children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._signal(child, signal.SIGKILL)
                child.wait()
        self.children = []

    @staticmethod
    def _signal(child: subprocess.Popen, sig: int) -> None:
        # It may exit between the poll and the signal.
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, sig)

    def _check_children(self) -> None:
        for name, child in self.children:
            if child.poll() is not None:
                raise CommandError(
                    f"the Celery {name} exited with code {child.returncode}; "
                    f"see {Path(settings.VAR_DIR) / 'log' / f'{name}.log'}"
                )

    # --- the demo runs --------------------------------------------------------------

    def _start_runs(self, *, fresh: bool) -> list[int]:
        """Have beat fire the demo schedule for the models that need a run; return run ids."""
        schedule = self.demo.schedule
        run_ids, pending = [], []
        for endpoint in schedule.endpoints.order_by("release_date"):
            latest = Run.objects.filter(suite=schedule.suite, endpoint=endpoint).first()
            if latest is not None and not fresh and latest.status != Run.Status.FAILED:
                run_ids.append(latest.pk)
            else:
                pending.append(endpoint.pk)
        reused = len(run_ids)
        if pending:
            run_ids += self._fire_through_beat(pending)
        self.step(
            f"Running suite '{schedule.suite}' on {len(run_ids)} simulated models"
            + (f" ({reused} already measured; --fresh runs them again)" if reused else "")
        )
        return run_ids

    def _fire_through_beat(self, endpoint_ids: list[int]) -> list[int]:
        """A one-off beat entry for the demo schedule, due now; waits for its runs to appear."""
        schedule = self.demo.schedule
        PeriodicTask.objects.filter(name__startswith=ONE_OFF_PREFIX).delete()
        every_second, _ = IntervalSchedule.objects.get_or_create(
            every=1, period=IntervalSchedule.SECONDS
        )
        fired_after = timezone.now()
        PeriodicTask.objects.create(
            name=f"{ONE_OFF_PREFIX} ({fired_after:%Y-%m-%d %H:%M:%S})",
            task="runs.tasks.run_schedule",
            interval=every_second,
            kwargs=json.dumps({"schedule_id": schedule.pk, "endpoint_ids": endpoint_ids}),
            one_off=True,
        )
        self.step("Asking beat to fire the demo schedule now")
        deadline = time.monotonic() + 120
        while True:
            self._check_children()
            runs = Run.objects.filter(
                schedule=schedule, endpoint__in=endpoint_ids, created_at__gte=fired_after
            )
            if runs.count() >= len(endpoint_ids):
                return list(runs.values_list("pk", flat=True))
            if time.monotonic() > deadline:
                raise CommandError("beat did not fire the demo schedule; see var/log/beat.log")
            time.sleep(0.5)

    def _wait(self, run_ids: list[int], *, timeout: int) -> None:
        planned = sum(Run.objects.filter(pk__in=run_ids).values_list("planned_samples", flat=True))
        interactive = self.stdout.isatty()
        self._last_line = ""

        def show(runs: list[Run]) -> None:
            self._check_children()
            counts = Sample.objects.filter(run_id__in=run_ids).aggregate(
                written=Count("pk"), failed=Count("pk", filter=Q(status=Sample.Status.FAILED))
            )
            graded = Grade.objects.filter(sample__run_id__in=run_ids).count()
            finished = sum(run.is_finished for run in runs)
            line = (
                f"    samples {counts['written']}/{planned} (failed {counts['failed']}), "
                f"grades {graded}, runs finished {finished}/{len(run_ids)}"
            )
            if line != self._last_line:
                self.stdout.write(
                    f"\r{line}" if interactive else line, ending="" if interactive else "\n"
                )
                self._last_line = line

        try:
            run_services.wait_for_runs(run_ids, timeout=timeout, on_progress=show)
        except TimeoutError as error:
            raise CommandError(f"{error}; see var/log/worker.log") from error
        finally:
            if interactive:
                self.stdout.write("")

    def _summary(self, run_ids: list[int]) -> None:
        # A run's report figures are refreshed by a message sent as it closes; gather them
        # here too, so the pages have them even if the worker stops before it gets there.
        for run_id in run_ids:
            materialise.refresh_run(run_id)
        problems = []
        self.step("Demo runs")
        runs = Run.objects.filter(pk__in=run_ids).select_related("endpoint")
        for run in runs.order_by("endpoint__release_date"):
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
