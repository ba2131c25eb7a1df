from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from audit.admin import HeldOutContentAdmin
from evalbuilder.uploads import refused_upload
from occupations.importers.core import MAX_PRINTED_PROBLEMS, TaxonomyImportError
from occupations.importers.forms import TaxonomyImportForm, can_import_taxonomies
from occupations.models import (
    Attachment,
    Comment,
    Crosswalk,
    CrosswalkLink,
    Occupation,
    Panel,
    PanelMembership,
    Review,
    RubricCriterion,
    Suite,
    Task,
    TaskEvent,
    TaskStatement,
    TaskVersion,
    Taxonomy,
    TaxonomyImport,
    WorkActivity,
)


def credited_taxonomies(records: QuerySet, paths: tuple[str, ...]) -> QuerySet[Taxonomy]:
    """The taxonomies with a credit line that the records come from (`paths` are the
    lookups from a record to its taxonomies), whose licences ask for their credit wherever
    their content is shown."""
    condition = Q(pk__in=[])
    for lookup in paths:
        condition |= Q(pk__in=records.order_by().values(lookup))
    return Taxonomy.objects.exclude(credit="").filter(condition).order_by("pk")


class CreditedContentAdmin(admin.ModelAdmin):
    """An admin of records drawn from a taxonomy whose licence asks for its credit line
    (O*NET): every list and record page shows the credit of the taxonomies on it."""

    taxonomy_paths: tuple[str, ...] = ("taxonomy",)
    change_list_template = "admin/occupations/credited_change_list.html"
    change_form_template = "admin/occupations/credited_change_form.html"

    def _with_credits(self, response, records: QuerySet | None):
        if isinstance(response, TemplateResponse) and records is not None:
            response.context_data["credited_taxonomies"] = credited_taxonomies(
                records, self.taxonomy_paths
            )
        return response

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        shown = getattr(response, "context_data", None) or {}
        return self._with_credits(response, shown["cl"].queryset if "cl" in shown else None)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        record = (getattr(response, "context_data", None) or {}).get("original")
        records = self.model._base_manager.filter(pk=record.pk) if record is not None else None
        return self._with_credits(response, records)


@admin.register(Taxonomy)
class TaxonomyAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "country", "source", "licence"]
    fields = ["name", "version", "country", "description", "source", "licence", "credit"]
    change_list_template = "admin/occupations/taxonomy/change_list.html"

    def get_urls(self):
        view = self.admin_site.admin_view(self.import_view)
        return [
            path("import/", view, name="occupations_taxonomy_import"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_import": can_import_taxonomies(request)}
        return super().changelist_view(request, extra_context)

    def import_view(self, request):
        """Import official files (O*NET, OEWS, a taxonomy or crosswalk CSV) from the browser."""
        if not can_import_taxonomies(request):
            raise PermissionDenied
        context = {**self.admin_site.each_context(request), "title": "Import official files"}
        if request.method == "POST":
            form = TaxonomyImportForm(
                request.POST, request.FILES, refused=refused_upload(request, "files")
            )
            if form.is_valid():
                try:
                    report = form.run_import(request.user)
                except TaxonomyImportError as error:
                    context["problems"] = error.problems[:MAX_PRINTED_PROBLEMS]
                    context["more"] = max(0, len(error.problems) - MAX_PRINTED_PROBLEMS)
                else:
                    if report.dry_run:
                        context["report"] = report
                    else:
                        # A redirect, so that reloading the page does not import again.
                        messages.success(request, str(report).partition("\n")[0])
                        return HttpResponseRedirect(
                            reverse(
                                "admin:occupations_taxonomyimport_change",
                                args=[report.record_id],
                            )
                        )
        else:
            form = TaxonomyImportForm()
        context["form"] = form
        return TemplateResponse(request, "admin/occupations/taxonomy/import.html", context)


@admin.register(Occupation)
class OccupationAdmin(CreditedContentAdmin):
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
        # The statements a version cites are chosen on the authoring page, among those of
        # its occupation; here they are listed, never picked from every statement.
        if obj is not None and obj.is_locked:
            return [f.name for f in self.model._meta.fields] + ["task_statements"]
        return ["submitted_at", "task_statements"]

    def has_change_permission(self, request, obj=None):
        # A submitted version never changes: its page shows it, with nothing to save.
        locked = obj is not None and obj.is_locked
        return not locked and super().has_change_permission(request, obj)

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


# --- taxonomy imports ------------------------------------------------------------------------


class ImportedRecordAdmin(admin.ModelAdmin):
    """Records that imports write: shown here, changed only by importing official files."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(TaxonomyImport)
class TaxonomyImportAdmin(ImportedRecordAdmin):
    list_display = [
        "created_at",
        "taxonomy",
        "kind",
        "added",
        "changed",
        "unchanged",
        "skipped",
        "imported_by",
    ]
    list_filter = ["kind", "taxonomy"]
    list_select_related = ["taxonomy", "imported_by"]
    readonly_fields = ["report"]

    @admin.display(description="Report")
    def report(self, obj: TaxonomyImport):
        """What the import did, one line each: counts per record type, skips and notes."""
        details = obj.details or {}
        lines = [
            f"{name}: " + ", ".join(f"{count} {what}" for what, count in counts.items() if count)
            for name, counts in details.get("counts", {}).items()
        ]
        lines += [f"skipped {reason}" for reason in details.get("skipped", [])]
        lines += [f"note: {note}" for note in details.get("notes", [])]
        return format_html("<pre>{}</pre>", "\n".join(lines))


class ImportedContentAdmin(CreditedContentAdmin, ImportedRecordAdmin):
    """Imported records whose text comes from a credited taxonomy (O*NET)."""


@admin.register(TaskStatement)
class TaskStatementAdmin(ImportedContentAdmin):
    taxonomy_paths = ("occupation__taxonomy",)
    list_display = ["statement_id", "occupation", "task_type", "text"]
    list_filter = ["task_type", "occupation__taxonomy"]
    search_fields = ["text", "occupation__code", "occupation__title", "=statement_id"]
    list_select_related = ["occupation"]


@admin.register(WorkActivity)
class WorkActivityAdmin(ImportedContentAdmin):
    list_display = ["activity_id", "title", "group_id", "element_id", "taxonomy"]
    list_filter = ["taxonomy"]
    search_fields = ["activity_id", "title"]


class CrosswalkLinkInline(admin.TabularInline):
    model = CrosswalkLink
    fields = ["source", "target"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("source", "target")


@admin.register(Crosswalk)
class CrosswalkAdmin(ImportedContentAdmin):
    taxonomy_paths = ("source", "target")
    list_display = ["source", "target", "description"]
    inlines = [CrosswalkLinkInline]
