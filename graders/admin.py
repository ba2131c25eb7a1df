from django.contrib import admin

from graders.models import CriterionVerdict, Grade, Grader


@admin.register(Grader)
class GraderAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "judge", "mode", "prompt_version", "is_active"]
    list_filter = ["kind", "mode", "is_active"]


class CriterionVerdictInline(admin.TabularInline):
    model = CriterionVerdict
    extra = 0
    can_delete = False
    readonly_fields = ["criterion", "met", "explanation", "raw_reply"]


@admin.register(Grade)
class GradeAdmin(admin.ModelAdmin):
    list_display = ["sample", "grader", "status", "score", "success"]
    list_filter = ["grader", "status", "success"]
    raw_id_fields = ["sample"]
    inlines = [CriterionVerdictInline]


@admin.register(CriterionVerdict)
class CriterionVerdictAdmin(admin.ModelAdmin):
    list_display = ["__str__", "grade", "met"]
    list_filter = ["met"]
    raw_id_fields = ["grade", "criterion"]
