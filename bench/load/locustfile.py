"""The load scenario: experts editing their drafts and anonymous readers on report pages.

Read by locust, started by bench/load/run.py with the plan bench/load/prepare.py wrote
(LOAD_PLAN). It imports nothing from Django: locust patches the standard library with
gevent, which does not mix with Django in one process.

- Experts (one locust user per expert in the plan, 50): sign in through /accounts/login/
  with the form's CSRF token, then loop: open their task's edit page, save the draft the way
  the editor's autosave does (every field of the form, the rubric formset and `revision`
  included, as multipart/form-data with `X-Requested-With: fetch`), open their task list.
- Readers (the other users, 200): open report pages, the national overview, job categories,
  occupations, models, comparisons, the releases list and an approved release, at random.

Each request's name starts with its group, "authoring", "report" or "sign-in", so the
statistics group by what the targets are about. The statistics are reset LOAD_WARM_UP
seconds after the start, once the sign-ins and every worker's first requests are over, so
the figures are those of the steady state. When the test stops the figures of each page
and group are written to LOAD_SUMMARY as JSON.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import secrets
import time
from html.parser import HTMLParser
from pathlib import Path

import gevent
from locust import FastHttpUser, between, events, task
from locust.stats import StatsEntry

PLAN = json.loads(Path(os.environ["LOAD_PLAN"]).read_text())
AUTHORING, REPORT, SIGN_IN = "authoring", "report", "sign-in"


def think_time(variable: str, default: tuple[float, float]):
    """A wait between two actions, uniform in seconds; "min,max" in the environment."""
    given = os.environ.get(variable)
    low, high = (float(x) for x in given.split(",")) if given else default
    return between(low, high)


# --- reading the pages ---------------------------------------------------------------


class FormFields(HTMLParser):
    """The entries a browser's FormData holds for one form: every named input, textarea and
    select inside it (checked boxes and radios only), in page order; not its buttons, and
    nothing inside a <template> (the editor's blank rubric row)."""

    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.fields: list[tuple[str, str]] = []
        self._in_form = False
        self._template_depth = 0
        self._textarea: str | None = None
        self._text: list[str] = []
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        if tag == "form" and a.get("id") == self.form_id:
            self._in_form = True
        if not self._in_form:
            return
        if tag == "template":
            self._template_depth += 1
        if self._template_depth or not a.get("name") or "disabled" in a:
            return
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind in {"submit", "button", "image", "reset", "file"}:
                return
            if kind in {"checkbox", "radio"} and "checked" not in a:
                return
            default = "on" if kind in {"checkbox", "radio"} else ""
            self.fields.append((a["name"], a.get("value", default)))
        elif tag == "textarea":
            self._textarea, self._text = a["name"], []
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self.fields.append((self._select, a.get("value", "")))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "template" and self._template_depth:
            self._template_depth -= 1
        elif tag == "textarea" and self._textarea is not None:
            text = "".join(self._text)
            # A browser drops the newline that directly follows <textarea>.
            self.fields.append((self._textarea, text.removeprefix("\n")))
            self._textarea = None
        elif tag == "select":
            self._select = None
        elif tag == "form" and self._in_form:
            self._in_form = False


def form_fields(html: str, form_id: str) -> list[tuple[str, str]]:
    parser = FormFields(form_id)
    parser.feed(html)
    return parser.fields


CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def multipart(fields: list[tuple[str, str]]) -> tuple[bytes, str]:
    """The body and content type a browser sends for a FormData of text entries."""
    boundary = f"----LoadFormBoundary{secrets.token_hex(8)}"
    parts = []
    for name, value in fields:
        # Browsers send line breaks in entries as CRLF.
        value = re.sub(r"\r\n|\r|\n", "\r\n", value)
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        )
    parts.append(f"--{boundary}--\r\n")
    return "".join(parts).encode(), f"multipart/form-data; boundary={boundary}"


# --- who does what ---------------------------------------------------------------------

EXPERTS = itertools.cycle(PLAN["experts"])
SIGN_INS: list[tuple[float, bool]] = []
"""(milliseconds, succeeded) of every expert's sign-in, kept whole when the statistics are
reset after the warm-up."""


