"""Two-step sign-in: who must confirm each sign-in with a one-time code, enrolment of an
authenticator app (TOTP), single-use recovery codes, and the code step itself.

A wrong code counts as a failed sign-in for the username and address, exactly like a wrong
password, so django-axes locks both out after the same number of failures and codes cannot
be guessed one sign-in after another. The count is cleared only once the whole sign-in has
succeeded: after the password for people with no code step, after the code for the others.

Recovery codes are stored as keyed hashes (HMAC with SECRET_KEY): whoever reads the database,
a backup or the admin cannot sign in with them, nor try all 2**40 codes without the key.
Removing someone's app ends every session they have, wherever it is removed from.
"""

from __future__ import annotations

import math
import re
from base64 import b32encode
from dataclasses import dataclass
from importlib import import_module
from typing import Literal

import django_otp
import qrcode
import qrcode.image.svg
from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django_otp.forms import otp_verification_failed
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from evalbuilder.client_address import lockout_address
from evalbuilder.roles import OPERATOR

RECOVERY_CODE_COUNT = 10
APP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"

APP_CODE = re.compile(r"\d{6}")
# What StaticToken.random_token makes: five random bytes in lower-case base32.
RECOVERY_CODE = re.compile(r"[a-z2-7]{8}")
# StaticToken.token holds 16 characters: 64 bits of the HMAC, in hex.
STORED_RECOVERY_CODE_LENGTH = 16

Step = Literal["verify", "setup"]


def is_required(user: AbstractBaseUser) -> bool:
    """Admins, staff (who reach the admin site) and operators must use two-step sign-in,
    unless the installation turns it off."""
    if not settings.EVALBUILDER_MFA_REQUIRED:
        return False
    return user.is_superuser or user.is_staff or user.groups.filter(name=OPERATOR).exists()


def app_device(user: AbstractBaseUser) -> TOTPDevice | None:
    """The user's confirmed authenticator app, if they have enrolled one."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def pending_step(user: AbstractBaseUser) -> Step | None:
    """What a signed-in user who has not yet given a code must do before anything else:
    give one (they have an app), enrol an app (they must have one), or nothing."""
    if app_device(user) is not None:
        return "verify"
    if is_required(user):
        return "setup"
    return None


def normalise_code(text: str) -> str:
    """A code as typed, without the spaces and hyphens people add, in lower case."""
    return re.sub(r"[\s-]", "", text).lower()


# --- Enrolment ----------------------------------------------------------------------


def start_enrolment(user: AbstractBaseUser) -> TOTPDevice:
    """An unconfirmed app for the user to scan; the same one until confirmed, so reloading
    the set-up page does not change the code they have already scanned."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=APP_DEVICE_NAME, confirmed=False)
    return device


def qr_code_svg(device: TOTPDevice) -> str:
    """The device's otpauth:// address as an inline SVG of one path (no script, no style)."""
    image = qrcode.make(
        device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=4
    )
    svg = image.get_image()
    svg.set("role", "img")
    svg.set("aria-label", "QR code to scan with your authenticator app")
    return image.to_string(encoding="unicode")


def manual_entry_key(device: TOTPDevice) -> str:
    """The secret in base32, in groups of four, for apps set up by typing it."""
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def confirm_enrolment(user: AbstractBaseUser, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm the app with a code it shows now; return fresh recovery codes, or None when
    the code is wrong. Any other app of the user's is removed."""
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(pk=device.pk, user=user, confirmed=False)
            .first()
        )
        if device is None or not device.verify_token(code):
            return None
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        return _replace_recovery_codes(user)


def regenerate_recovery_codes(user: AbstractBaseUser) -> list[str]:
    """New recovery codes for an enrolled user; the old ones stop working."""
    with transaction.atomic():
        return _replace_recovery_codes(user)


