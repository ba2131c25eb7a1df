"""quickstart as a newcomer runs it: a fresh folder, no configuration, real processes."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.integration.conftest import ROOT, ChildProcess, wait_for

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except OSError:
        return 0, ""


def test_quickstart_runs_the_demo_then_serves_the_trend_pages(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "CELERY_BROKER_URL", "CELERY_BROKER_DIR"}
    }
    env.update(EVALBUILDER_VAR_DIR=str(tmp_path / "var"), PYTHONUNBUFFERED="1")
    first = subprocess.run(
        [sys.executable, "manage.py", "quickstart", "--no-serve"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    out = first.stdout
    assert "every demo run completed and was graded" in out
    for model in ("Aster 1", "Aster 2", "Borealis Pro", "Cirrus Ultra"):
        assert re.search(rf"{model} \(simulated\): Completed, \d+ samples", out), model
    assert re.search(r"admin\s+\S{8,}", out), "credentials are printed"
    worker_pid = int(re.search(r"worker: pid (\d+)", out).group(1))
    with pytest.raises(ProcessLookupError):
        os.kill(worker_pid, 0)  # children are stopped when quickstart exits

    port = free_port()
    server = ChildProcess(
        [sys.executable, "manage.py", "quickstart", "--addrport", f"127.0.0.1:{port}"],
        env,
        tmp_path / "serve.log",
    )
    try:
        status, home = wait_for(
            lambda: (lambda r: r if r[0] == 200 else None)(get(f"http://127.0.0.1:{port}/")),
            timeout=120,
            what="the home page",
        )
        assert "Legal Occupations" in home
        assert "simulated" in home
        category = re.search(r'href="(/categories/\d+/[^"]*)">Legal Occupations', home).group(1)
        category = category.replace("&amp;", "&")
        status, page = get(f"http://127.0.0.1:{port}{category}")
        assert status == 200
        assert "<svg" in page and "Cirrus Ultra" in page
        assert "extrapolation" in page and "pass^k" in page
        for link in (r'href="(/occupations/\d+/[^"]*)"', r'href="(/results/models/[^"]+)"'):
            url = re.search(link, page).group(1).replace("&amp;", "&")
            status, more = get(f"http://127.0.0.1:{port}{url}")
            assert status == 200 and "<svg" in more, url
        status, national = get(f"http://127.0.0.1:{port}/?min_tasks=1")
        assert status == 200 and "Share of employment" in national
        status, css = get(f"http://127.0.0.1:{port}/static/evalbuilder/evalbuilder.css")
        assert status == 200 and "--brand" in css
        assert "Running suite" in server.output()
    finally:
        # Two signals in a row, as a terminal's Ctrl-C reaches both uv and quickstart: the
        # second must not cut the clean-up short.
        os.kill(server.process.pid, signal.SIGTERM)
        time.sleep(0.2)
        code = server.stop(signal.SIGTERM)
    assert code == 0, server.output()[-3000:]
    for name in ("worker", "beat"):
        pid = int(re.search(rf"{name}: pid (\d+)", server.output()).group(1))
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
