"""The load test's data: a fresh PostgreSQL database with the demo and 50 experts at work.

Drops and re-creates the database, migrates it, then, in this process (Django; never in
locust's, whose gevent patching does not mix with it):

1. the demo quickstart installs: the seeds (SOC 2018, 15 example tasks, the demo suite),
   its simulated models, judge graders, schedule, users and panel;
2. one graded run of the demo suite per simulated model, 3 samples per task, sampled and
   graded in this process (Celery eager), so every report page has figures;
3. an approved official release of those runs;
4. 50 experts (the author role), five in each of ten job-category panels, each owning one
   task draft with full text and a five-criterion rubric;

and writes the plan the locustfile reads: the host, the experts' usernames and task slugs,
their password, and the report pages readers open.

    uv run python bench/load/prepare.py --plan var/load/plan.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for common

import common

DEFAULT_DATABASE = "evalbuilder_load"
PANELS = 10
EXPERTS_PER_PANEL = 5
SAMPLES_PER_TASK = 3
TAGS = ("accuracy", "completeness", "reasoning", "communication", "accuracy")


def build(plan_path: Path, database_url: str) -> dict:
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"  # sample and grade here, no worker
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # not every eager task's line
    common.setup_django(database_url, "memory://localhost/")
    from django.conf import settings

    plan: dict = {"database": database_url}
    started = time.monotonic()
    demo = install_demo_data()
    print(f"Demo installed (seeds, models, graders, users) in {time.monotonic() - started:.1f} s")
    started = time.monotonic()
    runs = grade_demo_runs(demo)
    print(f"{len(runs)} demo runs sampled and graded in {time.monotonic() - started:.1f} s")
    # As in quickstart: the simulated judges cannot pass validation against experts.
    settings.EVALBUILDER_RELEASE_REQUIRES_VALIDATION = False
    release = approved_release(demo, runs)
    print(f"Release {release.identifier} approved")
    started = time.monotonic()
    password = secrets.token_urlsafe(12)
    plan["experts"] = make_experts(password)
    plan["password"] = password
    print(f"{len(plan['experts'])} experts with a draft each in {time.monotonic() - started:.1f} s")
    plan["reports"] = report_pages(demo, release)
    plan_path.parent.mkdir(parents=True, exist_ok=True)
    plan_path.write_text(json.dumps(plan, indent=2))
    plan_path.chmod(0o600)  # it holds the experts' password
    print(f"Plan written to {plan_path}")
    return plan


def install_demo_data():
    from evalbuilder.demo import install_demo
    from occupations.seeding import load_seeds

    print(f"  {load_seeds()}")
    return install_demo()


def grade_demo_runs(demo) -> list:
    from reports import materialise
    from reports.models import TaskResult
    from runs import services as run_services
    from runs.models import Run

    runs = [
        run_services.create_run(
            demo.schedule.suite, endpoint, samples_per_task=SAMPLES_PER_TASK, schedule=demo.schedule
        )
        for endpoint in demo.endpoints
    ]
    for run in runs:
        run.refresh_from_db()
        if run.status != Run.Status.COMPLETED:
            raise RuntimeError(f"demo run {run.pk} on {run.endpoint.slug} ended {run.status}")
    if not TaskResult.objects.exists():
        materialise.refresh_all()
    return runs


def approved_release(demo, runs):
    from django.contrib.auth import get_user_model

    from evalbuilder.roles import ANALYST, ensure_role_groups
    from reports import releases
    from reports.selectors import default_taxonomy

    analyst = get_user_model().objects.create_user("load-analyst")
    analyst.groups.add(ensure_role_groups()[ANALYST])
    release = releases.prepare_release(
        user=analyst,
        series="ai-and-work",
        title="AI models and the work of the nation",
        description="Success of simulated AI models on the demo's expert-written tasks.",
        suite=demo.schedule.suite,
        grader=demo.grader,
        endpoints=[run.endpoint for run in runs],
        taxonomy=default_taxonomy(),
        period_start=datetime.date(2023, 1, 1),
        period_end=datetime.date(2025, 12, 31),
        # Nothing suppressed: the release page carries every figure, its heaviest form.
        disclosure_min_tasks=1,
    )
    return releases.approve(release, analyst)


def make_experts(password: str, seed: int = 11) -> list[dict[str, str]]:
    """Ten panels, one per job category with the most detailed occupations, of five experts
    each; every expert owns one draft in an occupation of their panel's category."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.db.models import Count, Q

    from evalbuilder.roles import AUTHOR, ensure_role_groups
    from occupations import workflow
    from occupations.models import Occupation, Panel, PanelMembership

    rng = random.Random(seed)
    author_group = ensure_role_groups()[AUTHOR]
    # One hash for all: it is deliberately slow, and each expert still signs in on its own.
    hashed = make_password(password)
    categories = (
        Occupation.objects.filter(level=Occupation.Level.MAJOR)
        .annotate(detailed=Count("members", filter=Q(members__level=Occupation.Level.DETAILED)))
        .order_by("-detailed", "code")[:PANELS]
    )
    experts = []
    with transaction.atomic():
        for p, category in enumerate(categories):
            panel = Panel.objects.create(
                name=f"{category.title} panel", slug=f"load-panel-{p + 1:02d}"
            )
            panel.occupations.add(category)
            occupations = list(
                Occupation.objects.filter(
                    job_category=category, level=Occupation.Level.DETAILED
                ).order_by("code")
            )
            for e in range(EXPERTS_PER_PANEL):
                number = p * EXPERTS_PER_PANEL + e + 1
                username = f"expert{number:02d}"
                user = get_user_model().objects.create(
                    username=username, email=f"{username}@example.org", password=hashed
                )
                user.groups.add(author_group)
                PanelMembership.objects.create(panel=panel, user=user, role=Panel.Role.AUTHOR)
                occupation = occupations[e % len(occupations)]
                task = workflow.create_task(
                    author=user,
                    occupation=occupation,
                    title=f"{occupation.title}: work sample {number}",
                    visibility="public",
                )
                workflow.save_draft(
                    task.latest_version(),
                    user=user,
                    expected_revision=0,
                    title=task.title,
                    visibility=task.visibility,
                    fields=draft_fields(rng),
                    criteria=draft_criteria(rng),
                )
                experts.append({"username": username, "task": task.slug})
    return experts


