"""The people who use evalbuilder, as Django groups with the permissions their work needs."""

from django.contrib.auth.models import Group, Permission

AUTHOR = "author"
REVIEWER = "reviewer"
OPERATOR = "operator"
ANALYST = "analyst"
ADMIN = "admin"

# Model permissions per role ("app_label.codename"); admins are superusers.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    AUTHOR: [
        "occupations.view_occupation",
        "occupations.view_task",
        "occupations.add_task",
        "occupations.change_task",
        "occupations.view_taskversion",
        "occupations.add_taskversion",
        "occupations.change_taskversion",
        "occupations.view_rubriccriterion",
        "occupations.add_rubriccriterion",
        "occupations.change_rubriccriterion",
        "occupations.delete_rubriccriterion",
    ],
    REVIEWER: [
        "occupations.view_occupation",
        "occupations.view_task",
        "occupations.change_task",
        "occupations.view_taskversion",
        "occupations.view_rubriccriterion",
        "graders.view_grade",
        "graders.add_grade",
        "graders.view_expertqueueitem",
    ],
    OPERATOR: [
        "occupations.view_suite",
        "occupations.add_suite",
        "occupations.change_suite",
        "occupations.view_task",
        "occupations.view_taskversion",
        "runs.view_modelendpoint",
        "runs.add_modelendpoint",
        "runs.change_modelendpoint",
        "runs.view_schedule",
        "runs.add_schedule",
        "runs.change_schedule",
        "runs.delete_schedule",
        "runs.view_run",
        "runs.add_run",
        "runs.change_run",
        "runs.view_sample",
        "graders.view_grader",
        "graders.add_grader",
        "graders.change_grader",
        "graders.view_grade",
        "graders.view_expertqueueitem",
        "graders.add_expertqueueitem",
        "graders.view_gradervalidation",
    ],
    ANALYST: [
        "occupations.view_occupation",
        "occupations.view_suite",
        "runs.view_modelendpoint",
        "runs.view_run",
        # Analysts validate graders: they set up grader versions, grade runs with them and
        # collect the expert grades the validation compares against.
        "graders.view_grader",
        "graders.add_grader",
        "graders.change_grader",
        "graders.view_grade",
        "graders.view_expertqueueitem",
        "graders.add_expertqueueitem",
        "graders.view_gradervalidation",
        "graders.add_gradervalidation",
        # Analysts prepare official releases, approve them and correct them.
        "reports.view_release",
        "reports.add_release",
        "reports.delete_release",
        "reports.approve_release",
    ],
    ADMIN: [],
}


def ensure_role_groups() -> dict[str, Group]:
    """Create or update a group per role with exactly its permissions."""
    groups = {}
    for role, names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        permissions = []
        for name in names:
            app_label, codename = name.split(".")
            permissions.append(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(permissions)
        groups[role] = group
    return groups
