"""The load test, in one command: data, gunicorn, locust, figures.

1. bench/load/prepare.py builds a fresh PostgreSQL database (`evalbuilder_load`, dropped and
   re-created) with the demo, graded runs, an approved release and 50 experts with drafts.
2. gunicorn serves evalbuilder.wsgi on 127.0.0.1 (a free port), 2 x cores + 1 sync workers,
   DEBUG off, the report cache in Redis database 14 (flushed first) so workers share it.
3. locust (bench/load/locustfile.py) runs headless: 50 experts editing and saving their
   drafts and 200 anonymous readers on report pages. Its statistics are reset after a
   warm-up (every user started and signed in, every worker past its first requests), so
   the figures are those of the steady state over the minutes given; the experts' sign-ins
   are counted over the whole run.
4. The figures per group (authoring, report pages) and per page, p50 / p95 / p99 and
   throughput, the CPU each part used and the targets are printed and written, with
   locust's CSV files and the logs, to the output folder (var/load/<time>/ by default).

gunicorn and locust are stopped when it ends, on Ctrl-C too. The database is kept, to look
at; the next run drops and re-creates it.

    uv run --group load python bench/load/run.py --minutes 3
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for common

import common

HERE = Path(__file__).resolve().parent
DEFAULT_CACHE = "redis://127.0.0.1:6379/14"
TARGETS_MS = {"authoring": 200, "report": 300}
"""p95 each group of pages must stay under; and no request may fail."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="How long is measured.")
    parser.add_argument(
        "--warm-up",
        type=float,
        default=30.0,
        help="Seconds of load before the measured minutes (sign-ins, workers' first requests).",
    )
    parser.add_argument("--users", type=int, default=250, help="Experts (50) plus readers.")
    parser.add_argument("--spawn-rate", type=float, default=25.0, help="Users started a second.")
    parser.add_argument(
        "--workers",
        type=int,
        default=2 * (os.cpu_count() or 1) + 1,
        help="gunicorn sync workers (default 2 x cores + 1).",
    )
    parser.add_argument(
        "--expert-think", default="2,6", help="Seconds between an expert's actions: min,max."
    )
    parser.add_argument(
        "--reader-think", default="3,10", help="Seconds between a reader's pages: min,max."
    )
    parser.add_argument("--postgres", default=common.POSTGRES_SERVER)
    parser.add_argument("--database", default="evalbuilder_load", help="Dropped and re-created.")
    parser.add_argument(
        "--cache", default=DEFAULT_CACHE, help="Redis URL of the report cache, flushed first."
    )
    parser.add_argument("--out", type=Path, help="Output folder (default var/load/<time>/).")
    parser.add_argument(
        "--reuse-data",
        type=Path,
        metavar="PLAN",
        help="Skip the preparation: use this plan.json of an earlier run, and its database.",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=120,
        help="Seconds to wait, before the run, for other jobs on the machine to finish.",
    )
    options = parser.parse_args()
    if options.minutes <= 0 or options.warm_up < 0:
        parser.error("--minutes must be above 0 and --warm-up at least 0")
    for name in ("expert_think", "reader_think"):
        check_think_time(parser, name, getattr(options, name))
    # Looked up, not imported: importing locust patches this process with gevent.
    if importlib.util.find_spec("locust") is None:
        parser.error("locust is not installed: run with `uv run --group load python ...`")

    started_at = datetime.datetime.now().astimezone()
    out = options.out or common.ROOT / "var" / "load" / f"{started_at:%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    lines = [
        # locust comes from the `load` dependency group.
        "Command: " + common.command_line().replace("uv run ", "uv run --group load ", 1),
        f"Date: {started_at:%Y-%m-%d %H:%M %Z}",
        f"Machine: {common.machine_line()}",
        common.speed_probe(),
    ]
    print("\n".join(lines), flush=True)

    plan_path = options.reuse_data or out / "plan.json"
    if options.reuse_data is None:
        common.heading("Data")
        subprocess.run(
            [
                sys.executable,
                str(HERE / "prepare.py"),
                "--postgres",
                options.postgres,
                "--database",
                options.database,
                "--plan",
                str(plan_path),
            ],
            cwd=common.ROOT,
            env=common.base_env(),
            check=True,
        )
    else:
        # The plan's database may predate the newest migrations.
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=common.ROOT,
            env={**common.base_env(), "DATABASE_URL": database_of(options.reuse_data)},
            check=True,
        )
    plan = json.loads(plan_path.read_text())
    experts = len(plan["experts"])
    if options.users <= experts:
        parser.error(f"--users must be more than the plan's {experts} experts")
    common.flush_redis(options.cache)

    with common.Processes() as processes:
        processes.logs.rmdir()  # an empty folder of its own: the logs go with the figures
        processes.logs = out
        common.heading("Server")
        server = start_gunicorn(processes, plan["database"], options)
        lines.append(f"gunicorn: {options.workers} sync workers on {server}")
        print(lines[-1])
        lines.append(common.wait_for_quiet_machine(max_wait=options.quiet_wait))
        print(lines[-1], flush=True)
        printed = len(lines)

        common.heading(
            f"Locust: {options.users} users, {options.warm_up:g} s warm-up, "
            f"{options.minutes:g} min measured"
        )
        summary_path = out / "summary.json"
        gunicorn = processes.children[-1]
        meter = common.CpuMeter(
            {
                "gunicorn (all workers)": gunicorn.pids,
                "postgres (all)": lambda: common.pids_named("postgres"),
                "redis-server": lambda: common.pids_named("redis-server"),
            }
        )
        locust = start_locust(processes, server, plan_path, summary_path, out, options)
        # The CPU is counted over the measured window only, as the statistics are.
        warm_until = time.monotonic() + options.warm_up
        while locust.alive() and time.monotonic() < warm_until:
            time.sleep(0.5)
        load_before = os.getloadavg()
        meter.begin()
        wait_for(locust, seconds=options.minutes * 60 + 120)
        meter.finish()
        load_after = os.getloadavg()
        if not summary_path.exists():
            raise RuntimeError(f"locust wrote no summary:\n{locust.output()}")

    summary = json.loads(summary_path.read_text())
    # Locust has exited by now: its own count of its CPU time stands in for /proc.
    meter.end["locust"] = summary["cpu_seconds"]
    served = summary["total"]["requests"]
    gunicorn_cpu = meter.end["gunicorn (all workers)"] - meter.start["gunicorn (all workers)"]
    lines += [
        f"Users: {experts} experts (think {options.expert_think} s), "
        f"{options.users - experts} readers (think {options.reader_think} s); "
        f"measured {summary['seconds']:.0f} s after a {options.warm_up:g} s warm-up",
        "",
        *result_table(summary),
        "",
        *verdict(summary),
        "",
        "CPU during the measured window:",
        *meter.lines(),
        f"  gunicorn CPU per request: {1000 * gunicorn_cpu / served if served else 0:.0f} ms",
        "  load average at its start "
        + ", ".join(f"{x:.2f}" for x in load_before)
        + ", at its end "
        + ", ".join(f"{x:.2f}" for x in load_after),
    ]
    text = "\n".join(lines[printed:])
    print(f"\n{text}")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print(
        f"\nWritten to {out.relative_to(common.ROOT) if out.is_relative_to(common.ROOT) else out}"
    )
    print(f"Database {options.database} kept; the next run drops and re-creates it.")


