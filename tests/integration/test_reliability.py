"""Runs survive what production throws at them: a worker killed with SIGKILL, a database
restart, and a provider failing three calls in ten.

The first two start real worker and beat processes on the broker this test process uses
(Redis on CI, where a killed worker's chunk comes back after the visibility timeout; the
embedded filesystem broker does not redeliver, so there the watchdog restarts the run).
"""

import os
import shutil
import signal
import subprocess
from collections import Counter
from decimal import Decimal

import pytest
from celery import current_app
from django.db import connection

from graders.models import Grade
from runs import services
from runs.fake_server import FakeConfig, FakeProvider
from runs.models import ModelEndpoint, Run, Sample
from tests.integration.conftest import WORKER_ARGS, database_url, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def run_env(child_env, monkeypatch):
    """Children share this process's database and broker, redeliver lost chunks within
    seconds, and the watchdog looks every two seconds."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    current_app.control.purge()  # messages left by other tests name rows that are gone
    return {
        **child_env,
        "OPENAI_API_KEY": "sk-test",
        "DATABASE_URL": database_url(connection.settings_dict),
        "CELERY_BROKER_URL": current_app.conf.broker_url,
        "CELERY_VISIBILITY_TIMEOUT": "6",
        "EVALBUILDER_STALL_SECONDS": "8",
        "EVALBUILDER_WATCH_SECONDS": "2",
        "EVALBUILDER_CHUNK_SIZE": "10",
    }


def _slow_fake_run(small_suite, make_endpoint, fake, samples_per_task=20):
    endpoint = make_endpoint(
        "fake-gpt",
        provider=ModelEndpoint.Provider.OPENAI,
        base_url=fake.openai_url,
        max_concurrency=2,
        input_price_per_mtok=Decimal("1"),
        output_price_per_mtok=Decimal("2"),
    )
    return services.create_run(small_suite, endpoint, samples_per_task=samples_per_task)


def _assert_complete_and_exactly_once(run: Run) -> None:
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED, run.stop_reason or run.error
    keys = Counter(run.samples.values_list("task_version_id", "attempt"))
    assert len(keys) == run.planned_samples
    assert set(keys.values()) == {1}
    assert run.samples.filter(status=Sample.Status.DONE).count() == run.planned_samples
    assert Grade.objects.filter(sample__run=run).count() == run.planned_samples
    progress = services.run_progress(run)
    assert progress["cost"] == sum(sample.cost for sample in run.samples.all()) > 0


def test_a_worker_killed_mid_run_loses_nothing_and_duplicates_nothing(
    small_suite, make_endpoint, simulated_grader, run_env, start_child
):
    with FakeProvider(config=FakeConfig(latency=0.25)) as fake:
        beat = start_child(
            "beat", ["-m", "celery", "-A", "evalbuilder", "beat", "--max-interval=1"], run_env
        )
        first = start_child("worker-1", WORKER_ARGS, run_env)
        run = _slow_fake_run(small_suite, make_endpoint, fake)
        wait_for(
            lambda: Sample.objects.filter(run=run).count() >= 6,
            timeout=60,
            interval=0.1,
            what="the run to be under way",
        )
        first.stop(signal.SIGKILL)
        written_at_kill = Sample.objects.filter(run=run).count()
        assert written_at_kill < run.planned_samples, "killed mid-way"
        second = start_child("worker-2", WORKER_ARGS, run_env)
        try:
            wait_for(
                lambda: Run.objects.get(pk=run.pk).status == Run.Status.COMPLETED,
                timeout=120,
                what="the run to complete on the second worker",
            )
        except AssertionError:
            print(
                Run.objects.filter(pk=run.pk).values().first(),
                Sample.objects.filter(run=run).count(),
            )
            print(first.output()[-3000:], second.output()[-5000:], beat.output()[-2000:])
            raise
        # Only calls in flight when the worker died, or answered in the last quarter second
        # before it and not yet written, were made again.
        assert len(fake.requests) <= run.planned_samples + 10
    _assert_complete_and_exactly_once(run)


def _restart_postgres() -> None:
    clusters = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True
    ).stdout.split()
    version, name = clusters[0], clusters[1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "restart", "-m", "fast"],
        check=True,
        timeout=60,
    )


@pytest.mark.skipif(
    not os.environ.get("EVALBUILDER_TEST_RESTART_POSTGRES"),
    reason="restarts the PostgreSQL server: set EVALBUILDER_TEST_RESTART_POSTGRES=1 (CI does)",
)
def test_a_run_rides_out_a_database_restart(
    small_suite, make_endpoint, simulated_grader, run_env, start_child
):
    if connection.vendor != "postgresql" or not shutil.which("pg_ctlcluster"):
        pytest.skip("needs a local PostgreSQL cluster this test may restart")
    with FakeProvider(config=FakeConfig(latency=0.25)) as fake:
        worker = start_child("worker", WORKER_ARGS, run_env)
        run = _slow_fake_run(small_suite, make_endpoint, fake)
        wait_for(
            lambda: Sample.objects.filter(run=run).count() >= 6,
            timeout=60,
            interval=0.1,
            what="the run to be under way",
        )
        connection.close()
        _restart_postgres()
        try:
            wait_for(
                lambda: Run.objects.get(pk=run.pk).status == Run.Status.COMPLETED,
                timeout=120,
                what="the run to complete after the restart",
            )
        except AssertionError:
            print(worker.output()[-6000:])
            raise
    _assert_complete_and_exactly_once(run)


def test_a_run_with_three_failures_in_ten_calls_completes_with_every_sample_accounted_for(
    small_suite, make_endpoint, simulated_grader, eager_celery, monkeypatch, settings
):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    settings.EVALBUILDER_REQUEST_TIMEOUT = 1.0
    settings.EVALBUILDER_MAX_ATTEMPTS = 3
    config = FakeConfig(
        error_rate_429=0.06,
        retry_after=0.05,
        error_rate_500=0.06,
        error_rate_529=0.06,
        timeout_rate=0.06,
        hang_seconds=3.0,
        malformed_rate=0.06,
        seed=7,
    )
    with FakeProvider(config=config) as fake:
        endpoint = make_endpoint(
            "flaky-gpt",
            provider=ModelEndpoint.Provider.OPENAI,
            base_url=fake.openai_url,
            max_concurrency=8,
        )
        run = services.create_run(small_suite, endpoint, samples_per_task=40)
        requests = len(fake.requests)
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED
    samples = list(run.samples.all())
    assert len(samples) == run.planned_samples == 80
    for sample in samples:
        assert 1 <= sample.tries <= settings.EVALBUILDER_MAX_ATTEMPTS
        if sample.status == Sample.Status.FAILED:
            assert sample.error_kind and sample.error
    assert sum(sample.tries for sample in samples) == requests, "every call is accounted for"
    assert requests <= 3 * run.planned_samples
    # With three tries, most samples get through; the failures name their kind.
    done = [s for s in samples if s.status == Sample.Status.DONE]
    assert len(done) >= 0.9 * len(samples)
    kinds = {s.error_kind for s in samples if s.status == Sample.Status.FAILED}
    assert kinds <= {"rate_limit", "server_error", "overloaded", "timeout", "bad_response"}
