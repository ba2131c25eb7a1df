"""Releases in the admin: read-only, since only reports.releases may prepare, approve or
correct them (and an approved release never changes)."""

from django.contrib import admin

from reports.models import Release


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    list_display = ("identifier", "title", "status", "release_date", "approved_by", "grader")
    list_select_related = ("approved_by", "grader")
    list_filter = ("status", "series")
    search_fields = ("identifier", "title")
    readonly_fields = [field.name for field in Release._meta.fields] + ["endpoints"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
