"""Helpers for tests that run real processes: Celery workers, child processes on the test
database, and headless Chromium."""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO
from urllib.parse import quote

import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
NO_BROWSER_REASON = (
    "Debian's chromium and chromium-driver are not installed (run `make browsers` as root to "
    "install them)"
)


def decompression_bomb_png(side: int = 20_000) -> bytes:
    """A valid ``side`` x ``side`` 1-bit PNG of about 60 kB: 400 megapixels (1.2 GB as RGB) if
    decoded at the default size.

    Written chunk by chunk with zlib, because building it with Pillow would allocate the very
    bitmap the tests must show is never allocated.
    """

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit greyscale
    row = b"\x00" * (1 + side // 8)  # filter byte + one bit per black pixel
    compressor = zlib.compressobj(9)
    pixels = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def database_url_for_subprocess(settings_dict: Mapping) -> str:
    """A DATABASE_URL that points a child process at the current (test) database."""
    host = quote(settings_dict["HOST"] or "", safe="")
    port = settings_dict["PORT"] or "5432"
    return f"postgresql://{settings_dict['USER']}@{host}:{port}/{settings_dict['NAME']}"


def celery_client(broker: str, backend: str | None = None):
    """A Celery app for sending tasks to a test worker.

    ``set_as_current=False`` matters: a new app otherwise becomes Celery's current app, and every
    ``shared_task`` in this test process would then go to this broker instead of running eagerly.
    """
    from celery import Celery

    return Celery(broker=broker, backend=backend, set_as_current=False)


def start_celery_worker(
    *,
    queue: str,
    env: Mapping[str, str],
    output: int | IO = subprocess.PIPE,
    loglevel: str = "WARNING",
) -> subprocess.Popen:
    """A real worker consuming only ``queue``, in its own process group (see ``stop_process``)."""
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "registry", "worker", "--pool=solo",
         f"--loglevel={loglevel}", "-Q", queue, "--without-heartbeat", "--without-gossip",
         "--without-mingle"],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def stop_process(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Stop a process started with ``start_new_session`` and everything it spawned."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, sig)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)


@contextmanager
def headless_chromium(*, extra_arguments: tuple[str, ...] = ()) -> Iterator:
    """Debian's Chromium driven by Selenium, headless, with a throwaway profile;
    ``extra_arguments`` are further command-line switches (a fake camera, for instance)."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(NO_BROWSER_REASON)
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="registry-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        # This machine has no internet: without these Chromium keeps trying Google's services.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1200,1600",
        *extra_arguments,
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def left_the_page(element):
    """A WebDriverWait condition: true once ``element`` is no longer in the document.

    Selenium's ``staleness_of`` only expects a stale-element error; while Chromium swaps the page
    it may instead answer "Node with given id does not belong to the document" (an inspector
    error). Both mean the old page is gone.
    """
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    def gone(_driver) -> bool:
        try:
            element.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as error:
            if "does not belong to the document" in str(error):
                return True
            raise
        return False

    return gone
