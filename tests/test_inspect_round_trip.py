"""A suite exported as an Inspect task, run by Inspect AI itself, and its log imported back."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from graders.models import Grade
from graders.scoring import CriterionOutcome, score_sample
from interop.eval_logs import EvalLogError, import_eval_log
from interop.inspect_task import write_suite
from runs.models import Run, Sample

inspect_ai = pytest.importorskip("inspect_ai")

ANSWER = "Here is the finished work, with every figure checked."
REPO = Path(__file__).resolve().parents[1]

INSPECT_RUN = """
import json, sys
from inspect_ai import eval as inspect_eval
from inspect_ai.model import ModelOutput, ModelUsage, get_model

def reply(content, model):
    output = ModelOutput.from_content(model=model, content=content)
    output.usage = ModelUsage(input_tokens=120, output_tokens=30, total_tokens=150)
    return output

def verdict(*args):
    return reply(json.dumps({"explanation": "checked", "criteria_met": True}), "judge")

[log] = inspect_eval(
    "task.py",
    model=get_model("mockllm/model", custom_outputs=lambda *a: reply("Done.", "model"),
                    memoize=False),
    model_roles={"grader": get_model("mockllm/judge", custom_outputs=verdict, memoize=False)},
    epochs=2,
    log_dir=sys.argv[1],
    display="none",
)
assert log.status == "success", log.error
"""

READ_WITHOUT_INSPECT = """
import sys, zipfile
import django
django.setup()
from interop.eval_logs import read_log
problems = []
log = read_log("real.eval", open(sys.argv[1], "rb").read(), problems)
patched = "inspect_ai" in sys.modules or hasattr(zipfile, "ZIP_ZSTANDARD")
print(problems, log.header["status"], sorted(s.label for s in log.samples), patched)
"""


def reply(content: str, model: str):
    """A mock reply with its token usage given, so that Inspect need not count tokens (its
    token counter would fetch an encoding over the network)."""
    from inspect_ai.model import ModelOutput, ModelUsage

    output = ModelOutput.from_content(model=model, content=content)
    output.usage = ModelUsage(input_tokens=120, output_tokens=30, total_tokens=150)
    return output


def criterion_met(order: int) -> bool:
    """The mock judge's verdict: odd criteria are met, even ones are not."""
    return order % 2 == 1


def mock_judge():
    """An Inspect mock model that answers each judge prompt with a valid verdict."""
    from inspect_ai.model import get_model

    def verdict(messages, tools, tool_choice, config):
        user = messages[-1].text
        criterion = user.split("<criterion>\n", 1)[1].split("\n</criterion>", 1)[0]
        order = int(criterion.split(":", 1)[0].removeprefix("C"))
        answer = {"explanation": f"checked {order}", "criteria_met": criterion_met(order)}
        return reply(json.dumps(answer), "judge")

    return get_model("mockllm/judge", custom_outputs=verdict, memoize=False)


@pytest.fixture
def exported(small_suite, tmp_path) -> Path:
    """The small suite, written as an Inspect task with its held-out task, rubric texts
    numbered so that the mock judge can tell the criteria apart."""
    folder = tmp_path / "task"
    write_suite(small_suite, folder, include_held_out=True)
    dataset = folder / "dataset.jsonl"
    lines = [json.loads(line) for line in dataset.read_text().splitlines()]
    for line in lines:
        for criterion in line["metadata"]["evalbuilder"]["rubric"]:
            criterion["text"] = f"C{criterion['order']}: {criterion['text']}"
    dataset.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return folder


def run_inspect(folder: Path, log_dir: Path, monkeypatch):
    from inspect_ai import eval as inspect_eval
    from inspect_ai.model import get_model

    model = get_model(
        "mockllm/model",
        custom_outputs=lambda *args: reply(ANSWER, "model"),
        memoize=False,
    )
    monkeypatch.chdir(folder)  # Inspect finds task files relative to the working directory
    [log] = inspect_eval(
        "task.py",
        model=model,
        model_roles={"grader": mock_judge()},
        epochs=2,
        log_dir=str(log_dir),
        display="none",
    )
    return log


def test_inspect_scores_a_suite_as_evalbuilder_scores_it_and_the_log_comes_back_as_a_graded_run(
    exported,
    tmp_path,
    small_suite,
    simulated_grader,
    eager_celery,
    django_capture_on_commit_callbacks,
    monkeypatch,
):
    log = run_inspect(exported, tmp_path / "logs", monkeypatch)
    assert log.status == "success", log.error

    expected = {}
    for line in map(json.loads, (exported / "dataset.jsonl").read_text().splitlines()):
        meta = line["metadata"]["evalbuilder"]
        outcomes = [
            CriterionOutcome(c["points"], criterion_met(c["order"]), c["critical"], c["tag"])
            for c in meta["rubric"]
        ]
        expected[line["id"]] = score_sample(outcomes, meta["pass_threshold"])
    assert len(log.samples) == 2 * len(expected)
    for sample in log.samples:
        score = sample.scores["rubric_scorer"]
        assert sample.output.completion == ANSWER
        assert score.value == pytest.approx(expected[sample.id].score)
        assert score.metadata["success"] == expected[sample.id].success
    [eval_file] = (tmp_path / "logs").glob("*.eval")

    with django_capture_on_commit_callbacks(execute=True):
        report = import_eval_log(eval_file, release_date=datetime.date(2025, 3, 1))

    run = Run.objects.get(pk=report.run.pk)
    assert run.suite == small_suite
    assert run.endpoint.provider == "imported"
    assert run.endpoint.model_id == "mockllm/model"
    assert run.imported_from == f"{eval_file.name} (Inspect eval {log.eval.eval_id})"
    samples = Sample.objects.filter(run=run)
    assert sorted(samples.values_list("task_version_id", "attempt")) == sorted(
        (version.pk, attempt) for version in small_suite.task_versions.all() for attempt in (0, 1)
    )
    assert set(samples.values_list("output", flat=True)) == {ANSWER}
    assert Grade.objects.filter(sample__run=run, grader=simulated_grader).count() == 4
    assert run.status == Run.Status.COMPLETED

    with pytest.raises(EvalLogError) as refused:
        import_eval_log(eval_file)
    assert f"as run #{run.pk}" in str(refused.value)
    assert Run.objects.count() == 1


def python(script: str, *args: str, cwd: Path) -> str:
    """What a fresh Python process running `script` prints; the test fails if it fails."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "DJANGO_SETTINGS_MODULE": "evalbuilder.settings"}
    done = subprocess.run(
        [sys.executable, "-c", script, *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_a_log_written_by_inspect_in_another_process_is_read_without_inspect_and_imported(
    exported, tmp_path, small_suite
):
    logs = tmp_path / "logs"
    python(INSPECT_RUN, str(logs), cwd=exported)
    [eval_file] = logs.glob("*.eval")
    with zipfile.ZipFile(eval_file) as archive:
        assert {info.compress_type for info in archive.infolist()} == {93}  # Zstandard

    read = python(READ_WITHOUT_INSPECT, str(eval_file), cwd=REPO)

    ids = sorted(f"sample {v.task.slug}-v{v.number}" for v in small_suite.task_versions.all())
    labels = sorted(f"{sample_id} epoch {epoch}" for sample_id in ids for epoch in (1, 2))
    assert read.strip() == f"[] success {labels} False"
    report = import_eval_log(eval_file, release_date=datetime.date(2025, 3, 1))
    assert Sample.objects.filter(run=report.run, output="Done.").count() == 4
    assert report.run.imported_from.startswith(eval_file.name)
