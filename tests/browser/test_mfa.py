"""Two-step sign-in in a real browser: an operator sets up an authenticator app on first
sign-in, keeps the recovery codes and lands on the page they asked for."""

import os

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.browser import unavailable_reason

if reason := unavailable_reason():
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

from playwright.sync_api import expect

from tests.browser import save_screenshot

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_an_operator_sets_up_an_app_on_first_sign_in(world, new_page, app_code):
    operator = world.users["operator"]
    page = new_page()
    page.goto("/models/")
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill("pw-operator")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Set up two-step sign-in")).to_be_visible()
    expect(
        page.get_by_role("img", name="QR code to scan with your authenticator app")
    ).to_be_visible()
    device = TOTPDevice.objects.get(user=operator, confirmed=False)
    key = page.locator("#manual-key").inner_text().replace(" ", "")
    assert key and len(key) == 32
    save_screenshot(page, "mfa-setup")

    wrong = str((int(app_code(device)) + 1) % 1_000_000).zfill(6)
    page.get_by_role("textbox", name="Code").fill(wrong)
    page.get_by_role("button", name="Turn on two-step sign-in").click()
    expect(page.get_by_role("alert")).to_contain_text("That code is not right")
    device.throttle_reset()  # django-otp's back-off after a wrong code

    page.get_by_role("textbox", name="Code").fill(app_code(device))
    page.get_by_role("button", name="Turn on two-step sign-in").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    expect(page.get_by_role("list", name="Recovery codes").get_by_role("listitem")).to_have_count(
        10
    )
    save_screenshot(page, "mfa-recovery-codes")

    page.get_by_role("link", name="I have kept them: continue").click()
    expect(page.get_by_role("heading", name="Models")).to_be_visible()
    assert page.url.endswith("/models/")
