"""The operator's pages: models, schedules, one-off runs, run controls and live progress."""

import io
import re
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from occupations.models import Suite
from runs import services
from runs.models import ModelEndpoint, Run, Sample, Schedule
from tests.authoring import make_user

pytestmark = pytest.mark.django_db

OPERATOR_PAGES = ["runs:models", "runs:new_model", "runs:schedules", "runs:new_schedule"]
OPERATOR_PAGES += ["runs:new_run", "graders:run_list"]


@pytest.fixture
def sign_in(client):
    def sign_in_as(role: str):
        user = make_user(role, role, superuser=role == "admin")
        client.force_login(user)
        return user

    return sign_in_as


@pytest.fixture
def run(small_suite, make_endpoint) -> Run:
    """A queued run of three samples per task (no worker here: it stays as the test sets it)."""
    return services.create_run(small_suite, make_endpoint("sim-model"), samples_per_task=3)


def add_samples(run: Run, *samples: dict) -> None:
    """Write samples for the run's work items in order, each with the fields given."""
    for (version_id, attempt), fields in zip(services.work_items(run), samples, strict=False):
        values = {"status": Sample.Status.DONE, **fields}
        Sample.objects.create(run=run, task_version_id=version_id, attempt=attempt, **values)


def visible_controls(page: str) -> set[str]:
    """The run controls a user sees: forms that are there and not hidden."""
    found = re.findall(r'data-run-control="(\w+)"[^>]*?( hidden)?>', page)
    return {name for name, hidden in found if not hidden}


def model_data(**overrides) -> dict:
    data = {
        "display_name": "Frontier 5",
        "slug": "frontier-5",
        "provider": ModelEndpoint.Provider.OPENAI_COMPATIBLE,
        "model_id": "frontier-5-2025",
        "family": "Frontier",
        "lab": "Example Lab",
        "release_date": "2025-09-01",
        "base_url": "https://models.example.org/v1",
        "api_key_env": "EXAMPLE_API_KEY",
        "parameters": '{"temperature": 0.2}',
        "input_price_per_mtok": "1.25",
        "output_price_per_mtok": "10",
        "max_concurrency": "16",
        "is_active": "on",
        "run_suite": "",
        "samples_per_task": "1",
        "budget": "",
    }
    data.update(overrides)
    return data


def schedule_data(suite: Suite, endpoints, **overrides) -> dict:
    data = {
        "name": "Weekly frontier",
        "suite": suite.pk,
        "endpoints": [endpoint.pk for endpoint in endpoints],
        "cron": "0 3 * * 1",
        "samples_per_task": "2",
        "budget_per_run": "",
        "enabled": "on",
    }
    data.update(overrides)
    return data


# --- who may do what ------------------------------------------------------------------


