"""The operator's page that imports an Inspect AI eval log as a run.

Who may start runs may import them: the same permission as the new-run page
(runs.views.run_new). The work is interop.eval_logs.import_eval_log's.
"""

from __future__ import annotations

import io

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import redirect, render

from evalbuilder.uploads import display_name, human_size, read_capped, refused_upload
from interop import eval_logs
from occupations.forms import UploadForm
from occupations.models import Suite
from runs.forms import SuiteChoiceField
from runs.models import ModelEndpoint


class EvalLogForm(UploadForm):
    """An Inspect eval log and what the log itself may not say."""

    file = forms.FileField(
        label="Eval log",
        help_text="The .eval (or .json) log Inspect wrote, e.g. logs/2025-06-01T10-00-00_x.eval.",
        error_messages={"required": "Choose the eval log to import."},
    )
    suite = SuiteChoiceField(
        queryset=Suite.objects.order_by("name"),
        required=False,
        empty_label="The suite the log names",
        help_text="Logs of a suite exported here name it; choose one for other logs.",
    )
    model = forms.ModelChoiceField(
        queryset=ModelEndpoint.objects.order_by("display_name"),
        required=False,
        empty_label="The log's model, as imported results",
        help_text="Record the run on a registered model instead; by default the log's model "
        "is registered, on its first import, as imported results (it cannot be called).",
    )
    release_date = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Public release date of the log's model: needed when the import registers it.",
    )
    check_only = forms.BooleanField(
        required=False, initial=True, label="Only check the log; write nothing"
    )

    def clean_file(self) -> io.BytesIO:
        upload = super().clean_file()
        name = display_name(upload.name or "", fallback="the log")
        limit = settings.EVALBUILDER_MAX_EVAL_LOG_BYTES
        data = read_capped(upload, limit)
        if data is None:
            raise forms.ValidationError(
                f"{name} is larger than {human_size(limit)}, the largest eval log accepted."
            )
        buffer = io.BytesIO(data)
        buffer.name = name
        return buffer


@login_required
@permission_required("runs.add_run", raise_exception=True)
def import_eval_log(request):
    """Upload an eval log: check it, or import it as a run and go to the run's page."""
    form = EvalLogForm(
        request.POST or None,
        request.FILES or None,
        refused=refused_upload(request, "file"),
    )
    report, problems = None, []
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            report = eval_logs.import_eval_log(
                data["file"],
                suite=data["suite"],
                endpoint=data["model"],
                release_date=data["release_date"],
                user=request.user,
                dry_run=data["check_only"],
            )
        except eval_logs.EvalLogError as error:
            problems = error.report.problems
        if report is not None and report.run is not None:
            messages.success(request, f"{report}.")
            return redirect("graders:run", pk=report.run.pk)
    return render(
        request,
        "interop/import_eval_log.html",
        {"form": form, "report": report, "problems": problems},
    )
