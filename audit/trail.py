"""Recording audit events: who (from the current request, worker task or command), what,
which record, with what outcome.

The context of the current request, Celery task or command lives in a context variable set
by audit.middleware and the Celery signals in audit.signals, so code deep in a service can
record an event without being handed the request. The request is kept as it is and read
only when an event is recorded: a request that records nothing costs no query.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from audit.models import AuditEvent
from audit.registry import label_of
from evalbuilder.client_address import client_address

Action = AuditEvent.Action
Outcome = AuditEvent.Outcome
Source = AuditEvent.Source

# A `what` of record_held_out_access whose first word is one of these names a file handed
# out (recorded as a download); any other names a page that shows the content.
DOWNLOAD_WORDS = frozenset({"download", "attachment", "export", "file"})
# Set on a request once a refusal of it is recorded, so the middleware does not record it again.
REFUSAL_RECORDED = "_audit_refusal_recorded"


@dataclass(frozen=True)
class Context:
    """Where the code that records an event is running."""

    source: str
    request: HttpRequest | None = None
    task_name: str = ""
    """The Celery task, for source "worker"."""


_current: ContextVar[Context | None] = ContextVar("audit_context", default=None)


@contextmanager
def context(source: str, *, request: HttpRequest | None = None, task_name: str = "") -> Iterator:
    """Events recorded inside come from `source` (and the request's user and address)."""
    token = _current.set(Context(source, request, task_name))
    try:
        yield
    finally:
        _current.reset(token)


def enter(source: str, *, task_name: str = "") -> Token:
    """Start a context that ends elsewhere (a Celery task: task_prerun to task_postrun)."""
    return _current.set(Context(source, task_name=task_name))


def leave(token: Token) -> None:
    _current.reset(token)


def current_context() -> Context | None:
    return _current.get()


def source_of_request(request: HttpRequest) -> str:
    return Source.API if request.path.startswith("/api/") else Source.WEB


def _command_name() -> str:
    """The management command this process runs, when it is one ("manage.py migrate")."""
    if len(sys.argv) > 1 and os.path.basename(sys.argv[0]) in ("manage.py", "django-admin"):
        return sys.argv[1]
    return ""


def _event(
    action: str,
    *,
    target: Any = None,
    outcome: str = "success",
    request: HttpRequest | None = None,
    details: dict | None = None,
    actor: Any = None,
) -> AuditEvent:
    """An event with who, from where and what filled in, not yet written."""
    current = _current.get()
    if request is None and current is not None:
        request = current.request
    details = dict(details or {})
    if request is not None:
        source = source_of_request(request)
    elif current is not None:
        source = current.source
        if current.task_name:
            details.setdefault("task", current.task_name)
    else:
        source = Source.COMMAND
        command = _command_name()
        if command:
            details.setdefault("command", command)
    if actor is None and request is not None:
        actor = getattr(request, "user", None)
    event = AuditEvent(action=action, outcome=outcome, source=source, details=details)
    if actor is not None and actor.is_authenticated:
        event.actor_id = actor.pk
        event.actor_username = actor.get_username()
    if request is not None:
        event.address = client_address(request)
        event.method = (request.method or "")[:10]
        event.path = request.path[:500]
        if outcome == Outcome.DENIED:
            setattr(request, REFUSAL_RECORDED, True)
    if target is not None:
        event.target_type = target._meta.label_lower
        event.target_id = str(target.pk) if target.pk is not None else ""
        event.target_label = label_of(target)
    return event


def _write(events: list[AuditEvent], *, using: str | None = None) -> list[AuditEvent]:
    if len(events) == 1:
        events[0].save(using=using)
    elif events:
        AuditEvent.objects.using(using).bulk_create(events)
    return events


def refusal_recorded(request: HttpRequest) -> bool:
    """Whether a refusal was recorded while handling `request` (so it is not recorded twice)."""
    return getattr(request, REFUSAL_RECORDED, False)


def record(
    action: str,
    *,
    target: Any = None,
    outcome: str = "success",
    request: HttpRequest | None = None,
    details: dict | None = None,
    actor: Any = None,
    using: str | None = None,
) -> AuditEvent:
    """Record one audit event (one INSERT).

    `target` is a model instance (or None); `request` defaults to the current one; `actor`
    overrides the request's user (sign-in and sign-out, where the request's user is about to
    change). `details` must hold no task text: field names, states, small numbers.
    `using` names the database, when not the one the target lives in or the default.
    """
    event = _event(
        action, target=target, outcome=outcome, request=request, details=details, actor=actor
    )
    [event] = _write([event], using=using or (target._state.db if target is not None else None))
    return event


def record_transition(target: Any, field: str, old: Any, new: Any, *, fields=()) -> AuditEvent:
    """A change of state written with a bulk update, which sends no signal: recorded as the
    signals record one (`fields` names any other fields written with it)."""
    return record(
        Action.TRANSITION,
        target=target,
        details={
            "fields": [field, *fields],
            "changes": {field: {"from": old, "to": new}},
            "field": field,
            "from": old,
            "to": new,
        },
    )


def record_rubric_change(version: Any, *, added: int = 0, changed: int = 0):
    """Criteria written in bulk (bulk_create and bulk_update send no signals): one event on
    their task version with the counts, none when nothing changed. Removed criteria are not
    counted here: each deletion is recorded as an event of its own."""
    if not (added or changed):
        return None
    return record(
        Action.UPDATE,
        target=version,
        details={"fields": ["rubric"], "rubric": {"added": added, "changed": changed}},
    )


def is_download(what: str) -> bool:
    first = what.replace(":", " ").replace("_", " ").split(maxsplit=1)
    return bool(first) and first[0].lower() in DOWNLOAD_WORDS


def _held_out_event(request: HttpRequest, item: Any, what: str, outcome: str):
    """The event of a view or download of `item`'s task, or None for a public task."""
    version = None
    task = item
    if hasattr(item, "task_version"):
        version = item.task_version
        task = version.task
    elif hasattr(item, "task") and not hasattr(item, "is_held_out"):
        version = item
        task = item.task
    if not task.is_held_out:
        return None
    details: dict = {"what": what}
    if version is not None and getattr(version, "number", None) is not None:
        details["version"] = version.number
    action = Action.DOWNLOAD_HELD_OUT if is_download(what) else Action.VIEW_HELD_OUT
    return _event(action, target=task, outcome=outcome, request=request, details=details)


def record_held_out_access(
    request: HttpRequest, task: Any, what: str, *, outcome: str = "success"
) -> AuditEvent | None:
    """Record that `request.user` viewed or downloaded held-out content of `task`.

    `task` is a Task, or a record of one (a TaskVersion, an Attachment: anything with
    `.task` or `.task_version.task`); nothing is recorded for a public task, so callers need
    not check. `what` names the page or file ("task page", "editor", "attachment",
    "export"); one whose first word is download, attachment, export or file is recorded as
    a download, any other as a view. `outcome` is "denied" when the content was refused.
    """
    event = _held_out_event(request, task, what, outcome)
    return None if event is None else _write([event], using=task._state.db)[0]


def record_held_out_accesses(
    request: HttpRequest, items: Iterable[Any], what: str, *, outcome: str = "success"
) -> list[AuditEvent]:
    """As record_held_out_access for each of `items`, written in one INSERT: a page or file
    that shows the content of many tasks. Give one item per task shown (a task and its
    version are two events); public ones are left out."""
    items = list(items)
    events = [
        event
        for item in items
        if (event := _held_out_event(request, item, what, outcome)) is not None
    ]
    return _write(events, using=items[0]._state.db if items else None)
