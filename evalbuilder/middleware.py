from django.http import HttpRequest, HttpResponse


class HealthCheckMiddleware:
    """Answer /healthz before host validation, so a container's health check by address
    works whatever ALLOWED_HOSTS names."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/healthz":
            return HttpResponse("ok", content_type="text/plain")
        return self.get_response(request)
