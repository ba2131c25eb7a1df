"""The Celery application: configured from Django settings (the CELERY_ namespace)."""

import os

from celery import Celery
from django.db import InterfaceError, OperationalError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalbuilder.settings")

app = Celery("evalbuilder")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# A database restart fails a task between its steps; it is tried again once the database is
# back. Every task is idempotent, so a repeat does nothing twice.
DATABASE_RETRY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "max_retries": 10,
}
