"""The audit trail for administrators: browse it, filter it, export it. Each look is itself
recorded, and so is each refused attempt by someone signed in."""

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from audit import exports, trail
from audit.forms import EventFilterForm
from audit.models import AuditEvent
from evalbuilder.downloads import file_response

PAGE_SIZE = 50
FORMATS = {
    "csv": ("text/csv; charset=utf-8", exports.csv_lines),
    "jsonl": ("application/x-ndjson; charset=utf-8", exports.jsonl_lines),
}


def superuser_only(action: str) -> Callable:
    """Administrators only: others are refused (and the refusal recorded as `action`)."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_superuser:
                trail.record(action, outcome=AuditEvent.Outcome.DENIED, request=request)
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return login_required(guarded)

    return decorate


@require_GET
@superuser_only(AuditEvent.Action.VIEW_AUDIT)
def event_list(request: HttpRequest) -> HttpResponse:
    form = EventFilterForm(request.GET)
    form.is_valid()  # invalid filters are shown as errors and left out; the rest apply
    filters = form.filters()
    page = Paginator(form.apply(AuditEvent.objects.all()), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    trail.record(
        AuditEvent.Action.VIEW_AUDIT,
        request=request,
        details={"filters": filters, "page": page.number},
    )
    return render(
        request,
        "audit/events.html",
        {"form": form, "page": page, "filters": filters, "query": urlencode(filters)},
    )


@require_GET
@superuser_only(AuditEvent.Action.EXPORT_AUDIT)
def export(request: HttpRequest) -> HttpResponse:
    """The filtered events, newest first, streamed as CSV or (?format=jsonl) JSON Lines."""
    form = EventFilterForm(request.GET)
    chosen = request.GET.get("format", "csv")
    if chosen not in FORMATS:
        return HttpResponseBadRequest(
            f"format: {chosen!r} is not a format of the export; use csv or jsonl.",
            content_type="text/plain; charset=utf-8",
        )
    if not form.is_valid():
        # An export with a filter left out would hand over more than was asked for.
        problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        return HttpResponseBadRequest(problems, content_type="text/plain; charset=utf-8")
    filters = form.filters()
    trail.record(
        AuditEvent.Action.EXPORT_AUDIT,
        request=request,
        details={"filters": filters, "format": chosen},
    )
    content_type, lines = FORMATS[chosen]
    return file_response(
        lines(form.apply(AuditEvent.objects.all())),
        filename=f"audit-events-{timezone.now():%Y%m%d-%H%M%S}.{chosen}",
        content_type=content_type,
    )
