"""The harness the run-engine benchmarks share.

A bench gets a PostgreSQL database of its own (dropped, re-created and migrated), a Redis
database number of its own (flushed), the fake provider as a process, a real Celery worker as
a process, a synthetic suite and an endpoint pointing at the fake. It creates the run the way
the product does (`runs.services.create_run`) and reads its timings from the database.

Every process it starts is stopped when the bench ends, on Ctrl-C and on SIGTERM too.

Django is set up by `Bench.prepare_database()`, not on import: the settings read
DATABASE_URL and CELERY_BROKER_URL once, so they are set first.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import random
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `python bench/x.py` puts bench/, not the project, on the path

# Modules are compiled to bytecode once and kept (outside the project's .venv), as the Docker
# image does with UV_COMPILE_BYTECODE; otherwise every new process compiles the openai SDK
# again, which costs seconds of CPU on this machine and would be counted as engine time.
PYCACHE = Path(tempfile.gettempdir()) / "evalbuilder-bench-pycache"
sys.pycache_prefix = str(PYCACHE)
sys.dont_write_bytecode = False

if TYPE_CHECKING:
    from occupations.models import Suite
    from runs.models import ModelEndpoint, Run

POSTGRES_SERVER = "postgres://postgres@127.0.0.1:5432"
DEFAULT_DATABASE = "evalbuilder_bench"
DEFAULT_BROKER = "redis://127.0.0.1:6379/13"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- the command line and what is printed -----------------------------------------------


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--postgres", default=POSTGRES_SERVER, help="PostgreSQL server URL, without a database."
    )
    parser.add_argument(
        "--database", default=DEFAULT_DATABASE, help="PostgreSQL database, dropped first."
    )
    parser.add_argument("--broker", default=DEFAULT_BROKER, help="Redis URL, flushed first.")
    parser.add_argument(
        "--keep-logs", action="store_true", help="Print where the worker and fake logs are."
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=120,
        help="Seconds to wait, before each run, for other jobs on the machine to finish.",
    )


def command_line() -> str:
    """The exact command that produced the figures, to paste into docs/benchmarks.md."""
    script = Path(sys.argv[0]).resolve()
    with contextlib.suppress(ValueError):
        script = script.relative_to(ROOT)
    python = sys.executable
    if Path(sys.prefix).resolve() == (ROOT / ".venv").resolve():
        python = "uv run python"
    return f"{python} " + shlex.join([str(script), *sys.argv[1:]])


def heading(title: str) -> None:
    print(f"\n== {title} ==", flush=True)


def machine_line() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs, load average {load} before the run"


# --- child processes ------------------------------------------------------------------


def base_env() -> dict[str, str]:
    """This process's environment for a child, with bytecode kept in PYCACHE."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": str(PYCACHE), "PYTHONUNBUFFERED": "1"}


class Child:
    """A process in a session of its own, logged to a file, stopped with everything it started."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._log_file = log.open("w")
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self, tail: int = 4000) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log.read_text(errors="replace")[-tail:]

    def pids(self) -> list[int]:
        """This process and all its descendants."""
        return [self.pid, *descendants(self.pid)] if self.alive() else []

    def stop(self, timeout: float = 10) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.process.wait()
        # Children that outlived their parent keep the process group: end them too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        if not self._log_file.closed:
            self._log_file.close()


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name is in parentheses and may hold spaces: split after it.
    return raw[raw.rindex(")") + 2 :].split()


def descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far."""
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def pids_named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError, PermissionError):
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
    return found


