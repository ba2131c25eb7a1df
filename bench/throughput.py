"""Throughput of the run engine: samples per second against a fake model at fixed latency.

A real Celery worker samples a run of `--versions` x `--samples-per-task` samples on an
endpoint of `--concurrency` calls in flight, against the fake provider answering every call
after `--latency` seconds, writing every sample to PostgreSQL. The ideal rate is
concurrency / latency (100 / 0.2 s = 500 samples/s); efficiency is achieved / ideal, with the
rate taken from Run.started_at to Run.sampled_at (the worker's start is not counted; the
hand-offs between chunks are). After each run, bench/sdk_ceiling.py sends the same number of
calls through the openai SDK alone, for the share of the SDK's own ceiling the engine reaches
on this machine at that moment (`--no-sdk-baseline` skips it).

Where the time goes:

- `--py-spy PATH` samples the real worker's stacks and prints its CPU time by component
  (openai SDK, httpcore, ORM, engine ...), idle waits left out. py-spy comes from a
  throwaway venv: `uv venv /tmp/sdk-venv && uv pip install --python /tmp/sdk-venv py-spy`.
- `--in-process` samples the run in this process instead of a worker (Celery tasks run
  eagerly, so each chunk calls runs.services.run_chunk as the worker would) and prints the
  CPU time of each of the two threads the engine uses: the one that writes to the database
  and the one running the asyncio loop of model calls.
- `--cprofile` does the same under cProfile on both threads (slower: the profiler's cost).

    uv run python bench/throughput.py
    uv run python bench/throughput.py --repeat 1 --py-spy /tmp/sdk-venv/bin/py-spy
    uv run python bench/throughput.py --repeat 1 --cprofile
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import threading
import time

import common


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", type=int, default=200)
    parser.add_argument("--samples-per-task", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.2, help="Fake reply latency, s.")
    parser.add_argument("--repeat", type=int, default=3, help="Runs, one after another.")
    parser.add_argument(
        "--chunk-size",
        type=int,
        help="EVALBUILDER_CHUNK_SIZE for the worker (a chunk is at least 5 x concurrency).",
    )
    parser.add_argument(
        "--in-process", action="store_true", help="Sample in this process; CPU by thread."
    )
    parser.add_argument(
        "--cprofile", action="store_true", help="Sample in this process, under cProfile."
    )
    parser.add_argument("--top", type=int, default=25, help="Profile lines to print.")
    parser.add_argument(
        "--no-sdk-baseline",
        action="store_true",
        help="Skip bench/sdk_ceiling.py (the SDK alone, same calls) after each run.",
    )
    parser.add_argument(
        "--py-spy",
        metavar="PATH",
        help="py-spy executable (from a throwaway venv): sample the worker's stacks during "
        "each run and print where its CPU time goes.",
    )
    common.add_common_arguments(parser)
    options = parser.parse_args()
    options.in_process = options.in_process or options.cprofile

    print(f"Command: {common.command_line()}")
    print(f"Machine: {common.machine_line()}")
    ideal = options.concurrency / options.latency
    with common.Bench.from_arguments(options) as bench:
        bench.prepare_database()
        with common.timed(f"Suite of {options.versions} task versions built"):
            suite = common.build_suite(options.versions)
        bench.start_fake(latency=options.latency)
        if not options.in_process:
            worker_env = None
            if options.chunk_size:
                worker_env = {"EVALBUILDER_CHUNK_SIZE": str(options.chunk_size)}
            with common.timed("Worker ready"):
                bench.start_worker(env=worker_env)
        endpoint = bench.make_endpoint(max_concurrency=options.concurrency)
        rates, baselines = [], []
        for attempt in range(1, options.repeat + 1):
            common.heading(f"Run {attempt} of {options.repeat}")
            print(common.wait_for_quiet_machine(max_wait=options.quiet_wait))
            print(common.speed_probe())
            meter = bench.cpu_meter()
            meter.begin()
            spy = None
            if options.in_process:
                run_id = run_in_process(bench, suite, endpoint, options)
            else:
                spy = start_py_spy(bench, options.py_spy, attempt) if options.py_spy else None
                run = bench.create_run(suite, endpoint, options.samples_per_task)
                bench.wait_for_run(run.pk, timeout=600)
                run_id = run.pk
            meter.finish()
            if spy is not None:
                print_py_spy(*spy)
            report = common.run_report(run_id)
            print("\n".join(report.lines()))
            common.print_fake_stats(bench.fake.stats())
            print("  CPU while the run was sampled (and until the bench saw it finish):")
            print("\n".join(meter.lines()))
            print(
                f"  RATE {report.rate:.1f} samples/s; ideal {ideal:.0f}/s "
                f"(concurrency {options.concurrency} / latency {options.latency} s); "
                f"efficiency {report.rate / ideal:.1%}"
            )
            rates.append(report.rate)
            if not options.no_sdk_baseline:
                baseline = sdk_baseline(options)
                print(
                    f"  SDK alone, right after (bench/sdk_ceiling.py): {baseline:.1f} calls/s; "
                    f"engine / SDK alone = {report.rate / baseline:.0%}"
                )
                baselines.append(baseline)
        common.heading("Summary")
        print(f"Command: {common.command_line()}")
        print(
            f"{options.versions * options.samples_per_task} samples per run, "
            f"concurrency {options.concurrency}, fake latency {options.latency} s, "
            f"{'in this process' if options.in_process else 'one Celery worker'}"
            f"{' under cProfile' if options.cprofile else ''}"
        )
        print("Rates (samples/s): " + ", ".join(f"{r:.1f}" for r in rates))
        if baselines:
            print("SDK alone (calls/s): " + ", ".join(f"{r:.1f}" for r in baselines))
        median = statistics.median(rates)
        print(
            f"Median {median:.1f} samples/s = {median / ideal:.1%} of ideal {ideal:.0f}/s "
            f"(target >= 90 %: {'met' if median / ideal >= 0.9 else 'NOT met'})"
        )


def sdk_baseline(options) -> float:
    """bench/sdk_ceiling.py with the same number of calls, concurrency and latency."""
    import re
    import subprocess
    import sys

    command = [sys.executable, str(common.ROOT / "bench" / "sdk_ceiling.py"), "--repeat", "1"]
    command += ["--requests", str(options.versions * options.samples_per_task)]
    command += ["--concurrency", str(options.concurrency), "--latency", str(options.latency)]
    command += ["--quiet-wait", "0"]
    done = subprocess.run(
        command, cwd=common.ROOT, env=common.base_env(), capture_output=True, text=True
    )
    found = re.search(r"median ([\d.]+) calls/s", done.stdout)
    if found is None:
        raise RuntimeError(f"sdk_ceiling.py failed:\n{done.stdout}\n{done.stderr}")
    return float(found.group(1))


def start_py_spy(bench: common.Bench, py_spy: str, attempt: int):
    """py-spy recording the worker's pool child (all threads, CPU samples only)."""
    pool_children = common.descendants(bench.worker.pid)
    assert len(pool_children) == 1, f"expected one pool child, found {pool_children}"
    output = bench.logs / f"py-spy-{attempt}.txt"
    command = [py_spy, "record", "--pid", str(pool_children[0]), "--threads", "--rate", "100"]
    command += ["--format", "raw", "--output", str(output)]
    spy = bench.start(f"py-spy-{attempt}", command, env=common.base_env())
    time.sleep(1.0)  # attached before the run starts
    return spy, output


