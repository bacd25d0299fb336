"""The video check job: result, redelivery, restart after a crash, cancellation, failures and
the signed callback, on the shared clip with Lin-Manuel Miranda enrolled and opted out."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import itertools
import json
import threading
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from consent.delivery import webhook_backoff_seconds
from matching import services
from matching.models import Check, CheckStatus
from matching.services import video as video_checks
from tests.matching.checks_fixtures import FACES, Platform, enroll

CLIP = FACES / "video" / "short_hamilton_clip.mp4"
SECRET = "callback-secret-0123456789"


@pytest.fixture
def lin(db):
    return enroll("lin_manuel_miranda", ["lin_manuel_miranda/lin1.png"])


@pytest.fixture
def studio(db) -> Platform:
    return Platform("Clip Share")


@pytest.fixture
def not_enqueued(monkeypatch):
    """Create checks without running them: each test drives the job itself."""
    monkeypatch.setattr(video_checks, "_enqueue_video", lambda check_id: None)


def submit(studio: Platform, data: bytes | None = None, **extra) -> Check:
    return services.video_check_create(
        organisation=studio.organisation,
        api_key=studio.key,
        category="commercial",
        upload=SimpleUploadedFile("clip.mp4", CLIP.read_bytes() if data is None else data),
        container="mp4",
        **extra,
    )


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Run the job as a worker would: its on-commit work (deleting the file, the callback
    POST) happens too, which the test's enclosing transaction would otherwise hold back."""

    def run_job(check: Check) -> str:
        with django_capture_on_commit_callbacks(execute=True):
            return services.video_check_execute(check_id=check.pk)

    return run_job


def stored_file(check: Check) -> Path:
    path = services.check_media_path(check)
    assert path is not None
    return path


def lin_face(result: dict) -> dict:
    (face,) = [f for f in result["faces"] if f["match"] == "match"]
    return face


@pytest.mark.slow
@pytest.mark.django_db
def test_the_job_finds_the_opted_out_person_with_his_time_span(run, lin, studio, not_enqueued):
    check = submit(studio)
    media = stored_file(check)
    assert media.is_file()

    assert run(check) == "done"

    check.refresh_from_db()
    assert check.status == CheckStatus.DONE and check.progress == 100
    assert check.result["verdict"] == "blocked"
    face = lin_face(check.result)
    assert face["start_s"] <= 0.5 and 6.0 <= face["end_s"] <= 7.6
    assert face["reference"].startswith("ref_")
    others = [f for f in check.result["faces"] if f is not face]
    assert others and all(f["match"] == "none" for f in others)
    assert check.result["video"]["frames_sampled"] < 40
    assert not media.exists() and check.media_path == ""
    # The signed receipt carries how well the registry knows who opted out, face by face.
    receipt_levels = check.result["receipt"]["payload"]["body"]["assurance"]
    assert receipt_levels == [f.get("assurance") for f in check.result["faces"]]
    assert face["assurance"] in receipt_levels


@pytest.mark.slow
@pytest.mark.django_db
def test_a_redelivered_task_for_a_finished_check_changes_nothing(run, lin, studio, not_enqueued):
    check = submit(studio)
    run(check)
    check.refresh_from_db()
    finished_at, result = check.finished_at, check.result

    started = time.monotonic()
    assert run(check) == "done"
    assert time.monotonic() - started < 1.0  # no second analysis
    check.refresh_from_db()
    assert (check.finished_at, check.result, check.attempts) == (finished_at, result, 1)


