"""Memory of the worker over a long run: does its resident size stay flat?

A real Celery worker samples `--versions` x `--samples-per-task` samples (20,000 by default)
against the fake at a small latency, so that the run is long in samples but short in time.
Every `--interval` seconds the bench reads VmRSS of the worker's processes (the Celery main
process and its pool child, which does the sampling) from /proc, and the number of samples
written. It prints the resident size at every tenth of the samples (10 %, 20 % ... 100 %), the
highest value seen, and each process's VmHWM (the kernel's own peak) at the end.

    uv run python bench/memory.py
"""

from __future__ import annotations

import argparse
import time

import common


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", type=int, default=2000)
    parser.add_argument("--samples-per-task", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.02, help="Fake reply latency, s.")
    parser.add_argument("--interval", type=float, default=0.5, help="Seconds between readings.")
    common.add_common_arguments(parser)
    options = parser.parse_args()

    print(f"Command: {common.command_line()}")
    print(f"Machine: {common.machine_line()}")
    with common.Bench.from_arguments(options) as bench:
        bench.prepare_database()
        with common.timed(f"Suite of {options.versions} task versions built"):
            suite = common.build_suite(options.versions)
        bench.start_fake(latency=options.latency)
        with common.timed("Worker ready"):
            worker = bench.start_worker()
        endpoint = bench.make_endpoint(max_concurrency=options.concurrency)
        print(common.wait_for_quiet_machine(max_wait=options.quiet_wait))
        idle = {pid: common.memory_kb(pid)[0] for pid in worker.pids()}
        run = bench.create_run(suite, endpoint, options.samples_per_task)
        readings: list[tuple[float, int, dict[int, int]]] = []
        peaks: dict[int, int] = {}
        started = time.monotonic()

        from runs.models import Sample

        def read() -> None:
            rss = {}
            for pid in worker.pids():
                rss[pid], peaks[pid] = common.memory_kb(pid)
            written = Sample.objects.filter(run_id=run.pk).count()
            readings.append((time.monotonic() - started, written, rss))

        status = bench.wait_for_run(run.pk, timeout=3600, poll=options.interval, on_poll=read)
        read()
        report = common.run_report(run.pk)

    common.heading("Result")
    print("\n".join(report.lines()))
    print(f"  rate {report.rate:.1f} samples/s; run {status}")
    planned = report.planned
    names = {worker.pid: "celery main process"}
    print(f"  worker processes when idle: {describe(idle, names)}")
    for share in [i / 10 for i in range(1, 11)]:
        point = next((r for r in readings if r[1] >= share * planned), readings[-1])
        print(
            f"  RSS at {share:4.0%} of the samples ({point[1]:>6} written, "
            f"{point[0]:5.1f} s): {describe(point[2], names)}"
        )
    highest: dict[int, int] = {}
    for _, _, rss in readings:
        for pid, kb in rss.items():
            highest[pid] = max(highest.get(pid, 0), kb)
    print(f"  highest RSS read ({len(readings)} readings): {describe(highest, names)}")
    print(f"  VmHWM (kernel peak) at the end: {describe(peaks, names)}")
    print(f"Command: {common.command_line()}")


def describe(values: dict[int, int], names: dict[int, str]) -> str:
    return "; ".join(
        f"{names.get(pid, 'pool child')} {pid} {kb / 1024:.0f} MiB" for pid, kb in values.items()
    )


if __name__ == "__main__":
    main()