@pytest.mark.parametrize("name", OPERATOR_PAGES)
def test_a_signed_out_visitor_is_sent_to_sign_in(client, db, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("name", OPERATOR_PAGES)
def test_an_author_may_not_open_the_operator_pages(client, sign_in, name):
    sign_in("author")
    assert client.get(reverse(name)).status_code == 403


def test_an_analyst_sees_models_and_runs_but_changes_nothing(client, sign_in, run):
    sign_in("analyst")
    models = client.get(reverse("runs:models")).content.decode()
    assert "Sim Model" in models
    assert reverse("runs:new_model") not in models
    assert reverse("runs:edit_model", args=["sim-model"]) not in models
    for name in ("runs:new_model", "runs:schedules", "runs:new_schedule", "runs:new_run"):
        assert client.get(reverse(name)).status_code == 403, name
    assert client.get(reverse("runs:edit_model", args=["sim-model"])).status_code == 403

    page = client.get(reverse("graders:run", args=[run.pk])).content.decode()
    assert "data-run-control" not in page
    assert "<progress" in page
    for action in ("runs:pause", "runs:cancel"):
        assert client.post(reverse(action, args=[run.pk])).status_code == 403
    run.refresh_from_db()
    assert run.status == Run.Status.QUEUED
    assert client.get(reverse("runs:progress", args=[run.pk])).status_code == 200


def test_the_navigation_shows_each_role_the_pages_it_may_open(client, sign_in, seeded):
    links = {
        "Models": reverse("runs:models"),
        "Schedules": reverse("runs:schedules"),
        "Runs": reverse("graders:run_list"),
    }
    expected = {
        "operator": {"Models", "Schedules", "Runs"},
        "analyst": {"Models", "Runs"},
        "author": set(),
    }
    for role, names in expected.items():
        sign_in(role)
        page = client.get(reverse("reports:home")).content.decode()
        shown = {name for name, url in links.items() if f'href="{url}">{name}</a>' in page}
        assert shown == names, role


# --- models ---------------------------------------------------------------------------


def test_an_operator_registers_a_model_without_running_it(client, sign_in, seeded):
    sign_in("operator")
    response = client.post(reverse("runs:new_model"), model_data())
    assert response.status_code == 302 and response["Location"] == reverse("runs:models")
    endpoint = ModelEndpoint.objects.get(slug="frontier-5")
    assert endpoint.parameters == {"temperature": 0.2}
    assert endpoint.api_key_env == "EXAMPLE_API_KEY"
    assert endpoint.max_concurrency == 16
    assert not Run.objects.exists()
    page = client.get(reverse("runs:models")).content.decode()
    assert "Frontier 5" in page and "frontier-5-2025" in page and "Example Lab" in page
    assert "2025-09-01" in page and "active" in page


def test_registering_a_model_can_run_the_current_suite_on_it_at_once(client, sign_in, small_suite):
    sign_in("operator")
    form = client.get(reverse("runs:new_model")).context["form"]
    assert services.current_suite() == small_suite
    assert form["run_suite"].value() == small_suite.pk
    response = client.post(
        reverse("runs:new_model"),
        model_data(run_suite=small_suite.pk, samples_per_task="2", budget="1.5"),
    )
    run = Run.objects.get(endpoint__slug="frontier-5")
    assert response["Location"] == reverse("graders:run", args=[run.pk])
    assert (run.suite, run.samples_per_task, run.budget) == (small_suite, 2, Decimal("1.5"))
    assert run.status == Run.Status.QUEUED


def test_a_suite_that_cannot_run_leaves_no_model_registered(client, sign_in, seeded):
    sign_in("operator")
    empty = Suite.objects.create(name="Empty", slug="empty")
    response = client.post(reverse("runs:new_model"), model_data(run_suite=empty.pk))
    assert response.status_code == 200
    assert "has no task versions" in response.context["form"].errors["run_suite"][0]
    assert not ModelEndpoint.objects.filter(slug="frontier-5").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{temperature: 0.2}", "The parameters are not valid JSON"),
        ("[0.2]", 'The parameters must be a JSON object, such as {"temperature": 0.2}, not a list'),
        ('"hot"', "not a string"),
        ('{"temperature": 3}', "temperature: must be at most 2, got 3"),
    ],
)
def test_parameters_that_are_not_a_valid_object_are_refused_on_their_field(
    client, sign_in, seeded, text, message
):
    sign_in("operator")
    response = client.post(reverse("runs:new_model"), model_data(parameters=text))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == ["parameters"]
    assert message in errors["parameters"][0]
    page = response.content.decode()
    assert 'href="#id_parameters">Parameters: ' in page  # the summary names the field
    assert not ModelEndpoint.objects.filter(slug="frontier-5").exists()


def test_the_register_form_takes_the_name_of_the_key_variable_never_a_key(client, sign_in, seeded):
    sign_in("operator")
    page = client.get(reverse("runs:new_model")).content.decode()
    assert "The key itself is never stored" in page
    response = client.post(reverse("runs:new_model"), model_data(api_key_env="sk-live-0123"))
    assert "not the key itself" in response.context["form"].errors["api_key_env"][0]
    assert not ModelEndpoint.objects.filter(slug="frontier-5").exists()


def test_editing_a_model_keeps_its_provider_and_model_id_once_it_has_runs(client, sign_in, run):
    sign_in("operator")
    url = reverse("runs:edit_model", args=["sim-model"])
    form = client.get(url).context["form"]
    assert form.fields["provider"].disabled and form.fields["model_id"].disabled
    response = client.post(
        url,
        model_data(
            slug="sim-model",
            display_name="Sim Model Renamed",
            provider=ModelEndpoint.Provider.SIMULATED,
            model_id="something-else",
            base_url="",
            api_key_env="",
            parameters='{"skill": 0.5}',
            input_price_per_mtok="2",
        ),
    )
    assert response.status_code == 302
    endpoint = ModelEndpoint.objects.get(slug="sim-model")
    assert endpoint.display_name == "Sim Model Renamed"
    assert endpoint.model_id == "sim-model"
    assert endpoint.parameters == {"skill": 0.5}
    assert endpoint.input_price_per_mtok == Decimal("2")
    assert client.get(reverse("runs:edit_model", args=["nope"])).status_code == 404