@pytest.mark.slow
@pytest.mark.django_db
def test_a_check_left_running_by_a_dead_worker_restarts_cleanly(run, lin, studio, not_enqueued):
    check = submit(studio)
    Check.objects.filter(pk=check.pk).update(status=CheckStatus.RUNNING, progress=40, attempts=1)

    assert run(check) == "done"

    check.refresh_from_db()
    assert check.attempts == 2 and check.progress == 100
    assert lin_face(check.result)["start_s"] <= 0.5


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_cancelling_through_the_api_stops_the_job_at_the_next_sample(
    lin, studio, not_enqueued, monkeypatch
):
    monkeypatch.setattr(video_checks, "CANCEL_POLL_S", 0.0)
    check = submit(studio)
    media = stored_file(check)
    outcome: dict[str, object] = {}

    def run() -> None:
        from django.db import connection

        try:
            outcome["status"] = services.video_check_execute(check_id=check.pk)
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    started = time.monotonic()
    worker.start()
    while Check.objects.get(pk=check.pk).progress == 0:
        assert worker.is_alive() and time.monotonic() - started < 60
        time.sleep(0.02)
    response = studio.cancel(str(check.pk))
    assert response.status_code == 200, response.content
    worker.join(timeout=60)

    assert outcome["status"] == "cancelled"
    check.refresh_from_db()
    assert check.status == CheckStatus.CANCELLED
    assert 0 < check.progress < 100 and check.result is None
    assert not media.exists()


@pytest.mark.django_db
def test_a_job_reports_its_progress_in_steps(run, lin, studio, not_enqueued, monkeypatch):
    seen: list[int] = []
    real = services.check_progress

    def spy(*, check, percent):
        seen.append(percent)
        return real(check=check, percent=percent)

    monkeypatch.setattr(video_checks, "check_progress", spy)
    check = submit(studio)
    run(check)
    assert seen == sorted(set(seen))
    assert all(b - a >= video_checks.PROGRESS_STEP for a, b in itertools.pairwise(seen))
    assert 8 <= len(seen) <= 20 and seen[-1] >= 90


@pytest.mark.django_db
def test_a_video_over_the_length_limit_fails_with_a_readable_error(
    run, studio, not_enqueued, settings
):
    settings.MAX_VIDEO_SECONDS = 5
    check = submit(studio)
    assert run(check) == "failed"
    check.refresh_from_db()
    assert check.error["code"] == "video_too_long"
    assert check.error["message"] == "The video is 9.2 s long; the limit is 5 s."
    assert check.media_path == ""


