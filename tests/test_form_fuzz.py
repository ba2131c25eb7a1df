"""Malformed input to every form of the site: junk never causes a server error, and a
refused submission writes nothing and says which field is wrong.

Each form is taken from its page as a browser would send it (its fields and their values),
then hypothesis mutates the submission: fields left out, given wrong types, huge or empty
strings, unicode, NUL bytes, negative or enormous numbers, unknown choices, repeated values,
junk files, and fields the form does not have. It is posted by someone allowed to use the
form, on the world of the route sweep (tests/test_routes.py).

Writes are seen in the SQL the request runs (inserts, updates and deletes), so an update
in place counts as much as a new row. Sessions, sign-in attempts (django-axes), the audit
trail and the one-time-code devices' throttling counters are expected to change on a
refused submission and are left out.

The task import (JSON Lines) and the seed files get malformed files of their own below.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import traceback
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django import forms
from django.contrib.messages import ERROR, get_messages
from django.db import transaction
from django.test import Client
from django.urls import resolve, reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalbuilder import mfa
from evalbuilder.uploads import display_name
from occupations.jsonl import export_tasks
from occupations.models import RubricCriterion, Task, TaskEvent, TaskVersion
from occupations.seeding import SEED_DIR, SeedError, load_seeds
from tests.authoring import make_world
from tests.test_routes import ROLES, TABLE, Visitor, build_world

pytestmark = pytest.mark.django_db

# --- what is posted --------------------------------------------------------------------------

JUNK_WORDS = [
    "",
    " ",
    "-1",
    "0",
    "-99999999999999999999999",
    "99999999999999999999999999",
    "1e309",
    "NaN",
    "-inf",
    "2.5",
    "0x1F",
    "true",
    "null",
    "[]",
    '{"a": 1}',
    "\x00",
    "a\x00b",
    "<script>alert(1)</script>",
    "' OR '1'='1",
    "../../etc/passwd",
    "é✓🙂",
    "\u202e\u200bx",
    "2024-02-30",
    "0000-00-00",
    "9999-12-31T25:61",
    "not-a-choice",
    "*/5 * * * * *",
]
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
JUNK = st.one_of(
    st.sampled_from(JUNK_WORDS),
    TEXT,
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    # Huge strings: far beyond any field's length, below the request body cap.
    st.sampled_from([10_000, 300_000]).map(lambda n: "x" * n),
)
JUNK_FILE = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [
            b"",
            b"%PDF-1.4\n%junk",
            b"PK\x03\x04" + bytes(30),
            "caf\u00e9".encode("latin-1"),
            b"\xff\xfe\x00\x00",
            b"{not json\n",
            b'{"slug": "x"}\n',
        ]
    ),
)
FILE_NAMES = st.sampled_from(
    ["notes.txt", "tasks.jsonl", "../../etc/passwd", "a\x00b.pdf", "\u202egpj.exe", "", "x" * 300]
)


CSRF_FIELD = "csrfmiddlewaretoken"


@dataclass
class FormOnPage:
    """A form as a browser sends it: its fields with their values, and its file fields."""

    action: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    files: set[str] = field(default_factory=set)
    choices: dict[str, list[str]] = field(default_factory=dict)
    """The values a select, radio button or checkbox offers, by field name."""
    hidden: set[str] = field(default_factory=set)
    """Fields the page keeps out of sight (versions, formset counts): a browser sends them
    as they are, so a changed one is tampering, refused with Django's own words."""

    @property
    def names(self) -> list[str]:
        """The fields a submission may mutate (the CSRF token is not the form's input)."""
        names = [name for name, _ in self.fields] + list(self.choices)
        return [name for name in dict.fromkeys(names) if name != CSRF_FIELD]


