"""Who may see and do what with tasks: global roles (groups) and panel scope.

Authors and reviewers work only inside their panels' occupations. Operators and admins see
every task; analysts see public tasks. Held-out content is visible only to the task's
panels, operators and admins. Every task page and action asks these functions.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet

from evalbuilder.roles import ANALYST, OPERATOR
from occupations.models import Occupation, Panel, Task

User = AbstractBaseUser | AnonymousUser


def has_role(user: User, role: str) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return user.groups.filter(name=role).exists()


def is_operator(user: User) -> bool:
    return has_role(user, OPERATOR)


def panel_occupations(user: User, role: str | None = None) -> QuerySet[Occupation]:
    """Occupations covered by the user's panels (in `role`, when given)."""
    if not user.is_authenticated:
        return Occupation.objects.none()
    memberships = {"memberships__user": user}
    if role:
        memberships["memberships__role"] = role
    named = Occupation.objects.filter(panels__in=Panel.objects.filter(**memberships)).values("pk")
    return Occupation.objects.filter(Q(pk__in=named) | Q(job_category__in=named))


def visible_tasks(user: User) -> QuerySet[Task]:
    """Tasks whose content the user may read."""
    if not user.is_authenticated:
        return Task.objects.none()
    if user.is_superuser or is_operator(user):
        return Task.objects.all()
    in_panels = Q(occupation__in=panel_occupations(user))
    if has_role(user, ANALYST):
        return Task.objects.filter(in_panels | Q(visibility=Task.Visibility.PUBLIC)).distinct()
    return Task.objects.filter(in_panels)


def can_view(user: User, task: Task) -> bool:
    return visible_tasks(user).filter(pk=task.pk).exists()


def in_panel(user: User, task: Task, role: str) -> bool:
    return panel_occupations(user, role).filter(pk=task.occupation_id).exists()


def can_author(user: User, task: Task) -> bool:
    """Write drafts of this task: its panel's authors (and admins)."""
    return user.is_authenticated and (user.is_superuser or in_panel(user, task, Panel.Role.AUTHOR))


def can_author_in(user: User, occupation: Occupation) -> bool:
    return user.is_authenticated and (
        user.is_superuser
        or panel_occupations(user, Panel.Role.AUTHOR).filter(pk=occupation.pk).exists()
    )


def can_review(user: User, task: Task) -> bool:
    """Review this task: its panel's reviewers who do not own it (independent review)."""
    if not user.is_authenticated or task.owners.filter(pk=user.pk).exists():
        return False
    return user.is_superuser or in_panel(user, task, Panel.Role.REVIEWER)


def authorable_occupations(user: User) -> QuerySet[Occupation]:
    """Detailed occupations the user may write tasks for."""
    occupations = (
        Occupation.objects.all()
        if user.is_authenticated and user.is_superuser
        else panel_occupations(user, Panel.Role.AUTHOR)
    )
    return occupations.filter(level=Occupation.Level.DETAILED)


def can_decide(user: User, task: Task) -> bool:
    """Publish or retire: the task's panel reviewers who do not own it, and admins."""
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return in_panel(user, task, Panel.Role.REVIEWER) and not task.owners.filter(pk=user.pk).exists()


def can_comment(user: User, task: Task) -> bool:
    """Comments belong to the review: the task's panel, operators and admins."""
    if not user.is_authenticated:
        return False
    if user.is_superuser or is_operator(user):
        return True
    return panel_occupations(user).filter(pk=task.occupation_id).exists()


def can_manage_suites(user: User) -> bool:
    return user.is_authenticated and user.has_perm("occupations.add_suite")
