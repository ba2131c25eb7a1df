"""Which records the trail follows, which of their fields are states, and how each is named.

Names (labels) are read from the record and from related records already loaded, never with
a query, and never include task text: a held-out task's instructions, rubric or outputs must
not enter the trail, nor its slug (made from its title): it is "task #<id>".
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.db import models

# Bookkeeping that changes on every save and says nothing about what was done.
ALWAYS_IGNORED = frozenset({"updated_at"})
# Counters and clocks a one-time-code device updates on every verification.
OTP_BOOKKEEPING = frozenset(
    {
        "last_t",
        "drift",
        "throttling_failure_timestamp",
        "throttling_failure_count",
        "last_used_at",
        "created_at",
    }
)


def _related(instance: models.Model, name: str) -> models.Model | None:
    """A related record if it is loaded already (no query), else None."""
    relation = instance._meta.get_field(name)
    return relation.get_cached_value(instance) if relation.is_cached(instance) else None


def _task_label(task) -> str:
    return f"task #{task.pk}" if task.is_held_out else task.slug


def _version_label(version) -> str:
    task = _related(version, "task")
    return f"{_task_label(task) if task else f'task #{version.task_id}'} v{version.number}"


def _criterion_label(criterion) -> str:
    version = _related(criterion, "task_version")
    of = _version_label(version) if version else f"version #{criterion.task_version_id}"
    return f"{of} criterion {criterion.order}"


def _membership_label(membership) -> str:
    user, panel = _related(membership, "user"), _related(membership, "panel")
    who = user.get_username() if user else f"user #{membership.user_id}"
    where = panel.name if panel else f"panel #{membership.panel_id}"
    return f"{who} ({membership.role}) in {where}"


def _device_label(device) -> str:
    user = _related(device, "user")
    return f"{device.name} of {user.get_username() if user else f'user #{device.user_id}'}"


def _crontab_label(crontab) -> str:
    fields = (crontab.minute, crontab.hour, crontab.day_of_month, crontab.month_of_year)
    return f"{' '.join(fields)} {crontab.day_of_week} ({crontab.timezone})"


# What celery beat writes on every run of a periodic task.
BEAT_BOOKKEEPING = frozenset({"last_run_at", "total_run_count", "date_changed"})


@dataclass(frozen=True)
class Audited:
    """A model whose creations, changes and deletions the trail records."""

    model: str
    """app_label.ModelName."""
    label: Callable[[models.Model], str]
    """Its short name in the trail."""
    states: tuple[str, ...] = ()
    """Fields whose change is a state transition (status, enabled ...)."""
    ignored: frozenset[str] = frozenset()
    """Fields whose change alone is not worth an event."""
    m2m: tuple[str, ...] = ()
    """Many-to-many fields whose changes are recorded as updates."""


AUDITED: tuple[Audited, ...] = (
    Audited("occupations.Task", _task_label, states=("status", "visibility")),
    Audited(
        "occupations.TaskVersion",
        _version_label,
        states=("submitted_at", "published_at"),
        # Every save of a draft bumps its revision and names who saved, changed or not.
        ignored=frozenset({"revision", "updated_by"}),
        m2m=("task_statements",),
    ),
    Audited("occupations.RubricCriterion", _criterion_label),
    # Imports write occupations and statements in bulk and are recorded once each; what an
    # administrator edits by hand is recorded here.
    Audited("occupations.Taxonomy", str),
    Audited("occupations.Crosswalk", str),
    Audited("occupations.Panel", lambda panel: panel.name, m2m=("occupations",)),
    Audited("occupations.PanelMembership", _membership_label),
    Audited(
        "occupations.Suite", lambda suite: suite.slug, states=("frozen_at",), m2m=("task_versions",)
    ),
    Audited(
        "runs.Schedule", lambda schedule: schedule.name, states=("enabled",), m2m=("endpoints",)
    ),
    Audited("runs.ModelEndpoint", lambda endpoint: endpoint.slug, states=("is_active",)),
    Audited(
        "graders.Grader", lambda grader: grader.label, states=("is_active",), m2m=("extra_judges",)
    ),
    Audited(
        "reports.Release",
        lambda release: release.identifier,
        states=("status",),
        m2m=("endpoints",),
    ),
    Audited(
        "auth.User",
        lambda user: user.get_username(),
        states=("is_active",),
        # Set by every sign-in, which is recorded as such.
        ignored=frozenset({"last_login"}),
        m2m=("groups", "user_permissions"),
    ),
    Audited("auth.Group", lambda group: group.name, m2m=("permissions",)),
    # Beat's own table: what runs when. The schedules above keep it in step, and
    # administrators can edit it in the admin.
    Audited(
        "django_celery_beat.PeriodicTask",
        lambda periodic: periodic.name,
        states=("enabled",),
        ignored=BEAT_BOOKKEEPING,
    ),
    Audited("django_celery_beat.CrontabSchedule", _crontab_label),
    Audited(
        "django_celery_beat.IntervalSchedule",
        lambda interval: f"every {interval.every} {interval.period}",
    ),
    Audited("otp_totp.TOTPDevice", _device_label, states=("confirmed",), ignored=OTP_BOOKKEEPING),
    Audited(
        "otp_static.StaticDevice", _device_label, states=("confirmed",), ignored=OTP_BOOKKEEPING
    ),
)

_BY_LABEL: dict[str, Audited] = {spec.model.lower(): spec for spec in AUDITED}


def spec_of(model: type[models.Model]) -> Audited | None:
    return _BY_LABEL.get(model._meta.label_lower)


def target_types() -> list[str]:
    """The target types the trail records changes of, for the filter."""
    return sorted(_BY_LABEL)


def label_of(instance: models.Model) -> str:
    spec = _BY_LABEL.get(instance._meta.label_lower)
    if spec is not None:
        return spec.label(instance)[:200]
    # Other records are named by kind and id only: their text may be task content.
    return f"{instance._meta.verbose_name} #{instance.pk}"


def shows_values(model_field: models.Field) -> bool:
    """Whether old and new values of a field may be recorded: small states and numbers, never
    free text (titles, instructions, rubric text, outputs) and never secrets (keys, passwords,
    which are text fields)."""
    if model_field.is_relation:
        return bool(model_field.many_to_one or model_field.one_to_one)
    if isinstance(model_field, models.CharField):
        return bool(model_field.choices)
    return isinstance(
        model_field,
        models.BooleanField
        | models.IntegerField
        | models.FloatField
        | models.DecimalField
        | models.DateField,
    )


def plain(value: object) -> object:
    """A value as JSON holds it."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return repr(value)
