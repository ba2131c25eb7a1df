"""Signing in: lockouts, two-step sign-in with an authenticator app or recovery codes, session
timeouts and password rules, as a person at the browser meets them."""

from __future__ import annotations

import datetime
import re
import time

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django.contrib.messages import get_messages
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from evalbuilder import mfa
from evalbuilder.middleware import LAST_SEEN, SIGNED_IN_AT, TwoStepSignInMiddleware
from tests.authoring import make_user

pytestmark = pytest.mark.django_db

HOME = "10.0.0.1"
ELSEWHERE = "10.0.0.2"


@pytest.fixture
def visitor() -> Client:
    """A browser that signs in through the forms, code step and all."""
    return Client(REMOTE_ADDR=HOME)


@pytest.fixture
def people() -> dict:
    return {
        "author": make_user("author", "author"),
        "reviewer": make_user("reviewer", "reviewer"),
        "analyst": make_user("analyst", "analyst"),
        "operator": make_user("operator", "operator"),
        "admin": make_user("admin", superuser=True),
    }


def sign_in(client: Client, username: str, password: str | None = None, next_page: str = ""):
    data = {"username": username, "password": password or f"pw-{username}", "next": next_page}
    return client.post(reverse("login"), data)


def enrol(user) -> TOTPDevice:
    device = TOTPDevice.objects.create(user=user, name=mfa.APP_DEVICE_NAME, confirmed=True)
    mfa.regenerate_recovery_codes(user)
    return device


@pytest.fixture
def wrong_code(app_code):
    return lambda device: str((int(app_code(device)) + 1) % 1_000_000).zfill(6)


def signed_in(client: Client) -> bool:
    return SESSION_KEY in client.session


def flashed(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def verified(client: Client, app_code, device: TOTPDevice) -> None:
    """Give the code step of a sign-in made with sign_in."""
    response = client.post(reverse("mfa:verify"), {"code": app_code(device)})
    assert response.status_code == 302, response.content.decode()


# Any <script> element that is not a file from our own origin (src=...): inline code.
INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)


# --- Lockout --------------------------------------------------------------------------


def test_five_wrong_passwords_lock_that_username_at_that_address(visitor, people):
    answers = [sign_in(visitor, "author", "wrong password").status_code for _ in range(5)]
    assert answers == [200, 200, 200, 200, 429]

    right = sign_in(visitor, "author")
    assert right.status_code == 429
    assert not signed_in(visitor)
    page = right.content.decode()
    assert "author" in page and HOME in page and "locked for 15 minutes more" in page
    # The same page whether the password was right or not: it tells an attacker nothing.
    assert right.content == sign_in(visitor, "author", "wrong again").content

    other_address = Client(REMOTE_ADDR=ELSEWHERE)
    assert sign_in(other_address, "author").status_code == 302
    assert signed_in(other_address)
    assert sign_in(visitor, "reviewer").status_code == 302, "other usernames still sign in"


def test_lockout_ends_after_the_cool_off(visitor, people):
    for _ in range(5):
        sign_in(visitor, "author", "wrong password")
    assert sign_in(visitor, "author").status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - datetime.timedelta(minutes=16))
    assert sign_in(visitor, "author").status_code == 302
    assert signed_in(visitor)


def test_tries_during_a_lockout_do_not_make_it_longer_and_the_page_says_what_is_left(
    visitor, people
):
    for _ in range(5):
        sign_in(visitor, "author", "wrong password")
    locked_at = timezone.now() - datetime.timedelta(minutes=10)
    AccessAttempt.objects.update(attempt_time=locked_at)

    response = sign_in(visitor, "author", "another guess")
    assert response.status_code == 429
    assert "locked for 5 minutes more" in response.content.decode()
    assert AccessAttempt.objects.get(username="author").attempt_time == locked_at

    AccessAttempt.objects.update(attempt_time=locked_at - datetime.timedelta(minutes=6))
    assert sign_in(visitor, "author").status_code == 302


