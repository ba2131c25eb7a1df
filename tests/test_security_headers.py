"""Security headers on every answer, and markup that the Content Security Policy lets run:
no inline script, style attribute, event handler or javascript: link in our templates or in
the pages our code builds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse

from occupations.models import Occupation, Task
from tests.authoring import make_user, write_draft

ROOT = Path(__file__).resolve().parent.parent
OWN_APPS = ("occupations", "runs", "graders", "reports", "evalbuilder", "audit")

# Downloaded, not part of the site: the printable report carries its own <style> so that the
# saved file opens and prints alone.
STANDALONE_DOCUMENTS = {ROOT / "reports/templates/reports/release_report.html"}

TEMPLATE_COMMENT = re.compile(r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}|{#.*?#}", re.S)
TEMPLATE_CODE = re.compile(r"{%.*?%}|{{.*?}}", re.S)
TAG = re.compile(r"<([a-zA-Z][\w:-]*)((?:\s[^>]*)?)/?>")
ATTRIBUTE = re.compile(r"""([^\s=/"'>]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]+))?""")
DATA_SCRIPT_TYPES = {"application/json", "application/ld+json"}


def inline_code(markup: str, *, allow_style_element: bool = False) -> list[str]:
    """Every piece of markup the policy would block: inline <script> (a JSON data block is
    data, not code), <style> elements, style= and on*= attributes, javascript: URLs.

    Template tags and variables are blanked first, so `{% if a > b %}` inside a tag does not
    end it; what a variable renders is checked on the rendered pages instead.
    """
    markup = TEMPLATE_CODE.sub(" ", TEMPLATE_COMMENT.sub("", markup))
    found = []
    for match in TAG.finditer(markup):
        name, attributes = match.group(1).lower(), dict(_attributes(match.group(2)))
        inline_script = name == "script" and "src" not in attributes
        if inline_script and attributes.get("type", "").lower() not in DATA_SCRIPT_TYPES:
            found.append(match.group(0))
        if name == "style" and not allow_style_element:
            found.append(match.group(0))
        if any(_blocked(attribute, value) for attribute, value in attributes.items()):
            found.append(match.group(0))
    return found


def _blocked(attribute: str, value: str) -> bool:
    """A style or event-handler attribute, or a javascript: URL in any attribute."""
    if attribute == "style" or re.fullmatch(r"on[a-z]+", attribute):
        return True
    return re.sub(r"\s", "", value).lower().startswith("javascript:")


def _attributes(text: str) -> list[tuple[str, str]]:
    return [
        (name.lower(), value.strip("\"'") if value else "")
        for name, value in ATTRIBUTE.findall(text)
    ]


def own_templates() -> list[Path]:
    templates = [path for app in OWN_APPS for path in (ROOT / app).glob("templates/**/*.html")]
    assert len(templates) > 40, "the templates were not found"
    return sorted(templates)


# --- The checker --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "markup",
    [
        "<script>alert(1)</script>",
        '<script type="text/javascript">go()</script>',
        "<style>p { color: red }</style>",
        '<span class="bar" style="--v: {{ value }}"></span>',
        "<button onclick='go()'>Go</button>",
        '<body onLoad="go()">',
        '<a href="javascript:go()">Go</a>',
        '<a href=" JavaScript:go()">Go</a>',
        '<input {% if done %}checked{% endif %} onchange="go()">',
    ],
)
def test_the_check_finds_each_kind_of_inline_code(markup):
    assert inline_code(markup) != []


@pytest.mark.parametrize(
    "markup",
    [
        '<script src="/static/evalbuilder/evalbuilder.js" defer></script>',
        '<script id="data" type="application/json">{"a": 1}</script>',
        '<a href="{% url \'reports:home\' %}" data-onclick="x">Home</a>',
        '<svg class="bar" viewBox="0 0 1 1"><rect width="0.5" height="1"/></svg>',
        "{% comment %}Never <script>alert(1)</script> here.{% endcomment %}<p>ok</p>",
        "<p>{% if a > b %}more{% endif %}</p>",
        '<details open><summary class="one">Style guide: onions</summary></details>',
    ],
)
def test_the_check_lets_external_scripts_data_and_plain_markup_pass(markup):
    assert inline_code(markup) == []


# --- Templates and pages ------------------------------------------------------------------


def test_no_template_of_ours_has_inline_code():
    offenders = {
        str(path.relative_to(ROOT)): found
        for path in own_templates()
        if (
            found := inline_code(path.read_text(), allow_style_element=path in STANDALONE_DOCUMENTS)
        )
    }
    assert offenders == {}


@pytest.mark.django_db
def test_pages_built_with_charts_and_markdown_have_no_inline_code(client, graded_models):
    admin = make_user("admin_x", superuser=True)
    task = write_draft(admin, Occupation.objects.get(code="23-2011"), context="**Bold** `code`")
    client.force_login(admin)
    held_out = Task.objects.filter(visibility=Task.Visibility.HELD_OUT).first()
    chart_pages = [
        reverse("reports:home"),
        reverse("reports:job_category", args=[held_out.occupation.job_category.pk]),
        reverse("reports:occupation", args=[held_out.occupation_id]),
        reverse("reports:model", args=["sim-late"]),
        reverse("reports:compare") + "?a=sim-late&b=sim-early",
    ]
    markdown_pages = [
        reverse("occupations:task", args=[task.task.slug]),
        reverse("occupations:edit", args=[task.task.slug]),
    ]
    for url in chart_pages + markdown_pages:
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        assert url in markdown_pages or "<svg" in page, f"{url} drew no chart"
        assert inline_code(page) == [], url


# --- Headers ------------------------------------------------------------------------------


def policy_of(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {
        directive.split()[0]: directive.split()[1:]
        for directive in (part.strip() for part in header.split(";"))
        if directive
    }


@pytest.mark.django_db
def test_every_page_carries_the_policy_and_the_security_headers(client, seeded):
    response = client.get(reverse("reports:home"))
    assert response.status_code == 200
    policy = policy_of(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"]
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.django_db
def test_the_sign_in_page_and_error_pages_carry_the_policy(client):
    for url, status in ((reverse("login"), 200), ("/no-such-page/", 404)):
        response = client.get(url)
        assert response.status_code == status, url
        assert "'unsafe-inline'" not in response["Content-Security-Policy"], url


def test_the_api_documentation_alone_allows_inline_styles_and_never_inline_scripts(client):
    docs = policy_of(client.get(reverse("api:docs")))
    assert "'unsafe-inline'" in docs["style-src"]
    assert docs["script-src"] == ["'self'"]
    startup = client.get(reverse("api:docs") + "?script")
    assert startup["Content-Type"].startswith("application/javascript")


@pytest.mark.django_db
def test_session_and_csrf_cookies_are_http_only_and_same_site(client, seeded):
    make_user("author_x", "author")
    form = client.get(reverse("login"))
    csrf = form.cookies["csrftoken"]
    assert csrf["samesite"] == "Lax"
    response = client.post(
        reverse("login"), {"username": "author_x", "password": "pw-author_x"}, follow=False
    )
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"
    # Secure only under HTTPS (the production profile): over plain HTTP it would be dropped.
    assert not session["secure"]