def draft_fields(rng: random.Random) -> dict:
    """A full draft, about the size of the seeded example tasks."""
    return {
        "instructions": common.prose(rng, 150),
        "context": common.prose(rng, 250),
        "deliverable": common.prose(rng, 40),
        "estimated_minutes": rng.randint(30, 240),
        "minutes_estimate_method": "Timed two colleagues on similar work",
        "reference_solution": common.prose(rng, 120),
        "pass_threshold": 0.7,
    }


def draft_criteria(rng: random.Random) -> list:
    from occupations import workflow

    criteria = [
        workflow.CriterionDraft(common.prose(rng, 12), rng.randint(2, 6), tag) for tag in TAGS[:-1]
    ]
    criteria.append(workflow.CriterionDraft(common.prose(rng, 12), -4, TAGS[-1]))
    return criteria


def report_pages(demo, release) -> dict[str, list[str]]:
    """Every public report page readers open, by kind, as paths."""
    from django.urls import reverse

    from occupations.models import Occupation, Task
    from reports.selectors import default_taxonomy

    taxonomy = default_taxonomy()
    measured = Task.objects.filter(
        published_version__isnull=False, occupation__taxonomy=taxonomy
    ).values("occupation")
    occupations = Occupation.objects.filter(pk__in=measured).order_by("code")
    categories = Occupation.objects.filter(pk__in=occupations.values("job_category")).order_by(
        "code"
    )
    slugs = [endpoint.slug for endpoint in demo.endpoints]
    return {
        "home": [reverse("reports:home")],
        "job_category": [reverse("reports:job_category", args=[c.pk]) for c in categories],
        "occupation": [reverse("reports:occupation", args=[o.pk]) for o in occupations],
        "model": [reverse("reports:model", args=[slug]) for slug in slugs],
        "compare": [
            f"{reverse('reports:compare')}?a={a}&b={b}"
            for i, a in enumerate(slugs)
            for b in slugs[i + 1 :]
        ],
        "release_list": [reverse("reports:release_list")],
        "release": [reverse("reports:release", args=[release.identifier])],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", default=common.POSTGRES_SERVER)
    parser.add_argument("--database", default=DEFAULT_DATABASE, help="Dropped and re-created.")
    parser.add_argument("--plan", type=Path, required=True, help="Where to write the plan.")
    options = parser.parse_args()
    started = time.monotonic()
    url = common.recreate_database(options.postgres, options.database)
    print(f"Database {options.database} created and migrated in {time.monotonic() - started:.1f} s")
    build(options.plan, url)


if __name__ == "__main__":
    main()
