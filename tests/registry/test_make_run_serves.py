"""`make run` serves the site: a real server process answers /healthz and /api/docs/."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read()


@pytest.mark.slow
def test_make_run_serves_healthz_and_api_docs():
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    server = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                status, body = _get(f"{base}/healthz")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    output = server.stdout.read().decode(errors="replace")
                    pytest.fail(f"make run did not serve /healthz:\n{output[-3000:]}")
                time.sleep(0.5)
        assert status == 200
        assert b'"database"' in body

        status, page = _get(f"{base}/api/docs/")
        assert status == 200
        assert b"swagger" in page.lower()
        # The Swagger UI assets are served locally (no CDN: this machine has no internet).
        asset = next(
            part.split('"')[0]
            for part in page.decode().split('src="')[1:]
            if "swagger-ui-bundle" in part
        )
        status, script = _get(base + asset if asset.startswith("/") else asset)
        assert status == 200 and len(script) > 100_000

        status, schema = _get(f"{base}/api/schema/")
        assert status == 200 and b"openapi" in schema
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
