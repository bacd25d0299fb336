"""Fixtures for the face engine and image decoding tests.

Real photos come from ../shared/faces (or $FACES_DIR); every other image the tests need is
derived from them here, into pytest's temporary directories, so no binary test data is committed.
Nothing here touches Django or the database.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from matching.engine.base import Box, FaceEmbedding
from matching.engine.dlib import DlibFaceEngine
from matching.lib.imaging import decode_image
from tests.support import decompression_bomb_png

FACES_DIR = Path(
    os.environ.get("FACES_DIR", Path(__file__).resolve().parents[2].parent / "shared" / "faces")
)
MAX_PIXELS = 40_000_000


def load_manifest() -> dict:
    """The manifest, read at collection time to parametrize tests (empty if the folder is gone;
    ``test_the_shared_faces_are_present`` then fails and says where it looked)."""
    path = FACES_DIR / "manifest.json"
    return json.loads(path.read_text()) if path.is_file() else {"people": {}, "groups": {}}


def read_rgb(path: Path) -> np.ndarray:
    return decode_image(path.read_bytes(), max_pixels=MAX_PIXELS)


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def faces() -> Path:
    if not (FACES_DIR / "manifest.json").is_file():
        pytest.fail(f"the shared test faces are missing: expected them at {FACES_DIR}")
    return FACES_DIR


@pytest.fixture(scope="session")
def manifest(faces: Path) -> dict:
    return json.loads((faces / "manifest.json").read_text())


@pytest.fixture(scope="session")
def engine() -> DlibFaceEngine:
    engine = DlibFaceEngine()
    engine.load()
    return engine


@pytest.fixture(scope="session")
def analysed(engine: DlibFaceEngine, faces: Path, manifest: dict) -> dict[str, list[FaceEmbedding]]:
    """Every photo of the manifest, analysed once per session: {relative path: faces found}."""
    paths = [p for files in manifest["people"].values() for p in files] + list(manifest["groups"])
    return {path: engine.analyse(read_rgb(faces / path)) for path in paths}


@pytest.fixture(scope="session")
def references(
    manifest: dict, analysed: dict[str, list[FaceEmbedding]]
) -> dict[str, dict[str, FaceEmbedding]]:
    """{person: {photo: embedding}} from the single-person photos (each has exactly one face)."""
    return {
        person: {path: analysed[path][0] for path in files if len(analysed[path]) == 1}
        for person, files in manifest["people"].items()
    }


def nearest_person(
    engine: DlibFaceEngine,
    face: FaceEmbedding,
    references: dict[str, dict[str, FaceEmbedding]],
    *,
    exclude: tuple[str, ...] = (),
) -> tuple[str, float, dict[str, float]]:
    """The person whose photos come closest to ``face``, that distance, and everyone's."""
    closest = {
        person: min(
            engine.distance(face, emb) for path, emb in photos.items() if path not in exclude
        )
        for person, photos in references.items()
    }
    person = min(closest, key=closest.__getitem__)
    return person, closest[person], closest


@pytest.fixture(scope="session")
def derived_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("derived_images")


@pytest.fixture(scope="session")
def obama_jpeg(faces: Path) -> Path:
    return faces / "people" / "obama" / "obama4.jpg"


@pytest.fixture(scope="session")
def grayscale_png(derived_dir: Path, obama_jpeg: Path) -> Path:
    path = derived_dir / "grayscale.png"
    path.write_bytes(encode(Image.open(obama_jpeg).convert("L"), "PNG"))
    return path


@pytest.fixture(scope="session")
def exif_rotated_jpeg(derived_dir: Path, obama_jpeg: Path) -> Path:
    """The photo's pixels stored turned a quarter left, tagged Orientation 6 ("turn right to
    view"), as a phone held sideways writes them; only honouring the tag makes it upright."""
    upright = Image.open(obama_jpeg).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    path = derived_dir / "rotated.jpg"
    path.write_bytes(
        encode(upright.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=95, exif=exif)
    )
    return path


@pytest.fixture(scope="session")
def sixteen_bit_png(derived_dir: Path, obama_jpeg: Path) -> Path:
    grey = np.asarray(Image.open(obama_jpeg).convert("L"), dtype=np.uint16) * 257
    image = Image.fromarray(grey)
    assert image.mode.startswith("I;16")
    path = derived_dir / "sixteen_bit.png"
    path.write_bytes(encode(image, "PNG"))
    return path


@pytest.fixture(scope="session")
def palette_png(derived_dir: Path, obama_jpeg: Path) -> Path:
    image = Image.open(obama_jpeg).convert("RGB").quantize(colors=256)
    assert image.mode == "P"
    path = derived_dir / "palette.png"
    path.write_bytes(encode(image, "PNG"))
    return path


@pytest.fixture(scope="session")
def webp_image(derived_dir: Path, obama_jpeg: Path) -> Path:
    path = derived_dir / "photo.webp"
    path.write_bytes(encode(Image.open(obama_jpeg).convert("RGB"), "WEBP", quality=90))
    return path


SMALL_FACE_PX = 48
SMALL_FACE_AT = (1400, 640)  # where the face's box lands in the canvas (left, top)


@pytest.fixture(scope="session")
def small_face_canvas(derived_dir: Path, obama_jpeg: Path, engine: DlibFaceEngine) -> Path:
    """A 1920x1080 frame with one face 48 px wide (the detector's box) far from the centre.

    The background is textured noise rather than a flat colour, so the detector has to search
    the whole frame, as it would in a real wide shot.
    """
    photo = Image.open(obama_jpeg).convert("RGB")
    (box,) = engine.detect(np.asarray(photo))
    margin = box.width // 2
    crop = photo.crop(
        (box.left - margin, box.top - margin, box.right + margin, box.bottom + margin)
    )
    factor = SMALL_FACE_PX / box.width
    small = crop.resize(
        (round(crop.width * factor), round(crop.height * factor)), Image.Resampling.LANCZOS
    )
    noise = np.random.default_rng(7).normal(120, 25, size=(1080, 1920, 3))
    canvas = Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8))
    canvas.paste(
        small,
        (SMALL_FACE_AT[0] - round(margin * factor), SMALL_FACE_AT[1] - round(margin * factor)),
    )
    path = derived_dir / "small_face.png"
    path.write_bytes(encode(canvas, "PNG"))
    return path


def small_face_box() -> Box:
    left, top = SMALL_FACE_AT
    return Box(top=top, right=left + SMALL_FACE_PX, bottom=top + SMALL_FACE_PX, left=left)


@pytest.fixture(scope="session")
def truncated_jpeg(derived_dir: Path, obama_jpeg: Path) -> Path:
    data = obama_jpeg.read_bytes()
    path = derived_dir / "truncated.jpg"
    path.write_bytes(data[: len(data) * 2 // 3])  # an upload cut off part way
    return path


@pytest.fixture(scope="session")
def text_as_jpeg(derived_dir: Path) -> Path:
    path = derived_dir / "notes.jpg"
    path.write_text("Meeting notes\n- not a photo, just named like one\n" * 20)
    return path


@pytest.fixture(scope="session")
def bomb_png(derived_dir: Path) -> Path:
    """A valid 20000x20000 1-bit PNG of about 60 kB (see ``decompression_bomb_png``)."""
    path = derived_dir / "bomb.png"
    path.write_bytes(decompression_bomb_png())
    return path


@pytest.fixture
def no_rate_limits(settings):
    """Checks unthrottled, for tests about what a check answers rather than how often."""
    settings.CHECKS_RATE_PER_KEY = "off"
    settings.CHECKS_RATE_PER_ORGANISATION = "off"
