"""The operator's pages: model endpoints, schedules, one-off runs and run controls.

Views stay thin: they check permissions, bind forms and call runs/services.py. Viewing
needs the `view_` permission of the record; changing it, the `add_` or `change_` one.
The run pages themselves live in graders/, which shows each sample with its grades.
"""

from __future__ import annotations

from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.db import transaction
from django.db.models import Count, Sum
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from runs import services
from runs.forms import ModelEndpointForm, RegisterModelForm, ResumeForm, RunForm, ScheduleForm
from runs.models import ModelEndpoint, Run, Schedule
from runs.progress import progress_of

# --- model endpoints --------------------------------------------------------------------


@login_required
@permission_required("runs.view_modelendpoint", raise_exception=True)
def model_list(request):
    endpoints = ModelEndpoint.objects.annotate(
        run_count=Count("runs", distinct=True),
        total_cost=Sum("runs__samples__cost", default=Decimal("0")),
    )
    return render(request, "runs/model_list.html", {"endpoints": endpoints})


@login_required
@permission_required("runs.add_modelendpoint", raise_exception=True)
def model_new(request):
    form = RegisterModelForm(request.POST or None, initial={"run_suite": services.current_suite()})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        suite = data["run_suite"]
        if suite is not None and not request.user.has_perm("runs.add_run"):
            form.add_error("run_suite", "You may register models but not start runs.")
        else:
            try:
                run = services.register_endpoint(
                    form.save(commit=False),
                    run_suite=suite,
                    samples_per_task=data["samples_per_task"],
                    budget=data["budget"],
                )
            except ValueError as error:
                form.add_error("run_suite", str(error))
            else:
                endpoint = form.instance
                if run is None:
                    messages.success(request, f"Model {endpoint} registered.")
                    return redirect("runs:models")
                messages.success(
                    request,
                    f"Model {endpoint} registered; run #{run.pk} of {suite.name} is queued.",
                )
                return redirect("graders:run", pk=run.pk)
    return render(request, "runs/model_form.html", {"form": form, "endpoint": None})


@login_required
@permission_required("runs.change_modelendpoint", raise_exception=True)
def model_edit(request, slug: str):
    endpoint = get_object_or_404(ModelEndpoint, slug=slug)
    form = ModelEndpointForm(request.POST or None, instance=endpoint)
    if request.method == "POST" and form.is_valid():
        endpoint = form.save()
        messages.success(request, f"Model {endpoint} saved.")
        return redirect("runs:models")
    return render(request, "runs/model_form.html", {"form": form, "endpoint": endpoint})


# --- schedules ------------------------------------------------------------------------


@login_required
@permission_required("runs.view_schedule", raise_exception=True)
def schedule_list(request):
    schedules = Schedule.objects.select_related("suite").prefetch_related("endpoints")
    rows = [(schedule, services.schedule_cost(schedule)) for schedule in schedules]
    return render(request, "runs/schedule_list.html", {"rows": rows})


@login_required
@permission_required("runs.add_schedule", raise_exception=True)
def schedule_new(request):
    return _schedule_page(request, None)


@login_required
@permission_required("runs.change_schedule", raise_exception=True)
def schedule_edit(request, pk: int):
    return _schedule_page(request, get_object_or_404(Schedule, pk=pk))


def _schedule_page(request, schedule: Schedule | None):
    initial = (
        ScheduleForm.initial_for(schedule)
        if schedule is not None
        else {"suite": services.current_suite()}
    )
    form = ScheduleForm(request.POST or None, initial=initial, schedule=schedule)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                saved = services.save_schedule(**data, schedule=schedule, created_by=request.user)
        except ValueError as error:
            form.add_error("cron", str(error))
        else:
            messages.success(request, f"Schedule {saved.name} saved.")
            return redirect("runs:schedules")
    return render(request, "runs/schedule_form.html", {"form": form, "schedule": schedule})


