"""Authoring pages: experts write, review and publish tasks; operators assemble suites.

Views stay thin: they check permissions, bind forms and call the workflow service.
A task the user may not see answers 404, so held-out tasks do not even show that they exist.
"""

from __future__ import annotations

import difflib

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, Subquery, Sum
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from audit import trail
from evalbuilder.downloads import file_response
from evalbuilder.uploads import refused_upload
from occupations import attachments, jsonl, markdown, permissions, statements, workflow
from occupations.forms import (
    AttachmentForm,
    CommentForm,
    CriterionFormSet,
    ImportForm,
    NewTaskForm,
    ReviewForm,
    SuiteForm,
    VersionForm,
    criteria_initial,
)
from occupations.models import (
    Attachment,
    LockedVersionError,
    Occupation,
    Panel,
    Review,
    RubricCriterion,
    Suite,
    Task,
    TaskStatement,
    TaskVersion,
)
from occupations.quality import check_version


def _task_for(request, slug: str, what: str) -> Task:
    """The task if this user may see it; `what` names the page or file asked for, for the
    record of a refused look at a held-out task."""
    task = get_object_or_404(Task.objects.select_related("occupation"), slug=slug)
    if not permissions.can_view(request.user, task):
        if task.is_held_out:
            trail.record_held_out_access(request, task, what, outcome="denied")
        raise Http404("No such task")
    return task


def _record_if_held_out(request, part: Task | TaskVersion | Attachment, what: str) -> None:
    """Every showing or download of a held-out task's content is recorded; `part` is the
    task, or the version or attachment shown, and `what` names the page or file."""
    version = getattr(part, "task_version", part)
    task = getattr(version, "task", version)
    if task.is_held_out:
        trail.record_held_out_access(request, part, what)


def _require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied


