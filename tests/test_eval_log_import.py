"""Inspect AI eval logs imported as runs: checked whole, written whole, graded here."""

from __future__ import annotations

import datetime
import io
import json
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from audit.models import AuditEvent
from graders.forms import GraderForm, prompt_versions
from graders.models import Grade
from interop import eval_logs
from interop.eval_logs import EvalLogError, import_eval_log
from occupations.models import Suite
from runs import services
from runs.forms import ModelEndpointForm, RunForm, ScheduleForm
from runs.models import ModelEndpoint, Run, Sample
from runs.providers import get_provider, parameter_problems
from tests.authoring import make_user

RELEASED = datetime.date(2025, 2, 1)


def log_samples(suite: Suite, epochs: int = 2, **overrides) -> list[dict]:
    """A sample per task version and epoch, as exported suites' samples come back."""
    samples = []
    for version in suite.task_versions.select_related("task").order_by("pk"):
        for epoch in range(1, epochs + 1):
            sample = {
                "id": f"{version.task.slug}-v{version.number}",
                "epoch": epoch,
                "input": "...",
                "target": "...",
                "metadata": {"evalbuilder": {"suite": suite.slug, "task_version": version.pk}},
                "output": {
                    "completion": f"answer {version.task.slug} {epoch}",
                    "usage": {"input_tokens": 100, "output_tokens": 40, "total_tokens": 140},
                },
                "working_time": 2.5,
                "total_time": 3.0,
            }
            sample.update(overrides)
            samples.append(sample)
    return samples


def log_header(epochs: int = 2, eval_id: str = "EvalId123") -> dict:
    return {
        "version": 2,
        "status": "success",
        "eval": {
            "eval_id": eval_id,
            "task": "small",
            "model": "openai/gpt-test",
            "created": "2025-03-01T10:00:00+00:00",
            "config": {"epochs": epochs},
        },
        "stats": {
            "started_at": "2025-03-01T10:00:00+00:00",
            "completed_at": "2025-03-01T10:20:00+00:00",
        },
    }


def eval_file(path: Path, header: dict | None, samples: list[dict]) -> Path:
    """An .eval log as Inspect writes it: a zip of JSON members."""
    with zipfile.ZipFile(path, "w") as archive:
        if header is not None:
            archive.writestr("header.json", json.dumps(header))
        for sample in samples:
            name = f"samples/{sample['id']}_epoch_{sample['epoch']}.json"
            archive.writestr(name, json.dumps(sample))
    return path


@pytest.fixture
def good_log(small_suite, tmp_path) -> Path:
    return eval_file(tmp_path / "good.eval", log_header(), log_samples(small_suite))


def problems_of(path, **kwargs) -> str:
    with pytest.raises(EvalLogError) as refused:
        import_eval_log(path, **kwargs)
    return str(refused.value)