@login_required
@permission_required("runs.add_run", raise_exception=True)
@require_POST
def schedule_run_now(request, pk: int):
    schedule = get_object_or_404(Schedule, pk=pk)
    try:
        runs = services.trigger_schedule(schedule)
    except ValueError as error:
        messages.error(request, f"Schedule {schedule.name} started nothing: {error}")
    else:
        if runs:
            numbers = ", ".join(f"#{run.pk}" for run in runs)
            messages.success(
                request, f"Schedule {schedule.name}: {len(runs)} run(s) queued ({numbers})."
            )
        else:
            messages.warning(
                request, f"Schedule {schedule.name} has no active models: nothing was started."
            )
    return redirect("graders:run_list")


def _refused(request, run: Run, why: str) -> None:
    messages.error(request, f"Run #{run.pk} is {run.get_status_display().lower()}: {why}")


# --- runs -----------------------------------------------------------------------------


@login_required
@permission_required("runs.add_run", raise_exception=True)
def run_new(request):
    form = RunForm(request.POST or None, initial={"suite": services.current_suite()})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            # All or nothing: a suite that cannot run queues no run at all.
            with transaction.atomic():
                runs = [
                    services.create_run(
                        data["suite"],
                        endpoint,
                        samples_per_task=data["samples_per_task"],
                        fresh_samples=data["fresh_samples"],
                        budget=data["budget"],
                        use_batch=data["use_batch"],
                    )
                    for endpoint in data["endpoints"]
                ]
        except ValueError as error:
            form.add_error(None, str(error))
        else:
            numbers = ", ".join(f"#{run.pk}" for run in runs)
            messages.success(request, f"{len(runs)} run(s) queued ({numbers}).")
            if len(runs) == 1:
                return redirect("graders:run", pk=runs[0].pk)
            return redirect("graders:run_list")
    return render(request, "runs/run_form.html", {"form": form})


@login_required
@permission_required("runs.change_run", raise_exception=True)
@require_POST
def run_pause(request, pk: int):
    run = get_object_or_404(Run, pk=pk)
    if services.pause_run(run):
        messages.success(
            request, f"Run #{run.pk} is paused. Calls already in flight finish and are kept."
        )
    else:
        _refused(request, run, "it cannot be paused.")
    return redirect("graders:run", pk=run.pk)


@login_required
@permission_required("runs.change_run", raise_exception=True)
@require_POST
def run_resume(request, pk: int):
    run = get_object_or_404(Run, pk=pk)
    form = ResumeForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(error for errors in form.errors.values() for error in errors)
        messages.error(request, f"New budget: {problems}")
        return redirect("graders:run", pk=run.pk)
    budget = form.cleaned_data["budget"]
    spent = services.run_progress(run)["cost"]
    limit = budget if budget is not None else run.budget
    if run.can_resume and limit is not None and spent >= limit:
        # The engine would stop again at its first look: say so instead.
        messages.error(
            request,
            f"Run #{run.pk} has spent {spent:.4f} of a budget of {limit:.4f}: "
            "give a higher budget to resume it.",
        )
    elif services.resume_run(run, budget=budget):
        messages.success(request, f"Run #{run.pk} resumes from its missing samples.")
    else:
        _refused(request, run, "only a paused run can be resumed.")
    return redirect("graders:run", pk=run.pk)


@login_required
@permission_required("runs.change_run", raise_exception=True)
@require_POST
def run_cancel(request, pk: int):
    run = get_object_or_404(Run, pk=pk)
    if services.cancel_run(run):
        messages.success(
            request, f"Run #{run.pk} is cancelled. Its samples and grades so far are kept."
        )
    else:
        _refused(request, run, "it cannot be cancelled.")
    return redirect("graders:run", pk=run.pk)


@never_cache
@login_required
@permission_required("runs.view_run", raise_exception=True)
def run_progress_json(request, pk: int):
    run = get_object_or_404(Run, pk=pk)
    return JsonResponse(progress_of(run))
