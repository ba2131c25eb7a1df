"""The audit trail: who did what to which record, when, from where, and with what outcome.

Events are written once and never changed or deleted by the application: the model, its
queryset (also the base manager's, which related lookups and Model.save use) and the admin
refuse, and a trigger in the database refuses UPDATE and DELETE too (PostgreSQL and SQLite).
The actor is kept as a plain id and username, not a foreign key, so that the trail outlives
deleted users and no cascade ever touches it.
"""

import json

from django.db import models
from django.utils import timezone


class ImmutableEventError(ValueError):
    """Raised when something tries to change or delete a recorded audit event."""


class AuditEventQuerySet(models.QuerySet):
    """Bulk updates and deletes are refused, as AuditEvent.save and delete refuse; so are
    inserts that would overwrite or quietly skip an event already recorded."""

    def bulk_create(
        self,
        objs,
        batch_size=None,
        ignore_conflicts=False,
        update_conflicts=False,
        update_fields=None,
        unique_fields=None,
    ):
        if ignore_conflicts or update_conflicts:
            raise ImmutableEventError(
                "Audit events are only added: bulk_create cannot update or skip recorded ones."
            )
        return super().bulk_create(objs, batch_size=batch_size)

    def update(self, **kwargs) -> int:
        raise ImmutableEventError("Audit events cannot be changed.")

    def _update(self, values):
        # What Model.save calls to update a row (the base manager is this queryset).
        raise ImmutableEventError("Audit events cannot be changed.")

    def delete(self):
        raise ImmutableEventError("Audit events cannot be deleted.")

    def _raw_delete(self, using):
        raise ImmutableEventError("Audit events cannot be deleted.")


class AuditEvent(models.Model):
    """One thing that happened: a change to an audited record, a sign-in, a view of held-out
    content. Never holds task text: targets are named by a short label."""

    class Action(models.TextChoices):
        CREATE = "create", "Create"
        UPDATE = "update", "Update"
        TRANSITION = "transition", "State transition"
        DELETE = "delete", "Delete"
        VIEW_HELD_OUT = "view_held_out", "View held-out content"
        DOWNLOAD_HELD_OUT = "download_held_out", "Download held-out content"
        SIGN_IN = "sign_in", "Sign in"
        SIGN_IN_FAILED = "sign_in_failed", "Failed sign-in"
        LOCKED_OUT = "locked_out", "Locked out"
        MFA_FAILED = "mfa_failed", "Failed one-time code"
        SIGN_OUT = "sign_out", "Sign out"
        ACCESS = "access", "Open a page or route"
        VIEW_AUDIT = "view_audit", "View the audit trail"
        EXPORT_AUDIT = "export_audit", "Export the audit trail"
        BACKUP = "backup", "Back up"
        RESTORE = "restore", "Restore"
        IMPORT = "import", "Import"

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        DENIED = "denied", "Denied"
        FAILED = "failed", "Failed"

    class Source(models.TextChoices):
        WEB = "web", "Web page"
        API = "api", "API"
        WORKER = "worker", "Background worker"
        COMMAND = "command", "Management command"

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_id = models.BigIntegerField(
        null=True, blank=True, help_text="The user's id when it happened; not a link, on purpose."
    )
    actor_username = models.CharField(max_length=150, blank=True)
    address = models.GenericIPAddressField(
        null=True, blank=True, help_text="The client's address (see EVALBUILDER_TRUSTED_PROXIES)."
    )
    action = models.CharField(max_length=24, choices=Action.choices)
    target_type = models.CharField(
        max_length=100, blank=True, help_text="app_label.model of the record acted on."
    )
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(
        max_length=200, blank=True, help_text="A short name of the target (never task text)."
    )
    outcome = models.CharField(max_length=8, choices=Outcome.choices, default=Outcome.SUCCESS)
    details = models.JSONField(
        default=dict,
        blank=True,
        help_text="Fields changed (with old and new values of small state fields only), "
        "from and to of a transition, the page or file of a held-out access.",
    )
    method = models.CharField(max_length=10, blank=True)
    path = models.CharField(max_length=500, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        # Model.save and related lookups use the base manager: it must refuse as `objects` does.
        base_manager_name = "objects"
        ordering = ["-occurred_at", "-pk"]
        indexes = [
            models.Index(fields=["actor_username", "-occurred_at"], name="audit_actor"),
            models.Index(fields=["action", "-occurred_at"], name="audit_action"),
            models.Index(fields=["target_type", "target_id"], name="audit_target"),
            models.Index(fields=["outcome", "-occurred_at"], name="audit_outcome"),
        ]

    def __str__(self) -> str:
        who = self.actor_username or self.get_source_display().lower()
        what = f" {self.target_type} {self.target_label}" if self.target_type else ""
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {who} {self.action}{what} ({self.outcome})"

    def save(self, *args, **kwargs) -> None:
        stored = type(self).objects.using(kwargs.get("using") or self._state.db)
        recorded = self.pk is not None and stored.filter(pk=self.pk).exists()
        if not self._state.adding or recorded:
            raise ImmutableEventError(f"Audit event {self.pk} was recorded and cannot change.")
        # Always an INSERT: a save is never allowed to turn into an UPDATE of another event.
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableEventError(f"Audit event {self.pk} cannot be deleted.")

    @property
    def details_text(self) -> str:
        """The details as compact JSON, for tables and exports."""
        return json.dumps(self.details, sort_keys=True, ensure_ascii=False) if self.details else ""