def test_an_eval_log_becomes_a_run_of_its_suite_on_a_new_imported_model(
    good_log, small_suite, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        report = import_eval_log(good_log, release_date=RELEASED)

    run = report.run
    assert run.suite == small_suite and run.samples_per_task == 2 and run.planned_samples == 4
    assert run.status == Run.Status.GRADING
    assert run.imported_from == "good.eval (Inspect eval EvalId123)"
    assert run.started_at == datetime.datetime(2025, 3, 1, 10, tzinfo=datetime.UTC)
    assert run.sampled_at == datetime.datetime(2025, 3, 1, 10, 20, tzinfo=datetime.UTC)
    assert small_suite.__class__.objects.get(pk=small_suite.pk).is_frozen
    endpoint = run.endpoint
    assert (endpoint.provider, endpoint.model_id, endpoint.slug) == (
        "imported",
        "openai/gpt-test",
        "openai-gpt-test",
    )
    assert endpoint.release_date == RELEASED
    sample = Sample.objects.filter(run=run).order_by("task_version", "attempt").first()
    assert sample.attempt == 0 and sample.output.startswith("answer ")
    assert (sample.input_tokens, sample.output_tokens, sample.latency_ms) == (100, 40, 2500)
    assert len(callbacks) == 2  # grading of the samples, then closing the run once graded
    event = AuditEvent.objects.get(action=AuditEvent.Action.IMPORT)
    assert event.target_id == str(run.pk) and event.details["eval_id"] == "EvalId123"


def test_imported_samples_are_graded_by_the_default_grader(
    good_log, simulated_grader, eager_celery, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        report = import_eval_log(good_log, release_date=RELEASED)

    report.run.refresh_from_db()
    assert report.run.status == Run.Status.COMPLETED
    assert Grade.objects.filter(sample__run=report.run, grader=simulated_grader).count() == 4


def test_a_sample_that_failed_in_inspect_is_a_failed_sample(small_suite, tmp_path):
    samples = log_samples(small_suite)
    samples[0]["error"] = {"message": "RateLimitError: too many requests", "traceback": ""}
    path = eval_file(tmp_path / "failed.eval", log_header(), samples)

    report = import_eval_log(path, release_date=RELEASED)

    failed = Sample.objects.get(run=report.run, status=Sample.Status.FAILED)
    assert failed.error_kind == "inspect_error" and "too many requests" in failed.error
    assert report.failed == 1


def test_a_json_log_is_imported_like_an_eval_log(small_suite, tmp_path):
    path = tmp_path / "log.json"
    path.write_text(json.dumps({**log_header(), "samples": log_samples(small_suite)}))

    report = import_eval_log(path, release_date=RELEASED)

    assert Sample.objects.filter(run=report.run).count() == 4


def test_importing_the_same_eval_twice_is_refused_naming_the_run(good_log):
    first = import_eval_log(good_log, release_date=RELEASED)

    message = problems_of(good_log)

    assert (
        f"eval EvalId123 was imported for model openai-gpt-test already, as run #{first.run.pk}"
        in message
    )
    assert Run.objects.count() == 1


def test_a_zip_without_a_header_is_refused_naming_the_member(small_suite, tmp_path):
    path = eval_file(tmp_path / "cut.eval", None, log_samples(small_suite))

    assert "log member 'header.json' is missing" in problems_of(path, release_date=RELEASED)
    assert not Run.objects.exists()


def test_a_sample_of_a_version_outside_the_suite_names_the_sample_and_field(small_suite, tmp_path):
    samples = log_samples(small_suite)
    samples[1]["metadata"]["evalbuilder"]["task_version"] = 999999
    path = eval_file(tmp_path / "other.eval", log_header(), samples)

    message = problems_of(path, release_date=RELEASED)

    assert (
        f"sample {samples[1]['id']} epoch 2: field 'metadata.evalbuilder.task_version': "
        "999999 is not a task version of suite small"
    ) in message
    assert not Sample.objects.exists() and not ModelEndpoint.objects.filter(provider="imported")


def test_a_log_missing_a_task_of_the_suite_is_refused(small_suite, tmp_path):
    path = eval_file(tmp_path / "part.eval", log_header(), log_samples(small_suite)[:3])

    assert "the log has no sample of" in problems_of(path, release_date=RELEASED)


def test_a_missing_sample_is_reported_with_the_other_problems(small_suite, tmp_path):
    samples = log_samples(small_suite)[:3]
    samples[0]["output"]["completion"] = 5
    path = eval_file(tmp_path / "part.eval", log_header(), samples)

    message = problems_of(path, release_date=RELEASED)

    assert "field 'output.completion': not text" in message
    assert "the log has no sample of" in message


def test_a_log_of_too_many_epochs_is_refused_at_once_naming_the_field(small_suite, tmp_path):
    path = eval_file(tmp_path / "many.eval", log_header(epochs=3_000_000), log_samples(small_suite))

    message = problems_of(path, release_date=RELEASED)

    assert (
        "log member 'header.json': field 'eval.config.epochs': 3000000 is more than the 100 "
        "samples per task a run may take"
    ) in message
    assert "the log has no sample of" not in message


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("working_time", float("inf"), "field 'working_time': inf is not a finite number"),
        ("working_time", float("nan"), "field 'working_time': nan is not a finite number"),
        ("total_time", 1e300, "field 'total_time': 1e+300 seconds is longer than a sample can"),
    ],
)
def test_a_time_a_sample_cannot_hold_is_refused_naming_sample_and_field(
    small_suite, tmp_path, field, value, shown
):
    samples = log_samples(small_suite)
    samples[0]["working_time"] = None
    samples[0][field] = value
    path = eval_file(tmp_path / "time.eval", log_header(), samples)

    message = problems_of(path, release_date=RELEASED)

    assert f"{samples[0]['id']} epoch 1: {shown}" in message
    assert not Run.objects.exists()


def test_token_counts_a_sample_cannot_hold_are_refused_naming_the_field(small_suite, tmp_path):
    samples = log_samples(small_suite)
    samples[0]["output"]["usage"]["input_tokens"] = 10**20
    samples[1]["output"]["usage"]["input_tokens_cache_read"] = 2**31 - 1
    path = eval_file(tmp_path / "tokens.eval", log_header(), samples)

    message = problems_of(path, release_date=RELEASED)

    assert (
        "epoch 1: field 'output.usage.input_tokens': 100000000000000000000 is more than "
        "2,147,483,647 tokens"
    ) in message
    assert "epoch 2: field 'output.usage': its input tokens add up to more than" in message
    assert not Run.objects.exists()