class FormParser(HTMLParser):
    """The POST forms of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[FormOnPage] = []
        self._form: FormOnPage | None = None
        self._select: tuple[str, list[str], list[str]] | None = None
        self._textarea: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        if tag == "form":
            if a.get("method", "get").lower() == "post":
                self._form = FormOnPage(a.get("action", ""))
                self.forms.append(self._form)
            return
        if tag == "option" and self._select is not None:
            self._select[1].append(a.get("value", ""))
            if "selected" in a:
                self._select[2].append(a.get("value", ""))
            return
        form, name = self._form, a.get("name")
        if form is None or not name:
            return
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind == "file":
                form.files.add(name)
            elif kind in ("checkbox", "radio"):
                form.choices.setdefault(name, []).append(a.get("value", "on"))
                if "checked" in a:
                    form.fields.append((name, a.get("value", "on")))
            elif kind not in ("submit", "button", "image", "reset"):
                form.fields.append((name, a.get("value", "")))
                if kind == "hidden" and name != CSRF_FIELD:
                    form.hidden.add(name)
        elif tag == "select":
            self._select = (name, [], [])
        elif tag == "textarea":
            self._textarea = [name, ""]

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea[1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select" and self._select is not None and self._form is not None:
            name, options, selected = self._select
            self._form.choices[name] = options
            for value in selected or options[:1]:
                self._form.fields.append((name, value))
            self._select = None
        elif tag == "textarea" and self._textarea is not None and self._form is not None:
            self._form.fields.append((self._textarea[0], self._textarea[1].removeprefix("\n")))
            self._textarea = None


def form_posting_to(page: str, page_url: str, url: str) -> FormOnPage:
    """The form of `page` (HTML, at `page_url`) whose action is `url`; an empty one when the
    page has none, as when the action is a button shown only in another state."""
    parser = FormParser()
    parser.feed(page)
    for form in parser.forms:
        if (urlsplit(form.action).path or page_url) == url:
            return form
    return FormOnPage(url)


def upload(name: str, content: bytes) -> io.BytesIO:
    """A file to post under any name at all (SimpleUploadedFile refuses odd names)."""
    file = io.BytesIO(content)
    file.name = name
    return file


@st.composite
def submissions(draw, form: FormOnPage) -> dict[str, Any]:
    """The form's own submission with each field kept, left out, replaced by junk (unknown
    choices among it), by another choice the page offers or by several values; files
    replaced by junk under odd names; and fields the form does not have."""
    sent: dict[str, Any] = {}
    for name in form.names:
        original = [value for key, value in form.fields if key == name]
        how = draw(st.sampled_from(["keep", "drop", "junk", "junk", "other choice", "many"]))
        if how == "keep" and original:
            sent[name] = original
        elif how == "junk":
            sent[name] = [draw(JUNK)]
        elif how == "other choice" and form.choices.get(name):
            sent[name] = [draw(st.sampled_from(form.choices[name]))]
        elif how == "many":
            sent[name] = draw(
                st.lists(st.one_of(JUNK, st.sampled_from(original or [""])), min_size=2, max_size=4)
            )
    for name in form.files:
        if draw(st.booleans()):
            sent[name] = upload(draw(FILE_NAMES), draw(JUNK_FILE))
    for name in draw(
        st.lists(st.sampled_from(["extra", "id", "pk", "owner", "status"]), max_size=2)
    ):
        sent[name] = [draw(JUNK)]
    return sent


# --- what comes back -------------------------------------------------------------------------

IGNORED_TABLES = {
    "django_session",
    "axes_accessattempt",
    "axes_accesslog",
    "axes_accessfailurelog",
    "audit_auditevent",
}
# django-otp counts wrong codes and stamps the last use on the device itself.
COUNTER_TABLES = {"otp_totp_totpdevice", "otp_static_staticdevice"}
WRITE = re.compile(r'^\s*(INSERT INTO|UPDATE|DELETE FROM)\s+"?(\w+)"?', re.IGNORECASE)


def writes(queries: list[dict]) -> list[str]:
    """The tables a request wrote to, as 'INSERT INTO table', leaving out the expected ones."""
    found = []
    for query in queries:
        match = WRITE.match(query["sql"])
        if match is None:
            continue
        verb, table = match.group(1).upper(), match.group(2)
        if table in IGNORED_TABLES or (verb == "UPDATE" and table in COUNTER_TABLES):
            continue
        found.append(f"{verb} {table}")
    return sorted(set(found))


def bound_forms(response) -> list[forms.BaseForm | forms.BaseFormSet]:
    """The bound forms and formsets the page was rendered with."""
    if response.context is None:
        return []
    contexts = response.context if isinstance(response.context, list) else [response.context]
    found: dict[int, Any] = {}
    for context in contexts:
        for value in context.flatten().values():
            if isinstance(value, forms.BaseForm | forms.BaseFormSet) and value.is_bound:
                found[id(value)] = value
    return list(found.values())


def field_words(form: forms.BaseForm | forms.BaseFormSet) -> set[str]:
    """What may name a field of the form in an error: names, labels, as the page has them."""
    if isinstance(form, forms.BaseFormSet):
        words = {form.management_form.add_prefix(name) for name in form.management_form.fields}
        for inner in form.forms:
            words |= field_words(inner)
        return words
    words = set()
    for name, bound in form.fields.items():
        words |= {name, form.add_prefix(name), str(bound.label or name.replace("_", " "))}
    return {word.lower() for word in words if word}


def errors_of(form: forms.BaseForm | forms.BaseFormSet) -> list[tuple[str, str]]:
    """(field, message) of every error; the field is '' for an error of the whole form."""
    if isinstance(form, forms.BaseFormSet):
        found = [("", str(message)) for message in form.non_form_errors()]
        for inner in form.forms:
            found += errors_of(inner)
        return found
    return [
        ("" if name == forms.forms.NON_FIELD_ERRORS else name, str(message))
        for name, messages in form.errors.items()
        for message in messages
    ]


def unnamed_errors(form: forms.BaseForm | forms.BaseFormSet) -> list[str]:
    """Errors that neither stand by a field nor name one."""
    words = field_words(form)
    return [
        message
        for name, message in errors_of(form)
        if not name and not any(word in message.lower() for word in words)
    ]


@dataclass
class Answer:
    status: int
    refused: bool
    """The submission was refused: a form shown again with errors, a redirect with an
    error message, or a 4xx answer."""
    errors: list[str]
    """Every error shown, as text."""
    unnamed: list[str]
    """Errors that name no field."""


def judge(response, form: FormOnPage, sent: dict[str, Any] | None = None) -> Answer:
    shown_again = [f for f in bound_forms(response) if errors_of(f)]
    messages = [str(m) for m in get_messages(response.wsgi_request) if m.level >= ERROR]
    refused = bool(shown_again) or bool(messages) or 400 <= response.status_code < 500
    errors = [message for f in shown_again for _, message in errors_of(f)] + messages
    unnamed = [message for f in shown_again for message in unnamed_errors(f)]
    words = {name.lower() for name in form.names} | {name.lower() for name in form.files}
    # An upload is named by its file's name, as the site shows it.
    words |= {
        display_name(value.name).lower()
        for value in (sent or {}).values()
        if isinstance(value, io.BytesIO) and value.name
    }
    if words and not shown_again:
        unnamed += [m for m in messages if not any(word in m.lower() for word in words)]
    return Answer(response.status_code, refused, errors, unnamed)


def tampered(form: FormOnPage, sent: dict[str, Any]) -> bool:
    """Whether the submission changed or left out a field the page keeps hidden."""
    kept = {name: [value for key, value in form.fields if key == name] for name in form.hidden}
    return any(sent.get(name) != values for name, values in kept.items())


PROJECT = Path(__file__).resolve().parents[1]


def where(error: BaseException) -> str:
    """The innermost line of the project's code in the traceback."""
    ours = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if frame.filename.startswith(str(PROJECT))
        and not frame.filename.startswith((str(PROJECT / ".venv"), str(PROJECT / "tests")))
    ]
    frame = ours[-1] if ours else traceback.extract_tb(error.__traceback__)[-1]
    place = Path(frame.filename).relative_to(PROJECT) if ours else frame.filename
    return f"{type(error).__name__}: {error} at {place}:{frame.lineno} ({frame.name})"


