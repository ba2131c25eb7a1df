from django.contrib import admin
from django_celery_beat.admin import PeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

from audit.admin import HeldOutContentAdmin
from runs import services
from runs.models import CachedResponse, ModelEndpoint, ProviderBatch, Run, Sample, Schedule


@admin.register(ModelEndpoint)
class ModelEndpointAdmin(admin.ModelAdmin):
    list_display = ["display_name", "provider", "model_id", "family", "release_date", "is_active"]
    list_filter = ["provider", "family", "is_active"]
    search_fields = ["display_name", "model_id", "slug"]
    prepopulated_fields = {"slug": ["display_name"]}


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    list_display = ["name", "suite", "cron", "samples_per_task", "enabled"]
    filter_horizontal = ["endpoints"]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # The beat process reads its own table: keep it in step with the schedule.
        services.sync_periodic_task(form.instance)


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["pk", "endpoint", "suite", "status", "planned_samples", "created_at"]
    list_filter = ["status", "endpoint"]
    readonly_fields = [
        "status",
        "planned_samples",
        "error",
        "started_at",
        "sampled_at",
        "finished_at",
    ]


@admin.register(Sample)
class SampleAdmin(HeldOutContentAdmin):
    held_out_task = "task_version__task"
    list_display = ["__str__", "status", "error_kind", "tries", "latency_ms", "cost"]
    list_filter = ["status", "error_kind"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CachedResponse)
class CachedResponseAdmin(admin.ModelAdmin):
    list_display = ["created_at", "provider", "model_id", "input_tokens", "output_tokens"]
    # A cached answer may be a model's output on a held-out task, and nothing links it to
    # its task, so a look could not be recorded: outputs are read on the samples instead.
    exclude = ["text"]
    list_filter = ["provider", "model_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ProviderBatch)
class ProviderBatchAdmin(admin.ModelAdmin):
    list_display = [
        "provider_batch_id",
        "run",
        "round",
        "status",
        "succeeded",
        "errored",
        "expired",
        "canceled",
        "submitted_at",
        "ended_at",
    ]
    list_filter = ["status"]
    search_fields = ["provider_batch_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# django-celery-beat's own form template describes a crontab in words with an inline script,
# which the Content Security Policy blocks; Django's plain change form works without one.
admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class PlainPeriodicTaskAdmin(PeriodicTaskAdmin):
    change_form_template = "admin/change_form.html"