def _replace_recovery_codes(user: AbstractBaseUser) -> list[str]:
    """New codes for the user, returned in plain text this once; only their hashes are kept."""
    device, _ = StaticDevice.objects.get_or_create(
        user=user, name=RECOVERY_DEVICE_NAME, defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(
        StaticToken(device=device, token=_recovery_code_hash(code, settings.SECRET_KEY))
        for code in codes
    )
    return codes


def _recovery_code_hash(code: str, secret: str) -> str:
    digest = salted_hmac("evalbuilder.mfa.recovery_code", code, secret=secret, algorithm="sha256")
    return digest.hexdigest()[:STORED_RECOVERY_CODE_LENGTH]


def _stored_recovery_code(device: StaticDevice, code: str) -> str:
    """What the device keeps for a normalised code: its hash under SECRET_KEY or, for codes
    made before the key was rotated, under one of SECRET_KEY_FALLBACKS."""
    signing_keys = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    hashes = [_recovery_code_hash(code, key) for key in signing_keys]
    if len(hashes) == 1:
        return hashes[0]
    stored = device.token_set.filter(token__in=hashes).values_list("token", flat=True).first()
    return stored or hashes[0]


def recovery_codes_left(user: AbstractBaseUser) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def remove(user: AbstractBaseUser) -> None:
    """Forget the user's app and recovery codes."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()


# --- The code step ------------------------------------------------------------------


@dataclass(frozen=True)
class CodeCheck:
    device: Device | None
    """The device that accepted the code; None when it was refused."""
    wait_seconds: int = 0
    """Above zero when the code was not checked at all: too many wrong codes in a row
    (django-otp's back-off), so a right code cannot be told from a wrong one yet."""


def check_code(user: AbstractBaseUser, code: str) -> CodeCheck:
    """Check a normalised code: six digits against the app, otherwise as a recovery code,
    which is used up when it matches."""
    if APP_CODE.fullmatch(code):
        device: Device | None = app_device(user)
    else:
        device = StaticDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        return CodeCheck(None)
    allowed, details = device.verify_is_allowed()
    if not allowed and details and details.get("locked_until"):
        remaining = (details["locked_until"] - timezone.now()).total_seconds()
        return CodeCheck(None, wait_seconds=max(1, math.ceil(remaining)))
    if isinstance(device, StaticDevice):
        code = _stored_recovery_code(device, code)
    return CodeCheck(django_otp.verify_token(user, device.persistent_id, code))


# Axes keeps the username tried in a column of this many characters.
LOCKOUT_USERNAME_CHARS = 255


def lockout_username(request: HttpRequest, credentials: dict | None = None) -> str | None:
    """The username a sign-in attempt counts against (AXES_USERNAME_CALLABLE): as typed, but
    without NUL characters and cut to what can be stored, so junk gets the sign-in page's
    own error instead of failing the attempt's record."""
    field = settings.AXES_USERNAME_FORM_FIELD
    if credentials:
        username = credentials.get(field)
    else:
        username = getattr(request, "data", request.POST).get(field)
    if not isinstance(username, str):
        return username
    return username.replace("\x00", "")[:LOCKOUT_USERNAME_CHARS]


def is_locked_out(request: HttpRequest, user: AbstractBaseUser) -> bool:
    """Whether the username and the request's address are locked out after failed sign-ins."""
    return AxesProxyHandler.is_locked(request, {"username": user.get_username()})


def record_failed_code(request: HttpRequest, user: AbstractBaseUser) -> None:
    """Count a wrong code as a failed sign-in; django-axes marks the request when this
    failure reaches the limit (request.axes_locked_out). django-otp's own signal for a wrong
    code is sent too, for whoever listens to it (the audit trail)."""
    otp_verification_failed.send(sender=__name__, user=user)
    user_login_failed.send(
        sender=__name__, credentials={"username": user.get_username()}, request=request
    )


def complete_sign_in(request: HttpRequest, device: Device) -> None:
    """Mark the session as having passed the code step, under a new session key (whoever
    knew the key from before the step gains nothing), and clear the failure count."""
    request.session.cycle_key()
    django_otp.login(request, device)
    forget_failed_sign_ins(request, request.user)


def forget_failed_sign_ins(request: HttpRequest, user: AbstractBaseUser) -> None:
    address = lockout_address(request)
    # Without an address (a sign-in made in code, not over HTTP) there is nothing to match.
    if address is not None:
        AxesProxyHandler.reset_attempts(ip_address=address, username=user.get_username())


@receiver(user_logged_in, dispatch_uid="evalbuilder.mfa.password_sign_in")
def _after_password(sender, request: HttpRequest | None, user: AbstractBaseUser, **kwargs) -> None:
    """A right password completes the sign-in only for people with no code step."""
    if request is not None and pending_step(user) is None:
        forget_failed_sign_ins(request, user)


# --- Ending sessions ----------------------------------------------------------------


def end_sessions(user_id: int | str) -> int:
    """Delete every live session of the user, and say how many there were.

    Sessions are rows in the database (the default session engine), not indexed by user:
    each unexpired one is decoded, about 30 ms per thousand. Sessions last 12 hours at most
    and this happens only when someone's app is removed, so that is cheap enough. With a
    session engine that keeps no rows nothing can be found; sessions end at their timeouts.
    """
    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    if not hasattr(store_class, "get_model_class"):
        return 0
    reader, owner = store_class(), str(user_id)
    live = store_class.get_model_class().objects.filter(expire_date__gt=timezone.now())
    keys = [
        row.session_key
        for row in live.only("session_key", "session_data").iterator(chunk_size=1000)
        if reader.decode(row.session_data).get(SESSION_KEY) == owner
    ]
    for key in keys:
        # Through the store, so a cached_db engine forgets its cached copy too.
        store_class(key).delete()
    return len(keys)


@receiver(post_delete, sender=TOTPDevice, dispatch_uid="evalbuilder.mfa.end_sessions")
def _end_sessions_when_an_app_goes(sender, instance: TOTPDevice, **kwargs) -> None:
    """An app removed (by its owner, or by an admin for someone who lost it or was
    compromised) ends its owner's sessions: none signed in with it, or waiting for a code
    from it, goes on. A view that removes the app of the person using it keeps that one
    session (go_on_without_app)."""
    if instance.confirmed:
        end_sessions(instance.user_id)


def go_on_without_app(request: HttpRequest) -> None:
    """After people remove their own app: the session they did it from, which removing the
    app deleted with their others, goes on under a new key, no longer counted as having
    given a code."""
    request.session.pop(django_otp.DEVICE_ID_SESSION_KEY, None)
    request.session.cycle_key()
