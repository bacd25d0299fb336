"""A video check survives its worker being killed mid-video: a real Celery worker against the
local Redis and the test database is SIGKILLed once the job reports progress; a second worker
gets the message again (late acknowledgement + visibility timeout) and finishes the check."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid

import pytest

from matching import services
from matching.models import Check, CheckStatus
from matching.services import video as video_checks
from tests.matching.checks_fixtures import Platform, enroll
from tests.matching.test_video_jobs import CLIP, submit
from tests.support import (
    celery_client,
    database_url_for_subprocess,
    redis_answers,
    start_celery_worker,
    stop_process,
)

REDIS_URL = os.environ.get("TEST_VIDEO_REDIS_URL", "redis://127.0.0.1:6379/14")
VISIBILITY_TIMEOUT_S = 5


def _start_worker(queue: str, database_url: str, log_path) -> subprocess.Popen:
    # The child keeps its own copy of the log's descriptor; ours closes with the block.
    with open(log_path, "ab") as log:
        return start_celery_worker(
            queue=queue,
            env={
                "CELERY_BROKER_URL": REDIS_URL,
                "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT_S),
                "CELERY_RESULT_BACKEND": "",
                "DATABASE_URL": database_url,
            },
            output=log,
            loglevel="INFO",
        )


def _wait_for(condition, *, timeout_s: float, what: str, log_path) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}:\n{log_path.read_text()[-4000:]}")
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_video_check_completes_after_its_worker_is_killed_mid_video(monkeypatch, tmp_path):
    if not redis_answers(REDIS_URL):
        pytest.skip(f"no Redis answers at {REDIS_URL}; the worker-crash test needs one")
    from django.db import connection

    monkeypatch.setattr(video_checks, "_enqueue_video", lambda check_id: None)
    enroll("lin_manuel_miranda", ["lin_manuel_miranda/lin1.png"])
    studio = Platform("Clip Share")
    check = submit(studio)
    media = services.check_media_path(check)
    assert media is not None and media.is_file() and media.stat().st_size == CLIP.stat().st_size

    database_url = database_url_for_subprocess(connection.settings_dict)
    queue = f"test-video-{uuid.uuid4().hex[:8]}"
    log_path = tmp_path / "workers.log"
    first = _start_worker(queue, database_url, log_path)
    second = None
    try:
        client = celery_client(REDIS_URL)
        client.send_task("matching.tasks.video_check_run", args=[str(check.pk)], queue=queue)

        def progress() -> int:
            return Check.objects.values_list("progress", flat=True).get(pk=check.pk)

        _wait_for(lambda: progress() > 0, timeout_s=120, what="progress", log_path=log_path)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=20)
        killed_at = progress()
        check.refresh_from_db()
        assert check.status == CheckStatus.RUNNING and 0 < killed_at < 100
        assert check.attempts == 1

        second = _start_worker(queue, database_url, log_path)
        _wait_for(
            lambda: Check.objects.get(pk=check.pk).status != CheckStatus.RUNNING,
            timeout_s=180,
            what="the redelivered job to finish",
            log_path=log_path,
        )
    finally:
        stop_process(first, signal.SIGKILL)
        if second is not None:
            stop_process(second)

    check.refresh_from_db()
    assert check.status == CheckStatus.DONE, check.error
    assert check.attempts == 2  # the killed run, then the redelivered one
    assert check.progress == 100
    assert check.result["verdict"] == "blocked"
    (lin,) = [face for face in check.result["faces"] if face["match"] == "match"]
    assert lin["start_s"] <= 0.5 and 6.0 <= lin["end_s"] <= 7.6
    assert not media.exists()