def short(sent: dict[str, Any]) -> str:
    def one(value: Any) -> str:
        if isinstance(value, io.BytesIO):
            return f"<file {value.name!r} of {len(value.getvalue())} bytes>"
        text = repr(value)
        return text if len(text) < 80 else text[:60] + f"... ({len(text)} characters)"

    text = ", ".join(f"{name}={one(value)}" for name, value in sent.items())
    return text if len(text) < 600 else text[:600] + " ..."


# --- the forms -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    route: str
    role: str
    page: str | None = None
    """The route of the page that holds the form, when it is not the form's own page."""


TARGETS = [
    # Authoring.
    Target("occupations:new_task", "author_a"),
    Target("occupations:edit", "author_a"),
    Target("interop:import_tasks", "author_a"),
    Target("interop:import_eval_log", "operator"),
    Target("occupations:new_version", "author_a", "occupations:task"),
    Target("occupations:comment", "author_a", "occupations:task"),
    Target("occupations:review", "reviewer_a", "occupations:task"),
    Target("occupations:publish", "reviewer_a", "occupations:task"),
    Target("occupations:retire", "reviewer_a", "occupations:task"),
    Target("occupations:upload_attachment", "author_a", "occupations:edit"),
    Target("occupations:delete_attachment", "author_a", "occupations:edit"),
    Target("graders:calibrate", "author_a", "occupations:edit"),
    Target("occupations:new_suite", "operator"),
    Target("occupations:suite", "operator"),
    # Models, schedules and runs.
    Target("runs:new_model", "operator"),
    Target("runs:edit_model", "operator"),
    Target("runs:new_schedule", "operator"),
    Target("runs:edit_schedule", "operator"),
    Target("runs:run_schedule", "operator", "runs:schedules"),
    Target("runs:new_run", "operator"),
    Target("runs:pause", "operator", "graders:run"),
    Target("runs:resume", "operator", "graders:run"),
    Target("runs:cancel", "operator", "graders:run"),
    # Graders and expert grading.
    Target("graders:grader_create", "operator"),
    Target("graders:new_version", "operator"),
    Target("graders:regrade", "operator", "graders:grader"),
    Target("graders:validation", "analyst"),
    Target("graders:expert_enqueue", "operator", "graders:expert_queues"),
    Target("graders:expert_grade", "reviewer_a"),
    Target("graders:reconcile", "reviewer_a"),
    # Releases.
    Target("reports:release_new", "analyst"),
    Target("reports:release_correct", "analyst"),
    Target("reports:release_approve", "analyst", "reports:release"),
    Target("reports:release_discard", "analyst", "reports:release"),
    # Official taxonomy files, in the admin.
    Target("admin:occupations_taxonomy_import", "admin"),
    # Two-step sign-in (mfa:verify has a test of its own: its user has not given a code).
    Target("mfa:setup", "author_b"),
    Target("mfa:recovery_codes", "operator", "mfa:manage"),
    Target("mfa:remove", "operator", "mfa:manage"),
    # Django's account pages.
    Target("login", "anonymous"),
    Target("logout", "author_a", "occupations:my_tasks"),
    Target("password_change", "author_a"),
    Target("password_reset", "anonymous"),
]