# Where a sample of the worker's stack is spent, by the innermost frame that matches.
COMPONENTS = [
    ("openai/_utils/_transform", "openai SDK: request params transform"),
    ("openai/_models", "openai SDK: response models"),
    ("pydantic", "openai SDK: response models"),
    ("openai/", "openai SDK: other"),
    ("httpcore2/_async/connection_pool", "httpcore: connection pool"),
    ("httpcore2", "httpcore / h11: HTTP/1.1"),
    ("h11", "httpcore / h11: HTTP/1.1"),
    ("httpx2", "httpx"),
    ("anyio", "anyio streams"),
    ("psycopg", "Django ORM + psycopg"),
    ("django/db", "Django ORM + psycopg"),
    ("json/", "json"),
    ("runs/limits", "engine: limiter"),
    ("runs/", "engine: own code"),
    ("asyncio/", "asyncio event loop"),
    ("selectors", "asyncio event loop"),
    ("queue.py", "thread hand-off (queue)"),
    ("threading.py", "thread hand-off (queue)"),
]
IDLE_LEAVES = ("_worker (concurrent/futures/thread.py", "Condition.wait (threading.py")
KEY_FUNCTIONS = [
    "_assign_requests_to_connections",
    "_async_transform_recursive",
    "construct_type",
    "_write (",
    "_run_is_current",
    "complete (",
]


