"""The same samples through Inspect AI, as a yardstick for the engine's rate.

Both sides send the same prompts (the suite's messages exactly as the engine builds them) to
the same fake provider process, at most `--concurrency` calls in flight, the same number of
times (samples per task = Inspect epochs), one after the other, `--repeat` times in turn.

- evalbuilder: one Celery worker samples a run; the rate is samples / (Run.started_at ->
  Run.sampled_at). The worker is already up; its chunks, hand-offs and database writes count.
- Inspect: `inspect eval` on a task of the same prompts (generate() and no scorer) with its
  OpenAI-compatible provider (`openai-api/fake/fake-model`, FAKE_BASE_URL, FAKE_API_KEY) and
  `--max-connections`; `--display none`, log written to a temporary folder. The rate is
  samples / (first sample's start -> last sample's end), from Inspect's own log, which
  leaves out its process start, task loading and the end of the log, as the evalbuilder rate
  leaves out the worker's start. The wall time of the whole command is printed too.

Inspect lives in a throwaway venv, never a project dependency:

    uv venv /tmp/inspect-venv && uv pip install --python /tmp/inspect-venv inspect-ai openai
    uv run python bench/peer_inspect.py
"""

from __future__ import annotations

import argparse
import json
import resource
import shlex
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import common

TASK_FILE = '''"""evalbuilder bench: the suite's prompts, generated and not scored."""

from inspect_ai import Task, task
from inspect_ai.dataset import json_dataset
from inspect_ai.solver import generate


@task
def evalbuilder_bench():
    return Task(dataset=json_dataset({dataset!r}), solver=generate())
'''