def test_the_model_list_shows_the_cost_so_far(client, sign_in, run):
    add_samples(run, {"cost": Decimal("0.0125")}, {"cost": Decimal("0.0175")})
    sign_in("operator")
    page = client.get(reverse("runs:models")).content.decode()
    assert "0.0300" in page


# --- schedules ------------------------------------------------------------------------


def test_an_operator_creates_a_schedule_with_its_beat_entry(
    client, sign_in, small_suite, make_endpoint
):
    user = sign_in("operator")
    endpoints = [make_endpoint("sim-a"), make_endpoint("sim-b")]
    response = client.post(
        reverse("runs:new_schedule"), schedule_data(small_suite, endpoints, budget_per_run="4")
    )
    assert response["Location"] == reverse("runs:schedules")
    schedule = Schedule.objects.get(name="Weekly frontier")
    assert set(schedule.endpoints.all()) == set(endpoints)
    assert (schedule.cron, schedule.samples_per_task) == ("0 3 * * 1", 2)
    assert schedule.budget_per_run == Decimal("4")
    assert schedule.created_by == user
    entry = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert (entry.crontab.minute, entry.crontab.hour, entry.crontab.day_of_week) == ("0", "3", "1")
    page = client.get(reverse("runs:schedules")).content.decode()
    assert "Weekly frontier" in page and "0 3 * * 1" in page and "Sim A" in page


@pytest.mark.parametrize(
    ("cron", "message"),
    [("every monday", "cron needs 5 fields"), ("61 * * * *", "cron field minute '61'")],
)
def test_a_bad_cron_expression_is_shown_on_its_field(
    client, sign_in, small_suite, make_endpoint, cron, message
):
    sign_in("operator")
    data = schedule_data(small_suite, [make_endpoint("sim-a")], cron=cron)
    response = client.post(reverse("runs:new_schedule"), data)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == ["cron"] and message in errors["cron"][0]
    assert 'href="#id_cron"' in response.content.decode()
    assert not Schedule.objects.exists()


def test_editing_a_schedule_renames_it_and_updates_the_same_beat_entry(
    client, sign_in, small_suite, make_endpoint
):
    sign_in("operator")
    model = make_endpoint("sim-a")
    schedule = services.save_schedule(
        name="Weekly", suite=small_suite, endpoints=[model], cron="0 2 * * 1", samples_per_task=1
    )
    url = reverse("runs:edit_schedule", args=[schedule.pk])
    assert client.get(url).context["form"]["cron"].value() == "0 2 * * 1"
    data = schedule_data(small_suite, [model], name="Nightly", cron="30 1 * * *")
    del data["enabled"]
    assert client.post(url, data).status_code == 302
    schedule.refresh_from_db()
    assert (schedule.name, schedule.cron, schedule.enabled) == ("Nightly", "30 1 * * *", False)
    assert Schedule.objects.count() == 1
    entry = PeriodicTask.objects.get(name__startswith="evalbuilder schedule")
    assert (entry.crontab.minute, entry.crontab.hour, entry.enabled) == ("30", "1", False)
    assert client.get(reverse("runs:edit_schedule", args=[999])).status_code == 404


def test_a_new_schedule_may_not_take_the_name_of_another(
    client, sign_in, small_suite, make_endpoint
):
    sign_in("operator")
    model = make_endpoint("sim-a")
    services.save_schedule(
        name="Weekly", suite=small_suite, endpoints=[model], cron="0 2 * * 1", samples_per_task=1
    )
    response = client.post(
        reverse("runs:new_schedule"),
        schedule_data(small_suite, [model], name="Weekly", cron="5 * * * *"),
    )
    assert "Another schedule has this name." in response.context["form"].errors["name"]
    assert Schedule.objects.get().cron == "0 2 * * 1"


