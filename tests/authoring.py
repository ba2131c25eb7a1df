"""A small authoring world for tests: two panels, their experts, and tasks in each state."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.contrib.auth import get_user_model

from evalbuilder.roles import ensure_role_groups
from occupations import workflow
from occupations.models import Occupation, Panel, PanelMembership, Task, TaskVersion

GOOD_INSTRUCTIONS = (
    "You are the paralegal on the Harlow matter. The supervising solicitor needs a "
    "chronology of every event in the client file before Thursday's conference, with the "
    "source document for each entry, so that she can check the limitation date and the "
    "sequence of the employer's warnings."
)


@dataclass
class World:
    users: dict
    panel_a: Panel
    panel_b: Panel
    occupation_a: Occupation
    occupation_b: Occupation


def make_user(username: str, role: str | None = None, *, superuser: bool = False):
    groups = ensure_role_groups()
    user = get_user_model().objects.create_user(
        username=username, password="pw-" + username, is_staff=superuser, is_superuser=superuser
    )
    if role:
        user.groups.add(groups[role])
    return user


def make_world() -> World:
    """Panel A (paralegals) and panel B (nurses), with their authors and reviewers."""
    occupation_a = Occupation.objects.get(code="23-2011")
    occupation_b = Occupation.objects.get(code="29-1141")
    panel_a = Panel.objects.create(name="Legal panel", slug="legal")
    panel_a.occupations.add(occupation_a.job_category)
    panel_b = Panel.objects.create(name="Nursing panel", slug="nursing")
    panel_b.occupations.add(occupation_b)
    users = {
        "author_a": make_user("author_a", "author"),
        "author_b": make_user("author_b", "author"),
        "reviewer_a": make_user("reviewer_a", "reviewer"),
        "reviewer_a2": make_user("reviewer_a2", "reviewer"),
        "operator": make_user("operator", "operator"),
        "analyst": make_user("analyst", "analyst"),
        "admin": make_user("admin", "admin", superuser=True),
    }
    for panel, username, role in (
        (panel_a, "author_a", Panel.Role.AUTHOR),
        (panel_a, "reviewer_a", Panel.Role.REVIEWER),
        (panel_a, "reviewer_a2", Panel.Role.REVIEWER),
        (panel_b, "author_b", Panel.Role.AUTHOR),
    ):
        PanelMembership.objects.create(panel=panel, user=users[username], role=role)
    return World(users, panel_a, panel_b, occupation_a, occupation_b)


def good_criteria() -> list[workflow.CriterionDraft]:
    return [
        workflow.CriterionDraft("Lists the 14 March termination letter as an event", 5),
        workflow.CriterionDraft("Gives the source document of every entry", 3, "completeness"),
        workflow.CriterionDraft("Flags the conflicting hearing dates", 4, "reasoning", True),
        workflow.CriterionDraft("Invents a settlement offer that is not in the file", -6),
    ]


def good_fields(**overrides) -> dict:
    fields = {
        "instructions": GOOD_INSTRUCTIONS,
        "context": "Letter of 14 March: termination. Email of 2 April: hearing on 30 January.",
        "deliverable": "A table: date, event, source document.",
        "estimated_minutes": 90,
        "minutes_estimate_method": "Timed two paralegals on similar files",
        "reference_solution": "14 March: termination letter (letter). Hearing dates conflict.",
        "pass_threshold": 0.7,
    }
    fields.update(overrides)
    return fields


def write_draft(
    author,
    occupation: Occupation,
    *,
    title: str = "Chronology",
    visibility: str = "public",
    **overrides,
) -> TaskVersion:
    task = workflow.create_task(
        author=author, occupation=occupation, title=title, visibility=visibility
    )
    return workflow.save_draft(
        task.latest_version(),
        user=author,
        expected_revision=0,
        title=title,
        visibility=visibility,
        fields=good_fields(**overrides),
        criteria=good_criteria(),
    )


def publish_through_review(version: TaskVersion, author, reviewers) -> Task:
    workflow.submit(version, user=author)
    for reviewer in reviewers:
        workflow.review(version, reviewer=reviewer, decision="approve")
    return Task.objects.get(pk=version.task_id)


def current_criteria(version: TaskVersion) -> list[workflow.CriterionDraft]:
    """The version's rubric as the editor would send it back unchanged."""
    return [
        workflow.CriterionDraft(c.text, c.points, c.tag, c.critical, c.pk)
        for c in version.criteria.order_by("order")
    ]


def resave(version: TaskVersion, user, *, criteria=None, **changes) -> TaskVersion:
    """Save a draft again as its editor would: its current content with `changes` made."""
    task = Task.objects.get(pk=version.task_id)
    return workflow.save_draft(
        version,
        user=user,
        expected_revision=version.revision,
        title=task.title,
        visibility=task.visibility,
        fields={**{n: getattr(version, n) for n in workflow.VERSION_FIELDS}, **changes},
        criteria=current_criteria(version) if criteria is None else criteria,
    )


def jsonl_task_line(slug: str, occupation: str = "23-2011") -> str:
    """One public task as a line of a JSON Lines import, ready to be accepted."""
    return json.dumps(
        {
            "slug": slug,
            "occupation": occupation,
            "title": "Imported chronology",
            "visibility": "public",
            "instructions": GOOD_INSTRUCTIONS,
            "context": "",
            "deliverable": "A table.",
            "estimated_minutes": 60,
            "minutes_estimate_method": "Timed",
            "reference_solution": "The table.",
            "pass_threshold": 0.6,
            "rubric": [{"text": "Lists the letter", "points": 3, "tag": "accuracy"}],
        }
    )