def test_tokens_that_would_cost_more_than_a_sample_records_are_refused(
    small_suite, tmp_path, make_endpoint
):
    make_endpoint("dear-model", provider="openai", input_price_per_mtok=999_999)
    samples = log_samples(small_suite)
    samples[0]["output"]["usage"]["input_tokens"] = 2_000_000
    path = eval_file(tmp_path / "dear.eval", log_header(), samples)

    message = problems_of(path, endpoint="dear-model")

    assert "epoch 1: field 'output.usage': its tokens cost 1,999,998.00 on model dear-model" in (
        message
    )


def test_a_member_that_unpacks_past_the_limit_is_refused_unread(small_suite, tmp_path, settings):
    settings.EVALBUILDER_MAX_EVAL_LOG_BYTES = 10_000
    path = eval_file(tmp_path / "bomb.eval", log_header(), log_samples(small_suite))
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("samples/zz_epoch_1.json", " " * 50_000 + "{}")

    message = problems_of(path, release_date=RELEASED)

    assert "log member 'samples/zz_epoch_1.json' is larger than the limit of" in message


def test_members_that_unpack_past_the_total_limit_are_refused(small_suite, tmp_path, settings):
    settings.EVALBUILDER_MAX_EVAL_LOG_UNPACKED_BYTES = 1_000
    path = eval_file(tmp_path / "big.eval", log_header(), log_samples(small_suite))

    message = problems_of(path, release_date=RELEASED)

    assert "unpacks to more than the limit allows" in message
    assert message.count("unpacks to more") == 1


def test_a_log_of_too_many_members_is_refused(small_suite, tmp_path, monkeypatch):
    monkeypatch.setattr(eval_logs, "MAX_LOG_MEMBERS", 3)
    path = eval_file(tmp_path / "wide.eval", log_header(), log_samples(small_suite))

    assert "wide.eval holds more than 3 files: not a readable .eval log" in problems_of(path)


def damaged(path: Path, find: bytes, replace: bytes) -> Path:
    raw = path.read_bytes()
    assert find in raw
    path.write_bytes(raw.replace(find, replace))
    return path


def test_a_damaged_member_is_refused_naming_it(good_log):
    damaged(good_log, b'"status"', b'"Status"')

    assert "log member 'header.json' is damaged in the zip archive" in problems_of(good_log)


def test_a_member_packed_with_an_unknown_method_is_refused_naming_it(small_suite, tmp_path):
    path = eval_file(tmp_path / "odd.eval", log_header(), log_samples(small_suite))
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("header.json")
    raw = bytearray(path.read_bytes())
    raw[info.header_offset + 8] = 97  # the local header's compression method
    central = raw.find(b"PK\x01\x02")
    while int.from_bytes(raw[central + 42 : central + 46], "little") != info.header_offset:
        central = raw.find(b"PK\x01\x02", central + 4)
    raw[central + 10] = 97  # the central directory's
    path.write_bytes(bytes(raw))

    message = problems_of(path)

    assert (
        "log member 'header.json' is packed with a compression method that cannot be read (97)"
        in (message)
    )


def test_the_page_lists_problems_of_a_damaged_log_and_of_impossible_numbers(
    client, small_suite, tmp_path
):
    client.force_login(make_user("operator", "operator"))
    url = reverse("interop:import_eval_log")
    crc = damaged(
        eval_file(tmp_path / "crc.eval", log_header(), log_samples(small_suite)),
        b'"status"',
        b'"Status"',
    )
    samples = log_samples(small_suite, total_time=1e300, working_time=None)
    huge = eval_file(tmp_path / "huge.eval", log_header(), samples)

    for path, shown in [
        (crc, "log member &#x27;header.json&#x27; is damaged in the zip archive"),
        (huge, "seconds is longer than a sample can record"),
    ]:
        upload = SimpleUploadedFile(path.name, path.read_bytes())
        response = client.post(url, {"file": upload, "release_date": "2025-02-01"})
        assert response.status_code == 200 and shown in response.content.decode()
    assert not Run.objects.exists()


def test_a_new_model_needs_its_release_date(good_log):
    message = problems_of(good_log)

    assert "release date: required to register the model 'openai/gpt-test'" in message
    assert not ModelEndpoint.objects.filter(provider="imported").exists()


def test_a_dry_run_checks_everything_and_writes_nothing(good_log, small_suite):
    report = import_eval_log(good_log, release_date=RELEASED, dry_run=True)

    assert report.samples == 4 and report.endpoint_created and report.run is None
    assert "Would import 4 sample(s) of suite small" in str(report)
    assert not Run.objects.exists() and not ModelEndpoint.objects.filter(provider="imported")
    assert not Suite.objects.get(pk=small_suite.pk).is_frozen