def memory_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB; (0, 0) once it is gone."""
    rss = hwm = 0
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    total = sum(values[:8])
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


@dataclass
class CpuMeter:
    """CPU seconds used over an interval by each named group of processes and the machine."""

    groups: dict[str, Callable[[], list[int]]]
    start: dict[str, float] = field(default_factory=dict)
    end: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0

    def begin(self) -> None:
        self.start = self._read()
        self.wall = time.monotonic()

    def finish(self) -> None:
        self.end = self._read()
        self.wall = time.monotonic() - self.wall

    def _read(self) -> dict[str, float]:
        values = {name: cpu_seconds(pids()) for name, pids in self.groups.items()}
        busy, total = machine_busy()
        values["machine busy"], values["machine total"] = busy, total
        return values

    def lines(self) -> list[str]:
        if not self.end:
            return []
        used = {name: self.end[name] - self.start.get(name, 0.0) for name in self.end}
        total = used.pop("machine total")
        busy = used.pop("machine busy")
        used["other processes"] = max(0.0, busy - sum(used.values()))
        lines = [
            f"  {name:<22} {seconds:7.2f} s CPU = {seconds / self.wall:5.0%} of one core"
            for name, seconds in used.items()
        ]
        lines.append(
            f"  {'whole machine':<22} {busy:7.2f} s CPU = {busy / total if total else 0:5.0%} "
            f"of its {os.cpu_count()} cores, over {self.wall:.1f} s"
        )
        return lines


# --- the database, the broker and Django ----------------------------------------------


def recreate_database(server: str, name: str) -> str:
    """Drop and create the bench database, then migrate it in a subprocess; returns its URL."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        quoted = sql.Identifier(name)
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(quoted))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(quoted))
    url = f"{server}/{name}"
    env = {**base_env(), "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "evalbuilder.settings"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    return url


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def setup_django(database: str, broker: str) -> None:
    os.environ["DATABASE_URL"] = database
    os.environ["CELERY_BROKER_URL"] = broker
    os.environ["DJANGO_SETTINGS_MODULE"] = "evalbuilder.settings"
    import django

    django.setup()


# --- the suite -------------------------------------------------------------------------

VOCABULARY = (
    "account analysis annual approval audit balance budget client committee compliance "
    "contract cost customer deadline department draft estimate evidence forecast invoice "
    "ledger margin meeting memo policy pricing procedure project proposal quarter record "
    "regulation report request revenue review risk schedule service staff summary supplier "
    "table target team timeline variance vendor workload reconcile prepare explain compare "
    "identify recommend assess calculate verify document outline justify prioritise"
)
WORDS = VOCABULARY.split()


def prose(rng: random.Random, words: int) -> str:
    """Plausible-looking text of about `words` words, in sentences and paragraphs."""
    sentences, count = [], 0
    while count < words:
        length = rng.randint(8, 20)
        sentence = " ".join(rng.choice(WORDS) for _ in range(length))
        sentences.append(sentence.capitalize() + ".")
        count += length
    paragraphs = [" ".join(sentences[i : i + 5]) for i in range(0, len(sentences), 5)]
    return "\n\n".join(paragraphs)


def build_suite(versions: int, *, seed: int = 1) -> Suite:
    """A suite of `versions` submitted task versions, one per task, all in one occupation.

    Each has about 450 words of text (instructions, input material, deliverable) and three
    criteria, one of them negative, like a real task.
    """
    from django.db import transaction
    from django.utils import timezone

    from occupations.models import Occupation, Suite, Task, TaskVersion, Taxonomy

    rng = random.Random(seed)
    with transaction.atomic():
        taxonomy = Taxonomy.objects.create(name="BENCH", version="1")
        occupation = Occupation.objects.create(
            taxonomy=taxonomy,
            code="13-2011",
            title="Accountants and Auditors",
            level=Occupation.Level.MAJOR,
        )
        tasks = Task.objects.bulk_create(
            Task(
                slug=f"bench-task-{i:05d}",
                occupation=occupation,
                title=f"Reconcile the quarterly ledger {i}",
                status=Task.Status.PUBLISHED,
            )
            for i in range(versions)
        )
        created = []
        for i, task in enumerate(tasks):
            content = {
                "instructions": f"Task {i}. " + prose(rng, 150),
                "context": prose(rng, 250),
                "deliverable": prose(rng, 50),
                "estimated_minutes": rng.randint(30, 240),
                "reference_solution": prose(rng, 120),
            }
            criteria = [
                {"text": prose(rng, 15), "points": 5, "tag": "accuracy"},
                {"text": prose(rng, 15), "points": 3, "tag": "completeness"},
                {"text": prose(rng, 15), "points": -2, "tag": "communication"},
            ]
            created.append(
                TaskVersion.objects.create_with_rubric(
                    task=task, number=1, content=content, criteria=criteria
                )
            )
        ids = [version.pk for version in created]
        TaskVersion.objects.filter(pk__in=ids).update(submitted_at=timezone.now())
        suite = Suite.objects.create(name=f"Bench {versions}", slug=f"bench-{versions}")
        suite.task_versions.set(ids)
    return suite


def suite_messages(suite: Suite) -> list[tuple[int, list[dict]]]:
    """(version id, messages) for every version, exactly as the engine sends them."""
    from occupations.models import TaskVersion
    from runs.prompting import task_messages

    versions = (
        TaskVersion.objects.filter(suites=suite)
        .select_related("task")
        .prefetch_related("attachments")
        .order_by("pk")
    )
    return [(version.pk, task_messages(version, suite=suite)) for version in versions]


# --- the fake provider -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Fake:
    """The fake provider running as a process."""

    child: Child
    port: int
    options: dict[str, Any]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_url(self) -> str:
        return f"{self.base_url}/v1"

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.base_url}/stats", timeout=10) as reply:
            return json.load(reply)


