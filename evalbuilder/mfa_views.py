"""Pages of two-step sign-in (evalbuilder.mfa does the work) and the lockout page.

The code step and enrolment answer a signed-in person who has not given a code yet; the
other pages need the step done (TwoStepSignInMiddleware sends them to it first). Setting up,
removing or replacing an app and making new recovery codes also need a recent password
(EVALBUILDER_MFA_RECENT_SIGN_IN_SECONDS); removing an app and new codes need a code as well.
None of these pages is kept by a browser or proxy cache: they show keys and codes.
"""

from __future__ import annotations

import math

from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from evalbuilder import mfa
from evalbuilder.client_address import lockout_address, lockout_network
from evalbuilder.middleware import describe_duration, seconds_since_sign_in

WRONG_CODE = (
    "That code is not right. Enter the 6-digit code your app shows now, or one of your "
    "recovery codes."
)


class CodeForm(forms.Form):
    """A code from the authenticator app or, where allowed, a recovery code."""

    code = forms.CharField(
        label="Code",
        max_length=32,
        help_text="The 6-digit code your authenticator app shows now, or a recovery code.",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "off", "spellcheck": "false"}
        ),
    )

    def __init__(self, *args, recovery_codes: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.recovery_codes = recovery_codes
        if not recovery_codes:
            self.fields["code"].help_text = "The 6-digit code your authenticator app shows now."
            self.fields["code"].widget.attrs["inputmode"] = "numeric"

    def clean_code(self) -> str:
        code = mfa.normalise_code(self.cleaned_data["code"])
        if mfa.APP_CODE.fullmatch(code):
            return code
        if self.recovery_codes and mfa.RECOVERY_CODE.fullmatch(code):
            return code
        if self.recovery_codes:
            raise forms.ValidationError(
                "Enter the 6 digits your app shows, or a recovery code of 8 letters and digits."
            )
        raise forms.ValidationError("Enter the 6 digits your app shows.")


def _seconds(amount: int) -> str:
    return f"{amount} second{'' if amount == 1 else 's'}"


def _next_page(request: HttpRequest) -> str:
    """Where to go once the step is done: the page asked for, if it is on this site."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _lockout_left(username: str, address: str | None) -> str | None:
    """How long the lockout of a username and address has left, from the last failure
    counted (failures while locked out are not counted, so the end does not move); None
    when django-axes holds no record of it in the database."""
    cool_off = get_cool_off()
    if not cool_off or not username or address is None:
        return None
    attempts = AccessAttempt.objects.filter(username=username, ip_address=address)
    last = attempts.aggregate(last=Max("attempt_time"))["last"]
    if last is None:
        return None
    seconds = (last + cool_off - timezone.now()).total_seconds()
    return describe_duration(60 * max(1, math.ceil(seconds / 60)))


@never_cache
def locked_out(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """django-axes' answer while a username and address are locked out (AXES_LOCKOUT_CALLABLE).

    The same page whether the last password or code was right, so it tells an attacker
    nothing. The address is the one lockouts count: an IPv6 client's /64 network.
    """
    username = get_client_username(request, credentials) or ""
    address = getattr(request, "axes_ip_address", None) or lockout_address(request)
    cool_off = get_cool_off(request)
    context = {
        "username": username,
        "address": lockout_network(address) if address else "",
        "left": _lockout_left(username, address),
        "cool_off": describe_duration(int(cool_off.total_seconds())) if cool_off else None,
    }
    return render(request, "registration/locked_out.html", context, status=429)


def _sign_in_again(request: HttpRequest, next_page: str) -> HttpResponse | None:
    """Send the person to give their password again, then to next_page, unless they gave it
    within EVALBUILDER_MFA_RECENT_SIGN_IN_SECONDS."""
    limit = settings.EVALBUILDER_MFA_RECENT_SIGN_IN_SECONDS
    elapsed = seconds_since_sign_in(request)
    if elapsed is not None and elapsed <= limit:
        return None
    messages.info(
        request,
        "Changes to two-step sign-in need a password given in the last "
        f"{describe_duration(limit)}: sign in again to go on.",
    )
    return redirect_to_login(next_page)


def _refuse_wrong_code(
    request: HttpRequest, form: CodeForm, check: mfa.CodeCheck
) -> HttpResponse | None:
    """Put the error for a refused code on the form, counting it as a failed sign-in when
    it was checked; the lockout page instead when that failure reached the limit."""
    if check.wait_seconds:
        form.add_error(
            "code",
            f"Too many wrong codes in a row: wait {_seconds(check.wait_seconds)}, then "
            "enter the code your app shows at that time.",
        )
        return None
    mfa.record_failed_code(request, request.user)
    if getattr(request, "axes_locked_out", False):
        return _refuse_locked_out(request)
    form.add_error("code", WRONG_CODE)
    return None


def _refuse_locked_out(request: HttpRequest) -> HttpResponse:
    credentials = {"username": request.user.get_username()}
    logout(request)
    return locked_out(request, credentials=credentials)


@never_cache
@login_required
def verify(request: HttpRequest) -> HttpResponse:
    """The code step of signing in."""
    user, next_page = request.user, _next_page(request)
    step = None if user.is_verified() else mfa.pending_step(user)
    if step is None:
        return redirect(next_page)
    if step == "setup":
        return redirect(f"{resolve_url('mfa:setup')}?{request.GET.urlencode()}")
    if mfa.is_locked_out(request, user):
        return _refuse_locked_out(request)
    form = CodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        check = mfa.check_code(user, form.cleaned_data["code"])
        if check.device is not None:
            mfa.complete_sign_in(request, check.device)
            return redirect(next_page)
        if (refused := _refuse_wrong_code(request, form, check)) is not None:
            return refused
    return render(request, "mfa/verify.html", {"form": form, "next": next_page})


@never_cache
@login_required
def setup(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app: scan or type the key, confirm with a code, and keep the
    recovery codes shown once."""
    user, next_page = request.user, _next_page(request)
    if mfa.app_device(user) is not None:
        if user.is_verified():
            return redirect("mfa:manage")
        return redirect(f"{resolve_url('mfa:verify')}?{request.GET.urlencode()}")
    if (again := _sign_in_again(request, request.get_full_path())) is not None:
        return again
    device = mfa.start_enrolment(user)
    form = CodeForm(request.POST if request.method == "POST" else None, recovery_codes=False)
    if request.method == "POST" and form.is_valid():
        codes = mfa.confirm_enrolment(user, device, form.cleaned_data["code"])
        if codes is not None:
            mfa.complete_sign_in(request, device)
            return render(
                request,
                "mfa/recovery_codes.html",
                {"codes": codes, "next": next_page, "enrolled": True},
            )
        form.add_error(
            "code",
            "That code is not right. Check the app shows evalbuilder, then enter the "
            "6 digits it shows now.",
        )
    context = {
        "form": form,
        "next": next_page,
        # Built here from the key alone: no user input reaches the SVG.
        "qr_code": mark_safe(mfa.qr_code_svg(device)),
        "key": mfa.manual_entry_key(device),
        "required": mfa.is_required(user),
    }
    return render(request, "mfa/setup.html", context)


# The two forms of the manage page send the same field name ("code", which django-axes keeps
# out of its logs) under different element ids.
RENEW_FORM_ID = "id_renew_%s"


@never_cache
@require_safe
@login_required
def manage(request: HttpRequest) -> HttpResponse:
    """Two-step sign-in of the signed-in person: whether it is on, and what they can change."""
    return _manage_page(request)


def _manage_page(
    request: HttpRequest, *, remove_form: CodeForm | None = None, renew_form: CodeForm | None = None
) -> HttpResponse:
    user = request.user
    device = mfa.app_device(user)
    context = {
        "device": device,
        "required": mfa.is_required(user),
        "codes_left": mfa.recovery_codes_left(user) if device else 0,
        "remove_form": remove_form or CodeForm(),
        "renew_form": renew_form or CodeForm(auto_id=RENEW_FORM_ID),
    }
    return render(request, "mfa/manage.html", context)


@never_cache
@require_POST
@login_required
def regenerate_codes(request: HttpRequest) -> HttpResponse:
    """New recovery codes, after a code proves the person still holds the app or a recovery
    code: a session alone must not be able to mint codes that then remove the app."""
    user = request.user
    if mfa.app_device(user) is None:
        messages.error(request, "Set up an authenticator app first; recovery codes come with it.")
        return redirect("mfa:manage")
    if (again := _sign_in_again(request, resolve_url("mfa:manage"))) is not None:
        return again
    if mfa.is_locked_out(request, user):
        return _refuse_locked_out(request)
    form = CodeForm(request.POST, auto_id=RENEW_FORM_ID)
    if form.is_valid():
        check = mfa.check_code(user, form.cleaned_data["code"])
        if check.device is not None:
            codes = mfa.regenerate_recovery_codes(user)
            return render(
                request,
                "mfa/recovery_codes.html",
                {"codes": codes, "next": resolve_url("mfa:manage"), "enrolled": False},
            )
        if (refused := _refuse_wrong_code(request, form, check)) is not None:
            return refused
    return _manage_page(request, renew_form=form)


@never_cache
@require_POST
@login_required
def remove(request: HttpRequest) -> HttpResponse:
    """Turn two-step sign-in off (or, for those who must keep it, start again with a new
    app) after a code proves the person still holds the app or a recovery code. The
    person's other sessions end."""
    user = request.user
    if mfa.app_device(user) is None:
        return redirect("mfa:manage")
    if (again := _sign_in_again(request, resolve_url("mfa:manage"))) is not None:
        return again
    if mfa.is_locked_out(request, user):
        return _refuse_locked_out(request)
    form = CodeForm(request.POST)
    if form.is_valid():
        check = mfa.check_code(user, form.cleaned_data["code"])
        if check.device is not None:
            mfa.remove(user)
            mfa.go_on_without_app(request)
            if mfa.is_required(user):
                messages.info(request, "Your old app is removed. Set up the new one now.")
                return redirect("mfa:setup")
            messages.success(request, "Two-step sign-in is off for your account.")
            return redirect("mfa:manage")
        if (refused := _refuse_wrong_code(request, form, check)) is not None:
            return refused
    return _manage_page(request, remove_form=form)
