"""Browser tests: Playwright drives Debian's Chromium against the live test server.

Playwright never downloads a browser here; it launches the system's /usr/bin/chromium.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

# Without the background-networking flags Chromium keeps calling Google's hosts, which this
# machine's closed network refuses; --no-sandbox because tests run as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def unavailable_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (uv sync installs the dev group)"
    if not CHROMIUM.is_file():
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    return None


def save_screenshot(page, name: str) -> None:
    """A full-page screenshot in tests/browser/artifacts/, only when EVALBUILDER_SCREENSHOTS
    is set, so that an ordinary run writes nothing into the work tree."""
    if os.environ.get("EVALBUILDER_SCREENSHOTS"):
        ARTIFACTS.mkdir(exist_ok=True)
        scroll = page.evaluate("[window.scrollX, window.scrollY]")
        page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)
        # Chromium leaves the page scrolled to its end, hit-testing out of step with what is
        # drawn, after a full-page screenshot: the next click can miss. Scrolling resyncs it.
        page.evaluate("([x, y]) => window.scrollTo(x, y)", scroll)
