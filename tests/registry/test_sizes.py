"""Size limits read the same in messages as in the README and settings ("25 MB")."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from lifecycle.services.enrollment import photo_analyse
from matching.engine import get_engine
from registry.lib.sizes import megabytes


def test_megabytes_count_like_the_readme():
    assert megabytes(25 * 1024 * 1024) == "25 MB"
    assert megabytes(500 * 1024 * 1024) == "500 MB"
    assert megabytes(int(2.5 * 1024 * 1024)) == "2.5 MB"
    assert megabytes(3 * 1024 * 1024) == "3 MB"


def test_an_oversized_reference_photo_names_the_limit_in_the_readmes_words(settings):
    settings.MAX_IMAGE_BYTES = 2 * 1024 * 1024
    outcome, face = photo_analyse(
        "big.jpg", b"\xff\xd8\xff" + b"0" * (3 * 1024 * 1024), get_engine()
    )
    assert face is None
    assert outcome.reason == "file too large: 3 MB, limit 2 MB"


@pytest.mark.django_db
def test_an_oversized_check_image_names_the_limit_in_megabytes(settings):
    from tests.matching.checks_fixtures import Platform

    settings.MAX_IMAGE_BYTES = 1024 * 1024
    platform = Platform("Sizes Platform")
    response = platform.client.post(
        "/api/v1/checks",
        {
            "file": SimpleUploadedFile("big.jpg", b"\xff\xd8\xff" + b"0" * (2 * 1024 * 1024)),
            "category": "commercial",
        },
        **platform.auth,
    )
    assert response.status_code == 413
    assert response.json()["error"]["message"] == ("Images are limited to 1 MB; this one is 2 MB.")