class Expert(FastHttpUser):
    """An author editing their own draft."""

    fixed_count = len(PLAN["experts"])
    wait_time = think_time("LOAD_EXPERT_THINK", (2.0, 6.0))

    def on_start(self) -> None:
        expert = next(EXPERTS)
        self.username = expert["username"]
        self.task_slug = expert["task"]
        self.edit_url = f"/tasks/{self.task_slug}/edit/"
        self.saves = 0
        self.first_instructions: str | None = None
        started = time.perf_counter()
        signed_in = self.sign_in()
        SIGN_INS.append(((time.perf_counter() - started) * 1000, signed_in))
        if not signed_in:
            self.stop()

    def sign_in(self) -> bool:
        with self.client.get(
            "/accounts/login/", name=f"{SIGN_IN}: GET /accounts/login/", catch_response=True
        ) as page:
            token = CSRF_INPUT.search(page.text or "")
            if token is None:
                page.failure("no CSRF token in the sign-in form")
                return False
        with self.client.post(
            "/accounts/login/",
            data={
                "csrfmiddlewaretoken": token.group(1),
                "username": self.username,
                "password": PLAN["password"],
            },
            headers={"Referer": f"{self.host}/accounts/login/"},
            name=f"{SIGN_IN}: POST /accounts/login/",
            allow_redirects=False,
            catch_response=True,
        ) as answer:
            # Signed in, an author lands on their task list (no second factor for authors).
            landing = answer.headers.get("Location", "")
            if answer.status_code != 302 or not landing.endswith("/tasks/"):
                answer.failure(
                    f"sign-in of {self.username} answered {answer.status_code} to {landing!r}"
                )
                return False
        return True

    @task
    def edit_save_and_list(self) -> None:
        with self.client.get(
            self.edit_url, name=f"{AUTHORING}: GET /tasks/[slug]/edit/", catch_response=True
        ) as page:
            fields = form_fields(page.text or "", "task-editor")
            if not any(name == "revision" for name, _ in fields):
                page.failure("the edit page has no editor form")
                return
        self.wait()
        self.autosave(fields)
        self.wait()
        self.client.get("/tasks/", name=f"{AUTHORING}: GET /tasks/")

    def autosave(self, fields: list[tuple[str, str]]) -> None:
        """What the editor's autosave sends after the expert changed the instructions."""
        self.saves += 1
        changed = []
        for name, value in fields:
            if name == "instructions":
                if self.first_instructions is None:
                    self.first_instructions = value
                value = f"{self.first_instructions}\n\nChecked against the file, pass {self.saves}."
            changed.append((name, value))
        changed.append(("save", "1"))
        body, content_type = multipart(changed)
        with self.client.post(
            self.edit_url,
            data=body,
            headers={
                "Content-Type": content_type,
                "X-Requested-With": "fetch",
                "Referer": f"{self.host}{self.edit_url}",
            },
            name=f"{AUTHORING}: POST /tasks/[slug]/edit/ (autosave)",
            catch_response=True,
        ) as answer:
            try:
                saved = answer.json().get("saved") is True
            except ValueError:
                saved = False
            if answer.status_code != 200 or not saved:
                answer.failure(f"autosave answered {answer.status_code}: {answer.text[:200]}")


REPORT_PAGES = PLAN["reports"]
REPORT_NAMES = {
    "home": "/",
    "job_category": "/categories/[id]/",
    "occupation": "/occupations/[id]/",
    "model": "/results/models/[slug]/",
    "compare": "/results/compare/?a=&b=",
    "release_list": "/releases/",
    "release": "/releases/[identifier]/",
}


class Reader(FastHttpUser):
    """An anonymous visitor reading the public reports."""

    wait_time = think_time("LOAD_READER_THINK", (3.0, 10.0))

    def open(self, kind: str) -> None:
        paths = REPORT_PAGES.get(kind) or []
        if paths:
            self.client.get(random.choice(paths), name=f"{REPORT}: GET {REPORT_NAMES[kind]}")

    @task(4)
    def national_overview(self) -> None:
        self.open("home")

    @task(3)
    def job_category(self) -> None:
        self.open("job_category")

    @task(3)
    def occupation(self) -> None:
        self.open("occupation")

    @task(2)
    def model(self) -> None:
        self.open("model")

    @task(1)
    def compare(self) -> None:
        self.open("compare")

    @task(1)
    def releases(self) -> None:
        self.open("release_list")

    @task(1)
    def release(self) -> None:
        self.open("release")


# --- the summary -------------------------------------------------------------------------


def figures(entry: StatsEntry, seconds: float) -> dict:
    return {
        "requests": entry.num_requests,
        "failures": entry.num_failures,
        "p50": entry.get_response_time_percentile(0.50),
        "p95": entry.get_response_time_percentile(0.95),
        "p99": entry.get_response_time_percentile(0.99),
        "max": entry.max_response_time,
        "rps": entry.num_requests / seconds if seconds else 0.0,
    }


@events.test_start.add_listener
def reset_after_warm_up(environment, **_kwargs) -> None:
    warm_up = float(os.environ.get("LOAD_WARM_UP", "0"))
    if warm_up > 0:
        gevent.spawn_later(warm_up, start_measuring, environment)


CPU_AT_START = [0.0]
"""This process's CPU seconds when the measured window began."""


def own_cpu_seconds() -> float:
    own = os.times()
    return own.user + own.system


def start_measuring(environment) -> None:
    environment.stats.reset_all()
    CPU_AT_START[0] = own_cpu_seconds()


@events.test_stop.add_listener
def write_summary(environment, **_kwargs) -> None:
    """Per page and per group over the measured window (after the warm-up); the sign-ins
    over the whole run."""
    path = os.environ.get("LOAD_SUMMARY")
    if not path:
        return
    stats = environment.stats
    seconds = max(0.0, (stats.last_request_timestamp or time.time()) - stats.start_time)
    pages, groups = [], {}
    total = StatsEntry(stats, "all", "", use_response_times_cache=False)
    for entry in sorted(stats.entries.values(), key=lambda e: e.name):
        group = entry.name.split(":", 1)[0]
        if group == SIGN_IN:
            continue  # counted whole in SIGN_INS
        pages.append({"group": group, "name": entry.name, **figures(entry, seconds)})
        if group not in groups:
            groups[group] = StatsEntry(stats, group, "", use_response_times_cache=False)
        groups[group].extend(entry)
        total.extend(entry)
    times = sorted(ms for ms, _ in SIGN_INS)
    summary = {
        "seconds": seconds,
        "cpu_seconds": own_cpu_seconds() - CPU_AT_START[0],
        "pages": pages,
        "groups": {name: figures(entry, seconds) for name, entry in groups.items()},
        "total": figures(total, seconds),
        "sign_ins": {
            "count": len(SIGN_INS),
            "failed": sum(not ok for _, ok in SIGN_INS),
            "p50": times[len(times) // 2] if times else None,
            "p95": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))] if times else None,
        },
        "errors": [
            {"name": e.name, "method": e.method, "error": str(e.error), "count": e.occurrences}
            for e in stats.errors.values()
        ],
    }
    Path(path).write_text(json.dumps(summary, indent=2))