def test_run_now_queues_a_run_per_active_model_and_says_so(
    client, sign_in, small_suite, make_endpoint
):
    sign_in("operator")
    active, inactive = make_endpoint("sim-a"), make_endpoint("sim-b", is_active=False)
    schedule = services.save_schedule(
        name="Weekly",
        suite=small_suite,
        endpoints=[active, inactive],
        cron="0 2 * * 1",
        samples_per_task=2,
        budget_per_run=Decimal("3"),
    )
    url = reverse("runs:run_schedule", args=[schedule.pk])
    assert client.get(url).status_code == 405
    response = client.post(url, follow=True)
    assert response.redirect_chain == [(reverse("graders:run_list"), 302)]
    run = Run.objects.get()
    assert (run.endpoint, run.schedule, run.budget) == (active, schedule, Decimal("3"))
    assert f"Schedule Weekly: 1 run(s) queued (#{run.pk})." in response.content.decode()

    add_samples(run, {"cost": Decimal("0.5")}, {"cost": Decimal("0.25")})
    response = client.get(reverse("runs:schedules"))
    ((listed, cost),) = response.context["rows"]
    assert (listed, cost["runs"], cost["cost"]) == (schedule, 1, Decimal("0.75"))
    assert "0.7500" in response.content.decode()


# --- one-off runs ---------------------------------------------------------------------


def test_a_one_off_run_is_queued_for_each_model_chosen(client, sign_in, small_suite, make_endpoint):
    sign_in("operator")
    endpoints = [make_endpoint("sim-a"), make_endpoint("sim-b")]
    form = client.get(reverse("runs:new_run")).context["form"]
    assert form["suite"].value() == small_suite.pk
    data = {
        "suite": small_suite.pk,
        "endpoints": [e.pk for e in endpoints],
        "samples_per_task": "2",
        "budget": "3.5",
        "fresh_samples": "on",
    }
    response = client.post(reverse("runs:new_run"), data)
    assert response["Location"] == reverse("graders:run_list")
    runs = Run.objects.order_by("pk")
    assert [r.endpoint for r in runs] == endpoints
    for r in runs:
        assert (r.samples_per_task, r.budget, r.fresh_samples) == (2, Decimal("3.5"), True)
        assert r.planned_samples == 4

    one = {**data, "endpoints": [endpoints[0].pk], "budget": ""}
    response = client.post(reverse("runs:new_run"), one)
    newest = Run.objects.order_by("-pk").first()
    assert response["Location"] == reverse("graders:run", args=[newest.pk])
    assert newest.budget is None


def test_a_suite_that_cannot_run_is_reported_on_the_run_form_and_nothing_is_queued(
    client, sign_in, seeded, make_endpoint
):
    sign_in("operator")
    empty = Suite.objects.create(name="Empty", slug="empty")
    data = {"suite": empty.pk, "endpoints": [make_endpoint("sim-a").pk], "samples_per_task": "1"}
    response = client.post(reverse("runs:new_run"), data)
    assert response.status_code == 200
    assert (
        "Suite 'empty' has no task versions to run" in response.context["form"].non_field_errors()
    )
    assert "There is a problem" in response.content.decode()
    assert not Run.objects.exists()


# --- run controls and progress --------------------------------------------------------


def test_the_buttons_follow_the_state_of_the_run_and_change_it(client, sign_in, run):
    sign_in("operator")
    page_url = reverse("graders:run", args=[run.pk])
    assert visible_controls(client.get(page_url).content.decode()) == {"pause", "cancel"}

    response = client.post(reverse("runs:pause", args=[run.pk]), follow=True)
    run.refresh_from_db()
    assert run.status == Run.Status.PAUSED
    page = response.content.decode()
    assert f"Run #{run.pk} is paused." in page
    assert "Paused by an operator." in page  # the stop reason
    assert visible_controls(page) == {"resume", "cancel"}

    response = client.post(reverse("runs:resume", args=[run.pk]), {"budget": "2.5"}, follow=True)
    run.refresh_from_db()
    assert (run.status, run.budget, run.stop_reason) == (Run.Status.RUNNING, Decimal("2.5"), "")
    assert visible_controls(response.content.decode()) == {"pause", "cancel"}

    response = client.post(reverse("runs:cancel", args=[run.pk]), follow=True)
    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED
    page = response.content.decode()
    assert "Cancelled by an operator." in page
    assert visible_controls(page) == set()
    assert "data-progress-url" not in page  # a finished run is not followed


