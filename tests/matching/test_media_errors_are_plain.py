"""Errors about bad media say what is wrong with the file, never where or how the server read it.

FFmpeg's messages name the file on the server ("Invalid data found when processing input:
'/srv/media/checks/...mp4'") and Pillow's name its internals; both stay in the log.
"""

from __future__ import annotations

import io
import json
import re
import struct
import zlib
from pathlib import Path

import pytest
from django.conf import settings
from PIL import Image

from lifecycle.services import person_enroll
from matching.models import Check
from registry.services import person_create
from tests.matching.checks_fixtures import FACES, Platform, photo_bytes
from tests.matching.video_helpers import remux_faststart

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_rate_limits")]

CLIP = FACES / "video" / "short_hamilton_clip.mp4"
# Internals a message must not show: paths, PyAV/Pillow/Python names, exception reprs.
INTERNALS = re.compile(
    r"/|\\|\bav\.|PIL|Pillow|FFmpeg|Errno|Error\b|Traceback|<|\bline \d|\.py\b", re.IGNORECASE
)


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def platform(db) -> Platform:
    return Platform("Clip Share")


def assert_plain(error: dict, *server_names: str) -> None:
    shown = json.dumps(error)
    assert not INTERNALS.search(shown), shown
    for name in server_names:
        assert name not in shown, shown


def _cut_header(tmp_path: Path) -> bytes:
    data = CLIP.read_bytes()  # its index ("moov") is at the end: cut, nothing can be read
    return data[: len(data) * 6 // 10]


def _cut_streaming(tmp_path: Path) -> bytes:
    data = remux_faststart(CLIP, tmp_path / "faststart.mp4").read_bytes()
    return data[: len(data) // 2]


def _damaged_middle(tmp_path: Path) -> bytes:
    data = bytearray(remux_faststart(CLIP, tmp_path / "faststart.mp4").read_bytes())
    start = data.find(b"mdat") + 4000
    data[start : start + 20_000] = bytes(range(256)) * 78 + bytes(32)
    return bytes(data)


@pytest.mark.parametrize("damage", [_cut_header, _cut_streaming, _damaged_middle])
def test_a_damaged_video_check_fails_with_a_plain_message(
    platform, tmp_path, django_capture_on_commit_callbacks, damage
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = platform.check_file(damage(tmp_path), name="holiday.mp4")
    assert response.status_code == 202, response.content
    check_id = response.json()["id"]
    stored = Path(Check.objects.get(pk=check_id).media_path)
    with django_capture_on_commit_callbacks(execute=True):
        for callback in callbacks:
            callback()

    body = platform.get(check_id).json()
    if damage is _damaged_middle and body["status"] == "done":
        pytest.skip("the decoder concealed the damage; nothing to report")
    assert body["status"] == "failed", body
    error = body["error"]
    assert error["code"] == "corrupt_video"
    assert error["message"].startswith("The video is truncated or corrupt")
    assert_plain(error, stored.name, stored.stem, str(settings.MEDIA_ROOT), "holiday")


def _png_with_bad_crc() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[8 + 8 + 13] ^= 0xFF  # the header chunk's CRC (Pillow does not check the pixel data's)
    return bytes(data)


def _png_with_bad_zlib() -> bytes:
    header = struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    garbage = b"\x78\x9c" + bytes(range(7, 250))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", garbage)
        + chunk(b"IEND", b"")
    )


def _jpeg_with_garbage_after_header() -> bytes:
    data = photo_bytes("people/obama/obama.jpg")
    return data[:600] + bytes(range(256)) * 40


def _truncated_webp() -> bytes:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(photo_bytes("people/obama/obama.jpg"))).save(buffer, "WEBP")
    return buffer.getvalue()[:3000]


def _truncated_jpeg() -> bytes:
    data = photo_bytes("people/obama/obama.jpg")
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    "make",
    [
        _png_with_bad_crc,
        _png_with_bad_zlib,
        _jpeg_with_garbage_after_header,
        _truncated_webp,
        _truncated_jpeg,
        lambda: b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
        lambda: b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 40,
    ],
)
def test_a_damaged_image_check_is_refused_with_a_plain_message(platform, make):
    response = platform.check_file(make(), name="holiday.jpg")
    assert 400 <= response.status_code < 500, response.content
    error = response.json()["error"]
    assert error["message"]
    assert_plain(error, "holiday")


def test_damaged_photos_are_refused_at_enrollment_with_plain_reasons():
    person = person_create(email="damaged@example.org", display_name="Damaged Photos")
    result = person_enroll(
        person=person,
        images=[
            ("a.png", _png_with_bad_crc()),
            ("b.png", _png_with_bad_zlib()),
            ("c.webp", _truncated_webp()),
            ("d.jpg", _jpeg_with_garbage_after_header()),
        ],
    )
    for photo in result.photos:
        assert not photo.accepted
        assert not INTERNALS.search(photo.reason or ""), photo.reason