def database_of(plan: Path) -> str:
    return json.loads(plan.read_text())["database"]


def check_think_time(parser: argparse.ArgumentParser, name: str, value: str) -> None:
    try:
        low, high = (float(x) for x in value.split(","))
    except ValueError:
        parser.error(f"--{name.replace('_', '-')} must be two numbers, min,max (got {value!r})")
    if not 0 <= low <= high:
        parser.error(f"--{name.replace('_', '-')}: need 0 <= min <= max (got {value!r})")


def start_gunicorn(processes: common.Processes, database: str, options) -> str:
    port = common.free_port()
    env = {
        **common.base_env(),
        "DJANGO_SETTINGS_MODULE": "evalbuilder.settings",
        "DATABASE_URL": database,
        "REPORTS_CACHE_URL": options.cache,
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        # Nothing these pages do sends a task; if one did, it must not reach a real queue.
        "CELERY_BROKER_URL": "memory://",
        "LOG_LEVEL": "WARNING",
    }
    child = processes.start(
        "gunicorn",
        [
            sys.executable,
            "-m",
            "gunicorn",
            "evalbuilder.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(options.workers),
            "--worker-class",
            "sync",
        ],
        env=env,
    )
    server = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            # The overview, not /healthz, which answers before Django checks the host.
            with urllib.request.urlopen(f"{server}/", timeout=30) as reply:
                if reply.status == 200:
                    return server
        except (OSError, urllib.error.HTTPError) as error:
            if not child.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not serve /: {error}\n{child.output()}") from None
        time.sleep(0.5)