def print_py_spy(spy: common.Child, output) -> None:
    """Stop py-spy (it writes its file on SIGINT) and summarise the stacks it sampled."""
    import collections
    import signal

    spy.process.send_signal(signal.SIGINT)
    spy.process.wait(timeout=60)
    idle = 0
    by_thread: collections.Counter[str] = collections.Counter()
    by_component: collections.Counter[tuple[str, str]] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in output.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        n = int(count)
        if any(marker in frames[-1] for marker in IDLE_LEAVES):
            idle += n  # a waiting thread py-spy did not recognise as idle
            continue
        total += n
        thread = "call loop" if any("call_many" in f for f in frames) else "main (database)"
        by_thread[thread] += n
        component = "other"
        for frame in reversed(frames):
            match = next((name for key, name in COMPONENTS if key in frame), None)
            if match:
                component = match
                break
        by_component[(thread, component)] += n
        for key in KEY_FUNCTIONS:
            if any(key in frame for frame in frames):
                inclusive[key] += n
    common.heading(
        f"py-spy: {total} CPU samples of the worker's pool child at 100 Hz "
        f"({idle} samples of waiting threads left out)"
    )
    for thread, n in by_thread.most_common():
        print(f"  {thread}: {n / total:.0%} of the CPU samples")
        for (where, component), m in by_component.most_common():
            if where == thread:
                print(f"      {m / total:6.1%}  {component}")
    print("  Inclusive (stacks that hold the function):")
    for key in KEY_FUNCTIONS:
        print(f"      {inclusive[key] / total:6.1%}  {key.rstrip(' (')}")


def run_in_process(bench: common.Bench, suite, endpoint, options) -> int:
    """Sample the run in this process with eager tasks; print each thread's CPU time and,
    with --cprofile, both threads' profiles."""
    from celery import current_app

    from runs import engine

    os.environ.setdefault("OPENAI_API_KEY", "bench-key")  # the fake takes any key
    main_profile = cProfile.Profile()
    loop_profiles: list[cProfile.Profile] = []
    thread_cpu: dict[str, float] = {}
    original = engine.call_many

    async def profiled_call_many(*args, **kwargs):
        # Runs on the engine's call thread: measure it there (cProfile is per thread).
        profile = cProfile.Profile()
        cpu = time.thread_time()
        if options.cprofile:
            profile.enable()
        try:
            return await original(*args, **kwargs)
        finally:
            profile.disable()
            loop_profiles.append(profile)
            name = threading.current_thread().name.split("-")[0] + " call loop"
            thread_cpu[name] = thread_cpu.get(name, 0.0) + time.thread_time() - cpu

    engine.call_many = profiled_call_many
    if options.chunk_size:
        from django.conf import settings

        settings.EVALBUILDER_CHUNK_SIZE = options.chunk_size
    current_app.conf.task_always_eager = True
    current_app.conf.task_eager_propagates = True
    cpu = time.thread_time()
    if options.cprofile:
        main_profile.enable()
    try:
        run = bench.create_run(suite, endpoint, options.samples_per_task)
    finally:
        main_profile.disable()
        engine.call_many = original
        current_app.conf.task_always_eager = False
    thread_cpu["main thread (database)"] = time.thread_time() - cpu
    common.heading("CPU seconds by thread")
    calls = options.versions * options.samples_per_task
    for name, seconds in thread_cpu.items():
        print(f"  {name:<24} {seconds:6.2f} s = {seconds / calls * 1000:.2f} ms per sample")
    if not options.cprofile:
        return run.pk
    print_profile("Main thread (Celery chain, database writes, polling)", [main_profile], options)
    print_profile("Call thread (asyncio loop, openai SDK, limiter)", loop_profiles, options)
    return run.pk


def print_profile(title: str, profiles: list[cProfile.Profile], options) -> None:
    if not profiles:
        return
    out = io.StringIO()
    stats = pstats.Stats(profiles[0], stream=out)
    for profile in profiles[1:]:
        stats.add(profile)
    stats.sort_stats("tottime").print_stats(options.top)
    stats.sort_stats("cumulative").print_stats(options.top)
    common.heading(f"Profile: {title}")
    print(out.getvalue())


if __name__ == "__main__":
    main()
