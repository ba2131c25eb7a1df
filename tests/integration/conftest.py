"""Helpers for tests that start real Celery, beat or quickstart processes."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[2]

WORKER_ARGS = [
    "-m",
    "celery",
    "-A",
    "evalbuilder",
    "worker",
    "--concurrency=2",
    "--loglevel=INFO",
    "--without-mingle",
    "--without-gossip",
]
"""A real worker as production runs it, started with `sys.executable`."""


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL for another process to open the database this one uses."""
    engine = settings_dict["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{Path(settings_dict['NAME']).resolve()}"
    if engine.endswith("postgresql"):
        user = quote(settings_dict.get("USER") or "")
        password = quote(settings_dict.get("PASSWORD") or "")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = settings_dict.get("HOST") or "127.0.0.1"
        port = settings_dict.get("PORT") or 5432
        return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"
    raise ValueError(f"no URL form for {engine}")


class ChildProcess:
    """A process in its own session, logged to a file, stopped with everything it started."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._log_file = log.open("w")
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log_file.close()
        return self.process.returncode


def wait_for(condition, *, timeout: float, interval: float = 0.5, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def child_env():
    """The environment of this process, for children that share its database and broker."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", "DJANGO_SETTINGS_MODULE": "evalbuilder.settings"}


@pytest.fixture
def start_child(tmp_path):
    children: list[ChildProcess] = []

    def start(name: str, args: list[str], env: dict[str, str]) -> ChildProcess:
        child = ChildProcess([sys.executable, *args], env, tmp_path / f"{name}.log")
        children.append(child)
        return child

    yield start
    for child in children:
        child.stop()
