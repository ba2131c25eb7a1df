"""Fixtures for browser tests: one Chromium per module, a fresh context per signed-in user."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from django.contrib.auth import get_user_model
from django_otp.plugins.otp_totp.models import TOTPDevice

from evalbuilder import mfa
from tests.authoring import World, make_world
from tests.browser import CHROMIUM, CHROMIUM_ARGS

# Fail fast: a page of this app answers in milliseconds, so a missing element is a failure.
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Headless Chromium, for the module's tests only.

    Playwright's sync API keeps an asyncio loop running in this thread, and Django refuses
    ORM calls from a thread with a running loop. The calls stay synchronous, so they are
    safe; the variable and the loop end with the module, so other tests keep the check.
    """
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def world(browser, seeded, simulated_grader, settings, tmp_path) -> World:
    """The seeds, a simulated grader for calibration, and the legal and nursing panels.

    As in production, a task is submitted only after a passing calibration.
    """
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EVALBUILDER_REQUIRE_CALIBRATION = True
    return make_world()


@pytest.fixture
def new_page(browser, live_server) -> Iterator[Callable]:
    """Open a page in a fresh browser context (its own cookies) on the live server."""
    contexts = []

    def open_page():
        context = browser.new_context(base_url=live_server.url)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def sign_in(new_page, app_code) -> Callable:
    """Sign a user in through the login form, in a fresh context; return the page, which
    shows "Your tasks".

    Operators and admins (and anyone with an authenticator app) also pass the code step:
    they get an app in the test database, and the code it would show is typed in.
    """
    from playwright.sync_api import expect

    def sign_in_as(username: str):
        user = get_user_model().objects.get(username=username)
        device = None
        if mfa.pending_step(user) is not None:
            device = mfa.app_device(user) or TOTPDevice.objects.create(
                user=user, name=mfa.APP_DEVICE_NAME, confirmed=True
            )
        page = new_page()
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill("pw-" + username)
        page.get_by_role("button", name="Sign in").click()
        if device is not None:
            expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
            page.get_by_label("Code").fill(app_code(device))
            page.get_by_role("button", name="Continue").click()
        expect(page.get_by_role("button", name=f"Sign out {username}")).to_be_visible()
        expect(page.get_by_role("heading", name="Your tasks")).to_be_visible()
        return page

    return sign_in_as
