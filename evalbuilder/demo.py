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
from django.db.models import F

from evalbuilder.roles import ADMIN, ROLE_PERMISSIONS, ensure_role_groups
from graders.models import Grader
from occupations.models import Occupation, Panel, PanelMembership, Suite
from occupations.seeding import SEED_DIR
from runs import services as run_services
from runs.models import ModelEndpoint, Schedule

DEMO_FILE = SEED_DIR / "demo.yaml"


class DemoError(ValueError):
    """A problem in seeds/demo.yaml; nothing was written."""


@dataclass
class Demo:
    endpoints: list[ModelEndpoint]
    judge: ModelEndpoint
    grader: Grader
    """The first judge grader of the file."""
    graders: list[Grader]
    """Every demo grader (the latest version of each name)."""
    schedule: Schedule
    credentials: dict[str, str]
    """Password of each demo user created now; empty for users that already existed."""


def _read_demo(path: Path) -> dict:
    """Read demo.yaml, naming the field of the first problem found."""
    where = f"seeds/{path.name}"
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise DemoError(f"{where}: cannot be read: {error}") from error
    if not isinstance(spec, dict):
        raise DemoError(f"{where}: must be a mapping")

    def need(mapping: object, field: str, record: str) -> object:
        if not isinstance(mapping, dict) or mapping.get(field) in (None, ""):
            raise DemoError(f"{where}: {record}: field '{field}' is missing")
        return mapping[field]

    endpoints = need(spec, "endpoints", "file")
    if not isinstance(endpoints, list):
        raise DemoError(f"{where}: file: field 'endpoints' must be a list")
    for index, item in enumerate([*endpoints, spec.get("judge")], 1):
        record = f"endpoint {index}" if index <= len(endpoints) else "judge"
        for field in ("slug", "display_name", "release_date"):
            need(item, field, record)
        release = item["release_date"]
        if isinstance(release, str):
            try:
                item["release_date"] = datetime.date.fromisoformat(release)
            except ValueError as error:
                raise DemoError(f"{where}: {record}: field 'release_date': {error}") from error
        elif not isinstance(release, datetime.date):
            raise DemoError(f"{where}: {record}: field 'release_date' must be a date")
    graders = need(spec, "graders", "file")
    if not isinstance(graders, list):
        raise DemoError(f"{where}: file: field 'graders' must be a list")
    for index, item in enumerate(graders, 1):
        need(item, "name", f"grader {index}")
        kind = item.get("kind", Grader.Kind.LLM_RUBRIC)
        if kind not in Grader.Kind.values:
            raise DemoError(f"{where}: grader {index}: field 'kind': unknown kind {kind!r}")
        if item.get("mode", Grader.Mode.PER_CRITERION) not in Grader.Mode.values:
            raise DemoError(f"{where}: grader {index}: field 'mode': unknown mode {item['mode']!r}")
    if not any(g.get("kind", Grader.Kind.LLM_RUBRIC) == Grader.Kind.LLM_RUBRIC for g in graders):
        raise DemoError(f"{where}: file: field 'graders' needs an llm_rubric grader")
    for field in ("name", "suite", "cron", "samples_per_task"):
        need(spec.get("schedule"), field, "schedule")
    for index, user in enumerate(spec.get("users") or [], 1):
        need(user, "username", f"user {index}")
        if need(user, "role", f"user {index}") not in ROLE_PERMISSIONS:
            raise DemoError(f"{where}: user {index}: field 'role': unknown role {user['role']!r}")
    return spec


def _simulated_endpoint(spec: dict) -> ModelEndpoint:
    endpoint, _ = ModelEndpoint.objects.update_or_create(
        slug=spec["slug"],
        defaults={
            "display_name": spec["display_name"],
            "provider": ModelEndpoint.Provider.SIMULATED,
            "model_id": spec["slug"],
            "family": spec.get("family", ""),
            "lab": spec.get("lab", ""),
            "release_date": spec["release_date"],
            "input_price_per_mtok": Decimal(str(spec.get("input_price_per_mtok", "0"))),
            "output_price_per_mtok": Decimal(str(spec.get("output_price_per_mtok", "0"))),
            "parameters": spec.get("parameters", {}),
        },
    )
    return endpoint


def _demo_users(specs: list[dict]) -> dict[str, str]:
    """Create the demo users that do not exist yet, with random passwords quickstart prints.

    Users that exist already are left exactly as they are.
    """
    groups = ensure_role_groups()
    User = get_user_model()
    credentials = {}
    for spec in specs:
        if User.objects.filter(username=spec["username"]).exists():
            credentials[spec["username"]] = ""
            continue
        password = secrets.token_urlsafe(9)
        user = User.objects.create_user(
            username=spec["username"],
            email=f"{spec['username']}@example.org",
            password=password,
            is_staff=True,
            is_superuser=spec["role"] == ADMIN,
        )
        user.groups.set([groups[spec["role"]]])
        credentials[spec["username"]] = password
    return credentials


@transaction.atomic
def install_demo(path: Path = DEMO_FILE) -> Demo:
    """Register the demo's simulated models, judge, graders, schedule and users (idempotent)."""
    spec = _read_demo(path)
    suite = Suite.objects.filter(slug=spec["schedule"]["suite"]).first()
    if suite is None:
        raise DemoError(
            f"seeds/{path.name}: schedule: field 'suite': no suite {spec['schedule']['suite']!r}"
        )
    endpoints = [_simulated_endpoint(item) for item in spec["endpoints"]]
    judge = _simulated_endpoint(spec["judge"])
    graders = [_demo_grader(item, judge) for item in spec["graders"]]
    schedule_spec = spec["schedule"]
    schedule = run_services.save_schedule(
        name=schedule_spec["name"],
        suite=suite,
        endpoints=endpoints,
        cron=schedule_spec["cron"],
        samples_per_task=schedule_spec["samples_per_task"],
    )
    credentials = _demo_users(spec.get("users", []))
    _demo_panels(spec.get("panels", []))
    grader = next(g for g in graders if not g.is_human)
    return Demo(endpoints, judge, grader, graders, schedule, credentials)


def _demo_grader(spec: dict, judge: ModelEndpoint) -> Grader:
    """The latest version of a demo grader; created only when its name is new, since an
    operator may have made newer versions or retired it, and graded versions are frozen."""
    existing = Grader.objects.filter(name=spec["name"]).order_by("-version").first()
    if existing is not None:
        return existing
    kind = spec.get("kind", Grader.Kind.LLM_RUBRIC)
    human = kind == Grader.Kind.HUMAN
    return Grader.objects.create(
        name=spec["name"],
        kind=kind,
        judge=None if human else judge,
        mode=spec.get("mode", Grader.Mode.PER_CRITERION),
        grades_per_sample=spec.get("grades_per_sample", 2),
        is_active=True,
    )


def _demo_panels(specs: list[dict]) -> None:
    """Panels with their job categories and members (memberships are added, never removed)."""
    User = get_user_model()
    for spec in specs:
        panel, _ = Panel.objects.update_or_create(
            slug=spec["slug"],
            defaults={"name": spec["name"], "description": spec.get("description", "")},
        )
        categories = Occupation.objects.filter(job_category_id=F("pk"))
        if spec.get("job_categories", "all") != "all":
            categories = categories.filter(code__in=spec["job_categories"])
        panel.occupations.add(*categories)
        for role, key in ((Panel.Role.AUTHOR, "authors"), (Panel.Role.REVIEWER, "reviewers")):
            for username in spec.get(key, []):
                PanelMembership.objects.get_or_create(
                    panel=panel, user=User.objects.get(username=username), role=role
                )
