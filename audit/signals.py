"""What the trail hears: saves, deletions and many-to-many changes of the audited models
(audit.registry), sign-ins and lockouts, and where Celery tasks run.

Changes are found by reading the stored row just before a save of an existing record (one
query, only for audited models) and comparing it with what is saved: a save that changes
nothing, as most autosaves of a draft, records nothing. Bulk writes (QuerySet.update,
bulk_create, bulk_update) send no signals and are not seen here.
"""

from __future__ import annotations

from contextvars import Token

from celery.signals import task_postrun, task_prerun
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from audit import trail
from audit.models import AuditEvent
from audit.registry import ALWAYS_IGNORED, AUDITED, Audited, plain, shows_values, spec_of

Action = AuditEvent.Action

# Where pre_save leaves the stored values for post_save, on the instance being saved.
STORED = "_audit_stored"
CLEARING = "_audit_clearing"

_tracked_fields: dict[type[models.Model], list[models.Field]] = {}
# Many-to-many through model -> (audited model, field name).
_through: dict[type[models.Model], tuple[type[models.Model], str]] = {}
# Celery task id -> the context its task_prerun entered.
_worker_contexts: dict[str, Token] = {}


def _fields(model: type[models.Model], spec: Audited) -> list[models.Field]:
    """The concrete fields whose changes count, the primary key and bookkeeping left out."""
    if model not in _tracked_fields:
        ignored = spec.ignored | ALWAYS_IGNORED
        _tracked_fields[model] = [
            f
            for f in model._meta.concrete_fields
            if not f.primary_key and f.name not in ignored and f.attname not in ignored
        ]
    return _tracked_fields[model]


def _same(model_field: models.Field, stored: object, saved: object) -> bool:
    try:
        saved = model_field.to_python(saved)
    except ValidationError:
        return False
    return stored == saved


# --- saves and deletions ---------------------------------------------------------------


def remember_stored_values(
    sender, instance, raw: bool, using: str, update_fields, **kwargs
) -> None:
    """Read the stored values of the fields about to be saved, to compare after the save."""
    if raw or instance.pk is None:
        return
    spec = spec_of(sender)
    loaded = instance.__dict__
    names = [
        f.attname
        for f in _fields(sender, spec)
        if f.attname in loaded
        and (update_fields is None or f.name in update_fields or f.attname in update_fields)
    ]
    if not names:
        loaded[STORED] = {}
        return
    stored = sender._base_manager.using(using).filter(pk=instance.pk).values(*names).first()
    loaded[STORED] = stored


def record_save(sender, instance, created: bool, raw: bool, **kwargs) -> None:
    if raw:
        return
    spec = spec_of(sender)
    stored = instance.__dict__.pop(STORED, None)
    fields = _fields(sender, spec)
    if created or stored is None:
        states = {
            name: plain(getattr(instance, instance._meta.get_field(name).attname))
            for name in spec.states
        }
        trail.record(Action.CREATE, target=instance, details={"values": states} if states else {})
        return
    changed = [
        f
        for f in fields
        if f.attname in stored and not _same(f, stored[f.attname], instance.__dict__[f.attname])
    ]
    if not changed:
        return
    details: dict = {"fields": [f.name for f in changed]}
    values = {
        f.name: {"from": plain(stored[f.attname]), "to": plain(instance.__dict__[f.attname])}
        for f in changed
        if shows_values(f)
    }
    if values:
        details["changes"] = values
    state = next((f for f in changed if f.name in spec.states), None)
    if state is None:
        trail.record(Action.UPDATE, target=instance, details=details)
        return
    details.update(field=state.name, **values.get(state.name, {}))
    trail.record(Action.TRANSITION, target=instance, details=details)


def record_delete(sender, instance, origin=None, **kwargs) -> None:
    details = {}
    if isinstance(origin, models.Model) and origin is not instance:
        details["via"] = f"{origin._meta.label_lower} #{origin.pk}"
    elif isinstance(origin, models.QuerySet):
        details["via"] = f"bulk delete of {origin.model._meta.label_lower}"
    trail.record(Action.DELETE, target=instance, details=details)


# --- many-to-many changes --------------------------------------------------------------


def _names(model: type[models.Model], ids: set) -> list:
    """Groups and permissions by name (what an administrator reads); other records by id."""
    if model._meta.label_lower == "auth.group":
        return sorted(model._base_manager.filter(pk__in=ids).values_list("name", flat=True))
    if model._meta.label_lower == "auth.permission":
        return sorted(model._base_manager.filter(pk__in=ids).values_list("codename", flat=True))
    return sorted(ids)


