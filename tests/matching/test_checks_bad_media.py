"""Bad media is refused clearly, before decoding; a photo without faces is a valid clear."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from tests.matching.checks_fixtures import Platform, photo_bytes
from tests.support import decompression_bomb_png

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_rate_limits")]


@pytest.fixture
def platform(db) -> Platform:
    return Platform("Clip Share")


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "detail"}
    assert body["error"]["message"]
    return body["error"]


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def test_a_photo_without_faces_is_a_valid_clear_result(platform):
    noise = np.random.default_rng(3).normal(128, 30, size=(300, 400, 3))
    data = encoded(Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8)), "JPEG")
    response = platform.check_file(data)
    assert response.status_code == 200
    result = response.json()["result"]
    assert result["verdict"] == "clear"
    assert result["faces_found"] == 0
    assert result["faces"] == []
    assert result["receipt"]["payload"]["body"]["verdict"] == "clear"


def test_text_named_like_a_photo_is_415_saying_what_it_is(platform):
    error = error_of(platform.check_file(b"Meeting notes, not a photo\n" * 20, name="a.jpg"), 415)
    assert error["detail"]["detected"] == "text"


def test_an_unsupported_image_format_is_415(platform):
    gif = encoded(Image.new("RGB", (64, 64), (200, 10, 10)), "GIF")
    error = error_of(platform.check_file(gif, name="a.gif"), 415)
    assert "GIF" in error["message"] or error["detail"]["detected"] == "GIF image"


def test_a_pdf_is_415(platform):
    error_of(platform.check_file(b"%PDF-1.7\n" + b"0" * 500, name="doc.jpg"), 415)


def test_a_truncated_photo_is_400_corrupt(platform):
    full = photo_bytes("people/obama/obama.jpg")
    error = error_of(platform.check_file(full[: len(full) * 2 // 3]), 400)
    assert error["code"] == "corrupt_image"


def test_a_decompression_bomb_is_refused_from_its_header(platform):
    error = error_of(platform.check_file(decompression_bomb_png(), name="bomb.png"), 413)
    assert error["code"] == "image_too_large"
    assert error["detail"]["width"] == 20_000


def test_an_image_over_the_byte_limit_is_413(platform, settings):
    settings.MAX_IMAGE_BYTES = 10_000
    error = error_of(platform.check_file("people/obama/obama.jpg"), 413)
    assert error["code"] == "image_too_large"
    assert error["detail"]["max_bytes"] == 10_000


def test_a_video_over_the_byte_limit_is_413(platform, settings):
    settings.MAX_VIDEO_BYTES = 50_000
    error = error_of(platform.check_file("video/short_hamilton_clip.mp4", name="c.mp4"), 413)
    assert error["code"] == "video_too_large"


def test_a_request_longer_than_any_limit_is_refused_from_its_content_length(platform, settings):
    settings.MAX_VIDEO_BYTES = 2048
    settings.MAX_IMAGE_BYTES = 2048
    response = platform.client.post(
        "/api/v1/checks",
        {"file": SimpleUploadedFile("big.jpg", b"\xff\xd8\xff" + b"0" * 200_000)},
        **platform.auth,
    )
    assert error_of(response, 413)["code"] == "too_large"


def test_an_empty_file_is_400(platform):
    response = platform.check_file(b"", name="empty.jpg")
    assert response.status_code == 400


def test_a_missing_or_unknown_use_category_is_400(platform):
    response = platform.client.post(
        "/api/v1/checks",
        {"file": SimpleUploadedFile("a.jpg", photo_bytes("people/obama/obama.jpg"))},
        **platform.auth,
    )
    assert "category" in error_of(response, 400)["message"]
    error_of(platform.check_file("people/obama/obama.jpg", category="bananas"), 400)


def test_bad_embeddings_are_400(platform):
    error_of(platform.check_embeddings([[0.1] * 127]), 400)
    error_of(platform.check_embeddings([[0.1] * 128] * 101), 400)
    error_of(platform.check_embeddings([]), 400)
    response = platform.client.post(
        "/api/v1/checks",
        '{"category": "commercial", "embeddings": [[NaN' + ", 0" * 127 + "]]}",
        content_type="application/json",
        **platform.auth,
    )
    assert response.status_code == 400
    error_of(platform.check_embeddings([[0.1] * 128], boxes=[[1, 2, 3]]), 400)


GOOD = [0.01] * 128


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        '{"category": "commercial", "embeddings": [[0.1',
        "[]",
        '"commercial"',
        "null",
        "{}",
        json.dumps({"embeddings": [GOOD]}),
        json.dumps({"category": ["commercial"], "embeddings": [GOOD]}),
        json.dumps({"category": "bananas", "embeddings": [GOOD]}),
        json.dumps({"category": "commercial"}),
        json.dumps({"category": "commercial", "embeddings": "0.1, 0.2"}),
        json.dumps({"category": "commercial", "embeddings": GOOD}),
        json.dumps({"category": "commercial", "embeddings": [["x"] * 128]}),
        json.dumps({"category": "commercial", "embeddings": [[{"a": 1}] * 128]}),
        json.dumps({"category": "commercial", "embeddings": [GOOD, GOOD[:64]]}),
        json.dumps({"category": "commercial", "embeddings": [[GOOD] * 2]}),
        '{"category": "commercial", "embeddings": [[1e400' + ", 0" * 127 + "]]}",
        '{"category": "commercial", "embeddings": [[1' + "0" * 400 + ", 0" * 127 + "]]}",
        json.dumps({"category": "commercial", "embeddings": [GOOD], "boxes": [[1, 2, 3, "4"]]}),
        json.dumps({"category": "commercial", "embeddings": [GOOD], "boxes": [[1, 2, 3, True]]}),
        json.dumps({"category": "commercial", "embeddings": [GOOD], "boxes": [1, 2, 3, 4]}),
        json.dumps({"category": "commercial", "embeddings": [GOOD], "boxes": {"a": 1}}),
        json.dumps({"category": "commercial", "embeddings": [GOOD], "boxes": []}),
        # Finite as float64, infinite as the float32 the registry compares in.
        json.dumps({"category": "commercial", "embeddings": [[3.5e38, *GOOD[1:]]]}),
        json.dumps({"category": "commercial", "embeddings": [[True, *GOOD[1:]]]}),
        json.dumps({"category": "commercial", "embeddings": [["0.5", *GOOD[1:]]]}),
        json.dumps({"category": "commercial", "embeddings": [GOOD], "boxes": [[1, 2, 3, 10**30]]}),
    ],
)
def test_a_malformed_json_check_is_a_clear_400(platform, body):
    response = platform.client.post(
        "/api/v1/checks", body, content_type="application/json", **platform.auth
    )
    error_of(response, 400)


def test_a_json_check_in_another_content_type_is_415(platform):
    response = platform.client.post(
        "/api/v1/checks",
        json.dumps({"category": "commercial", "embeddings": [GOOD]}),
        content_type="text/plain",
        **platform.auth,
    )
    error_of(response, 415)


def test_boxes_sent_with_embeddings_are_echoed_back(platform):
    response = platform.check_embeddings([GOOD, GOOD], boxes=[[1, 2, 3, 4], [5, 6, 7, 8]])
    assert response.status_code == 200, response.content
    faces = response.json()["result"]["faces"]
    assert [face["box"] for face in faces] == [[1, 2, 3, 4], [5, 6, 7, 8]]


def test_exactly_100_embeddings_are_accepted(platform):
    vectors = np.random.default_rng(2).normal(0, 0.09, size=(100, 128))
    response = platform.check_embeddings(vectors)
    assert response.status_code == 200
    assert response.json()["result"]["faces_found"] == 100


def test_callers_without_the_scope_or_without_a_key_are_refused(platform, client):
    reader = Platform("Read Only", scopes=("checks:read",))
    assert error_of(reader.check_embeddings([[0.1] * 128]), 403)["code"] == "permission_denied"
    response = client.post(
        "/api/v1/checks",
        {"category": "commercial", "embeddings": [[0.1] * 128]},
        content_type="application/json",
    )
    assert error_of(response, 401)["code"] == "not_authenticated"
    response = client.post(
        "/api/v1/checks",
        {"category": "commercial", "embeddings": [[0.1] * 128]},
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer lr_nothing_here",
    )
    error_of(response, 401)
