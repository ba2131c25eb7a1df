"""Pages of the exchange formats: a suite downloaded in a format, tasks imported from one."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render

from audit import trail
from evalbuilder.downloads import file_response
from evalbuilder.uploads import refused_upload
from interop.conversion import ImportOptions
from interop.formats import EXPORTERS, export_zip, held_out_versions, import_text
from interop.forms import JSON_LINES, FormatImportForm
from occupations import jsonl, permissions
from occupations.models import Suite


@login_required
def export_suite(request, slug: str, format: str):
    """A zip of the suite in a format. Held-out tasks are left out, unless the user asks
    (?held_out=1) and may see every one of them; that download is recorded."""
    if not permissions.can_manage_suites(request.user):
        raise PermissionDenied
    suite = get_object_or_404(Suite, slug=slug)
    if format not in EXPORTERS:
        raise Http404("No such format")
    include_held_out = request.GET.get("held_out") == "1"
    held_out = list(held_out_versions(suite))
    if include_held_out:
        visible = permissions.visible_tasks(request.user)
        if visible.filter(pk__in=[v.task_id for v in held_out]).count() < len(held_out):
            raise PermissionDenied
    try:
        content = export_zip(suite, format, include_held_out=include_held_out)
    except ValueError as error:  # nothing to export, said by the format
        messages.error(request, str(error))
        return redirect("occupations:suites")
    if include_held_out:
        trail.record_held_out_accesses(
            request, held_out, f"export of suite {suite.slug} as {format}"
        )
    return file_response(
        content, filename=f"{suite.slug}-{format}.zip", content_type="application/zip"
    )


@login_required
def import_tasks(request):
    """Authors upload tasks in any format; they arrive as drafts in the author's panels."""
    allowed = permissions.authorable_occupations(request.user)
    if not allowed.exists():
        raise PermissionDenied
    posted = request.method == "POST"
    form = FormatImportForm(
        request.POST if posted else None,
        request.FILES if posted else None,
        occupations=allowed,
        refused=refused_upload(request, "file"),
        refused_files=refused_upload(request, "reference_files"),
    )
    report, problems = None, []
    if posted and form.is_valid():
        data = form.cleaned_data
        try:
            if data["format"] == JSON_LINES:
                report = jsonl.import_tasks(
                    data["file"],
                    user=request.user,
                    dry_run=data["dry_run"],
                    allowed_occupations=allowed,
                )
            else:
                report = import_text(
                    data["format"],
                    data["file"],
                    user=request.user,
                    options=_options(data),
                    dry_run=data["dry_run"],
                    allowed_occupations=allowed,
                )
        except jsonl.TaskImportError as error:
            problems = [str(problem) for problem in error.problems]
        if report and not report.dry_run:
            messages.success(request, str(report))
            return redirect("occupations:my_tasks")
    return render(
        request,
        "interop/import_tasks.html",
        {"form": form, "report": report, "problems": problems},
    )


def _options(data: dict) -> ImportOptions:
    occupation = data["occupation"]
    return ImportOptions(
        occupation=occupation.code if occupation else "",
        taxonomy=str(occupation.taxonomy) if occupation else ImportOptions.taxonomy,
        minutes=data["minutes"],
        pass_threshold=(
            data["pass_threshold"]
            if data["pass_threshold"] is not None
            else ImportOptions.pass_threshold
        ),
        reference=data["reference"].strip(),
        prefix=data["prefix"],
        files=data["reference_files"],
    )
