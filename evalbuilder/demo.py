"""The offline demo that quickstart installs: simulated models, a judge, a schedule, users."""

from __future__ import annotations

import datetime
import secrets
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import yaml
from django.contrib.auth import get_user_model
from django.db import transaction

from evalbuilder.roles import ADMIN, ensure_role_groups
from graders.models import Grader
from occupations.models import Suite
from occupations.seeding import SEED_DIR
from runs import services as run_services
from runs.models import ModelEndpoint, Schedule

DEMO_FILE = SEED_DIR / "demo.yaml"


@dataclass
class Demo:
    endpoints: list[ModelEndpoint]
    judge: ModelEndpoint
    grader: Grader
    schedule: Schedule
    credentials: dict[str, str]


def _simulated_endpoint(spec: dict) -> ModelEndpoint:
    release = spec["release_date"]
    if isinstance(release, str):
        release = datetime.date.fromisoformat(release)
    endpoint, _ = ModelEndpoint.objects.update_or_create(
        slug=spec["slug"],
        defaults={
            "display_name": spec["display_name"],
            "provider": ModelEndpoint.Provider.SIMULATED,
            "model_id": spec["slug"],
            "family": spec.get("family", ""),
            "lab": spec.get("lab", ""),
            "release_date": release,
            "input_price_per_mtok": Decimal(str(spec.get("input_price_per_mtok", "0"))),
            "output_price_per_mtok": Decimal(str(spec.get("output_price_per_mtok", "0"))),
            "parameters": spec.get("parameters", {}),
        },
    )
    return endpoint


def _demo_users(specs: list[dict]) -> dict[str, str]:
    """Create the demo users with fresh random passwords, printed by quickstart."""
    groups = ensure_role_groups()
    User = get_user_model()
    credentials = {}
    for spec in specs:
        user, _ = User.objects.get_or_create(username=spec["username"])
        password = secrets.token_urlsafe(9)
        user.set_password(password)
        user.is_staff = True
        user.is_superuser = spec["role"] == ADMIN
        user.email = f"{spec['username']}@example.org"
        user.save()
        user.groups.set([groups[spec["role"]]])
        credentials[spec["username"]] = password
    return credentials


@transaction.atomic
def install_demo(path: Path = DEMO_FILE) -> Demo:
    """Register the demo's simulated models, judge, grader, schedule and users (idempotent)."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    endpoints = [_simulated_endpoint(item) for item in spec["endpoints"]]
    judge = _simulated_endpoint(spec["judge"])
    grader, _ = Grader.objects.update_or_create(
        name=spec["grader"]["name"],
        defaults={
            "kind": Grader.Kind.LLM_RUBRIC,
            "judge": judge,
            "mode": spec["grader"].get("mode", Grader.Mode.PER_CRITERION),
            "is_active": True,
        },
    )
    schedule_spec = spec["schedule"]
    schedule = run_services.save_schedule(
        name=schedule_spec["name"],
        suite=Suite.objects.get(slug=schedule_spec["suite"]),
        endpoints=endpoints,
        cron=schedule_spec["cron"],
        samples_per_task=schedule_spec["samples_per_task"],
    )
    credentials = _demo_users(spec.get("users", []))
    return Demo(endpoints, judge, grader, schedule, credentials)