def _number(value) -> int:
    """A version number from the request; anything else is a page that does not exist."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404("No such version") from None


# --- dashboards ---------------------------------------------------------------------


@login_required
def my_tasks(request):
    user = request.user
    visible = permissions.visible_tasks(user).select_related("occupation")
    owned = visible.filter(owners=user).order_by("-updated_at")
    by_status = dict(visible.values_list("status").annotate(n=Count("pk")))
    queue = _review_queue(user).count()
    return render(
        request,
        "occupations/my_tasks.html",
        {
            "owned": owned,
            "by_status": [(label, by_status.get(value, 0)) for value, label in Task.Status.choices],
            "queue": queue,
            "panels": Panel.objects.filter(members=user).distinct(),
            "can_author": permissions.authorable_occupations(user).exists(),
        },
    )


def _review_queue(user):
    reviewable = permissions.panel_occupations(user, Panel.Role.REVIEWER)
    return (
        Task.objects.filter(status=Task.Status.IN_REVIEW, occupation__in=reviewable)
        .exclude(owners=user)
        # Reviews of earlier versions do not count: the version in review is the latest.
        .exclude(
            Exists(
                Review.objects.filter(
                    reviewer=user,
                    version__task=OuterRef("pk"),
                    version__number=Subquery(
                        TaskVersion.objects.filter(task=OuterRef(OuterRef("pk")))
                        .order_by("-number")
                        .values("number")[:1]
                    ),
                )
            )
        )
        .select_related("occupation")
        .distinct()
        .order_by("updated_at")
    )


@login_required
def review_queue(request):
    return render(request, "occupations/review_queue.html", {"tasks": _review_queue(request.user)})


@login_required
def panel_detail(request, slug: str):
    panel = get_object_or_404(Panel, slug=slug)
    user = request.user
    _require(
        user.is_superuser
        or permissions.is_operator(user)
        or panel.memberships.filter(user=user).exists()
    )
    occupations = (
        panel.covered_occupations()
        .filter(level=Occupation.Level.DETAILED)
        .annotate(
            published=Count(
                "tasks",
                filter=Q(tasks__published_version__isnull=False)
                & ~Q(tasks__status=Task.Status.RETIRED),
            ),
            in_progress=Count(
                "tasks",
                filter=~Q(tasks__status__in=[Task.Status.PUBLISHED, Task.Status.RETIRED]),
            ),
        )
        .order_by("code")
    )
    total = occupations.aggregate(n=Sum("employment"))["n"] or 0
    covered = occupations.filter(published__gt=0).aggregate(n=Sum("employment"))["n"] or 0
    return render(
        request,
        "occupations/panel_detail.html",
        {
            "panel": panel,
            "occupations": occupations,
            "employment_total": total,
            "employment_covered": covered,
            "coverage": covered / total if total else None,
            "members": panel.memberships.select_related("user").order_by("role", "user__username"),
        },
    )


# --- tasks ------------------------------------------------------------------------------


@login_required
def new_task(request):
    occupations = permissions.authorable_occupations(request.user)
    _require(occupations.exists())
    search = request.GET.get("q", "").strip()
    form = NewTaskForm(request.POST or None, occupations=occupations, search=search)
    if request.method == "POST" and form.is_valid():
        task = workflow.create_task(author=request.user, **form.cleaned_data)
        messages.success(request, "Task created. Write its first draft below.")
        return redirect("occupations:edit", slug=task.slug)
    return render(request, "occupations/new_task.html", {"form": form, "search": search})


@login_required
def task_detail(request, slug: str):
    return _task_page(request, _task_for(request, slug, "task page"))


def _task_page(request, task: Task, *, review_form=None, comment_form=None, number=None):
    """The task page; forms that failed come back bound, so nothing typed is lost."""
    versions = list(task.versions.order_by("-number"))
    number = str(number or request.GET.get("version"))
    version = next((v for v in versions if str(v.number) == number), versions[0])
    user = request.user
    can_review = (
        task.status == Task.Status.IN_REVIEW
        and version == versions[0]
        and permissions.can_review(user, task)
        and not version.reviews.filter(reviewer=user).exists()
    )
    _record_if_held_out(request, version, "task page")
    return render(
        request,
        "occupations/task_detail.html",
        {
            "task": task,
            "version": version,
            "versions": versions,
            "latest": versions[0],
            "instructions_html": markdown.render(version.instructions),
            "context_html": markdown.render(version.context),
            "criteria": version.criteria.order_by("order"),
            **_cited(version),
            "attachments": version.attachments.all(),
            "reviews": version.reviews.select_related("reviewer"),
            "approvals": workflow.approvals(version),
            "required_approvals": workflow.required_approvals(),
            "comments": version.comments.select_related("author", "criterion"),
            "events": task.events.select_related("actor", "version").order_by("-created_at")[:50],
            "can_author": permissions.can_author(user, task),
            "can_review": can_review,
            "can_publish": task.status == Task.Status.APPROVED
            and permissions.can_decide(user, task),
            "can_retire": task.published_version_id is not None
            and task.status != Task.Status.RETIRED
            and permissions.can_decide(user, task),
            "can_comment": permissions.can_comment(user, task),
            "review_form": review_form or ReviewForm(),
            "comment_form": comment_form or CommentForm(version=version),
            "problems": check_version(version) if not version.is_locked else [],
        },
    )


def _cited(version: TaskVersion) -> dict:
    """The statements a version cites and the taxonomies whose credit lines go with them."""
    cited = list(
        version.task_statements.select_related("occupation__taxonomy").order_by(
            "statement_id", "pk"
        )
    )
    return {"cited": cited, "cited_taxonomies": statements.statement_taxonomies(cited)}


def _draft_for_editing(request, task: Task) -> TaskVersion:
    _require(permissions.can_author(request.user, task))
    version = task.latest_version()
    if version.is_locked:
        raise Http404("No open draft")
    return version


@login_required
def edit_task(request, slug: str):
    task = _task_for(request, slug, "edit page")
    _require(permissions.can_author(request.user, task))
    version = task.latest_version()
    if request.method != "POST" and version.is_locked:
        messages.info(request, "That version is frozen. Start a new version to change the task.")
        return redirect("occupations:task", slug=task.slug)
    refused = None
    citable = statements.statements_for(task.occupation)
    accepted = statements.accepted_citations(version, citable)
    if request.method == "POST":
        form = VersionForm(request.POST, statements=accepted)
        rubric = CriterionFormSet(request.POST, prefix="criteria")
        if form.is_valid() and rubric.is_valid():
            try:
                version = _save(request, version, form, rubric)
            except workflow.WorkflowError as error:
                # Concurrent edits, a version frozen meanwhile: the text stays on screen.
                refused = str(error)
                if _wants_json(request):
                    return JsonResponse({"error": refused}, status=409)
            else:
                if _wants_json(request):
                    return JsonResponse({"revision": version.revision, "saved": True})
                if "submit" in request.POST:
                    return _submit(request, version)
                messages.success(request, f"Draft saved (version {version.number}).")
                return redirect("occupations:edit", slug=task.slug)
        elif _wants_json(request):
            return JsonResponse(
                {"error": "The draft has errors; save it from the page to see them."}, status=400
            )
    else:
        form = VersionForm(initial=VersionForm.initial_for(version), statements=accepted)
        rubric = CriterionFormSet(initial=criteria_initial(version), prefix="criteria")
    suggestions = statements.suggest_statements(version, citable)
    unlinked = list(statements.no_longer_linked(version, citable))
    _record_if_held_out(request, version, "edit page")
    return render(
        request,
        "occupations/edit_task.html",
        {
            "task": task,
            "version": version,
            "form": form,
            "rubric": rubric,
            "conflict": refused,
            "problems": [] if version.is_locked else check_version(version),
            "title_locked": workflow.is_submitted_before(task) and not request.user.is_superuser,
            "feedback": _feedback_on_previous(version),
            "attachments": version.attachments.all(),
            "attachment_form": AttachmentForm(),
            "tags": [value for value, _ in RubricCriterion.Tag.choices],
            "preview": markdown.render(version.instructions),
            "positive_total": _positive_total(rubric),
            "suggestions": suggestions,
            "unlinked_statements": unlinked,
            "chosen_statements": form.chosen_statements(),
            "statement_taxonomies": statements.statement_taxonomies(
                [*(s.statement for s in suggestions), *unlinked]
            ),
        },
    )


def _feedback_on_previous(version: TaskVersion) -> dict:
    """What reviewers said about the version before this draft, shown beside the editor."""
    previous = version.task.versions.filter(number__lt=version.number).order_by("-number").first()
    if previous is None:
        return {}
    return {
        "version": previous,
        "reviews": previous.reviews.exclude(note="").select_related("reviewer"),
        "comments": previous.comments.select_related("author", "criterion"),
    }


def _positive_total(rubric) -> int:
    """Positive points of the rows on screen (bound or not), kept rows only."""
    total = 0
    for row in rubric.forms:
        data = row.cleaned_data if row.is_bound and hasattr(row, "cleaned_data") else row.initial
        points = data.get("points")
        if isinstance(points, int) and points > 0 and not data.get("DELETE"):
            total += points
    return total


def _wants_json(request) -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


def _save(request, version: TaskVersion, form: VersionForm, rubric) -> TaskVersion:
    data = form.cleaned_data
    rows = [
        row
        for row in rubric.ordered_forms
        if row.cleaned_data and not row.cleaned_data.get("DELETE")
    ]
    criteria = [
        workflow.CriterionDraft(
            text=row.cleaned_data["text"],
            points=row.cleaned_data["points"],
            tag=row.cleaned_data["tag"] or RubricCriterion.Tag.ACCURACY,
            critical=row.cleaned_data["critical"],
            pk=row.cleaned_data.get("criterion_id"),
        )
        for row in rows
    ]
    # The citations are part of the draft: saved with the rest, or not at all.
    with transaction.atomic():
        version = workflow.save_draft(
            version,
            user=request.user,
            expected_revision=data["revision"],
            expected_version=data["version_number"],
            title=data["title"],
            visibility=data["visibility"],
            fields={name: data[name] for name in workflow.VERSION_FIELDS},
            criteria=criteria,
        )
        version.task_statements.set(data["task_statements"])
    return version


def _submit(request, version: TaskVersion):
    try:
        workflow.submit(version, user=request.user, expected_revision=version.revision)
    except workflow.NotReadyError as error:
        messages.error(
            request,
            f"The draft is saved, but {len(error.problems)} problem(s) block submission: "
            "they are listed below.",
        )
        return redirect(reverse("occupations:edit", args=[version.task.slug]) + "#problems")
    except workflow.WorkflowError as error:
        messages.error(request, str(error))
        return redirect("occupations:edit", slug=version.task.slug)
    messages.success(request, "Submitted for review. The version is now frozen.")
    return redirect("occupations:task", slug=version.task.slug)


@login_required
@require_POST
def new_version(request, slug: str):
    task = _task_for(request, slug, "new version")
    _require(permissions.can_author(request.user, task))
    try:
        version = workflow.start_new_version(task, user=request.user)
    except workflow.WorkflowError as error:
        messages.error(request, str(error))
        return redirect("occupations:task", slug=task.slug)
    messages.success(request, f"Version {version.number} is a new draft, copied from the last.")
    return redirect("occupations:edit", slug=task.slug)


@login_required
@require_POST
def review_task(request, slug: str):
    task = _task_for(request, slug, "review")
    _require(permissions.can_review(request.user, task))
    form = ReviewForm(request.POST)
    if form.is_valid():
        try:
            workflow.review(
                task.latest_version(),
                reviewer=request.user,
                decision=form.cleaned_data["decision"],
                note=form.cleaned_data["note"],
            )
        except workflow.WorkflowError as error:
            form.add_error(None, str(error))
        else:
            decision = dict(Review.Decision.choices)[form.cleaned_data["decision"]]
            messages.success(request, f"Review recorded: {decision.lower()}.")
            return redirect("occupations:task", slug=task.slug)
    return _task_page(request, task, review_form=form)


@login_required
@require_POST
def publish_task(request, slug: str):
    task = _task_for(request, slug, "publish")
    _require(permissions.can_decide(request.user, task))
    try:
        version = workflow.publish(task, user=request.user)
    except workflow.WorkflowError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Version {version.number} is published.")
    return redirect("occupations:task", slug=task.slug)


@login_required
@require_POST
def retire_task(request, slug: str):
    task = _task_for(request, slug, "retire")
    _require(permissions.can_decide(request.user, task))
    try:
        workflow.retire(task, user=request.user, note=request.POST.get("note", ""))
    except workflow.WorkflowError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "The task is retired; suites that hold it keep it.")
    return redirect("occupations:task", slug=task.slug)


@login_required
@require_POST
def comment_task(request, slug: str):
    task = _task_for(request, slug, "comment")
    _require(permissions.can_comment(request.user, task))
    version = get_object_or_404(task.versions, number=_number(request.POST.get("version")))
    form = CommentForm(request.POST, version=version)
    if not form.is_valid():
        return _task_page(request, task, comment_form=form, number=version.number)
    workflow.comment(
        version,
        user=request.user,
        body=form.cleaned_data["body"],
        criterion=form.cleaned_data["criterion"],
    )
    messages.success(request, "Comment added.")
    return redirect(f"{reverse('occupations:task', args=[task.slug])}?version={version.number}")


@login_required
def diff_versions(request, slug: str):
    task = _task_for(request, slug, "diff page")
    numbers = sorted(task.versions.values_list("number", flat=True))
    if len(numbers) < 2:
        raise Http404("Only one version")
    a = _number(request.GET.get("a", numbers[-2]))
    b = _number(request.GET.get("b", numbers[-1]))
    old = get_object_or_404(task.versions, number=a)
    new = get_object_or_404(task.versions, number=b)
    sections = []
    for name in (*workflow.VERSION_FIELDS, "rubric"):
        before, after = (_diff_text(v, name) for v in (old, new))
        if before != after:
            lines = list(
                difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=2)
            )[2:]
            sections.append((name.replace("_", " "), lines))
    _record_if_held_out(request, task, f"diff page: versions {old.number} and {new.number}")
    citations = _citation_changes(old, new)
    return render(
        request,
        "occupations/diff.html",
        {
            "task": task,
            "old": old,
            "new": new,
            "sections": sections,
            "numbers": numbers,
            "citations": citations,
            "citations_changed": any(change != "kept" for change, _ in citations),
            "cited_taxonomies": statements.statement_taxonomies(s for _, s in citations),
        },
    )


def _citation_changes(old: TaskVersion, new: TaskVersion) -> list[tuple[str, TaskStatement]]:
    """Every statement either version cites, by id, as "added", "removed" or "kept"."""
    cited = (
        TaskStatement.objects.filter(task_versions__in=[old, new])
        .select_related("occupation__taxonomy")
        .order_by("statement_id", "pk")
        .distinct()
    )
    before = set(old.task_statements.values_list("pk", flat=True))
    after = set(new.task_statements.values_list("pk", flat=True))
    changes = []
    for statement in cited:
        if statement.pk not in before:
            changes.append(("added", statement))
        elif statement.pk not in after:
            changes.append(("removed", statement))
        else:
            changes.append(("kept", statement))
    return changes


def _diff_text(version: TaskVersion, name: str) -> str:
    if name == "rubric":
        return "\n".join(
            f"[{c.points:+d}] {c.text} ({c.tag}{', critical' if c.critical else ''})"
            for c in version.criteria.order_by("order")
        )
    return str(getattr(version, name))


# --- import and export ----------------------------------------------------------------


@login_required
def import_tasks(request):
    """Authors upload tasks as JSON Lines; they arrive as drafts in the author's panels.

    The page users see is the import page of every format (interop:import_tasks); this
    address sends them there and still takes a JSON Lines file posted to it.
    """
    allowed = permissions.authorable_occupations(request.user)
    _require(allowed.exists())
    if request.method != "POST":
        return redirect("interop:import_tasks")
    form = ImportForm(request.POST, request.FILES, refused=refused_upload(request, "file"))
    report, problems = None, []
    if form.is_valid():
        try:
            report = jsonl.import_tasks(
                form.cleaned_data["file"],
                user=request.user,
                dry_run=form.cleaned_data["dry_run"],
                allowed_occupations=allowed,
            )
        except jsonl.TaskImportError as error:
            problems = [str(problem) for problem in error.problems]
        if report and not report.dry_run:
            messages.success(request, str(report))
            return redirect("occupations:my_tasks")
    return render(
        request,
        "occupations/import.html",
        {"form": form, "report": report, "problems": problems},
    )


@login_required
def export_tasks(request):
    """The tasks the user may read, as JSON Lines; held-out ones only when asked for."""
    include_held_out = request.GET.get("held_out") == "1"
    tasks = list(permissions.visible_tasks(request.user).order_by("slug"))
    lines = jsonl.export_tasks(tasks, include_held_out=include_held_out)
    content = "".join(f"{line}\n" for line in lines)
    if include_held_out:
        # One record per held-out task in the file (public ones are left out).
        trail.record_held_out_accesses(request, tasks, "export of tasks as JSON Lines")
    return file_response(content, filename="tasks.jsonl", content_type="application/x-ndjson")


# --- attachments ------------------------------------------------------------------------


@login_required
@require_POST
def upload_attachment(request, slug: str):
    task = _task_for(request, slug, "upload attachment")
    version = _draft_for_editing(request, task)
    form = AttachmentForm(request.POST, request.FILES, refused=refused_upload(request, "file"))
    if form.is_valid():
        try:
            attachment = attachments.add_attachment(
                version, form.cleaned_data["file"], request.user
            )
        except attachments.AttachmentError as error:
            messages.error(request, str(error))
        except LockedVersionError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"Attached {attachment.original_name}.")
    else:
        messages.error(request, " ".join(form.errors["file"]))
    return redirect("occupations:edit", slug=task.slug)


@login_required
@require_POST
def delete_attachment(request, pk: int):
    attachment = get_object_or_404(Attachment.objects.select_related("task_version__task"), pk=pk)
    task = _task_for(request, attachment.task_version.task.slug, "delete attachment")
    if _draft_for_editing(request, task) != attachment.task_version:
        raise Http404("The attachment belongs to a frozen version")
    attachments.remove_attachment(attachment)
    messages.success(request, f"Removed {attachment.original_name}.")
    return redirect("occupations:edit", slug=task.slug)


@login_required
def download_attachment(request, pk: int):
    attachment = get_object_or_404(Attachment.objects.select_related("task_version__task"), pk=pk)
    what = f"download attachment {attachment.pk}"
    _task_for(request, attachment.task_version.task.slug, what)
    _record_if_held_out(request, attachment, what)
    # Uploaded by people outside the team: served as opaque bytes that no browser renders.
    return file_response(
        attachment.file.open("rb"),
        filename=attachment.original_name,
        content_type="application/octet-stream",
    )


# --- suites -----------------------------------------------------------------------------


@login_required
def suite_list(request):
    _require(permissions.can_manage_suites(request.user))
    suites = Suite.objects.annotate(versions=Count("task_versions"), run_count=Count("runs"))
    return render(request, "occupations/suite_list.html", {"suites": suites})


@login_required
def suite_edit(request, slug: str | None = None):
    _require(permissions.can_manage_suites(request.user))
    suite = get_object_or_404(Suite, slug=slug) if slug else None
    if suite is not None and suite.is_frozen:
        return render(request, "occupations/suite_detail.html", {"suite": suite})
    initial = (
        {
            "name": suite.name,
            "slug": suite.slug,
            "description": suite.description,
            "task_versions": list(suite.task_versions.all()),
        }
        if suite
        else None
    )
    form = SuiteForm(request.POST or None, initial=initial, suite=suite)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        clash = Suite.objects.filter(slug=data["slug"]).exclude(pk=suite.pk if suite else None)
        if clash.exists():
            form.add_error("slug", "Another suite uses this short name.")
        else:
            with transaction.atomic():
                suite = suite or Suite()
                suite.name, suite.slug, suite.description = (
                    data["name"],
                    data["slug"],
                    data["description"],
                )
                suite.save()
                suite.task_versions.set(data["task_versions"])
            messages.success(request, f"Suite {suite.name} saved.")
            return redirect("occupations:suite", slug=suite.slug)
    return render(request, "occupations/suite_form.html", {"form": form, "suite": suite})
