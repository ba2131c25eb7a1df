"""How management commands name a grader: its name, and a version or the newest one."""

from django.core.management.base import CommandError

from graders.models import Grader


def find_grader(option: str, name: str, version: int | None = None) -> Grader:
    """The named grader at `version`, or its newest version; errors name the option."""
    versions = Grader.objects.filter(name=name).order_by("-version")
    if version is not None:
        versions = versions.filter(version=version)
    grader = versions.first()
    if grader is None:
        known = ", ".join(sorted(set(Grader.objects.values_list("name", flat=True)))) or "none"
        shown = f"{name!r} version {version}" if version is not None else repr(name)
        raise CommandError(f"--{option}: no grader {shown} (graders: {known})")
    return grader
