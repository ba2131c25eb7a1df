"""Run pages: progress, every sample with its grades and per-criterion verdicts."""

from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, Q, Sum
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from audit.trail import record_held_out_access, record_held_out_accesses
from graders import calibration
from graders.models import Grade
from graders.services import default_grader
from occupations import permissions
from occupations.models import Task
from runs.models import ModelEndpoint, Run, Sample
from runs.progress import progress_of


@login_required
@permission_required("runs.view_run", raise_exception=True)
def run_list(request):
    runs = (
        Run.objects.select_related("suite", "endpoint")
        .annotate(
            written=Count("samples"),
            failed=Count("samples", filter=Q(samples__status=Sample.Status.FAILED)),
            spent=Sum("samples__cost", default=Decimal("0")),
        )
        .order_by("-created_at")
    )
    # Unknown filter values are ignored rather than refused: the list is only narrower.
    filters = {}
    status = request.GET.get("status", "")
    if status in Run.Status.values:
        runs = runs.filter(status=status)
        filters["status"] = status
    model = request.GET.get("model", "")
    if model:
        runs = runs.filter(endpoint__slug=model)
        filters["model"] = model
    page = Paginator(runs, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "graders/run_list.html",
        {
            "page": page,
            "statuses": Run.Status.choices,
            "models": ModelEndpoint.objects.filter(runs__isnull=False).distinct(),
            "filters": filters,
            "query": urlencode(filters),
        },
    )


@login_required
@permission_required("runs.view_run", raise_exception=True)
def run_detail(request, pk: int):
    run = get_object_or_404(Run.objects.select_related("suite", "endpoint"), pk=pk)
    samples = (
        run.samples.select_related("task_version__task__occupation")
        .prefetch_related(
            Prefetch(
                "grades",
                queryset=Grade.objects.select_related("grader").order_by("grader"),
                to_attr="grade_list",
            ),
            "grade_list__verdicts__criterion",
        )
        .order_by("task_version__task__slug", "attempt")
    )
    page = Paginator(samples, 25).get_page(request.GET.get("page"))
    # The Score column shows the grader reports use; the others are listed under it.
    grader = default_grader()
    for sample in page:
        sample.shown_grade = next(
            (
                g
                for g in sample.grade_list
                if grader is not None and g.grader_id == grader.pk and g.expert_id is None
            ),
            None,
        )
    can_see_held_out = request.user.has_perm("runs.view_sample")
    if can_see_held_out:
        # The page holds these held-out tasks' outputs and rubric text: who saw them is kept.
        shown = {s.task_version_id: s.task_version for s in page}
        record_held_out_accesses(request, shown.values(), f"outputs of run {run.pk}")
    return render(
        request,
        "graders/run_detail.html",
        {
            "run": run,
            "progress": progress_of(run),
            "page": page,
            "score_grader": grader,
            "can_see_held_out": can_see_held_out,
            "can_control": request.user.has_perm("runs.change_run"),
        },
    )


@login_required
@require_POST
def calibrate_task(request, slug: str):
    """Score the latest version's reference solution and an empty answer with the grader."""
    task = get_object_or_404(Task, slug=slug)
    if not permissions.can_view(request.user, task):
        raise Http404("No such task")
    if not permissions.can_author(request.user, task):
        raise PermissionDenied
    grader = default_grader()
    if grader is None:
        messages.error(request, "No LLM grader is configured, so calibration cannot run.")
        return redirect("occupations:edit", slug=task.slug)
    version = task.latest_version()
    result = calibration.calibrate(version, grader)
    calibration.record(version, result)
    record_held_out_access(request, version, "calibration")
    return render(
        request, "graders/calibration.html", {"task": task, "version": version, "result": result}
    )