def test_an_eval_log_can_go_on_a_registered_model(good_log, make_endpoint):
    endpoint = make_endpoint("gpt-test", provider="openai", input_price_per_mtok=10)

    report = import_eval_log(good_log, endpoint="gpt-test")

    assert report.run.endpoint == endpoint
    assert Sample.objects.filter(run=report.run).first().cost > 0


def test_the_command_imports_a_log_and_reports_problems(good_log, tmp_path):
    out = io.StringIO()
    call_command(
        "import_eval_log", str(good_log), "--release-date", "2025-02-01", "--dry-run", stdout=out
    )
    assert "Would import 4 sample(s)" in out.getvalue() and not Run.objects.exists()

    call_command("import_eval_log", str(good_log), "--release-date", "2025-02-01", stdout=out)
    assert Run.objects.count() == 1

    with pytest.raises(CommandError, match="imported for model openai-gpt-test already"):
        call_command("import_eval_log", str(good_log))


def test_an_operator_imports_a_log_on_the_page_and_lands_on_the_run(client, good_log, seeded):
    client.force_login(make_user("operator", "operator"))
    url = reverse("interop:import_eval_log")
    upload = SimpleUploadedFile("good.eval", good_log.read_bytes())

    checked = client.post(url, {"file": upload, "release_date": "2025-02-01", "check_only": "on"})
    assert checked.status_code == 200 and "Would import 4 sample(s)" in checked.content.decode()
    assert not Run.objects.exists()

    upload = SimpleUploadedFile("good.eval", good_log.read_bytes())
    response = client.post(url, {"file": upload, "release_date": "2025-02-01"})
    run = Run.objects.get()
    assert response.status_code == 302 and response.url == reverse("graders:run", args=[run.pk])
    assert AuditEvent.objects.get(action=AuditEvent.Action.IMPORT).actor_username == "operator"


def test_the_page_lists_every_problem_of_a_bad_log(client, small_suite, tmp_path):
    client.force_login(make_user("operator", "operator"))
    path = eval_file(tmp_path / "cut.eval", None, log_samples(small_suite))

    response = client.post(
        reverse("interop:import_eval_log"),
        {"file": SimpleUploadedFile("cut.eval", path.read_bytes())},
    )

    assert "log member &#x27;header.json&#x27; is missing" in response.content.decode()
    assert not Run.objects.exists()


def test_an_author_may_not_import_eval_logs(client, seeded):
    client.force_login(make_user("author", "author"))

    assert client.get(reverse("interop:import_eval_log")).status_code == 403


# --- imported models cannot be called ---------------------------------------------------


def test_an_imported_model_cannot_be_run_called_or_scheduled(small_suite, make_endpoint):
    imported = make_endpoint("imported-model", provider="imported")

    with pytest.raises(ValueError, match="imported results and cannot be called"):
        services.create_run(small_suite, imported)
    with pytest.raises(ValueError, match="holds imported results"):
        get_provider(imported, timeout=1)
    with pytest.raises(ValueError, match="cannot be scheduled"):
        services.save_schedule(
            name="Weekly",
            suite=small_suite,
            endpoints=[imported],
            cron="0 2 * * 1",
            samples_per_task=1,
        )
    assert parameter_problems("imported", {}) == []
    assert parameter_problems("imported", {"temperature": 0}) == [
        "temperature: imported endpoints take no parameters"
    ]


def test_the_forms_do_not_offer_imported_models(small_suite, make_endpoint):
    imported = make_endpoint("imported-model", provider="imported")
    callable_model = make_endpoint("sim-model")

    assert "imported" not in [value for value, _ in ModelEndpointForm().fields["provider"].choices]
    assert list(RunForm().fields["endpoints"].queryset) == [callable_model]
    assert imported not in ScheduleForm().fields["endpoints"].queryset


def test_an_imported_model_is_neither_offered_nor_accepted_as_a_judge(make_endpoint):
    imported = make_endpoint("imported-model", provider="imported")
    callable_model = make_endpoint("sim-model")
    form = GraderForm()

    assert list(form.fields["judge"].queryset) == [callable_model]
    assert list(form.fields["extra_judges"].queryset) == [callable_model]
    posted = GraderForm(
        data={
            "name": "Imported judge",
            "kind": "llm_rubric",
            "judge": imported.pk,
            "extra_judges": [imported.pk],
            "mode": "per_criterion",
            "prompt_version": prompt_versions()[0],
            "grades_per_sample": 1,
        }
    )
    assert not posted.is_valid()
    assert {"judge", "extra_judges"} <= set(posted.errors)
