"""The audit trail in the admin: read-only, only for superusers, and each look recorded.

Also the mixin that records looks at held-out content in the other apps' admin pages.
"""

from django.contrib import admin
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from audit import trail
from audit.models import AuditEvent


class HeldOutContentAdmin(admin.ModelAdmin):
    """A model admin whose pages show task content: each page shown records a view of every
    held-out task among its records (one event per task, in one INSERT), as the
    application's own pages do.

    `held_out_task` is the lookup from the model to its task ("task_version__task"), or ""
    for the task itself. Only answers that show a page are recorded: refusals are recorded
    by the middleware, redirects after a save show nothing.
    """

    held_out_task: str | None = None

    def _tasks_of(self, records: list[models.Model]) -> list[models.Model]:
        if self.held_out_task is None:
            raise ImproperlyConfigured(
                f"{type(self).__name__}.held_out_task: name the lookup to the task."
            )
        if not self.held_out_task or not records:
            return records
        task_model = self.model
        for name in self.held_out_task.split("__"):
            task_model = task_model._meta.get_field(name).related_model
        owners = self.model._base_manager.filter(pk__in=[record.pk for record in records])
        return list(
            task_model._base_manager.filter(pk__in=owners.values(f"{self.held_out_task}__pk"))
        )

    def _record_shown(
        self, request: HttpRequest, response: HttpResponse, key: str, what: str
    ) -> HttpResponse:
        if response.status_code != 200 or not isinstance(response, TemplateResponse):
            return response
        shown = (response.context_data or {}).get(key)
        if shown is None:
            return response
        records = list(shown.result_list) if key == "cl" else [shown]
        trail.record_held_out_accesses(request, self._tasks_of(records), what)
        return response

    def _named(self, object_id: str) -> str:
        return f"{self.model._meta.verbose_name} #{object_id}"

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        what = f"admin list of {self.model._meta.verbose_name_plural}"
        return self._record_shown(request, response, "cl", what)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        what = f"admin page of {self._named(object_id)}"
        return self._record_shown(request, response, "original", what)

    def delete_view(self, request, object_id, extra_context=None):
        # The confirmation page names the record and what goes with it (criteria by text).
        response = super().delete_view(request, object_id, extra_context)
        what = f"admin deletion page of {self._named(object_id)}"
        return self._record_shown(request, response, "object", what)

    def history_view(self, request, object_id, extra_context=None):
        response = super().history_view(request, object_id, extra_context)
        what = f"admin history of {self._named(object_id)}"
        return self._record_shown(request, response, "object", what)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = (
        "occurred_at",
        "actor_username",
        "address",
        "action",
        "outcome",
        "target_type",
        "target_label",
        "source",
    )
    list_filter = ("action", "outcome", "source", "target_type")
    search_fields = ("actor_username", "target_label", "path")
    date_hierarchy = "occurred_at"
    readonly_fields = [field.name for field in AuditEvent._meta.fields]

    def has_module_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        # A look at the trail is recorded here as on the audit pages.
        response = super().changelist_view(request, extra_context)
        if response.status_code == 200:
            query = request.META.get("QUERY_STRING", "")[:500]
            trail.record(
                AuditEvent.Action.VIEW_AUDIT,
                request=request,
                details={"page": "admin list", "query": query} if query else {"page": "admin list"},
            )
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        shown = getattr(response, "context_data", None) or {}
        if response.status_code == 200 and shown.get("original") is not None:
            trail.record(
                AuditEvent.Action.VIEW_AUDIT,
                target=shown["original"],
                request=request,
                details={"page": "admin event"},
            )
        return response
