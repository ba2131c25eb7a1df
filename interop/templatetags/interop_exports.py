"""The download links of a suite in every exchange format, for the suite pages."""

from __future__ import annotations

from django import template

from interop.formats import EXPORTERS, held_out_versions
from occupations import permissions
from occupations.models import Suite

register = template.Library()


@register.inclusion_tag("interop/_suite_exports.html", takes_context=True)
def suite_exports(context, suite: Suite) -> dict:
    """Links to the suite in each format, how many held-out tasks they leave out, and, for
    a user who may see all of those, links that include them."""
    user = context["request"].user
    held_out = list(held_out_versions(suite).values_list("task_id", flat=True))
    may_include = bool(held_out) and permissions.visible_tasks(user).filter(
        pk__in=held_out
    ).count() == len(held_out)
    return {
        "suite": suite,
        "formats": list(EXPORTERS.values()),
        "held_out": len(held_out),
        "may_include": may_include,
    }


@register.simple_tag
def export_formats() -> list:
    """Every format a suite can be downloaded in: `{% export_formats as formats %}`."""
    return list(EXPORTERS.values())
