"""Media to faces: what a check decides over, from an image or from a platform's embeddings.

``FaceObservation`` is one face to decide (its box, its embedding or embeddings, for video its
time span). ``image_faces`` decodes an image and runs the face engine on it; ``embeddings_faces``
validates embeddings a platform computed itself with the same model; ``embeddings_digest`` is
their receipt hash. The intended use every check names is validated by consent's
``consent.lib.uses.category_check``, the one validator for use categories.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings

# ``decide`` (outside this change) still imports the use-category check from here; it is
from matching.engine import get_engine
from matching.lib.imaging import decode_image_scaled
from registry.lib.errors import ValidationFailed

MAX_EMBEDDINGS = 100
# Box coordinates are pixels of the platform's frame; anything beyond this is not a frame.
MAX_BOX_COORDINATE = 100_000


@dataclass(slots=True)
class FaceObservation:
    """One face to decide: its box and embedding(s), and for video its time span.

    ``vector`` is one raw engine embedding ``(128,)`` or several of the same face ``(k, 128)``
    (a video track); the face's distance to a person is the smallest over all of them.
    """

    box: list[int]
    vector: np.ndarray
    # The face's width in pixels and the engine's quality score, when the registry saw the face
    # itself (not for a platform's own embeddings): a small or poor face is never blocked on.
    face_px: int | None = None
    quality: float | None = None
    start_s: float | None = None
    end_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def image_faces(*, data: bytes) -> list[FaceObservation]:
    """Decode (type and pixel checks first) and analyse an image: one observation per face.

    A large image is analysed shrunk; its boxes are given in the pixels of the image as sent.
    """
    image = decode_image_scaled(data, max_pixels=settings.MAX_IMAGE_PIXELS)
    return [
        FaceObservation(
            box=[round(value * image.scale) for value in face.box.as_list()],
            vector=face.vector,
            # The face's size where it was embedded (a shrunk copy of a large image): that is
            # what makes its embedding reliable or noisy.
            face_px=int(face.quality.size_px),
            quality=float(face.quality.score),
        )
        for face in get_engine().analyse(image.pixels)
    ]


def _is_box(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 4
        and all(
            isinstance(v, int) and not isinstance(v, bool) and abs(v) <= MAX_BOX_COORDINATE
            for v in value
        )
    )


def _is_number_list(value: Any) -> bool:
    # Booleans and numeric strings would convert silently ("0.5" -> 0.5, True -> 1.0): refuse.
    return isinstance(value, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    )


def embeddings_faces(*, embeddings: Any, boxes: Any) -> list[FaceObservation]:
    """One observation per embedding (a list of ``engine.dimensions`` finite numbers each), with
    the optional ``[top, right, bottom, left]`` box sent for it."""
    engine = get_engine()
    if not isinstance(embeddings, list) or not embeddings:
        raise ValidationFailed(
            "embeddings: send a list of at least one embedding.", detail={"embeddings": "required"}
        )
    if len(embeddings) > MAX_EMBEDDINGS:
        raise ValidationFailed(
            f"embeddings: at most {MAX_EMBEDDINGS} per check.",
            detail={"embeddings": len(embeddings), "max": MAX_EMBEDDINGS},
        )
    array = None
    if all(_is_number_list(embedding) for embedding in embeddings):
        try:
            # Compared as float32, as stored: a value that overflows float32 (3.5e38) is not
            # finite there, whatever it was as a float64.
            with np.errstate(over="ignore"):
                array = np.asarray(embeddings, dtype=np.float64).astype(np.float32)
        except (TypeError, ValueError, OverflowError):
            array = None
    if (
        array is None
        or array.ndim != 2
        or array.shape[1] != engine.dimensions
        or not np.isfinite(array).all()
    ):
        raise ValidationFailed(
            f"embeddings: each must be {engine.dimensions} finite numbers from {engine.name}.",
            detail={"dimensions": engine.dimensions, "model": engine.name},
        )
    if boxes is not None and (
        not isinstance(boxes, list)
        or len(boxes) != len(embeddings)
        or not all(_is_box(box) for box in boxes)
    ):
        raise ValidationFailed(
            "boxes: send one [top, right, bottom, left] box of 4 integers (pixels, at most "
            f"{MAX_BOX_COORDINATE}) per embedding, or none.",
            detail={"boxes": "one per embedding"},
        )
    return [
        FaceObservation(box=list(boxes[i]) if boxes else [], vector=array[i])
        for i in range(len(array))
    ]


def embeddings_digest(faces: list[FaceObservation]) -> str:
    """SHA-256 over the embeddings as little-endian float32, in order: the receipt's media hash."""
    digest = hashlib.sha256()
    for face in faces:
        digest.update(np.asarray(face.vector, dtype="<f4").tobytes())
    return digest.hexdigest()