def fake_arguments(options: dict[str, Any]) -> list[str]:
    """FakeConfig fields as the fake's command-line options (latency=0.2 -> --latency 0.2)."""
    arguments = []
    for name, value in options.items():
        if value is not None:
            arguments += ["--" + name.replace("_", "-"), str(value)]
    return arguments


# --- runs --------------------------------------------------------------------------------


@dataclass
class RunReport:
    """What a run did, from the database."""

    run_id: int
    status: str
    planned: int
    samples: int
    done: int
    failed: int
    tries: int
    created_at: datetime.datetime
    started_at: datetime.datetime | None
    sampled_at: datetime.datetime | None
    mean_latency_ms: float
    first_write: datetime.datetime | None
    last_write: datetime.datetime | None
    errors_by_kind: dict[str, int]

    @property
    def sampling_seconds(self) -> float:
        if self.started_at is None or self.sampled_at is None:
            return float("nan")
        return (self.sampled_at - self.started_at).total_seconds()

    @property
    def rate(self) -> float:
        """Samples written per second, Run.started_at to Run.sampled_at."""
        return self.samples / self.sampling_seconds

    def lines(self) -> list[str]:
        queued = (
            (self.started_at - self.created_at).total_seconds() if self.started_at else float("nan")
        )
        first = (
            (self.first_write - self.started_at).total_seconds()
            if self.first_write and self.started_at
            else float("nan")
        )
        return [
            f"  run {self.run_id}: {self.status}; {self.samples}/{self.planned} samples "
            f"({self.done} done, {self.failed} failed), {self.tries} API calls",
            f"  created -> started (queue, worker pick-up): {queued:.2f} s",
            f"  started -> first samples written:            {first:.2f} s",
            f"  started -> sampled (Run.started_at -> Run.sampled_at): "
            f"{self.sampling_seconds:.2f} s",
            f"  mean latency seen by the engine per call: {self.mean_latency_ms:.0f} ms",
            *(f"  errors: {kind}: {n}" for kind, n in self.errors_by_kind.items()),
        ]


def run_report(run_id: int) -> RunReport:
    from django.db.models import Avg, Count, Max, Min, Q, Sum

    from runs.models import Run, Sample

    run = Run.objects.get(pk=run_id)
    samples = Sample.objects.filter(run=run)
    totals = samples.aggregate(
        samples=Count("pk"),
        done=Count("pk", filter=Q(status=Sample.Status.DONE)),
        failed=Count("pk", filter=Q(status=Sample.Status.FAILED)),
        tries=Sum("tries", default=0),
        latency=Avg("latency_ms", filter=Q(status=Sample.Status.DONE)),
        first=Min("created_at"),
        last=Max("created_at"),
    )
    errors = dict(
        samples.filter(status=Sample.Status.FAILED)
        .values_list("error_kind")
        .annotate(n=Count("pk"))
        .order_by("-n")
    )
    return RunReport(
        run_id=run.pk,
        status=run.status,
        planned=run.planned_samples,
        samples=totals["samples"],
        done=totals["done"],
        failed=totals["failed"],
        tries=totals["tries"],
        created_at=run.created_at,
        started_at=run.started_at,
        sampled_at=run.sampled_at,
        mean_latency_ms=float(totals["latency"] or 0.0),
        first_write=totals["first"],
        last_write=totals["last"],
        errors_by_kind=errors,
    )