def test_an_action_the_run_is_past_is_refused_with_a_message(client, sign_in, run):
    sign_in("operator")
    Run.objects.filter(pk=run.pk).update(status=Run.Status.COMPLETED)
    response = client.post(reverse("runs:pause", args=[run.pk]), follow=True)
    assert f"Run #{run.pk} is completed: it cannot be paused." in response.content.decode()
    run.refresh_from_db()
    assert run.status == Run.Status.COMPLETED
    assert client.get(reverse("runs:pause", args=[run.pk])).status_code == 405
    assert client.post(reverse("runs:cancel", args=[999])).status_code == 404


def test_a_run_that_spent_its_budget_resumes_only_with_a_higher_one(client, sign_in, run):
    sign_in("operator")
    add_samples(run, {"cost": Decimal("0.02")})
    Run.objects.filter(pk=run.pk).update(budget=Decimal("0.01"))
    services.pause_run(run, reason="Stopped: budget of 0.01 reached.")
    response = client.post(reverse("runs:resume", args=[run.pk]), follow=True)
    assert "give a higher budget to resume it" in response.content.decode()
    run.refresh_from_db()
    assert run.status == Run.Status.PAUSED
    response = client.post(reverse("runs:resume", args=[run.pk]), {"budget": "-1"}, follow=True)
    assert "New budget: " in response.content.decode()
    client.post(reverse("runs:resume", args=[run.pk]), {"budget": "1"})
    run.refresh_from_db()
    assert (run.status, run.budget) == (Run.Status.RUNNING, Decimal("1"))


def test_progress_json_gives_the_progress_and_the_status(client, sign_in, run):
    add_samples(
        run,
        {"cost": Decimal("0.01"), "input_tokens": 100, "output_tokens": 50},
        {"status": Sample.Status.FAILED, "error_kind": "rate_limit", "tries": 4},
    )
    sign_in("analyst")
    response = client.get(reverse("runs:progress", args=[run.pk]))
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    data = response.json()
    expected_keys = {
        "planned", "written", "done", "failed", "cached", "retries", "remaining",
        "input_tokens", "output_tokens", "cost", "budget", "errors_by_kind",
        "elapsed_seconds", "samples_per_minute", "eta_seconds", "concurrency",
        "status", "status_display", "is_finished", "can_pause", "can_resume", "can_cancel",
        "stop_reason", "eta", "elapsed",
    }  # fmt: skip
    assert expected_keys <= set(data)
    assert (data["planned"], data["written"], data["done"], data["failed"]) == (6, 2, 1, 1)
    assert data["errors_by_kind"] == {"rate_limit": 1}
    assert Decimal(data["cost"]) == Decimal("0.01")
    assert (data["input_tokens"], data["output_tokens"]) == (100, 50)
    assert (data["status"], data["status_display"], data["is_finished"]) == (
        "queued",
        "Queued",
        False,
    )
    assert (data["can_pause"], data["can_resume"], data["can_cancel"]) == (True, False, True)
    assert client.get(reverse("runs:progress", args=[999])).status_code == 404


def test_the_run_page_shows_progress_errors_by_kind_and_cost(client, sign_in, run):
    Run.objects.filter(pk=run.pk).update(budget=Decimal("5"), concurrency=6)
    add_samples(
        run,
        {"cost": Decimal("0.0125"), "input_tokens": 1200, "output_tokens": 300},
        {"cost": Decimal("0.0175"), "cached": True},
        {"status": Sample.Status.FAILED, "error_kind": "rate_limit"},
        {"status": Sample.Status.FAILED, "error_kind": "rate_limit"},
        {"status": Sample.Status.FAILED, "error_kind": "timeout"},
    )
    sign_in("operator")
    page = client.get(reverse("graders:run", args=[run.pk])).content.decode()
    assert '<progress max="6" value="5"' in page
    assert f'data-progress-url="{reverse("runs:progress", args=[run.pk])}"' in page
    assert '<span class="code">rate_limit</span>: 2' in page
    assert '<span class="code">timeout</span>: 1' in page
    assert '<span data-progress="cost" data-format="money">0.0300</span>' in page
    assert "5.0000" in page  # the budget
    assert '<span data-progress="input_tokens" data-format="count">1,200</span>' in page
    assert '<span data-progress="concurrency">6</span>' in page
    assert '<span data-progress="cached" data-format="count">1</span>' in page
    assert 'role="status"' in page


