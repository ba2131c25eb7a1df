"""The production files, checked by reading them (no Docker engine is needed)."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


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
    assert set(compose()["volumes"]) >= {"postgres", "redis"}


def test_the_image_serves_the_wsgi_application():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.11" in dockerfile
    assert "collectstatic" in dockerfile
    assert "evalbuilder.wsgi:application" in dockerfile
    assert "USER evalbuilder" in dockerfile