# --- the bench -------------------------------------------------------------------------


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Processes:
    """Child processes that are all stopped when the `with` block ends, whatever happens:
    normally, on an error, on Ctrl-C, or on SIGTERM / SIGHUP (turned into Ctrl-C)."""

    def __init__(self, *, keep_logs: bool = False) -> None:
        self.keep_logs = keep_logs
        self.children: list[Child] = []
        self.logs = Path(tempfile.mkdtemp(prefix="evalbuilder-bench-"))
        self.fake: Fake | None = None

    def __enter__(self) -> Processes:
        for sig in STOP_SIGNALS:
            signal.signal(sig, _raise_keyboard_interrupt)
        return self

    def __exit__(self, *exc: object) -> None:
        # A Ctrl-C often comes twice (the terminal and `uv run` both pass it on): the second
        # one must not cut the cleanup short and leave a worker running.
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in STOP_SIGNALS}
        try:
            for child in reversed(self.children):
                child.stop()
            self.children.clear()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self.keep_logs:
            print(f"Logs of the processes the bench started: {self.logs}")

    def child_env(self) -> dict[str, str]:
        return base_env()

    def start(self, name: str, command: list[str], env: dict[str, str] | None = None) -> Child:
        child = Child(name, command, env or self.child_env(), self.logs / f"{name}.log")
        self.children.append(child)
        return child

    def start_fake(self, **options: Any) -> Fake:
        """The fake provider as a process on a free port, with FakeConfig `options`."""
        port = free_port()
        command = [sys.executable, "-m", "runs.fake_server", "--port", str(port)]
        child = self.start("fake", [*command, *fake_arguments(options)])
        fake = Fake(child, port, options)
        deadline = time.monotonic() + 30
        while True:
            try:
                fake.stats()
                break
            except OSError:
                if not child.alive() or time.monotonic() > deadline:
                    output = child.output()
                    raise RuntimeError(f"the fake server did not start:\n{output}") from None
                time.sleep(0.1)
        self.fake = fake
        return fake