def start_locust(processes, server: str, plan: Path, summary: Path, out: Path, options):
    env = {
        **common.base_env(),
        "LOAD_PLAN": str(plan),
        "LOAD_SUMMARY": str(summary),
        "LOAD_EXPERT_THINK": options.expert_think,
        "LOAD_READER_THINK": options.reader_think,
        "LOAD_WARM_UP": str(options.warm_up),
    }
    return processes.start(
        "locust",
        [
            sys.executable,
            "-m",
            "locust",
            "--locustfile",
            str(HERE / "locustfile.py"),
            "--headless",
            "--host",
            server,
            "--users",
            str(options.users),
            "--spawn-rate",
            str(options.spawn_rate),
            "--run-time",
            f"{round(options.warm_up + options.minutes * 60)}s",
            "--csv",
            str(out / "locust"),
            "--only-summary",
            "--loglevel",
            "WARNING",
        ],
        env=env,
    )


def wait_for(child: common.Child, *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while child.alive():
        if time.monotonic() > deadline:
            raise TimeoutError(f"locust still running after {seconds:.0f} s:\n{child.output()}")
        time.sleep(1)


def result_table(summary: dict) -> list[str]:
    rows = [
        "| page | requests | failures | p50 ms | p95 ms | p99 ms | req/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]

    def row(name: str, f: dict) -> str:
        return (
            f"| {name} | {f['requests']} | {f['failures']} | {f['p50']} | {f['p95']} | "
            f"{f['p99']} | {f['rps']:.1f} |"
        )

    for group, figures in summary["groups"].items():
        rows.append(row(f"**{group} pages**", figures))
        rows += [
            row(page["name"].split(": ", 1)[1], page)
            for page in summary["pages"]
            if page["group"] == group
        ]
    rows.append(row("**all**", summary["total"]))
    return rows


def verdict(summary: dict) -> list[str]:
    lines = []
    for group, target in TARGETS_MS.items():
        figures = summary["groups"].get(group)
        if figures is None:
            lines.append(f"{group} pages: NO REQUESTS MEASURED")
            continue
        met = "met" if figures["p95"] < target else "NOT MET"
        lines.append(f"{group} pages: p95 {figures['p95']} ms, target < {target} ms: {met}")
    sign_ins = summary["sign_ins"]
    lines.append(
        f"sign-ins: {sign_ins['count']}, {sign_ins['failed']} failed, "
        f"p50 {sign_ins['p50'] or 0:.0f} ms, p95 {sign_ins['p95'] or 0:.0f} ms (whole run)"
    )
    failures = summary["total"]["failures"] + sign_ins["failed"]
    lines.append(f"errors: {failures}, target none: {'met' if not failures else 'NOT MET'}")
    lines += [
        f"  {e['count']} x {e['method']} {e['name']}: {e['error']}" for e in summary["errors"]
    ]
    return lines


if __name__ == "__main__":
    main()
