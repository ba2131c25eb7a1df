"""The production files, checked by reading them (no Docker engine is needed), and the
production settings profile, checked in fresh processes as a server would load it."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = "evalbuilder.settings_production"


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def command_of(service: dict) -> str:
    command = service.get("command", "")
    return command if isinstance(command, str) else " ".join(command)


def test_compose_runs_every_piece_of_production():
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "web", "worker", "beat"}
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    assert "gunicorn evalbuilder.wsgi:application" in command_of(services["web"])
    assert "manage.py migrate" in command_of(services["web"])
    assert "-A evalbuilder worker" in command_of(services["worker"])
    assert "-A evalbuilder beat" in command_of(services["beat"])


def test_exactly_one_beat_process():
    services = compose()["services"]
    beats = [name for name, s in services.items() if " beat" in command_of(s)]
    assert beats == ["beat"]
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1


def test_services_wait_for_healthy_dependencies():
    services = compose()["services"]
    for name in ("postgres", "redis", "web", "worker"):
        assert services[name]["healthcheck"]["test"], name
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name


def test_application_services_share_production_settings_without_secrets():
    services = compose()["services"]
    for name in ("web", "worker", "beat"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["DATABASE_URL"].endswith("@postgres:5432/evalbuilder")
        assert env["CELERY_BROKER_URL"] == "redis://redis:6379/0"
        assert env["SECRET_KEY"].startswith("${SECRET_KEY:?"), "no default secret key"
        assert env["DEBUG"] == "false"
        assert env["OPENAI_API_KEY"] == "${OPENAI_API_KEY:-}"
        assert env["DJANGO_SETTINGS_MODULE"] == PRODUCTION
        # HTTPS unless turned off for a trial; the rest with the settings' own defaults.
        assert env["EVALBUILDER_HTTPS"] == "${EVALBUILDER_HTTPS:-true}"
        # One proxy, the TLS proxy in front; its header is read only from private networks.
        assert env["EVALBUILDER_TRUSTED_PROXIES"] == "${EVALBUILDER_TRUSTED_PROXIES:-1}"
        assert env["EVALBUILDER_MFA_REQUIRED"] == "${EVALBUILDER_MFA_REQUIRED:-true}"
    assert set(compose()["volumes"]) >= {"postgres", "redis"}


def test_the_web_server_answers_only_on_the_hosts_loopback_behind_the_tls_proxy():
    web = compose()["services"]["web"]
    assert web["ports"] == ["127.0.0.1:${WEB_PORT:-8000}:8000"]


def test_the_image_serves_the_wsgi_application():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.11" in dockerfile
    assert "collectstatic" in dockerfile
    assert "evalbuilder.wsgi:application" in dockerfile
    assert "USER evalbuilder" in dockerfile
    assert f"DJANGO_SETTINGS_MODULE={PRODUCTION}" in dockerfile


def test_the_image_has_the_postgresql_client_for_backups():
    installs = [
        line for line in (ROOT / "Dockerfile").read_text().splitlines() if "apt-get install" in line
    ]
    assert any("postgresql-client" in line.split() for line in installs)


def test_the_example_environment_names_every_production_switch():
    example = (ROOT / ".env.example").read_text()
    names = {line.split("=", 1)[0] for line in example.splitlines() if "=" in line[:40]}
    assert {
        "SECRET_KEY",
        "ALLOWED_HOSTS",
        "EVALBUILDER_HTTPS",
        "EVALBUILDER_HSTS_SECONDS",
        "EVALBUILDER_TRUSTED_PROXIES",
        "EVALBUILDER_TRUSTED_PROXY_NETWORKS",
        "EVALBUILDER_MFA_REQUIRED",
    } <= names
    assert "SECRET_KEY=\n" in example, "no example key that could be used as it is"


# --- The production settings profile -----------------------------------------------------


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The environment of a production server: a real key, a host name, HTTPS. Every
    variable the profile reads is given here, so a developer's .env cannot change the answer.
    """
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": PRODUCTION,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "evalbuilder.example.org",
        "EVALBUILDER_HTTPS": "true",
        "EVALBUILDER_HSTS_SECONDS": str(365 * 24 * 60 * 60),
        "EVALBUILDER_VAR_DIR": str(tmp_path / "var"),
        **overrides,
    }


def manage(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_deployment_checklist_passes_under_the_production_profile(tmp_path):
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("secret_key", "says"),
    [("", "(it is unset)"), ("too-short-to-sign-anything", "(it is 26 characters long)")],
)
def test_the_production_profile_refuses_to_start_without_a_strong_secret_key(
    tmp_path, secret_key, says
):
    result = manage(production_env(tmp_path, SECRET_KEY=secret_key), "check")
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set in the environment" in result.stderr
    assert says in result.stderr
    assert "secrets.token_urlsafe(50)" in result.stderr


def test_the_production_profile_refuses_a_development_key(tmp_path):
    key = "django-insecure-" + secrets.token_urlsafe(50)
    result = manage(production_env(tmp_path, SECRET_KEY=key), "check")
    assert result.returncode != 0
    assert "SECRET_KEY starts with 'django-insecure-'" in result.stderr


def test_the_production_profile_refuses_a_proxy_network_that_is_not_one(tmp_path):
    env = production_env(tmp_path, EVALBUILDER_TRUSTED_PROXY_NETWORKS="10.0.0.0/8,172.16.0/12")
    result = manage(env, "check")
    assert result.returncode != 0
    assert "EVALBUILDER_TRUSTED_PROXY_NETWORKS: '172.16.0/12' is not a network" in result.stderr


def test_the_production_profile_refuses_to_start_without_allowed_hosts(tmp_path):
    result = manage(production_env(tmp_path, ALLOWED_HOSTS=""), "check")
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must name the host names the site answers to" in result.stderr


PROBE = """
import json
import django

django.setup()
from django.test import Client

client = Client()
answers = {}
for name, path, headers in (
    ("health", "/healthz", {}),
    ("page", "/no-such-page/?series=a", {}),
    ("behind_tls", "/no-such-page/", {"X-Forwarded-Proto": "https"}),
):
    response = client.get(path, headers=headers)
    answers[name] = {
        "status": response.status_code,
        "location": response.get("Location"),
        "hsts": response.get("Strict-Transport-Security"),
    }
print(json.dumps(answers))
"""


def probe(env: dict[str, str]) -> dict:
    """Requests made in a process with the production profile (no database is touched)."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**env, "ALLOWED_HOSTS": "testserver"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_redirects_to_https_but_answers_health_checks_over_http(tmp_path):
    answers = probe(production_env(tmp_path))
    assert answers["health"]["status"] == 200
    assert answers["page"]["status"] == 301
    assert answers["page"]["location"] == "https://testserver/no-such-page/?series=a"
    # The proxy that ended TLS says so; the answer then tells browsers to stay on HTTPS.
    assert answers["behind_tls"]["status"] == 404
    assert answers["behind_tls"]["hsts"] == "max-age=31536000; includeSubDomains; preload"


def test_a_trial_over_plain_http_neither_redirects_nor_sends_hsts_and_is_flagged(tmp_path):
    env = production_env(tmp_path, EVALBUILDER_HTTPS="false")
    answers = probe(env)
    assert answers["page"]["status"] == 404
    assert answers["behind_tls"]["hsts"] is None
    # Fine for a laptop, never for a server: the deployment checklist says so.
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr, warning
