"""An occupation's employment and wages with the source's symbols, and its task statement
coverage, as the public pages show them."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from urllib.parse import urlencode

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.urls import reverse
from django.utils.html import format_html

from occupations import statements
from occupations.importers.oews import SYMBOLS
from occupations.models import Occupation

register = template.Library()

UNKNOWN_FLAG = "figure withheld by the source"
DASH = "\N{EN DASH}"
NO_FIGURE = "no published figure"


@register.filter
def flag_meaning(symbol: str) -> str:
    """What a source symbol means: "**" -> "an employment estimate is not available"."""
    return SYMBOLS.get(symbol.strip(), UNKNOWN_FLAG)


@register.simple_tag
def flagged_figure(value: int | Decimal | None, flag: str = "") -> str:
    """A figure with thousands separators and its source symbol, explained on hover:
    "1,234", "(dash) **"; a dash alone when there is neither."""
    shown = intcomma(round(value)) if value is not None else DASH
    if flag:
        return format_html('{} <abbr title="{}">{}</abbr>', shown, flag_meaning(flag), flag)
    if value is None:
        return format_html('<abbr title="{}">{}</abbr>', NO_FIGURE, DASH)
    return shown


@register.filter
def flags_used(items: Iterable) -> list[tuple[str, str]]:
    """The symbols the occupations (or rows with an .occupation) carry, with their meaning,
    for a legend under a table."""
    found: set[str] = set()
    for item in items:
        occupation = getattr(item, "occupation", item)
        for flag in (
            occupation.employment_flag,
            occupation.wage_flag,
            occupation.median_wage_flag,
        ):
            if flag:
                found.add(flag.strip())
    return [(flag, flag_meaning(flag)) for flag in sorted(found)]


@register.inclusion_tag("reports/_occupation_statements.html")
def occupation_statements(occupation: Occupation) -> dict:
    """The occupation's core task statement coverage and the statements public published
    tasks cite (never the tasks themselves), with the credit lines of their sources other
    than the occupation's own taxonomy (the page shows that one); the coverage link keeps
    the occupation's taxonomy and level."""
    query = urlencode({"taxonomy": occupation.taxonomy_id, "level": occupation.level})
    anchor = f"#category-{occupation.job_category_id}" if occupation.job_category_id else ""
    return {
        "occupation": occupation,
        "coverage": statements.occupation_statements(occupation),
        "coverage_url": f"{reverse('reports:statement_coverage')}?{query}{anchor}",
    }