def test_an_ipv6_client_is_locked_out_by_its_64_network_and_audited_by_its_address(people):
    def from_address(address: str) -> Client:
        return Client(REMOTE_ADDR=address)

    answers = [
        sign_in(from_address(f"2001:db8:1:2::{n}"), "author", "wrong password").status_code
        for n in range(1, 6)
    ]
    assert answers == [200, 200, 200, 200, 429]
    refused = sign_in(from_address("2001:db8:1:2:ffff::9"), "author")
    assert refused.status_code == 429
    assert "from the network <strong>2001:db8:1:2::/64</strong>" in refused.content.decode()
    assert sign_in(from_address("2001:db8:1:3::1"), "author").status_code == 302

    failures = AuditEvent.objects.filter(action=AuditEvent.Action.SIGN_IN_FAILED)
    assert sorted(failures.values_list("address", flat=True))[:2] == [
        "2001:db8:1:2::1",
        "2001:db8:1:2::2",
    ]


def test_a_successful_sign_in_clears_the_failures(visitor, people):
    for _ in range(4):
        sign_in(visitor, "author", "wrong password")
    assert sign_in(visitor, "author").status_code == 302
    visitor.post(reverse("logout"))
    answers = [sign_in(visitor, "author", "wrong password").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 200]


# --- Who has the code step --------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "step"),
    [
        ("author", None),
        ("reviewer", None),
        ("analyst", None),
        ("operator", "setup"),
        ("admin", "setup"),
    ],
)
def test_operators_and_admins_must_set_up_an_app_others_need_not(visitor, people, role, step):
    assert sign_in(visitor, role).status_code == 302
    response = visitor.get(reverse("occupations:my_tasks"))
    if step is None:
        assert response.status_code == 200
    else:
        assert response.status_code == 302
        assert response["Location"] == reverse(f"mfa:{step}") + "?next=%2Ftasks%2F"


def test_staff_who_reach_the_admin_site_must_set_up_an_app_too(visitor, people):
    staff = make_user("clerk")
    staff.is_staff = True
    staff.save()
    sign_in(visitor, "clerk")
    response = visitor.get(reverse("admin:index"))
    assert response["Location"] == reverse("mfa:setup") + "?next=%2Fadmin%2F"


def test_an_installation_may_turn_the_requirement_off(visitor, people, settings):
    settings.EVALBUILDER_MFA_REQUIRED = False
    sign_in(visitor, "operator")
    assert visitor.get(reverse("runs:models")).status_code == 200


def test_anyone_with_an_app_gives_a_code_at_every_sign_in(visitor, people, settings):
    settings.EVALBUILDER_MFA_REQUIRED = False
    enrol(people["author"])
    sign_in(visitor, "author")
    response = visitor.get(reverse("occupations:my_tasks"))
    assert response["Location"] == reverse("mfa:verify") + "?next=%2Ftasks%2F"