@pytest.fixture
def world(seeded, settings, tmp_path, make_endpoint):
    settings.MEDIA_ROOT = tmp_path
    return build_world(make_endpoint)


def test_every_form_route_is_fuzzed(client, world):
    """Every POST route of the sweep, and every route a form on any page posts to, as any
    role sees the pages, has a target; a new form without one fails."""
    users, kwargs, _ = world
    posted = {name for name, route in TABLE.items() if route.method == "POST"}
    for role in ("author_a", "reviewer_a", "operator", "analyst", "admin"):
        client.force_login(users[role])
        for name, route in TABLE.items():
            if route.method != "GET" or route.answers[ROLES.index(role)] != 200:
                continue
            url = reverse(name, kwargs=kwargs.get(name))
            response = client.get(url)
            if "html" not in response.get("Content-Type", ""):
                continue
            parser = FormParser()
            parser.feed(response.content.decode())
            for form in parser.forms:
                match = resolve(urlsplit(form.action).path or url)
                posted.add(match.view_name)
    # The code step has a test of its own (its user has not given a code yet).
    assert posted - {t.route for t in TARGETS} - {"mfa:verify"} == set()


def post(visitor: Visitor, url: str, data: dict[str, Any]) -> tuple[Any, list[str]]:
    """The answer to a POST, and the tables it wrote to before it was undone."""
    response = visitor.request("POST", url, data)
    return response, writes(visitor.queries)