def test_the_run_list_filters_by_status_and_shows_progress(
    client, sign_in, small_suite, make_endpoint
):
    sign_in("analyst")
    queued = services.create_run(small_suite, make_endpoint("sim-a"))
    paused = services.create_run(small_suite, make_endpoint("sim-b"))
    services.pause_run(paused)
    add_samples(paused, {"cost": Decimal("0.02")})
    url = reverse("graders:run_list")
    assert {r.pk for r in client.get(url).context["page"]} == {queued.pk, paused.pk}
    response = client.get(url, {"status": "paused"})
    assert [r.pk for r in response.context["page"]] == [paused.pk]
    page = response.content.decode()
    assert '<progress max="2" value="1"' in page
    assert '<option value="paused" selected>' in page
    assert [r.pk for r in client.get(url, {"model": "sim-a"}).context["page"]] == [queued.pk]
    assert len(client.get(url, {"status": "bogus"}).context["page"]) == 2


# --- the command line -----------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.django_db(transaction=True)
def test_run_suite_takes_a_budget_and_prints_plain_lines_off_a_terminal(
    eager_celery, small_suite, make_endpoint, simulated_grader
):
    make_endpoint("sim-a")
    out = io.StringIO()
    call_command(
        "run_suite", "--suite", "small", "--model", "sim-a", "--budget", "5", "--wait", stdout=out
    )
    run = Run.objects.get()
    assert (run.status, run.budget) == (Run.Status.COMPLETED, Decimal("5"))
    text = out.getvalue()
    assert f"run {run.pk} sim-a [########################] 2/2" in text
    assert "cost 0.0000 of 5.0000" in text and "completed" in text
    assert "\r" not in text and "\x1b" not in text


@pytest.mark.django_db(transaction=True)
def test_run_suite_redraws_one_line_per_run_in_place_on_a_terminal(
    eager_celery, small_suite, make_endpoint, simulated_grader, monkeypatch
):
    def wait_with_two_looks(run_ids, *, timeout, on_progress, poll=1.0):
        runs = list(Run.objects.filter(pk__in=run_ids).select_related("endpoint"))
        on_progress(runs)
        on_progress(runs)
        return runs

    monkeypatch.setattr(services, "wait_for_runs", wait_with_two_looks)
    make_endpoint("sim-a")
    make_endpoint("sim-b")
    out = Terminal()
    call_command(
        "run_suite", "--suite", "small", "--model", "sim-a", "--model", "sim-b", "--wait",
        stdout=out,
    )  # fmt: skip
    draws = out.getvalue().split("\x1b[2A")  # the second look moves up over both lines
    assert len(draws) == 2
    for draw in draws:
        assert draw.count("\r") == 2 and draw.count("\x1b[K") == 2
        assert "sim-a [" in draw and "sim-b [" in draw


@pytest.mark.django_db(transaction=True)
def test_run_suite_stops_waiting_once_every_run_is_paused_for_its_budget(
    eager_celery, small_suite, make_endpoint, simulated_grader
):
    make_endpoint("sim-a")
    with pytest.raises(CommandError, match="paused, waiting for an operator to resume"):
        call_command(
            "run_suite", "--suite", "small", "--model", "sim-a", "--budget", "0", "--wait",
            stdout=io.StringIO(),
        )  # fmt: skip
    assert Run.objects.get().status == Run.Status.PAUSED


def test_run_suite_refuses_a_negative_budget(small_suite, make_endpoint):
    make_endpoint("sim-a")
    with pytest.raises(CommandError, match="--budget: must be 0 or more"):
        call_command("run_suite", "--suite", "small", "--model", "sim-a", "--budget", "-1")
    assert not Run.objects.exists()


def test_schedules_and_one_off_runs_can_use_the_batch_api(
    client, sign_in, small_suite, make_endpoint
):
    sign_in("operator")
    model = make_endpoint("sim-batch")
    response = client.post(
        "/schedules/new/",
        {
            "name": "Batched nightly",
            "suite": small_suite.pk,
            "endpoints": [model.pk],
            "cron": "0 3 * * *",
            "samples_per_task": 2,
            "use_batch": "on",
            "enabled": "on",
        },
    )
    assert response.status_code == 302
    assert Schedule.objects.get(name="Batched nightly").use_batch
    response = client.post(
        "/runs/new/",
        {
            "suite": small_suite.pk,
            "endpoints": [model.pk],
            "samples_per_task": 1,
            "use_batch": "on",
        },
    )
    assert response.status_code == 302
    run = Run.objects.get()
    assert run.use_batch
    assert "provider batch API" in client.get(f"/runs/{run.pk}/").content.decode()