class Bench(Processes):
    """One benchmark's database, broker, fake server and Celery worker."""

    def __init__(
        self,
        *,
        database: str,
        broker: str,
        postgres: str = POSTGRES_SERVER,
        keep_logs: bool = False,
    ) -> None:
        super().__init__(keep_logs=keep_logs)
        self.postgres = postgres
        self.database_name = database
        self.broker = broker
        self.database = ""
        self.worker: Child | None = None

    @classmethod
    def from_arguments(cls, options: argparse.Namespace) -> Bench:
        return cls(
            database=options.database,
            broker=options.broker,
            postgres=options.postgres,
            keep_logs=options.keep_logs,
        )

    def __enter__(self) -> Bench:
        super().__enter__()
        return self

    def child_env(self) -> dict[str, str]:
        return {
            **base_env(),
            "DATABASE_URL": self.database,
            "CELERY_BROKER_URL": self.broker,
            "DJANGO_SETTINGS_MODULE": "evalbuilder.settings",
            "OPENAI_API_KEY": "bench-key",  # the fake takes any key
        }

    def prepare_database(self) -> None:
        """A fresh, migrated database and an empty broker database; then Django."""
        started = time.monotonic()
        self.database = recreate_database(self.postgres, self.database_name)
        flush_redis(self.broker)
        setup_django(self.database, self.broker)
        from graders.models import Grader

        # No active grader: a run is complete as soon as its samples are written.
        Grader.objects.update(is_active=False)
        print(f"Database {self.database_name} migrated in {time.monotonic() - started:.1f} s")

    def start_worker(
        self, *, loglevel: str = "INFO", timeout: float = 60, env: dict[str, str] | None = None
    ) -> Child:
        """One Celery worker process (one pool child) on the bench's broker and database;
        `env` adds to its environment (settings such as EVALBUILDER_CHUNK_SIZE)."""
        worker = self.start(
            "worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "evalbuilder",
                "worker",
                "--concurrency=1",
                "--without-mingle",
                "--without-gossip",
                f"--loglevel={loglevel}",
            ],
            env={**self.child_env(), **(env or {})},
        )
        deadline = time.monotonic() + timeout
        while "ready." not in worker.output(tail=100_000):
            if not worker.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start:\n{worker.output()}")
            time.sleep(0.2)
        self.worker = worker
        return worker

    def make_endpoint(self, *, max_concurrency: int, slug: str = "bench-fake") -> ModelEndpoint:
        from runs.models import ModelEndpoint

        assert self.fake is not None, "start the fake server first"
        return ModelEndpoint.objects.create(
            slug=slug,
            display_name="Bench fake model",
            provider=ModelEndpoint.Provider.OPENAI,
            model_id="fake-model",
            release_date=datetime.date(2025, 1, 1),
            base_url=self.fake.openai_url,
            max_concurrency=max_concurrency,
        )

    def create_run(self, suite: Suite, endpoint: ModelEndpoint, samples_per_task: int) -> Run:
        from runs import services

        # Fresh samples: nothing may be answered from the response cache.
        return services.create_run(
            suite, endpoint, samples_per_task=samples_per_task, fresh_samples=True
        )

    def cpu_meter(self) -> CpuMeter:
        groups: dict[str, Callable[[], list[int]]] = {
            "bench process": lambda: [os.getpid()],
            "postgres (all)": lambda: pids_named("postgres"),
            "redis-server": lambda: pids_named("redis-server"),
        }
        if self.worker is not None:
            groups["celery worker"] = self.worker.pids
        if self.fake is not None:
            groups["fake server"] = self.fake.child.pids
        return CpuMeter(groups)

    def wait_for_run(
        self,
        run_id: int,
        *,
        timeout: float,
        poll: float = 0.2,
        on_poll: Callable[[], None] | None = None,
    ) -> str:
        """Wait until the run has finished or paused; returns its status."""
        from runs.models import Run

        stopped = {Run.Status.COMPLETED, Run.Status.FAILED, Run.Status.CANCELLED, Run.Status.PAUSED}
        deadline = time.monotonic() + timeout
        while True:
            status = Run.objects.filter(pk=run_id).values_list("status", flat=True).get()
            if status in stopped:
                return status
            if self.worker is not None and not self.worker.alive():
                raise RuntimeError(f"the worker died:\n{self.worker.output()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still {status} after {timeout:.0f} s")
            if on_poll is not None:
                on_poll()
            time.sleep(poll)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    """Stop the bench as Ctrl-C does, once: a second signal would cut the cleanup short."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt(f"signal {signum}")


def wait_for_quiet_machine(*, max_wait: float, busy_below: float = 0.3) -> str:
    """Wait (at most `max_wait` s) until the machine has been under `busy_below` busy for 3 s
    running: other people's jobs on a 2-core machine would otherwise be measured as ours.
    Returns a line saying how busy it was when the bench went on."""
    started = time.monotonic()
    quiet_for = 0
    share = 1.0
    while True:
        busy0, total0 = machine_busy()
        time.sleep(1.0)
        busy1, total1 = machine_busy()
        share = (busy1 - busy0) / max(total1 - total0, 1e-9)
        quiet_for = quiet_for + 1 if share < busy_below else 0
        waited = time.monotonic() - started
        if quiet_for >= 3:
            return f"machine {share:.0%} busy just before the run (waited {waited:.0f} s for quiet)"
        if waited > max_wait:
            return (
                f"machine still {share:.0%} busy after waiting {waited:.0f} s for it to quieten: "
                "OTHER JOBS SHARE THE CORES DURING THIS RUN"
            )


def speed_probe() -> str:
    """A fixed piece of pure-Python work, timed: this VM's speed drifts (other tenants of the
    host), and a run's figures only compare with another's at a similar probe time."""
    started = time.process_time()
    total = 0
    for i in range(3_000_000):
        total += i % 7
    return f"CPU speed probe: {(time.process_time() - started) * 1000:.0f} ms (lower is faster)"


def print_fake_stats(stats: dict[str, Any]) -> None:
    print(f"  fake server: {stats['requests']} model requests, by status {stats['by_status']}")


@contextlib.contextmanager
def timed(label: str) -> Iterator[None]:
    started = time.monotonic()
    yield
    print(f"{label} in {time.monotonic() - started:.1f} s", flush=True)
