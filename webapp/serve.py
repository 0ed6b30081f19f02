"""Start the app with ``streamlit run`` on a free local port, wait until it is healthy, stop it.

The end-to-end tests and ``benchmarks/bench_app.py`` use it:

    with serve_app() as url:        # "http://localhost:PORT"
        ...drive a browser at url...

The server binds to localhost only; its output goes to ``log_path`` (or is discarded).
"""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"
PROJECT_ROOT = APP.parents[1]
HEALTH_PATH = "/_stcore/health"  # Streamlit answers "ok" here once it serves


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def streamlit_command(port: int) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
            "--server.address", "localhost", "--server.headless", "true", "--server.fileWatcherType", "none",
            "--browser.gatherUsageStats", "false"]


def wait_until_healthy(url: str, process: subprocess.Popen, timeout_s: float) -> None:
    """Poll ``url + /_stcore/health`` until it answers "ok"; raise if the server dies or times out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {process.returncode} before serving")
        try:
            with urllib.request.urlopen(url + HEALTH_PATH, timeout=2) as answer:
                if answer.read().strip() == b"ok":
                    return
        except OSError:
            pass  # not listening yet
        time.sleep(0.25)
    raise TimeoutError(f"the app did not answer at {url + HEALTH_PATH} within {timeout_s:.0f} s")


@contextlib.contextmanager
def serve_app(port: int | None = None, timeout_s: float = 90.0, log_path=None, env: dict | None = None):
    """Run the app in a child process for the duration of the ``with`` block; yields its URL."""
    port = port or free_port()
    url = f"http://localhost:{port}"
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL
    process = subprocess.Popen(streamlit_command(port), cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                               env={**os.environ, **(env or {})})
    try:
        wait_until_healthy(url, process, timeout_s)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log is not subprocess.DEVNULL:
            log.close()
