"""Through the real API, an image bomb is a quick 413 or 422 with a plain message.

Pillow allocates in C, so the memory is measured as the peak RSS of a fresh Django process that
makes the requests (``ru_maxrss``); this test process has long since peaked higher.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from registry.services import api_key_create, organisation_create, person_create
from tests.matching.test_image_budget import one_colour_png
from tests.support import database_url_for_subprocess

REPO_ROOT = Path(__file__).resolve().parents[2]

# Imports the request path with a harmless request first, so the figures are the bomb's own.
CLIENT_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys, time
    import django
    django.setup()
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client
    from django.test.utils import setup_test_environment
    setup_test_environment()

    platform_secret, person_secret, bomb_path = sys.argv[1:4]
    bomb = open(bomb_path, "rb").read()
    client = Client()

    def peak_mb():
        # VmHWM, this program's own peak: Linux carries ru_maxrss over from the parent across
        # fork and exec, so it would report the (large) pytest process's size instead.
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def check(data):
        return client.post(
            "/api/v1/checks",
            {"file": SimpleUploadedFile("bomb.png", data), "category": "commercial"},
            HTTP_AUTHORIZATION=f"Bearer {platform_secret}",
        )

    def enroll(photos):
        files = [SimpleUploadedFile(f"bomb{i}.png", data) for i, data in enumerate(photos)]
        return client.post(
            "/api/v1/me/photos", {"photos": files}, HTTP_AUTHORIZATION=f"Bearer {person_secret}"
        )

    report = {"warm": [check(b"notes" * 50).status_code, enroll([b"notes" * 50]).status_code]}
    for name, call in [("check", lambda: check(bomb)), ("enroll", lambda: enroll([bomb] * 10))]:
        before = peak_mb()
        started = time.perf_counter()
        response = call()
        report[name] = {
            "status": response.status_code,
            "body": response.json(),
            "seconds": time.perf_counter() - started,
            "peak_growth_mb": peak_mb() - before,
            "peak_mb": peak_mb(),
        }
    print(json.dumps(report))
    """
)


@pytest.mark.django_db(transaction=True)
def test_png_bombs_are_answered_quickly_and_cheaply_through_the_api(tmp_path):
    from django.db import connection

    platform = organisation_create(name="Bomb Platform", kind="platform", owner=None)
    _key, platform_secret = api_key_create(
        organisation=platform, name="ci", scopes=["checks:write"], created_by=None
    )
    person = person_create(email="bomb@example.org", display_name="Bomb Tester")
    _token, person_secret = api_key_create(
        user=person.user, name="ci", scopes=["profile:write"], created_by=person.user
    )
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(one_colour_png(6300, 6300))
    assert bomb.stat().st_size < 200_000

    result = subprocess.run(
        [sys.executable, "-c", CLIENT_SCRIPT, platform_secret, person_secret, str(bomb)],
        cwd=REPO_ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "registry.settings",
            "DATABASE_URL": database_url_for_subprocess(connection.settings_dict),
            "CHECKS_RATE_PER_KEY": "off",
            "CHECKS_RATE_PER_ORGANISATION": "off",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["warm"] == [415, 422], report

    check = report["check"]
    assert check["status"] == 413, check
    assert check["body"]["error"]["code"] == "image_too_large"
    assert check["body"]["error"]["message"] == (
        "The image is 6300x6300 = 40 megapixels; PNG images are limited to 16 megapixels."
    )

    enroll = report["enroll"]
    assert enroll["status"] == 422, enroll
    reasons = [photo["reason"] for photo in enroll["body"]["error"]["detail"]["photos"]]
    refused = (
        "image too large: The image is 6300x6300 = 40 megapixels; "
        "PNG images are limited to 16 megapixels."
    )
    assert reasons == [refused] * 10

    for answer in (check, enroll):
        # Before: 12 s and 1.3 GB for one, 108 s and 2 GB for ten (docs/benchmarks.md).
        assert answer["seconds"] < 2.0, report
        # What the bombs add to the process's peak. The process itself (Django, numpy, the
        # request path) sits at 250-350 MB depending on what the environment loads.
        assert answer["peak_growth_mb"] < 50, report
        assert answer["peak_mb"] < 500, report
