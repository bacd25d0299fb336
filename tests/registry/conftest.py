"""Photos for the registry tests: the shared faces and files derived from them."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from tests.support import decompression_bomb_png


def jpeg(image: Image.Image, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def photo(faces_dir: Path):
    """``photo("obama/obama.jpg")``: the bytes of a shared single-person photo."""

    def read(relative: str) -> bytes:
        return (faces_dir / "people" / relative).read_bytes()

    return read


@pytest.fixture(scope="session")
def derived(faces_dir: Path) -> dict[str, bytes]:
    """Rejectable photos derived from the shared faces, by the reason they must be refused for."""
    from matching.engine import get_engine

    original = Image.open(faces_dir / "people/obama/obama.jpg").convert("RGB")
    (box,) = get_engine().detect(np.asarray(original))
    margin = box.width // 2
    crop = original.crop(
        (box.left - margin, box.top - margin, box.right + margin, box.bottom + margin)
    )
    factor = 52 / box.width  # the face ends up about 52 px wide
    small = crop.resize(
        (round(crop.width * factor), round(crop.height * factor)), Image.Resampling.LANCZOS
    )
    canvas = Image.new("RGB", (320, 240), (200, 200, 200))
    canvas.paste(small, (100, 60))

    full = (faces_dir / "people/obama/obama.jpg").read_bytes()
    noise = np.random.default_rng(3).normal(128, 30, size=(300, 400, 3))
    return {
        "small": jpeg(canvas),
        "blurry": jpeg(original.filter(ImageFilter.GaussianBlur(6))),
        "two_faces": (faces_dir / "group/two_people.jpg").read_bytes(),
        "text": b"Meeting notes - not a photo, just named like one\n" * 20,
        "truncated": full[: len(full) * 2 // 3],
        "no_face": jpeg(Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8))),
        "bomb": decompression_bomb_png(),
        "gif": _gif(original),
    }


def _gif(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.resize((100, 120)).save(buffer, "GIF")
    return buffer.getvalue()


@pytest.fixture
def make_person(db):
    from registry.services import person_create

    counter = iter(range(1000))

    def make(name: str = "Test Person", *, email: str | None = None, password=None):
        return person_create(
            email=email or f"person{next(counter)}@example.org",
            display_name=name,
            password=password,
        )

    return make


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Production hashing costs ~0.5 s per password; the tests create many accounts.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
