"""Working under a provider's rate limit: how close the engine runs to R requests per minute,
and how many of its calls are refused with 429 on the way.

The fake provider admits at most `--rpm` model calls in any sliding 60 s (more get 429 with
retry-after and retry-after-ms saying when a slot frees). The endpoint's max_concurrency
(`--concurrency`) is far above what the limit allows (R = 600/min at 0.2 s latency needs
2 calls in flight), so the limit, not the concurrency, decides the pace.

The first `--warmup` seconds (default 60, one window) are left out of the main figures: the
window starts empty, so any client gets a burst of R calls at once there. The figures are
taken over the next `--minutes` minutes from the fake's own /stats counters: answered calls
(200) per minute, divided by R, and the share of all calls in that time answered 429. Then
the run is cancelled. The whole-run figures, burst included, are printed too.

    uv run python bench/rate_limit.py --rpm 600 --minutes 2
"""

from __future__ import annotations

import argparse
import math
import time

import common


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rpm", type=int, default=600, help="The fake's requests per minute.")
    parser.add_argument("--minutes", type=float, default=2.0, help="Measured time, after warmup.")
    parser.add_argument("--warmup", type=float, default=60.0, help="Seconds left out first.")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.2, help="Fake reply latency, s.")
    parser.add_argument("--versions", type=int, default=200)
    common.add_common_arguments(parser)
    options = parser.parse_args()
    if options.minutes < 2:
        parser.error("--minutes must be at least 2: the limit is a 60 s window")

    print(f"Command: {common.command_line()}")
    print(f"Machine: {common.machine_line()}")
    duration = options.warmup + options.minutes * 60
    # More samples than the limit allows in the time, so that the run never runs dry.
    wanted = math.ceil(options.rpm * duration / 60 * 1.25) + options.concurrency
    samples_per_task = math.ceil(wanted / options.versions)
    with common.Bench.from_arguments(options) as bench:
        bench.prepare_database()
        with common.timed(f"Suite of {options.versions} task versions built"):
            suite = common.build_suite(options.versions)
        fake = bench.start_fake(latency=options.latency, rpm=options.rpm)
        with common.timed("Worker ready"):
            bench.start_worker()
        endpoint = bench.make_endpoint(max_concurrency=options.concurrency)
        print(common.wait_for_quiet_machine(max_wait=options.quiet_wait))
        run = bench.create_run(suite, endpoint, samples_per_task)
        print(
            f"Run {run.pk}: {run.planned_samples} samples planned; fake limit {options.rpm}/min, "
            f"latency {options.latency} s; endpoint max_concurrency {options.concurrency}; "
            f"measuring for {options.warmup:.0f} s warm-up + {options.minutes:g} min"
        )
        series = watch(bench, fake, run.pk, duration)
        from runs import services
        from runs.models import Run

        services.cancel_run(Run.objects.get(pk=run.pk), reason="Benchmark over.")
        report = common.run_report(run.pk)

    common.heading("Timeline (fake /stats, per 10 s from the first call)")
    print_timeline(series)
    common.heading("Result")
    print(report.lines()[0])
    for kind, n in report.errors_by_kind.items():
        print(f"  samples failed after retries: {kind}: {n}")
    t0 = series[0][0]
    whole = figures(series[0], series[-1])
    start = next((s for s in series if s[0] - t0 >= options.warmup), series[-1])
    steady = figures(start, series[-1])
    r = options.rpm
    print(
        f"  whole run ({whole['seconds']:.0f} s, first-window burst included): "
        f"{whole['ok_per_minute']:.0f} answered/min = {whole['ok_per_minute'] / r:.1%} of R; "
        f"429 share {whole['share_429']:.1%} ({whole['n_429']} of {whole['requests']} calls)"
    )
    print(
        f"  ACHIEVED after the warm-up ({steady['seconds']:.0f} s): "
        f"{steady['ok_per_minute']:.0f} answered/min = {steady['ok_per_minute'] / r:.1%} of "
        f"R = {r}/min; 429 share {steady['share_429']:.1%} "
        f"({steady['n_429']} of {steady['requests']} calls)"
    )
    met = steady["ok_per_minute"] / r >= 0.95 and steady["share_429"] <= 0.02
    print(f"  target >= 95 % of R with <= 2 % 429s: {'met' if met else 'NOT met'}")
    print(f"Command: {common.command_line()}")


Point = tuple[float, int, int, int]
"""(seconds, model requests, answered 200, answered 429) as the fake counted them."""


def watch(bench: common.Bench, fake: common.Fake, run_id: int, duration: float) -> list[Point]:
    """Poll the fake's counters every second from its first call, for `duration` seconds."""
    from runs.models import Run

    series: list[Point] = []
    started = None
    while True:
        stats = fake.stats()
        now = time.monotonic()
        if stats["requests"] and started is None:
            started = now
        if started is not None:
            by_status = stats["by_status"]
            series.append(
                (now, stats["requests"], by_status.get("200", 0), by_status.get("429", 0))
            )
            if now - started >= duration:
                return series
        status = Run.objects.filter(pk=run_id).values_list("status", flat=True).get()
        if status != Run.Status.RUNNING and status != Run.Status.QUEUED:
            print(f"  the run stopped early ({status}): plan more samples")
            return series or [(now, 0, 0, 0)]
        if bench.worker is not None and not bench.worker.alive():
            raise RuntimeError(f"the worker died:\n{bench.worker.output()}")
        time.sleep(1.0)


def figures(first: Point, last: Point) -> dict:
    seconds = max(last[0] - first[0], 1e-9)
    requests, ok, n_429 = (last[i] - first[i] for i in (1, 2, 3))
    return {
        "seconds": seconds,
        "requests": requests,
        "n_429": n_429,
        "ok_per_minute": ok / seconds * 60,
        "share_429": n_429 / requests if requests else 0.0,
    }


def print_timeline(series: list[Point], step: float = 10.0) -> None:
    t0 = series[0][0]
    previous = (t0, 0, 0, 0)
    mark = step
    for point in series:
        if point[0] - t0 >= mark or point is series[-1]:
            ok = point[2] - previous[2]
            refused = point[3] - previous[3]
            span = f"{previous[0] - t0:5.0f}-{point[0] - t0:4.0f} s"
            print(f"  {span}: {ok:5d} answered, {refused:4d} 429")
            previous = point
            mark += step


if __name__ == "__main__":
    main()
