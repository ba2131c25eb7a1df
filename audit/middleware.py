"""Makes the current request known to the trail while it is handled, and records refusals."""

from collections.abc import Callable

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from audit import trail
from audit.models import AuditEvent


class AuditContextMiddleware:
    """Events recorded while a request is handled name its user, address, method and path.

    Only the request is kept: its user is read when an event is recorded, so a request that
    records nothing costs no query.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with trail.context(trail.source_of_request(request), request=request):
            return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        """A view that refused the request (PermissionDenied, answered 403) is recorded as a
        denied access to its path, unless the view recorded the refusal itself. Django goes
        on to answer as it would have."""
        if isinstance(exception, PermissionDenied) and not trail.refusal_recorded(request):
            trail.record(
                AuditEvent.Action.ACCESS, outcome=AuditEvent.Outcome.DENIED, request=request
            )