def test_the_admin_site_waits_for_the_code_too(visitor, people):
    enrol(people["admin"])
    sign_in(visitor, "admin")
    response = visitor.get(reverse("admin:index"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("mfa:verify"))


def test_while_the_step_is_pending_only_its_pages_logout_and_static_files_answer(visitor, people):
    sign_in(visitor, "operator")
    assert visitor.get(reverse("mfa:setup")).status_code == 200
    assert visitor.get("/static/evalbuilder/evalbuilder.css").status_code == 200
    assert visitor.get("/healthz").status_code == 200
    for page in (reverse("reports:home"), reverse("mfa:manage"), reverse("password_change")):
        assert visitor.get(page)["Location"].startswith(reverse("mfa:setup")), page
    response = visitor.post(reverse("logout"))
    assert response.status_code == 302
    assert not signed_in(visitor)


def test_the_api_answers_403_json_while_the_step_is_pending(visitor, people):
    sign_in(visitor, "operator")
    response = visitor.get(reverse("api:releases"))
    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert "/accounts/mfa/setup/" in response.json()["detail"]


# --- Setting up an app ----------------------------------------------------------------


def test_setting_up_an_app_shows_a_qr_code_and_the_key_without_inline_script_or_style(
    visitor, people
):
    sign_in(visitor, "operator", next_page=reverse("runs:models"))
    page = visitor.get(reverse("mfa:setup") + "?next=/models/").content.decode()
    device = TOTPDevice.objects.get(user=people["operator"], confirmed=False)
    assert re.search(r'<svg [^>]*role="img"', page) and "<path d=" in page
    assert mfa.manual_entry_key(device) in page
    assert not INLINE_SCRIPT.search(page) and "style=" not in page
    # Reloading keeps the same key: the app already scanned stays right.
    visitor.get(reverse("mfa:setup"))
    assert TOTPDevice.objects.get(user=people["operator"]).key == device.key


def test_setup_refuses_a_wrong_code_and_accepts_the_right_one(
    visitor, people, app_code, wrong_code
):
    sign_in(visitor, "operator")
    visitor.get(reverse("mfa:setup"))
    device = TOTPDevice.objects.get(user=people["operator"])

    refused = visitor.post(reverse("mfa:setup"), {"code": wrong_code(device), "next": "/models/"})
    assert refused.status_code == 200
    assert "That code is not right" in refused.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    device.throttle_reset()  # django-otp's back-off after the wrong code

    key_before = visitor.session.session_key
    accepted = visitor.post(reverse("mfa:setup"), {"code": app_code(device), "next": "/models/"})
    assert accepted.status_code == 200
    codes = accepted.context["codes"]
    assert len(codes) == mfa.RECOVERY_CODE_COUNT
    page = accepted.content.decode()
    assert all(code in page for code in codes) and 'href="/models/"' in page
    device.refresh_from_db()
    assert device.confirmed
    assert visitor.session.session_key != key_before, "the session key changes at the step"
    assert visitor.get(reverse("runs:models")).status_code == 200


def test_a_malformed_code_is_refused_with_a_clear_error(visitor, people):
    sign_in(visitor, "operator")
    response = visitor.post(reverse("mfa:setup"), {"code": "12a456"})
    assert "Enter the 6 digits your app shows." in response.content.decode()
    assert 'href="#id_code"' in response.content.decode(), "the summary links to the field"


# --- The code step --------------------------------------------------------------------


def test_the_code_step_takes_the_app_code_and_returns_to_the_page_asked_for(
    visitor, people, app_code, wrong_code
):
    device = enrol(people["operator"])
    sign_in(visitor, "operator")
    held = visitor.get(reverse("runs:models"))
    assert held["Location"] == reverse("mfa:verify") + "?next=%2Fmodels%2F"
    assert visitor.get(held["Location"]).status_code == 200

    wrong = visitor.post(reverse("mfa:verify"), {"code": wrong_code(device), "next": "/models/"})
    assert wrong.status_code == 200
    assert "That code is not right" in wrong.content.decode()
    device.throttle_reset()

    key_before = visitor.session.session_key
    right = visitor.post(reverse("mfa:verify"), {"code": app_code(device), "next": "/models/"})
    assert right.status_code == 302 and right["Location"] == "/models/"
    assert visitor.session.session_key != key_before
    assert visitor.get(reverse("runs:models")).status_code == 200


def test_the_code_step_sends_elsewhere_only_to_this_site(visitor, people, app_code):
    device = enrol(people["operator"])
    sign_in(visitor, "operator")
    response = visitor.post(
        reverse("mfa:verify"), {"code": app_code(device), "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("occupations:my_tasks")


def test_a_recovery_code_works_once(visitor, people):
    enrol(people["operator"])
    first, second = mfa.regenerate_recovery_codes(people["operator"])[:2]
    sign_in(visitor, "operator")
    typed = f"{first[:4]}-{first[4:]}".upper()
    response = visitor.post(reverse("mfa:verify"), {"code": typed})
    assert response.status_code == 302
    assert mfa.recovery_codes_left(people["operator"]) == mfa.RECOVERY_CODE_COUNT - 1

    visitor.post(reverse("logout"))
    sign_in(visitor, "operator")
    again = visitor.post(reverse("mfa:verify"), {"code": first})
    assert again.status_code == 200 and "That code is not right" in again.content.decode()
    StaticToken.objects.filter(device__user=people["operator"]).first().device.throttle_reset()
    assert visitor.post(reverse("mfa:verify"), {"code": second}).status_code == 302


def test_recovery_codes_are_kept_only_as_keyed_hashes(people, settings):
    operator = people["operator"]
    codes = mfa.regenerate_recovery_codes(operator)
    stored = set(StaticToken.objects.filter(device__user=operator).values_list("token", flat=True))
    assert len(stored) == mfa.RECOVERY_CODE_COUNT and not stored & set(codes)
    assert all(re.fullmatch(r"[0-9a-f]{16}", token) for token in stored)
    # Still accepted once the key that hashed them is rotated into SECRET_KEY_FALLBACKS.
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-key-" + "x" * 50
    assert mfa.check_code(operator, codes[0]).device is not None
    assert mfa.recovery_codes_left(operator) == mfa.RECOVERY_CODE_COUNT - 1


def test_wrong_codes_lock_the_username_and_address_out(
    visitor, people, settings, app_code, wrong_code
):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # each code is checked, however fast they come
    device = enrol(people["operator"])
    sign_in(visitor, "operator")
    answers = [
        visitor.post(reverse("mfa:verify"), {"code": wrong_code(device)}).status_code
        for _ in range(5)
    ]
    assert answers == [200, 200, 200, 200, 429]
    assert not signed_in(visitor)
    assert sign_in(visitor, "operator").status_code == 429, "even the right password"

    other_address = Client(REMOTE_ADDR=ELSEWHERE)
    sign_in(other_address, "operator")
    response = other_address.post(reverse("mfa:verify"), {"code": app_code(device)})
    assert response.status_code == 302


def test_a_password_does_not_clear_failed_codes(visitor, people, settings, wrong_code):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    device = enrol(people["operator"])
    sign_in(visitor, "operator")
    for _ in range(4):
        visitor.post(reverse("mfa:verify"), {"code": wrong_code(device)})
    visitor.post(reverse("logout"))
    sign_in(visitor, "operator")
    assert visitor.post(reverse("mfa:verify"), {"code": wrong_code(device)}).status_code == 429


def test_the_code_step_refuses_once_locked_out_elsewhere_in_the_sign_in(visitor, people, app_code):
    device = enrol(people["operator"])
    sign_in(visitor, "operator")
    for _ in range(5):
        sign_in(Client(REMOTE_ADDR=HOME), "operator", "wrong password")
    response = visitor.post(reverse("mfa:verify"), {"code": app_code(device)})
    assert response.status_code == 429
    assert not signed_in(visitor)


def test_codes_in_quick_succession_wait_without_counting(visitor, people, app_code):
    device = enrol(people["operator"])
    sign_in(visitor, "operator")
    # django-otp's back-off after ten wrong codes in a row: 2**9 seconds from the last one.
    device.throttling_failure_count = 10
    device.throttling_failure_timestamp = timezone.now()
    device.save()
    response = visitor.post(reverse("mfa:verify"), {"code": app_code(device)})
    wait = re.search(
        r"Too many wrong codes in a row: wait (\d+) seconds,", response.content.decode()
    )
    assert wait and 500 < int(wait.group(1)) <= 512
    assert DEVICE_ID_SESSION_KEY not in visitor.session, "the right code was not checked"
    assert not AccessAttempt.objects.filter(username="operator").exists()


def test_a_wrong_code_is_audited_and_kept_out_of_the_lockout_records(visitor, people, wrong_code):
    device = enrol(people["operator"])
    sign_in(visitor, "operator")
    code = wrong_code(device)
    visitor.post(reverse("mfa:verify"), {"code": code})
    event = AuditEvent.objects.get(action=AuditEvent.Action.MFA_FAILED)
    assert (event.actor_username, event.address) == ("operator", HOME)
    attempt = AccessAttempt.objects.get(username="operator")
    assert attempt.failures_since_start == 1 and code not in attempt.post_data


def test_signing_in_again_in_the_same_browser_starts_afresh(visitor, people, app_code):
    device = enrol(people["operator"])
    sign_in(visitor, "operator")
    verified(visitor, app_code, device)
    age_session(visitor, signed_in=3600)
    key_before = visitor.session.session_key

    assert sign_in(visitor, "operator").status_code == 302
    session = visitor.session
    assert session.session_key != key_before
    assert DEVICE_ID_SESSION_KEY not in session, "the code is owed again"
    assert abs(session[SIGNED_IN_AT] - time.time()) < 5
    assert visitor.get(reverse("runs:models"))["Location"].startswith(reverse("mfa:verify"))


# --- Managing two-step sign-in ----------------------------------------------------------


def test_the_pages_of_two_step_sign_in_are_never_cached(client, visitor, people, app_code):
    operator = people["operator"]
    sign_in(visitor, "operator")
    pages = [visitor.get(reverse("mfa:setup"))]
    client.force_login(operator)
    device = mfa.app_device(operator)
    pages.append(client.get(reverse("mfa:manage")))
    pages.append(client.post(reverse("mfa:recovery_codes"), {"code": app_code(device)}))
    other = Client(REMOTE_ADDR=ELSEWHERE)
    sign_in(other, "operator")
    pages.append(other.get(reverse("mfa:verify")))
    for page in pages:
        assert page.status_code == 200, page.request["PATH_INFO"]
        assert "no-store" in page["Cache-Control"], page.request["PATH_INFO"]


def test_anyone_may_turn_it_on_and_then_off_with_a_code(client, people, app_code):
    author = people["author"]
    client.force_login(author)
    assert "Two-step sign-in is off" in client.get(reverse("mfa:manage")).content.decode()
    client.get(reverse("mfa:setup"))
    device = TOTPDevice.objects.get(user=author)
    assert client.post(reverse("mfa:setup"), {"code": app_code(device)}).status_code == 200
    assert "Recovery codes left" in client.get(reverse("mfa:manage")).content.decode()

    response = client.post(reverse("mfa:remove"), {"code": app_code(device)})
    assert response["Location"] == reverse("mfa:manage")
    assert mfa.pending_step(author) is None
    assert not StaticToken.objects.filter(device__user=author).exists()


def test_those_who_must_keep_it_move_to_a_new_app_instead(client, people, app_code):
    operator = people["operator"]
    client.force_login(operator)
    device = mfa.app_device(operator)
    response = client.post(reverse("mfa:remove"), {"code": app_code(device)})
    assert response["Location"] == reverse("mfa:setup")
    assert client.get(reverse("runs:models"))["Location"].startswith(reverse("mfa:setup"))


def test_new_recovery_codes_replace_the_old_after_a_code(client, people, app_code):
    operator = people["operator"]
    client.force_login(operator)
    old = mfa.regenerate_recovery_codes(operator)
    response = client.post(
        reverse("mfa:recovery_codes"), {"code": app_code(mfa.app_device(operator))}
    )
    new = response.context["codes"]
    assert len(set(new)) == mfa.RECOVERY_CODE_COUNT and not set(new) & set(old)
    assert mfa.check_code(operator, old[0]).device is None
    StaticToken.objects.first().device.throttle_reset()
    assert mfa.check_code(operator, new[0]).device is not None


def test_new_recovery_codes_need_a_right_code_counted_like_a_sign_in(client, people, wrong_code):
    operator = people["operator"]
    client.force_login(operator)
    old = mfa.regenerate_recovery_codes(operator)
    stored = set(StaticToken.objects.values_list("token", flat=True))

    missing = client.post(reverse("mfa:recovery_codes"))
    assert missing.status_code == 200 and "codes" not in missing.context
    assert 'href="#id_renew_code"' in missing.content.decode()

    wrong = client.post(
        reverse("mfa:recovery_codes"), {"code": wrong_code(mfa.app_device(operator))}
    )
    assert wrong.status_code == 200 and "That code is not right" in wrong.content.decode()
    assert AccessAttempt.objects.get(username="operator").failures_since_start == 1
    assert set(StaticToken.objects.values_list("token", flat=True)) == stored
    assert mfa.recovery_codes_left(operator) == len(old)


def test_removing_needs_a_right_code(client, people, wrong_code):
    operator = people["operator"]
    client.force_login(operator)
    wrong = wrong_code(mfa.app_device(operator))
    response = client.post(reverse("mfa:remove"), {"code": wrong})
    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    assert mfa.app_device(operator) is not None


def test_removing_an_app_ends_the_other_sessions_but_not_this_one(people, app_code, settings):
    settings.EVALBUILDER_MFA_REQUIRED = False
    author = people["author"]
    device = enrol(author)
    here, elsewhere = Client(REMOTE_ADDR=HOME), Client(REMOTE_ADDR=ELSEWHERE)
    for browser in (here, elsewhere):
        sign_in(browser, "author")
        verified(browser, app_code, device)
    sign_in(Client(), "reviewer")

    response = here.post(reverse("mfa:remove"), {"code": app_code(device)})
    assert response["Location"] == reverse("mfa:manage")
    assert here.get(reverse("occupations:my_tasks")).status_code == 200
    assert elsewhere.get(reverse("occupations:my_tasks"))["Location"].startswith(reverse("login"))
    assert Session.objects.count() == 2, "this session and the reviewer's"


def test_an_admin_deleting_someones_app_ends_their_sessions(client, people, app_code):
    operator = people["operator"]
    device = enrol(operator)
    theirs = Client(REMOTE_ADDR=ELSEWHERE)
    sign_in(theirs, "operator")
    verified(theirs, app_code, device)
    client.force_login(people["admin"])

    url = reverse("admin:otp_totp_totpdevice_delete", args=[device.pk])
    assert client.post(url, {"post": "yes"}).status_code == 302
    assert not TOTPDevice.objects.filter(pk=device.pk).exists()
    assert not signed_in(theirs)
    assert theirs.get(reverse("runs:models"))["Location"].startswith(reverse("login"))
    assert client.get(reverse("admin:index")).status_code == 200


def test_the_admin_shows_no_app_secret_or_recovery_codes(client, people):
    operator = people["operator"]
    device = enrol(operator)
    codes = mfa.regenerate_recovery_codes(operator)
    static_device = StaticToken.objects.filter(device__user=operator).first().device
    client.force_login(people["admin"])
    app_page = client.get(reverse("admin:otp_totp_totpdevice_change", args=[device.pk]))
    codes_page = client.get(
        reverse("admin:otp_static_staticdevice_change", args=[static_device.pk])
    )
    assert app_page.status_code == codes_page.status_code == 200
    assert device.key not in app_page.content.decode()
    assert "qrcode" not in app_page.content.decode().lower()
    stored = StaticToken.objects.filter(device=static_device).first().token
    assert stored not in codes_page.content.decode() and codes[0] not in codes_page.content.decode()


# --- A recent password for changes ----------------------------------------------------


def test_setting_up_an_app_long_after_the_password_needs_it_again(visitor, people, app_code):
    sign_in(visitor, "operator")
    age_session(visitor, signed_in=10 * 60 + 1)
    response = visitor.get(reverse("mfa:setup") + "?next=/models/")
    assert response["Location"] == (
        reverse("login") + "?next=/accounts/mfa/setup/%3Fnext%3D/models/"
    )
    assert flashed(response) == [
        "Changes to two-step sign-in need a password given in the last 10 minutes: "
        "sign in again to go on."
    ]
    assert not TOTPDevice.objects.filter(user=people["operator"]).exists(), "no key shown"

    again = sign_in(visitor, "operator", next_page="/accounts/mfa/setup/?next=/models/")
    assert again["Location"] == "/accounts/mfa/setup/?next=/models/"
    assert visitor.get(again["Location"]).status_code == 200


@pytest.mark.parametrize("route", ["mfa:remove", "mfa:recovery_codes"])
def test_removing_an_app_or_new_codes_long_after_the_password_need_it_again(
    client, people, app_code, route
):
    operator = people["operator"]
    client.force_login(operator)
    device = mfa.app_device(operator)
    mfa.regenerate_recovery_codes(operator)
    stored = set(StaticToken.objects.values_list("token", flat=True))
    age_session(client, signed_in=10 * 60 + 1)
    response = client.post(reverse(route), {"code": app_code(device)})
    assert response["Location"] == reverse("login") + "?next=/accounts/mfa/"
    assert mfa.app_device(operator) == device
    assert set(StaticToken.objects.values_list("token", flat=True)) == stored


# --- Session timeouts -----------------------------------------------------------------


def age_session(client: Client, **seconds_ago: int) -> None:
    session = client.session
    now = int(time.time())
    for key, ago in seconds_ago.items():
        session[{"signed_in": SIGNED_IN_AT, "last_seen": LAST_SEEN}[key]] = now - ago
    session.save()


def test_a_session_idle_too_long_ends_with_a_message(client, people):
    client.force_login(people["author"])
    assert client.get(reverse("occupations:my_tasks")).status_code == 200
    age_session(client, last_seen=30 * 60 + 1)
    response = client.get(reverse("occupations:my_tasks"), follow=True)
    assert response.redirect_chain[0][0] == reverse("login") + "?next=/tasks/"
    assert "Your session ended after 30 minutes without activity; sign in again." in (
        response.content.decode()
    )
    assert not signed_in(client)


def test_a_session_ends_at_the_absolute_limit_however_busy(client, people):
    client.force_login(people["author"])
    age_session(client, signed_in=12 * 3600 + 1, last_seen=5)
    response = client.get(reverse("occupations:my_tasks"))
    assert response["Location"] == reverse("login") + "?next=/tasks/"
    assert flashed(response) == ["Your session ended 12 hours after you signed in; sign in again."]


def test_an_ended_session_on_the_api_goes_on_as_anonymous(client, people):
    client.force_login(people["analyst"])
    age_session(client, last_seen=30 * 60 + 1)
    assert client.get(reverse("api:releases")).status_code == 200
    assert not signed_in(client)


def test_the_last_seen_stamp_is_written_at_most_once_a_minute(client, people):
    client.force_login(people["author"])
    age_session(client, last_seen=30)
    stamp = client.session[LAST_SEEN]
    client.get(reverse("occupations:my_tasks"))
    assert client.session[LAST_SEEN] == stamp
    age_session(client, last_seen=61)
    client.get(reverse("occupations:my_tasks"))
    assert client.session[LAST_SEEN] >= int(time.time()) - 1


def test_signing_in_starts_the_clocks(visitor, people):
    sign_in(visitor, "author")
    session = visitor.session
    assert abs(session[SIGNED_IN_AT] - time.time()) < 5
    assert session[LAST_SEEN] == session[SIGNED_IN_AT]


# --- Passwords ------------------------------------------------------------------------


def test_the_password_change_page_explains_the_rules(client, people):
    client.force_login(people["author"])
    response = client.get(reverse("password_change"))
    assert "base.html" in [template.name for template in response.templates]
    assert "at least 12 characters" in response.content.decode()


@pytest.mark.parametrize("password", ["short-pw", "password1234", "123456789012"])
def test_a_short_common_or_numeric_password_is_refused(client, people, password):
    author = people["author"]
    client.force_login(author)
    response = client.post(
        reverse("password_change"),
        {"old_password": "pw-author", "new_password1": password, "new_password2": password},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["new_password2"]
    author.refresh_from_db()
    assert author.check_password("pw-author")


def test_a_long_uncommon_password_is_accepted(client, people):
    author = people["author"]
    client.force_login(author)
    new = "correct horse battery staple"
    response = client.post(
        reverse("password_change"),
        {"old_password": "pw-author", "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 302
    author.refresh_from_db()
    assert author.check_password(new)


def test_a_junk_username_gets_the_sign_in_page_not_a_server_error(client, db):
    # Longer than the attempts' column: the failure is still counted, under its first part.
    username = "y" * 400
    response = client.post(reverse("login"), {"username": username, "password": "wrong"})
    assert response.status_code == 200
    assert AccessAttempt.objects.get().username == username[:255]
    # A NUL is refused by the form itself, before any attempt is made.
    response = client.post(reverse("login"), {"username": "x\x00y", "password": "wrong"})
    assert response.status_code == 200
    assert AccessAttempt.objects.count() == 1


def test_static_files_pass_the_code_step_even_where_whitenoise_does_not_serve_them(db):
    # Whitenoise answers /static/ above this middleware; behind a server that hands static
    # files on to the application, the middleware must let them through itself.
    middleware = TwoStepSignInMiddleware(lambda request: None)
    assert middleware._allowed_meanwhile("/static/evalbuilder/evalbuilder.css")
    assert not middleware._allowed_meanwhile("/tasks/")