def record_m2m_change(sender, instance, action: str, reverse: bool, model, pk_set, **kwargs):
    owner_model, name = _through[sender]
    if action == "pre_clear":
        # What a clear removes is gone by post_clear; read it now.
        if reverse:
            owners = owner_model._base_manager.filter(**{name: instance.pk})
            instance.__dict__[f"{CLEARING}_{name}"] = set(owners.values_list("pk", flat=True))
        else:
            related = getattr(instance, name).values_list("pk", flat=True)
            instance.__dict__[f"{CLEARING}_{name}"] = set(related)
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if action == "post_clear":
        pk_set = instance.__dict__.pop(f"{CLEARING}_{name}", set())
    if not pk_set:
        return
    key = "added" if action == "post_add" else "removed"
    if reverse:
        # group.user_set.add(...): every user named in pk_set gains the one group.
        items = _names(type(instance), {instance.pk})
        owners = list(owner_model._base_manager.filter(pk__in=pk_set))
    else:
        items = _names(model, pk_set)
        owners = [instance]
    for owner in owners:
        trail.record(Action.UPDATE, target=owner, details={"fields": [name], key: items})


# --- signing in and out ----------------------------------------------------------------


def record_sign_in(sender, request, user, **kwargs) -> None:
    trail.record(Action.SIGN_IN, target=user, request=request, actor=user)


def record_sign_in_failure(sender, credentials: dict, request=None, **kwargs) -> None:
    # Django has already masked the password; only the username tried is kept.
    username = str(credentials.get(get_user_model().USERNAME_FIELD, ""))[:150]
    trail.record(
        Action.SIGN_IN_FAILED,
        outcome=AuditEvent.Outcome.FAILED,
        request=request,
        details={"username": username},
    )


def record_lockout(sender, request, username: str | None = None, **kwargs) -> None:
    trail.record(
        Action.LOCKED_OUT,
        outcome=AuditEvent.Outcome.DENIED,
        request=request,
        details={"username": str(username or "")[:150]},
    )


def record_sign_out(sender, request, user, **kwargs) -> None:
    trail.record(Action.SIGN_OUT, target=user, request=request, actor=user)


def record_code_failure(sender, user, **kwargs) -> None:
    trail.record(Action.MFA_FAILED, target=user, outcome=AuditEvent.Outcome.FAILED, actor=user)


# --- Celery tasks ----------------------------------------------------------------------


def enter_worker_context(sender=None, task_id: str | None = None, task=None, **kwargs) -> None:
    # A task run eagerly (tests, CELERY_TASK_ALWAYS_EAGER) acts for whoever called it.
    if task is None or task_id is None or getattr(task.request, "is_eager", False):
        return
    _worker_contexts[task_id] = trail.enter(AuditEvent.Source.WORKER, task_name=task.name)


def leave_worker_context(sender=None, task_id: str | None = None, **kwargs) -> None:
    token = _worker_contexts.pop(task_id, None)
    if token is not None:
        trail.leave(token)


def connect() -> None:
    """Connect every receiver (AuditConfig.ready)."""
    for spec in AUDITED:
        try:
            model = apps.get_model(spec.model)
        except LookupError:  # an optional app that is not installed
            continue
        uid = f"audit_{model._meta.label_lower}"
        pre_save.connect(remember_stored_values, sender=model, dispatch_uid=f"{uid}_pre_save")
        post_save.connect(record_save, sender=model, dispatch_uid=f"{uid}_save")
        post_delete.connect(record_delete, sender=model, dispatch_uid=f"{uid}_delete")
        for name in spec.m2m:
            through = getattr(model, name).through
            _through[through] = (model, name)
            m2m_changed.connect(record_m2m_change, sender=through, dispatch_uid=f"{uid}_{name}")
    user_logged_in.connect(record_sign_in, dispatch_uid="audit_sign_in")
    user_login_failed.connect(record_sign_in_failure, dispatch_uid="audit_sign_in_failed")
    user_logged_out.connect(record_sign_out, dispatch_uid="audit_sign_out")
    if apps.is_installed("axes"):
        from axes.signals import user_locked_out

        user_locked_out.connect(record_lockout, dispatch_uid="audit_locked_out")
    if apps.is_installed("django_otp"):
        from django_otp.forms import otp_verification_failed

        otp_verification_failed.connect(record_code_failure, dispatch_uid="audit_code_failed")
    task_prerun.connect(enter_worker_context, dispatch_uid="audit_worker_enter", weak=False)
    task_postrun.connect(leave_worker_context, dispatch_uid="audit_worker_leave", weak=False)
