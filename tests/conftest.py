import datetime
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from celery import current_app
from django.core.cache import cache
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from evalbuilder import mfa
from evalbuilder.broker import filesystem_transport_options
from graders.models import Grader
from occupations.models import Suite, Task
from occupations.seeding import load_seeds
from reports import releases
from reports.models import Release
from reports.selectors import default_taxonomy
from runs import services as run_services
from runs.models import ModelEndpoint, Run, Sample
from tests.authoring import make_user


@pytest.fixture(scope="session", autouse=True)
def test_broker(tmp_path_factory) -> str:
    """Messages sent by tests go to a broker of their own, never to the user's var/ queue.

    CELERY_BROKER_URL in the environment (CI sets Redis) is used as it is.
    """
    if os.environ.get("CELERY_BROKER_URL"):
        return current_app.conf.broker_url
    folder = Path(tmp_path_factory.mktemp("broker"))
    os.environ["CELERY_BROKER_DIR"] = str(folder)
    current_app.conf.update(broker_transport_options=filesystem_transport_options(folder))
    return current_app.conf.broker_url


@pytest.fixture(autouse=True)
def fast_tests(settings):
    """Retries back off in milliseconds, and passwords hash quickly, in tests.

    Submission needs no calibration here, except in the tests of calibration (and the
    browser flow), which turn the requirement back on.
    """
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EVALBUILDER_REQUIRE_CALIBRATION = False
    settings.EVALBUILDER_RETRY_BASE_DELAY = 0.01
    settings.EVALBUILDER_RETRY_MAX_DELAY = 0.05


class SignedInClient(Client):
    """A test client whose force_login also passes the one-time-code step for users who
    have it, as if they had typed a code, so that tests of pages need not."""

    def force_login(self, user, backend=None) -> None:
        super().force_login(user, backend)
        if mfa.pending_step(user) is None:
            return
        device = mfa.app_device(user) or TOTPDevice.objects.create(
            user=user, name=mfa.APP_DEVICE_NAME, confirmed=True
        )
        session = self.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()


@pytest.fixture
def client() -> SignedInClient:
    """pytest-django's client, signing in past the code step (SignedInClient)."""
    return SignedInClient()


@pytest.fixture
def app_code() -> Callable[[TOTPDevice], str]:
    """What an authenticator app shows for a device now, or the next code when this one
    was used already (a device accepts each 30-second code once, and the one after it)."""

    def code_for(device: TOTPDevice) -> str:
        device.refresh_from_db()
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        totp.time = time.time()
        if totp.t() <= device.last_t:
            totp.time += device.step * (device.last_t + 1 - totp.t())
        return str(totp.token()).zfill(device.digits)

    return code_for


@pytest.fixture
def eager_celery():
    """Run Celery tasks in-process, for tests of the flow rather than of the worker."""
    conf = current_app.conf
    previous = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    yield
    conf.task_always_eager, conf.task_eager_propagates = previous


@pytest.fixture
def seeded(db):
    return load_seeds()


@pytest.fixture
def demo_suite(seeded) -> Suite:
    return Suite.objects.get(slug="demo")


@pytest.fixture
def small_suite(seeded) -> Suite:
    """Two published tasks, one of them held out: quick to run, still covers both kinds."""
    suite = Suite.objects.create(name="Small", slug="small")
    public = Task.objects.filter(visibility=Task.Visibility.PUBLIC).order_by("slug").first()
    held_out = Task.objects.filter(visibility=Task.Visibility.HELD_OUT).order_by("slug").first()
    suite.task_versions.set([public.latest_version(), held_out.latest_version()])
    return suite


@pytest.fixture
def make_endpoint(db):
    def make(slug: str, **fields) -> ModelEndpoint:
        defaults = {
            "display_name": slug.replace("-", " ").title(),
            "provider": ModelEndpoint.Provider.SIMULATED,
            "model_id": slug,
            "release_date": datetime.date(2025, 1, 1),
        }
        defaults.update(fields)
        return ModelEndpoint.objects.create(slug=slug, **defaults)

    return make


@pytest.fixture
def simulated_grader(make_endpoint) -> Grader:
    judge = make_endpoint("sim-judge", display_name="Judge")
    return Grader.objects.create(name="Simulated judge", judge=judge)


@pytest.fixture(autouse=True)
def empty_cache():
    """Cached report figures never pass from one test to the next."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def graded_models(
    eager_celery, demo_suite, make_endpoint, simulated_grader, django_capture_on_commit_callbacks
) -> list[Run]:
    """Three simulated models released a year apart, each run on the demo suite with three
    samples per task, graded by `simulated_grader` and refreshed into the report tables."""
    runs = []
    for slug, released, family in (
        ("sim-early", datetime.date(2023, 6, 1), "Aster"),
        ("sim-mid", datetime.date(2024, 6, 1), "Aster"),
        ("sim-late", datetime.date(2025, 6, 1), "Borealis"),
    ):
        with django_capture_on_commit_callbacks(execute=True):
            runs.append(
                run_services.create_run(
                    demo_suite,
                    make_endpoint(slug, release_date=released, family=family),
                    samples_per_task=3,
                )
            )
    for run in runs:
        run.refresh_from_db()
        assert run.status == Run.Status.COMPLETED
    return runs


ROLES = ("author", "reviewer", "operator", "analyst", "admin")


@pytest.fixture
def users(seeded) -> dict:
    """One user per role, named after it (the admin is a superuser)."""
    return {
        role: make_user(role, None if role == "admin" else role, superuser=role == "admin")
        for role in ROLES
    }


@pytest.fixture
def run(small_suite, make_endpoint) -> Run:
    """A completed run with four done samples written by hand (nothing is graded)."""
    run = run_services.create_run(small_suite, make_endpoint("sim-model"), samples_per_task=2)
    for version_id, attempt in run_services.work_items(run):
        Sample.objects.create(
            run=run, task_version_id=version_id, attempt=attempt, status=Sample.Status.DONE
        )
    Run.objects.filter(pk=run.pk).update(status=Run.Status.COMPLETED)
    return run


@pytest.fixture
def make_release(graded_models, simulated_grader, users, settings):
    """Prepares releases of the three graded models on the demo suite (two of its tasks are
    held out), with the release gate open; keyword arguments override prepare_release's."""
    settings.EVALBUILDER_RELEASE_REQUIRES_VALIDATION = False

    def make(**overrides) -> Release:
        arguments = {
            "user": users["analyst"],
            "series": "ai-and-work",
            "title": "AI models and the work of the nation",
            "description": "Success of AI models on expert-written tasks, by job category.",
            "suite": graded_models[0].suite,
            "grader": simulated_grader,
            "endpoints": [run.endpoint for run in graded_models],
            "taxonomy": default_taxonomy(),
            "period_start": datetime.date(2023, 1, 1),
            "period_end": datetime.date(2025, 12, 31),
            **overrides,
        }
        return releases.prepare_release(**arguments)

    return make


@pytest.fixture
def approved_release(make_release, users) -> Release:
    """An approved release with a disclosure threshold of 2 tasks: the demo suite has one
    to three tasks per job category, so every category is suppressed (some primary, some
    secondary) while some model totals stay published."""
    return releases.approve(make_release(disclosure_min_tasks=2), users["analyst"])


@pytest.fixture
def unsuppressed_release(make_release, users) -> Release:
    """An approved release with nothing suppressed (threshold 1): it publishes projected
    dates, horizons beyond the longest task ([b]) and intervals unbounded on one side ([u])."""
    return releases.approve(
        make_release(series="ai-and-work-all", disclosure_min_tasks=1), users["analyst"]
    )