def fuzz_form(visitor: Visitor, url: str, form: FormOnPage, examples: int) -> list[str]:
    """Post junk built from `form` to `url`; what went wrong, one line per kind of fault."""
    # Errors the page's own submission gets are about the state of things (a run that is not
    # paused, a grader left unchanged), not about a field: they need not name one.
    as_sent = {name: [value for key, value in form.fields if key == name] for name in form.names}
    response, _ = post(visitor, url, as_sent)
    state_errors = set(judge(response, form).errors)
    faults: dict[str, str] = {}

    @given(sent=submissions(form))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    def post_junk(sent: dict[str, Any]) -> None:
        try:
            response, written = post(visitor, url, sent)
        except Exception as error:
            faults.setdefault(f"server error: {where(error)}", f"sent: {short(sent)}")
            return
        answer = judge(response, form, sent)
        if answer.status >= 500:
            faults.setdefault(f"server error: {answer.status}", f"sent: {short(sent)}")
        if answer.refused and written:
            faults.setdefault(
                f"refused ({answer.status}) but wrote {written}",
                f"errors: {answer.errors}; sent: {short(sent)}",
            )
        unnamed = [error for error in answer.unnamed if error not in state_errors]
        if answer.refused and unnamed and not tampered(form, sent):
            error = unnamed[0] if len(unnamed[0]) < 200 else unnamed[0][:200] + "..."
            faults.setdefault("an error names no field", f"{error!r}; sent: {short(sent)}")

    post_junk()
    return [f"{url}: {fault}\n    {example}" for fault, example in faults.items()]


def test_junk_posted_to_any_form_is_refused_cleanly_and_writes_nothing(client, world):
    users, kwargs, _ = world
    # A device left unconfirmed by an earlier visit, so a refused code writes nothing new.
    TOTPDevice.objects.create(user=users["author_b"], name=mfa.APP_DEVICE_NAME, confirmed=False)
    faults = []
    for target in TARGETS:
        user = None if target.role == "anonymous" else users[target.role]
        visitor = Visitor(client, user)
        url = reverse(target.route, kwargs=kwargs.get(target.route))
        page_route = target.page or target.route
        page_url = reverse(page_route, kwargs=kwargs.get(page_route))
        page = client.get(page_url)
        assert page.status_code == 200, (target, page.status_code)
        form = form_posting_to(page.content.decode(), page_url, url)
        examples = 20 if form.names or form.files else 5
        faults += fuzz_form(visitor, url, form, examples)
        client.logout()
    assert not faults, "\n".join(faults)


def test_junk_codes_at_the_code_step_are_refused_cleanly(world):
    """The code step, for someone with an app who has given only a password."""
    users, _, _ = world
    user = users["author_b"]
    TOTPDevice.objects.create(user=user, name=mfa.APP_DEVICE_NAME, confirmed=True)
    client = Client()
    visitor = Visitor(client, user)
    url = reverse("mfa:verify")
    page = client.get(url)
    assert page.status_code == 200
    form = form_posting_to(page.content.decode(), url, url)
    assert "code" in form.names
    assert fuzz_form(visitor, url, form, 20) == []


