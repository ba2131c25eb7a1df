import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY

from evalbuilder import mfa

API_PREFIX = "/api/"
# Session keys: when the person signed in, and (to the minute) when they were last seen.
SIGNED_IN_AT = "evalbuilder_signed_in_at"
LAST_SEEN = "evalbuilder_last_seen"
# The last-seen stamp is rewritten at most this often, so a busy user's session is not
# written on every request; an idle session may therefore end up to this much early.
LAST_SEEN_RESOLUTION_SECONDS = 60


# Browser features no page of ours uses, refused for every page and anything embedded in one.
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


class PermissionsPolicyMiddleware:
    """Send a Permissions-Policy header (Django and django-csp have no setting for it)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


class HealthCheckMiddleware:
    """Answer /healthz before host validation, so a container's health check by address
    works whatever ALLOWED_HOSTS names."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/healthz":
            return HttpResponse("ok", content_type="text/plain")
        return self.get_response(request)


@receiver(user_logged_in, dispatch_uid="evalbuilder.middleware.start_fresh_session")
def start_fresh_session(sender, request: HttpRequest | None, user, **kwargs) -> None:
    """Every sign-in starts afresh, even over a session of the same person (which Django's
    login() keeps as it is): a new session key, the code step owed again, the clocks reset."""
    if request is None or not hasattr(request, "session"):
        return
    # Kept only when this very sign-in took a code (django-otp's own sign-in forms).
    if getattr(user, "otp_device", None) is None:
        request.session.pop(DEVICE_ID_SESSION_KEY, None)
    request.session.cycle_key()
    now = int(time.time())
    request.session[SIGNED_IN_AT] = now
    request.session[LAST_SEEN] = now


def seconds_since_sign_in(request: HttpRequest) -> int | None:
    """How long ago the person gave their password; None when the session does not say."""
    signed_in_at = request.session.get(SIGNED_IN_AT)
    return None if signed_in_at is None else int(time.time()) - signed_in_at


def describe_duration(seconds: int) -> str:
    """'30 minutes', '12 hours', '1 minute': how long a timeout is, for people."""
    if seconds >= 3600 and seconds % 3600 == 0:
        amount, unit = seconds // 3600, "hour"
    else:
        amount, unit = max(1, round(seconds / 60)), "minute"
    return f"{amount} {unit}{'' if amount == 1 else 's'}"


class SessionTimeoutMiddleware:
    """End a signed-in session after EVALBUILDER_SESSION_IDLE_SECONDS without a request, or
    EVALBUILDER_SESSION_ABSOLUTE_SECONDS after signing in, whichever comes first: sign the
    person out and send them to sign in again, back to the page they asked for.

    An API request on an ended session goes on as anonymous, so it gets the API's own answer.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The session, not request.user, says whether someone is signed in: no user query.
        if SESSION_KEY in request.session:
            reason = self._ended(request)
            if reason is not None:
                logout(request)
                if not request.path.startswith(API_PREFIX):
                    messages.info(request, reason)
                    return redirect_to_login(request.get_full_path())
        return self.get_response(request)

    @staticmethod
    def _ended(request: HttpRequest) -> str | None:
        session, now = request.session, int(time.time())
        if SIGNED_IN_AT not in session:
            # Signed in before these stamps existed: the clock starts now.
            session[SIGNED_IN_AT] = session[LAST_SEEN] = now
            return None
        idle = settings.EVALBUILDER_SESSION_IDLE_SECONDS
        absolute = settings.EVALBUILDER_SESSION_ABSOLUTE_SECONDS
        if now - session.get(LAST_SEEN, session[SIGNED_IN_AT]) > idle:
            return (
                f"Your session ended after {describe_duration(idle)} without activity; "
                "sign in again."
            )
        if now - session[SIGNED_IN_AT] > absolute:
            return (
                f"Your session ended {describe_duration(absolute)} after you signed in; "
                "sign in again."
            )
        if now - session.get(LAST_SEEN, 0) >= LAST_SEEN_RESOLUTION_SECONDS:
            session[LAST_SEEN] = now
        return None


class TwoStepSignInMiddleware:
    """Hold a signed-in person who has not yet given a one-time code at the code step.

    Someone with an authenticator app must give a code from it (or a recovery code) at
    every sign-in; an admin or operator without one must enrol first (evalbuilder.mfa).
    Meanwhile only the code and enrolment pages, signing in again or out and static files
    answer; other pages, the admin site included, send them to the step, keeping where they
    were going, and the API answers 403.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self._allowed: tuple[str, ...] | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if SESSION_KEY in request.session and not self._allowed_meanwhile(request.path):
            user = request.user
            if user.is_authenticated and not user.is_verified():
                step = mfa.pending_step(user)
                if step is not None:
                    return self._hold(request, step)
        return self.get_response(request)

    def _allowed_meanwhile(self, path: str) -> bool:
        if self._allowed is None:
            # Reversed on first use: the URLconf is not loaded when middleware is built.
            self._allowed = (
                reverse("mfa:verify"),
                reverse("mfa:setup"),
                # Enrolment long after the password sends the person to give it again.
                reverse("login"),
                reverse("logout"),
                reverse("admin:logout"),
                "/healthz",
            )
        # STATIC_URL is relative ("static/"); request paths start at the root.
        return path in self._allowed or path.startswith("/" + settings.STATIC_URL.lstrip("/"))

    @staticmethod
    def _hold(request: HttpRequest, step: mfa.Step) -> HttpResponse:
        if request.path.startswith(API_PREFIX):
            return JsonResponse(
                {
                    "detail": "Two-step sign-in is not finished for this session: "
                    f"{'enter a one-time code' if step == 'verify' else 'set up an app'} "
                    f"at {reverse(f'mfa:{step}')} first."
                },
                status=403,
            )
        query = urlencode({"next": request.get_full_path()})
        return HttpResponseRedirect(f"{reverse(f'mfa:{step}')}?{query}")
