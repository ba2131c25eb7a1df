from django.contrib import admin

from audit.admin import HeldOutContentAdmin
from graders.models import CriterionVerdict, Grade, Grader


@admin.register(Grader)
class GraderAdmin(admin.ModelAdmin):
    list_display = ["label", "name", "version", "kind", "judge", "mode", "prompt_version"]
    list_display += ["is_active"]
    list_filter = ["kind", "mode", "is_active"]
    search_fields = ["name"]
    filter_horizontal = ["extra_judges"]
    readonly_fields = ["supersedes", "created_at"]

    @admin.display(description="Grader", ordering="name")
    def label(self, grader: Grader) -> str:
        return grader.label

    def get_readonly_fields(self, request, obj: Grader | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.grades.exists():
            # Grades record how they were reached: a change is a new version, not an edit.
            fields += ["name", "version"]
        if obj is not None and (obj.is_human or obj.grades.exists()):
            # A human grader has no judging to configure: its expert settings change in place.
            fields += [*Grader.CONFIG_FIELDS, "extra_judges"]
        return fields


class CriterionVerdictInline(admin.TabularInline):
    model = CriterionVerdict
    extra = 0
    can_delete = False
    readonly_fields = ["criterion", "met", "explanation", "raw_reply"]


@admin.register(Grade)
class GradeAdmin(HeldOutContentAdmin):
    held_out_task = "sample__task_version__task"
    list_display = ["sample", "grader", "status", "score", "success"]
    list_filter = ["grader", "status", "success"]
    raw_id_fields = ["sample"]
    inlines = [CriterionVerdictInline]


@admin.register(CriterionVerdict)
class CriterionVerdictAdmin(HeldOutContentAdmin):
    held_out_task = "criterion__task_version__task"
    list_display = ["__str__", "grade", "met"]
    list_filter = ["met"]
    raw_id_fields = ["grade", "criterion"]