def test_the_audit_filters_take_junk_without_a_server_error(client, world):
    users, _, _ = world
    client.force_login(users["admin"])
    faults = []

    @given(
        query=st.dictionaries(
            st.sampled_from(
                [
                    "actor",
                    "action",
                    "target_type",
                    "outcome",
                    "since",
                    "until",
                    "q",
                    "page",
                    "format",
                ]
            ),
            JUNK,
            max_size=4,
        )
    )
    @settings(
        max_examples=20, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
    )
    def filter_with_junk(query: dict[str, str]) -> None:
        for route in ("audit:events", "audit:export"):
            try:
                response = client.get(reverse(route), query)
                if response.streaming:
                    b"".join(response.streaming_content)
            except Exception as error:
                faults.append(f"{route}: 500 {where(error)} for {short(query)}")
                continue
            if response.status_code >= 500:
                faults.append(f"{route}: {response.status_code} for {short(query)}")

    filter_with_junk()
    assert not faults, "\n".join(faults)


# --- the task import (JSON Lines) ----------------------------------------------------------
# tests/test_jsonl.py checks the import itself (bad JSON, unknown occupations, points out of
# range, slugs taken or repeated) and tests/test_uploads.py files that are not JSON Lines
# text (binary, not UTF-8, empty, over the cap); these post to the import page what those
# leave out.

TASK_TABLES = (Task, TaskVersion, RubricCriterion, TaskEvent)


@pytest.fixture
def importing(client, seeded):
    """An author of the paralegals' panel, signed in on the import page."""
    world = make_world()
    client.force_login(world.users["author_a"])
    return client


def a_task(slug: str = "imported-task", **changes: Any) -> dict[str, Any]:
    """A valid line: a public seed task as exported, under a new slug, for an occupation of
    the author's panel."""
    public = Task.objects.filter(visibility=Task.Visibility.PUBLIC).order_by("slug")[:1]
    record = json.loads(next(export_tasks(public, include_held_out=False)))
    return {**record, "slug": slug, "occupation": "23-2011", **changes}


def sizes() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in TASK_TABLES}


def post_import(client: Client, lines: list[str]) -> Any:
    data = ("\n".join(lines) + "\n").encode()
    return client.post(reverse("occupations:import"), {"file": upload("tasks.jsonl", data)})


def import_problems(response) -> list[str]:
    """What the import page lists as wrong: problems by line, or the file's own errors."""
    assert response.status_code == 200, response.status_code
    form_errors = [str(error) for error in response.context["form"].errors.get("file", [])]
    return [str(problem) for problem in response.context["problems"]] + form_errors


@pytest.mark.parametrize(
    ("name", "value", "field_named"),
    [
        ("estimated_minutes", "ninety", "estimated_minutes"),
        ("estimated_minutes", -5, "estimated_minutes"),
        ("estimated_minutes", 10**30, "estimated_minutes"),
        ("pass_threshold", "high", "pass_threshold"),
        ("pass_threshold", [0.5], "pass_threshold"),
        ("title", 42, "title"),
        ("title", None, "title"),
        ("title", "x" * 1_000_000, "title"),
        ("visibility", "secret", "visibility"),
        ("occupation", 232011, "occupation"),
        ("slug", "a slug with spaces", "slug"),
        ("rubric", "every criterion", "rubric"),
        ("rubric", ["Lists the events"], "rubric"),
        ("rubric", [{"text": "Lists the events", "points": "5"}], "points"),
        ("rubric", [{"text": "Lists the events", "points": 5, "tag": {"a": 1}}], "tag"),
    ],
)
def test_a_line_with_a_wrong_value_is_refused_naming_its_line_and_field(
    importing, name, value, field_named
):
    before = sizes()
    lines = [json.dumps(a_task("first")), json.dumps(a_task(**{name: value}))]
    problems = import_problems(post_import(importing, lines))
    assert problems and all(p.startswith("line 2: ") for p in problems), problems
    assert any(f"field '{field_named}'" in p for p in problems), problems
    assert sizes() == before