READ_LOG = """
import json, sys
from datetime import datetime
from pathlib import Path
from inspect_ai.log import list_eval_logs, read_eval_log

log = read_eval_log(list_eval_logs(sys.argv[1])[0])
when = lambda value: datetime.fromisoformat(value).timestamp()
samples = log.samples or []
starts = [when(s.started_at) for s in samples if s.started_at]
ends = [when(s.completed_at) for s in samples if s.completed_at]
print(json.dumps({
    "status": log.status,
    "samples": len(samples),
    "errors": sum(1 for s in samples if s.error),
    "eval_seconds": when(log.stats.completed_at) - when(log.stats.started_at),
    "sample_span": (max(ends) - min(starts)) if starts and ends else None,
    "log_bytes": sum(p.stat().st_size for p in Path(sys.argv[1]).rglob("*")),
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", type=int, default=200)
    parser.add_argument("--samples-per-task", type=int, default=10, help="Inspect: --epochs.")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.2, help="Fake reply latency, s.")
    parser.add_argument("--repeat", type=int, default=2, help="Rounds of both, in turn.")
    parser.add_argument("--inspect-venv", default="/tmp/inspect-venv")
    parser.add_argument(
        "--inspect-arg",
        action="append",
        default=[],
        help="One more option for `inspect eval` (repeat it), e.g. --inspect-arg=--no-log-samples",
    )
    common.add_common_arguments(parser)
    options = parser.parse_args()

    venv = Path(options.inspect_venv)
    inspect_cli, inspect_python = venv / "bin" / "inspect", venv / "bin" / "python"
    if not inspect_cli.exists():
        parser.error(f"no Inspect at {inspect_cli}; install it as the docstring says")
    version = subprocess.run(
        [inspect_cli, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    print(f"Command: {common.command_line()}")
    print(f"Machine: {common.machine_line()}")
    print(f"Inspect AI {version} from {venv}")
    total = options.versions * options.samples_per_task
    ideal = options.concurrency / options.latency
    ours, theirs, walls = [], [], []
    with common.Bench.from_arguments(options) as bench:
        bench.prepare_database()
        suite = common.build_suite(options.versions)
        fake = bench.start_fake(latency=options.latency)
        folder = Path(tempfile.mkdtemp(prefix="inspect-bench-", dir=bench.logs))
        task_file = write_task(folder, common.suite_messages(suite))
        env = {
            **common.base_env(),
            "FAKE_BASE_URL": fake.openai_url,
            "FAKE_API_KEY": "bench-key",
        }
        common.heading("Inspect start-up: one sample, one epoch (also compiles its bytecode)")
        for _ in range(2):
            wall, _ = inspect_eval(inspect_cli, task_file, folder / "warmup", 1, env, options, 1)
        print(f"  `inspect eval` of 1 sample, second time: {wall:.1f} s wall")
        with common.timed("Worker ready"):
            bench.start_worker()
        endpoint = bench.make_endpoint(max_concurrency=options.concurrency)
        for round_ in range(1, options.repeat + 1):
            common.heading(f"Round {round_} of {options.repeat}: evalbuilder")
            print(common.wait_for_quiet_machine(max_wait=options.quiet_wait))
            meter = bench.cpu_meter()
            meter.begin()
            run = bench.create_run(suite, endpoint, options.samples_per_task)
            bench.wait_for_run(run.pk, timeout=900)
            meter.finish()
            report = common.run_report(run.pk)
            print("\n".join(report.lines()))
            print("\n".join(meter.lines()))
            print(
                f"  evalbuilder: {report.rate:.1f} samples/s ({report.rate / ideal:.1%} of ideal)"
            )
            ours.append(report.rate)

            common.heading(f"Round {round_} of {options.repeat}: Inspect")
            print(common.wait_for_quiet_machine(max_wait=options.quiet_wait))
            logs = folder / f"logs-{round_}"
            meter = bench.cpu_meter()
            meter.groups["inspect eval"] = lambda: []  # counted from its rusage below
            meter.begin()
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            wall, command = inspect_eval(
                inspect_cli, task_file, logs, options.samples_per_task, env, options
            )
            meter.finish()
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            meter.end["inspect eval"] = (after.ru_utime + after.ru_stime) - (
                children.ru_utime + children.ru_stime
            )
            log = json.loads(
                subprocess.run(
                    [inspect_python, "-c", READ_LOG, str(logs)],
                    capture_output=True,
                    text=True,
                    check=True,
                    env=env,
                ).stdout
            )
            if log["sample_span"] is None:  # --no-log-samples: no per-sample times
                log["samples"], log["sample_span"] = total, log["eval_seconds"]
                print("  no samples in the log: rate over the eval's own start -> end")
            rate = log["samples"] / log["sample_span"]
            print(f"  {command}")
            print("\n".join(meter.lines()))
            print(
                f"  {log['status']}; {log['samples']} samples ({log['errors']} errors); "
                f"wall {wall:.1f} s for the command; eval (log stats) {log['eval_seconds']:.1f} s; "
                f"samples' span (first start -> last end) {log['sample_span']:.1f} s; "
                f"log {log['log_bytes'] / 1e6:.1f} MB"
            )
            print(
                f"  Inspect: {rate:.1f} samples/s ({rate / ideal:.1%} of ideal); "
                f"{log['samples'] / wall:.1f}/s over the command's wall time"
            )
            theirs.append(rate)
            walls.append(log["samples"] / wall)
        common.print_fake_stats(fake.stats())

    common.heading("Summary")
    print(f"Command: {common.command_line()}")
    print(
        f"{total} samples ({options.versions} prompts x {options.samples_per_task}), "
        f"concurrency {options.concurrency}, fake latency {options.latency} s, ideal {ideal:.0f}/s"
    )
    a, b = statistics.median(ours), statistics.median(theirs)
    print("evalbuilder samples/s: " + ", ".join(f"{r:.1f}" for r in ours) + f"; median {a:.1f}")
    print("Inspect samples/s:     " + ", ".join(f"{r:.1f}" for r in theirs) + f"; median {b:.1f}")
    print("Inspect, whole command: " + ", ".join(f"{r:.1f}" for r in walls))
    print(f"RATIO evalbuilder / Inspect = {a / b:.2f}")


def write_task(folder: Path, prompts: list[tuple[int, list[dict]]]) -> Path:
    dataset = folder / "dataset.jsonl"
    with dataset.open("w") as out:
        for version_id, messages in prompts:
            out.write(json.dumps({"id": version_id, "input": messages}) + "\n")
    task_file = folder / "bench_task.py"
    task_file.write_text(TASK_FILE.format(dataset=str(dataset)))
    return task_file


def inspect_eval(
    cli: Path,
    task_file: Path,
    logs: Path,
    epochs: int,
    env: dict[str, str],
    options: argparse.Namespace,
    limit: int | None = None,
) -> tuple[float, str]:
    """Run `inspect eval`; (wall seconds, the command line)."""
    command = [
        str(cli),
        "eval",
        task_file.name,  # Inspect wants a path relative to where it runs
        "--model",
        "openai-api/fake/fake-model",
        "--max-connections",
        str(options.concurrency),
        "--epochs",
        str(epochs),
        "--display",
        "none",
        "--log-dir",
        str(logs),
    ]
    if limit is not None:
        command += ["--limit", str(limit)]
    command += options.inspect_arg
    started = time.monotonic()
    done = subprocess.run(
        command, cwd=task_file.parent, env=env, capture_output=True, text=True, timeout=900
    )
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"inspect eval failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    where = f"(in {task_file.parent}) FAKE_BASE_URL=<fake>/v1 FAKE_API_KEY=any "
    return wall, where + shlex.join(command)


if __name__ == "__main__":
    main()
