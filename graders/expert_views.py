"""Blind expert grading pages: queues, the grading form, disagreements and reconciliation.

Experts need `graders.add_grade` and see only tasks they may read (others are not found,
as everywhere for hidden tasks). Adding samples to a queue needs
`graders.add_expertqueueitem`. The pages an expert grades from never name the model, its
run or other grades, so that grades are blind.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from audit.trail import record_held_out_access
from graders import experts
from graders.expert_forms import EnqueueForm, VerdictsForm
from graders.models import ExpertQueueItem, Grader
from occupations import markdown
from occupations.permissions import can_view
from runs.models import Sample
from runs.prompting import task_prompt


@dataclass
class QueueRow:
    """One human grader on the queue list, with the figures the signed-in user may see."""

    grader: Grader
    waiting: int | None = None
    """Items waiting for the signed-in expert (experts only)."""
    graded: int | None = None
    """Samples the signed-in expert has graded (experts only)."""
    summary: experts.QueueSummary | None = None
    """Queue figures (operators only)."""
    form: EnqueueForm | None = None
    """Adding samples from a run (operators only)."""


def _human_grader(pk: int) -> Grader:
    return get_object_or_404(Grader, pk=pk, kind=Grader.Kind.HUMAN)


def _queue_page(
    request: HttpRequest, bound: EnqueueForm | None = None, status: int = 200
) -> HttpResponse:
    user = request.user
    is_expert = user.has_perm("graders.add_grade")
    manages = user.has_perm("graders.add_expertqueueitem")
    rows = []
    for grader in experts.human_graders():
        row = QueueRow(grader)
        if is_expert:
            row.waiting = experts.open_items(grader, user).count()
            row.graded = experts.graded_by(grader, user)
        if manages:
            row.summary = experts.queue_summary(grader)
            row.form = bound if bound and bound.grader == grader else EnqueueForm(grader=grader)
        rows.append(row)
    return render(
        request,
        "graders/experts/queue_list.html",
        {"rows": rows, "is_expert": is_expert, "manages": manages, "bound_form": bound},
        status=status,
    )


@login_required
def queue_list(request: HttpRequest) -> HttpResponse:
    if not (
        request.user.has_perm("graders.add_grade")
        or request.user.has_perm("graders.add_expertqueueitem")
    ):
        raise PermissionDenied
    return _queue_page(request)


@login_required
@permission_required("graders.add_expertqueueitem", raise_exception=True)
@require_POST
def enqueue(request: HttpRequest, pk: int) -> HttpResponse:
    grader = _human_grader(pk)
    form = EnqueueForm(request.POST, grader=grader)
    if form.is_valid():
        try:
            added = experts.enqueue_run(
                grader,
                form.cleaned_data["run"],
                count=form.cleaned_data["count"],
                added_by=request.user,
            )
        except experts.ExpertGradingError as error:
            form.add_error(error.field, str(error))
        else:
            messages.success(
                request,
                f"{len(added)} sample{'s' if len(added) != 1 else ''} added to {grader.label}.",
            )
            return redirect("graders:expert_queues")
    return _queue_page(request, bound=form)


@login_required
@permission_required("graders.add_grade", raise_exception=True)
def next_sample(request: HttpRequest, pk: int) -> HttpResponse:
    grader = _human_grader(pk)
    item = experts.next_item(grader, request.user)
    if item is None:
        messages.info(request, f"Nothing in {grader.label} waits for you now. Thank you.")
        return redirect("graders:expert_queues")
    return redirect("graders:expert_grade", item=item.pk)


def _blind_task(sample: Sample) -> dict:
    """What the expert sees of a sample: the task as the model saw it and the output."""
    version = sample.task_version
    prompt = task_prompt(version)
    return {
        "task": version.task,
        "version": version,
        "prompt": prompt,
        "prompt_html": markdown.render(prompt),
        "output": sample.output,
        "output_html": markdown.render(sample.output),
    }


@login_required
@permission_required("graders.add_grade", raise_exception=True)
def grade_item(request: HttpRequest, item: int) -> HttpResponse:
    queued = get_object_or_404(
        ExpertQueueItem.objects.select_related("grader", "sample__task_version__task__occupation"),
        pk=item,
        grader__kind=Grader.Kind.HUMAN,
    )
    grader, sample = queued.grader, queued.sample
    if not can_view(request.user, sample.task_version.task):
        raise Http404("No such queue item")
    grades = experts.independent_grades(grader).filter(sample=sample)
    if grades.filter(expert=request.user).exists():
        messages.info(request, "You have graded that sample already.")
        return redirect("graders:expert_next", pk=grader.pk)
    if grades.count() >= grader.grades_per_sample:
        messages.info(request, "That sample has all its expert grades already.")
        return redirect("graders:expert_next", pk=grader.pk)
    criteria = list(sample.task_version.criteria.order_by("order"))
    form = VerdictsForm(request.POST or None, criteria=criteria)
    if request.method == "POST" and form.is_valid():
        try:
            experts.record_expert_grade(
                queued, request.user, form.verdicts(), form.cleaned_data["comment"]
            )
        except experts.ExpertGradingError as error:
            form.add_error(error.field, str(error))
        else:
            messages.success(request, "Grade saved.")
            return redirect("graders:expert_next", pk=grader.pk)
    record_held_out_access(request, sample.task_version, "expert grading")
    return render(
        request,
        "graders/experts/grade.html",
        {
            "grader": grader,
            "item": queued,
            "form": form,
            "waiting": experts.open_items(grader, request.user).count(),
            **_blind_task(sample),
        },
    )


@login_required
@permission_required("graders.add_grade", raise_exception=True)
def disagreements(request: HttpRequest, pk: int) -> HttpResponse:
    grader = _human_grader(pk)
    return render(
        request,
        "graders/experts/disagreements.html",
        {"grader": grader, "rows": experts.disagreements(grader, request.user)},
    )


@login_required
@permission_required("graders.add_grade", raise_exception=True)
def reconcile(request: HttpRequest, pk: int, sample: int) -> HttpResponse:
    grader = _human_grader(pk)
    graded = get_object_or_404(
        Sample.objects.select_related("task_version__task__occupation"), pk=sample
    )
    if not can_view(request.user, graded.task_version.task):
        raise Http404("No such sample")
    # Also not found while the sample waits for grades: experts who grade it next stay blind.
    split = experts.disagreement(grader, graded)
    if split is None:
        raise Http404("No disagreement to reconcile on this sample")
    form = None
    if split.reconciled is None:
        # Criteria the experts agree on start at their verdict; split ones start unticked.
        agreed = {s.criterion.pk: s.met > 0 for s in split.splits if not s.disagrees}
        form = VerdictsForm(
            request.POST or None,
            criteria=[s.criterion for s in split.splits],
            initial_verdicts=agreed,
        )
        if request.method == "POST" and form.is_valid():
            try:
                experts.reconcile(
                    grader, graded, request.user, form.verdicts(), form.cleaned_data["comment"]
                )
            except experts.ExpertGradingError as error:
                form.add_error(error.field, str(error))
            else:
                messages.success(request, "Reconciled verdicts saved.")
                return redirect("graders:disagreements", pk=grader.pk)
    elif request.method == "POST":
        messages.error(request, "This disagreement was reconciled already.")
        return redirect("graders:reconcile", pk=grader.pk, sample=graded.pk)
    final = {v.criterion_id: v for v in split.reconciled.verdicts.all()} if split.reconciled else {}
    record_held_out_access(request, graded.task_version, "reconciliation")
    return render(
        request,
        "graders/experts/reconcile.html",
        {
            "grader": grader,
            "split": split,
            "form": form,
            "rows": [
                {"split": s, "final": final.get(s.criterion.pk), "fields": fields}
                for s, fields in zip(
                    split.splits, form.rows() if form else [None] * len(split.splits), strict=True
                )
            ],
            **_blind_task(graded),
        },
    )