@pytest.mark.parametrize("line", ["42", "null", '"a task"', "[1, 2]", "true"])
def test_a_line_that_is_not_an_object_is_refused_naming_its_line(importing, line):
    before = sizes()
    problems = import_problems(post_import(importing, [json.dumps(a_task()), line]))
    assert len(problems) == 1
    assert problems[0].startswith("line 2: ")
    assert "must be a mapping (a JSON object) describing one task" in problems[0]
    assert sizes() == before


@pytest.mark.parametrize("name", ["title", "instructions", "slug", "occupation"])
def test_a_nul_character_in_a_line_is_refused_naming_its_line_and_field(importing, name):
    """JSON may escape a NUL character (\\u0000), which no text field can hold."""
    before = sizes()
    record = a_task()
    response = post_import(importing, [json.dumps({**record, name: record[name] + "\x00"})])
    problems = import_problems(response)
    assert any(p.startswith("line 1: ") and f"field '{name}'" in p for p in problems), problems
    assert sizes() == before


def test_the_same_slug_twice_is_refused_on_the_page_naming_the_second_line(importing):
    before = sizes()
    problems = import_problems(post_import(importing, [json.dumps(a_task())] * 2))
    assert problems == [
        "line 2: task imported-task: field 'slug': already used by line 1 (at $.slug)"
    ]
    assert sizes() == before


JSON_JUNK = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | TEXT
    | st.sampled_from(JUNK_WORDS),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=5,
)


def test_junk_in_any_field_of_a_line_is_refused_naming_line_and_field_or_imported_whole(importing):
    fields = list(a_task())
    faults: list[str] = []

    @given(
        changes=st.dictionaries(st.sampled_from([*fields, "unknown"]), JSON_JUNK, max_size=3),
        dropped=st.lists(st.sampled_from(fields), max_size=2),
    )
    @settings(
        max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
    )
    def import_junk(changes: dict[str, Any], dropped: list[str]) -> None:
        record = {k: v for k, v in {**a_task(), **changes}.items() if k not in dropped}
        try:
            with transaction.atomic():
                before = sizes()
                response = post_import(importing, [json.dumps(a_task("first")), json.dumps(record)])
                after = sizes()
                transaction.set_rollback(True)
        except Exception as error:
            faults.append(f"server error: {where(error)}; line 2: {json.dumps(record)[:300]}")
            return
        if response.status_code == 302:
            assert after["Task"] == before["Task"] + 2
            return
        problems = import_problems(response)
        if after != before:
            faults.append(f"refused but wrote {after} (was {before}): {problems}")
        # A key may itself be empty, and is named so: field ''.
        unnamed = [p for p in problems if not re.match(r"line 2: .*field '[^']*'", p)]
        if unnamed:
            faults.append(
                f"problems that name no line and field: {unnamed}; {json.dumps(record)[:300]}"
            )

    import_junk()
    assert not faults, "\n".join(dict.fromkeys(faults))


# --- seed files -----------------------------------------------------------------------------
# tests/test_seeds.py checks invalid YAML, missing fields, wrong values and unknown codes;
# these check files that are not even YAML text.


@pytest.fixture
def seed_copy(tmp_path) -> Path:
    target = tmp_path / "seeds"
    shutil.copytree(SEED_DIR, target)
    return target


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("title: Caf\u00e9\n".encode("latin-1"), "UTF-8"),
        (b"", "mapping"),
        (b"- just\n- a list\n", "mapping"),
        (b"slug: x\x00\n", ""),
    ],
)
def test_a_seed_task_file_that_is_not_a_yaml_mapping_is_refused_naming_the_file(
    db, seed_copy, content, complaint
):
    (seed_copy / "tasks" / "broken.yaml").write_bytes(content)
    with pytest.raises(SeedError) as caught:
        load_seeds(seed_copy)
    assert "tasks/broken.yaml" in str(caught.value)
    assert complaint in str(caught.value)
    assert Task.objects.count() == 0
