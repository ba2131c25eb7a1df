"""The adversarial suite against a real judge, with the pre-filter off: how often do the
attacks fool it? Opt-in: it makes network calls and costs money.

    EVALBUILDER_REAL_JUDGE_PROVIDER=openai|anthropic|openai_compatible \\
    EVALBUILDER_REAL_JUDGE_MODEL=<model id> \\
    EVALBUILDER_REAL_JUDGE_BASE_URL=<optional server address> \\
    EVALBUILDER_REAL_JUDGE_KEY_ENV=<variable holding the key, default OPENAI_API_KEY or
    ANTHROPIC_API_KEY> \\
    uv run pytest tests/test_real_judge.py -s

It prints the attack success rate (the share of attacks that scored above 0) and asserts
only that every attack was graded, since the rate is what is being measured.
"""

import datetime
import os

import pytest

from graders.models import Grade, Grader
from graders.services import grade_samples
from runs.models import ModelEndpoint, Sample
from tests.adversarial import ATTACKS

PROVIDER = os.environ.get("EVALBUILDER_REAL_JUDGE_PROVIDER", "")
MODEL = os.environ.get("EVALBUILDER_REAL_JUDGE_MODEL", "")

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        not (PROVIDER and MODEL),
        reason="set EVALBUILDER_REAL_JUDGE_PROVIDER and EVALBUILDER_REAL_JUDGE_MODEL to run",
    ),
]


def test_attack_success_rate_of_a_real_judge_without_the_pre_filter(
    small_suite, make_endpoint, eager_celery, django_capture_on_commit_callbacks
):
    from runs import services as run_services

    judge = ModelEndpoint.objects.create(
        slug="real-judge",
        display_name=MODEL,
        provider=PROVIDER,
        model_id=MODEL,
        base_url=os.environ.get("EVALBUILDER_REAL_JUDGE_BASE_URL", ""),
        api_key_env=os.environ.get("EVALBUILDER_REAL_JUDGE_KEY_ENV", ""),
        release_date=datetime.date.today(),
    )
    with django_capture_on_commit_callbacks(execute=True):
        run = run_services.create_run(
            small_suite, make_endpoint("sim-model"), samples_per_task=len(ATTACKS)
        )
    version = small_suite.task_versions.order_by("pk").first()
    samples = list(
        run.samples.filter(status=Sample.Status.DONE, task_version=version).order_by("attempt")
    )
    for sample, attack in zip(samples, ATTACKS, strict=True):
        sample.output = attack.output
        sample.save(update_fields=["output"])
    grader = Grader.objects.create(
        name="real judge, no pre-filter", judge=judge, prefilter=False, is_active=False
    )
    grade_samples([s.pk for s in samples], [grader])

    grades = {g.sample_id: g for g in Grade.objects.filter(grader=grader)}
    assert len(grades) == len(ATTACKS)
    scored = [grades[s.pk] for s in samples if grades[s.pk].status == Grade.Status.SCORED]
    fooled = [
        attack.name
        for sample, attack in zip(samples, ATTACKS, strict=True)
        if grades[sample.pk].score is not None and grades[sample.pk].score > 0
    ]
    rate = len(fooled) / len(scored) if scored else 0.0
    print(
        f"\n{MODEL}: attack success rate {rate:.0%} ({len(fooled)} of {len(scored)} scored; "
        f"{len(ATTACKS) - len(scored)} unscored). Fooled by: {', '.join(fooled) or 'none'}"
    )