@pytest.mark.django_db
def test_a_truncated_upload_fails_as_corrupt_and_is_deleted(run, studio, not_enqueued):
    data = CLIP.read_bytes()
    check = submit(studio, data[: len(data) // 2])
    media = stored_file(check)
    assert run(check) == "failed"
    check.refresh_from_db()
    assert check.error["code"] == "corrupt_video"
    assert "truncated or corrupt" in check.error["message"]
    assert not media.exists()


@pytest.mark.django_db
def test_a_job_whose_file_vanished_fails_instead_of_hanging(run, studio, not_enqueued):
    check = submit(studio)
    stored_file(check).unlink()
    assert run(check) == "failed"
    check.refresh_from_db()
    assert check.error["code"] == "media_missing"


class _Receiver(http.server.BaseHTTPRequestHandler):
    answers: list[int] = []
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(type(self).answers.pop(0) if type(self).answers else 200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def receiver(settings):
    settings.WEBHOOKS_ALLOW_INSECURE_LOCALHOST = True
    _Receiver.answers, _Receiver.received = [], []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/checks", _Receiver
    server.shutdown()


@pytest.mark.slow
@pytest.mark.django_db
def test_the_result_is_posted_to_the_callback_signed_and_retried_until_accepted(
    run, lin, studio, not_enqueued, receiver
):
    url, handler = receiver
    handler.answers = [503]  # the first POST meets a receiver that is down for a moment
    check = submit(studio, callback_url=url, callback_secret=SECRET)

    run(check)
    check.refresh_from_db()
    assert len(handler.received) == 1 and check.callback_delivered_at is None
    assert services.check_callback_attempt(check_id=check.pk, attempt=0) is None
    check.refresh_from_db()
    assert check.callback_delivered_at is not None
    assert services.check_callback_attempt(check_id=check.pk, attempt=1) is None
    assert len(handler.received) == 2  # delivered once, never again

    headers, body = handler.received[-1]
    timestamp, signature = (
        part.split("=", 1)[1] for part in headers["X-Registry-Signature"].split(",")
    )
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    assert hmac.compare_digest(signature, expected.hexdigest())
    payload = json.loads(body)
    assert payload["check"]["id"] == str(check.pk)
    assert payload["check"]["result"]["verdict"] == "blocked"


class _Redirector(http.server.BaseHTTPRequestHandler):
    """Answers every POST to /hooks with a redirect to /elsewhere; records every request."""

    requests: list[tuple[str, str]] = []

    def _answer(self) -> None:
        type(self).requests.append((self.command, self.path))
        if self.path.startswith("/hooks"):
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
        else:
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.mark.django_db
def test_a_callback_answered_with_a_redirect_is_not_followed_but_retried(
    studio, not_enqueued, settings
):
    settings.WEBHOOKS_ALLOW_INSECURE_LOCALHOST = True
    _Redirector.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Redirector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hooks/checks"
        check = submit(studio, callback_url=url, callback_secret=SECRET)
        # Its own callback waits for a commit the test's transaction never makes.
        services.check_fail(check=check, code="corrupt_video", message="unreadable")
        retry_in = services.check_callback_attempt(check_id=check.pk, attempt=0)
    finally:
        server.shutdown()
    assert _Redirector.requests == [("POST", "/hooks/checks")]
    assert retry_in == webhook_backoff_seconds(1)
    check.refresh_from_db()
    assert check.callback_delivered_at is None and check.callback_attempts == 1


def test_callback_retries_back_off_to_at_most_an_hour():
    waits = [webhook_backoff_seconds(attempts) for attempts in range(1, 11)]
    assert waits[:4] == [30, 60, 120, 240] and max(waits) == 3600


@pytest.mark.slow
@pytest.mark.django_db
@pytest.mark.usefixtures("no_rate_limits")
def test_a_video_posted_to_the_api_is_queued_then_checked(
    lin, studio, django_capture_on_commit_callbacks
):
    # No broker in tests: the task runs eagerly once the request's transaction commits.
    with django_capture_on_commit_callbacks(execute=True):
        response = studio.check_file(CLIP.read_bytes(), name="clip.mp4")
    assert response.status_code == 202, response.content
    queued = response.json()
    assert queued["status"] == "queued" and queued["result"] is None

    body = studio.get(queued["id"]).json()
    assert body["status"] == "done" and body["progress"] == 100
    assert body["result"]["verdict"] == "blocked"
    face = lin_face(body["result"])
    assert face["start_s"] <= 0.5 and 6.0 <= face["end_s"] <= 7.6
    assert face["spans"][0][0] <= 0.5


@pytest.mark.slow
@pytest.mark.django_db
def test_a_callback_whose_name_moves_inside_is_refused_at_delivery(
    run, lin, studio, not_enqueued, monkeypatch
):
    """Accepted while its name resolved to a public address; refused at delivery once it answers
    127.0.0.1 (DNS rebinding), without a connection, and retried later like any failure."""
    from registry.lib import outbound

    check = submit(
        studio, callback_url="https://hooks.partner.example/done", callback_secret=SECRET
    )
    connected = []
    monkeypatch.setattr(outbound, "system_resolver", lambda host, port: ["127.0.0.1"])
    monkeypatch.setattr(
        outbound.socket, "create_connection", lambda *a, **k: connected.append(a) or 1 / 0
    )
    run(check)
    response = services.check_callback_post(check_id=check.pk)
    assert connected == []
    assert response.status is None and response.error == "destination_refused"
    check.refresh_from_db()
    assert check.callback_delivered_at is None
    assert services.check_callback_attempt(check_id=check.pk, attempt=0) == webhook_backoff_seconds(
        1
    )
