"""The audit trail as CSV or JSON Lines, written a chunk of rows at a time."""

import csv
import io
import json
from collections.abc import Iterable, Iterator

from django.db.models import QuerySet

from audit.models import AuditEvent
from evalbuilder.csv_cells import spreadsheet_safe

COLUMNS = (
    "occurred_at",
    "actor_id",
    "actor_username",
    "address",
    "action",
    "outcome",
    "source",
    "target_type",
    "target_id",
    "target_label",
    "method",
    "path",
    "details",
)
CHUNK = 2000


def as_record(event: AuditEvent) -> dict:
    return {
        "occurred_at": event.occurred_at.isoformat(),
        "actor_id": event.actor_id,
        "actor_username": event.actor_username,
        "address": event.address,
        "action": event.action,
        "outcome": event.outcome,
        "source": event.source,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "target_label": event.target_label,
        "method": event.method,
        "path": event.path,
        "details": event.details,
    }


def _events(events: QuerySet[AuditEvent]) -> Iterable[AuditEvent]:
    return events.iterator(chunk_size=CHUNK)


def csv_lines(events: QuerySet[AuditEvent]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for n, event in enumerate(_events(events), 1):
        record = as_record(event)
        record["details"] = event.details_text
        writer.writerow([spreadsheet_safe(record[column]) for column in COLUMNS])
        if n % 200 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def jsonl_lines(events: QuerySet[AuditEvent]) -> Iterator[str]:
    for event in _events(events):
        yield json.dumps(as_record(event), ensure_ascii=False, sort_keys=True) + "\n"
