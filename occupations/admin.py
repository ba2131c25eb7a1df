from django.contrib import admin

from audit.admin import HeldOutContentAdmin
from occupations.models import (
    Attachment,
    Comment,
    Occupation,
    Panel,
    PanelMembership,
    Review,
    RubricCriterion,
    Suite,
    Task,
    TaskEvent,
    TaskVersion,
    Taxonomy,
)


@admin.register(Taxonomy)
class TaxonomyAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "country"]


@admin.register(Occupation)
class OccupationAdmin(admin.ModelAdmin):
    list_display = ["code", "title", "level", "taxonomy", "employment", "mean_annual_wage"]
    list_filter = ["taxonomy", "level"]
    search_fields = ["code", "title"]
    autocomplete_fields = ["parent"]


class TaskVersionInline(admin.TabularInline):
    model = TaskVersion
    fields = ["number", "estimated_minutes", "pass_threshold", "submitted_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Task)
class TaskAdmin(HeldOutContentAdmin):
    held_out_task = ""  # the record is the task
    list_display = ["slug", "title", "occupation", "status", "visibility"]
    list_filter = ["status", "visibility", "occupation__job_category"]
    search_fields = ["slug", "title", "occupation__code", "occupation__title"]
    autocomplete_fields = ["occupation"]
    # The workflow moves these, recording who and when; editing them here would skip review.
    readonly_fields = ["canary", "status", "published_version"]
    inlines = [TaskVersionInline]


class RubricCriterionInline(admin.TabularInline):
    model = RubricCriterion
    extra = 0

    def has_change_permission(self, request, obj=None):
        return obj is None or not obj.is_locked

    has_add_permission = has_change_permission
    has_delete_permission = has_change_permission


@admin.register(TaskVersion)
class TaskVersionAdmin(HeldOutContentAdmin):
    held_out_task = "task"
    list_display = ["__str__", "estimated_minutes", "pass_threshold", "submitted_at"]
    list_filter = ["task__status"]
    search_fields = ["task__slug", "task__title"]
    inlines = [RubricCriterionInline]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.is_locked:
            return [f.name for f in self.model._meta.fields]
        return ["submitted_at"]

    def has_delete_permission(self, request, obj=None):
        locked = obj is not None and obj.is_locked
        return not locked and super().has_delete_permission(request, obj)

    def get_actions(self, request):
        # The bulk action would delete submitted versions along with drafts.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


@admin.register(Suite)
class SuiteAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "frozen_at"]
    filter_horizontal = ["task_versions"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.is_frozen:
            return ["frozen_at", "task_versions"]
        return ["frozen_at"]


@admin.register(RubricCriterion)
class RubricCriterionAdmin(HeldOutContentAdmin):
    held_out_task = "task_version__task"
    list_display = ["__str__", "task_version", "tag", "critical"]
    list_filter = ["tag", "critical"]
    search_fields = ["text", "task_version__task__slug"]
    raw_id_fields = ["task_version"]

    def has_change_permission(self, request, obj=None):
        locked = obj is not None and obj.task_version.is_locked
        return not locked and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        locked = obj is not None and obj.task_version.is_locked
        return not locked and super().has_delete_permission(request, obj)

    def get_actions(self, request):
        # The bulk action would reach criteria of submitted versions too.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


class PanelMembershipInline(admin.TabularInline):
    model = PanelMembership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Panel)
class PanelAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["occupations"]
    inlines = [PanelMembershipInline]


class ReadOnlyAdmin(HeldOutContentAdmin):
    """Records of what happened: shown, never edited here (their notes and text may be of a
    held-out task: `held_out_task` names it)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(TaskEvent)
class TaskEventAdmin(ReadOnlyAdmin):
    held_out_task = "task"
    list_display = ["created_at", "task", "version", "actor", "action", "to_status"]
    list_filter = ["action"]
    search_fields = ["task__slug", "actor__username"]


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    held_out_task = "version__task"
    list_display = ["created_at", "version", "reviewer", "decision"]
    list_filter = ["decision"]


@admin.register(Comment)
class CommentAdmin(ReadOnlyAdmin):
    held_out_task = "version__task"
    list_display = ["created_at", "version", "author", "criterion"]


@admin.register(Attachment)
class AttachmentAdmin(ReadOnlyAdmin):
    held_out_task = "task_version__task"
    list_display = ["original_name", "task_version", "kind", "size", "created_at"]
    list_filter = ["kind"]
