"""The dlib backend: HOG face detection and dlib's ResNet face embeddings (as face_recognition).

It uses dlib and the face_recognition_models weight files directly rather than importing
``face_recognition``, because that import loads two models we do not use (the CNN detector and
the 68-point landmarks) and switches Pillow into accepting truncated images process-wide.

Detection is where the time goes (face_recognition's default scans the whole photo enlarged 2x),
so it looks for small faces only where the photo gives reason to:

1. A coarse pass on a greyscale copy shrunk so its longest side is at most ``coarse_side`` px.
   It costs about the same for every photo and finds the faces of portraits, selfies and ordinary
   group photos: anything wider than about 10% of the photo's longest side.
2. Closer looks, on the photo enlarged enough to see smaller faces, only where they could be:
   - no face found at all (a wide shot, or a tiny face in a large frame): the whole frame, down to
     ``min_face_px``;
   - where the coarse pass saw a face-like pattern too weak to accept (a face just below its size
     limit, or a blurry one): a crop around that spot;
   - a crowd (several faces, all near the coarse limit, so more are likely just below it): the
     whole frame, down to ``1/scene_size_ratio`` of the smallest face, repeated while new faces
     turn up.
   A photo whose faces are plainly large gets the coarse pass only. ``small_faces="always"``
   searches every photo down to ``min_face_px`` (as slow as face_recognition's default).

Embeddings are computed at full resolution from faces aligned on dlib's 5 landmarks, exactly as
``face_recognition.face_encodings`` does, so vectors are interchangeable with it.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import dlib
import numpy as np
from PIL import Image

from matching.engine.base import (
    Box,
    FaceEmbedding,
    FaceEngine,
    FaceQuality,
    check_image,
    installed_version,
)
from matching.engine.errors import FaceEngineUnavailable
from matching.lib.verdict_rule import ImpostorCalibration

logger = logging.getLogger(__name__)

SHAPE_PREDICTOR_FILE = "shape_predictor_5_face_landmarks.dat"
ENCODER_FILE = "dlib_face_recognition_resnet_model_v1.dat"

# dlib's frontal face detector slides an 80x80 window over an image pyramid, so at a given scale it
# cannot see a face whose box is narrower than about this many pixels.
_HOG_SMALLEST_FACE = 80
# The coarse pass never enlarges: doubling the scale quadruples the work, and small faces are the
# fine pass's job, which runs only when they could be there.
_COARSE_MAX_SCALE = 1.0
# The fine pass enlarges at most 2x (face_recognition's default "upsample 1"): beyond that the HOG
# features come from interpolated pixels and the detector mostly finds noise.
_FINE_MAX_SCALE = 2.0
# Boxes from the two passes (or overlapping detector windows) that overlap this much are one face.
_SAME_FACE_IOU = 0.4
# dlib's aligned face chip, as face_recognition uses it: 150x150 with 25% padding around the face.
_CHIP_SIZE = 150
_CHIP_PADDING = 0.25

# The coarse pass also reports windows scoring down to -hint_margin: not faces, but worth a
# closer look. A face making such a weak window is usually at least this fraction of its width.
_HINT_SMALLEST_FACE = 0.6
# Windows of the pyramid's finest level or the next (boxes of about 73 and 88 px at 80 px per
# window) are the ones that can be hints; this ratio to the window size separates them.
_HINT_WINDOW_RATIO = 1.25

SmallFaceSearch = Literal["auto", "always", "never"]
_Found = tuple[Box, float]  # a face box and the detector's score for it


def _models_dir() -> Path:
    """Where face_recognition_models keeps its weight files, found without importing it.

    Importing the package runs ``pkg_resources`` (deprecated, and gone from recent setuptools);
    the spec lookup only locates the directory.
    """
    override = os.environ.get("FACE_MODELS_DIR")
    if override:
        return Path(override)
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return Path("face_recognition_models-is-not-installed")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


@dataclass(frozen=True, slots=True)
class _Models:
    detector: Any
    shape_predictor: Any
    encoder: Any


class DlibFaceEngine(FaceEngine):
    """face_recognition's models behind the ``FaceEngine`` interface, with faster detection."""

    name = "dlib_face_recognition_resnet_model_v1"
    dimensions = 128
    # face_recognition's 0.6 (its LFW-calibrated default) sits in the middle of the gap seen on
    # ../shared/faces: same-person pairs reach 0.52, different-person pairs start at 0.70. Pairs
    # up to 0.68 are "possible" and go to a person: above the threshold, below every impostor
    # pair seen. Numbers and plot: docs/accuracy.md, regenerated by bench/accuracy.py.
    threshold = 0.6
    review_threshold = 0.68
    # Impostor distances of this model, for the verdict rule (matching.lib.verdict_rule). The
    # per-pair fit is the normal through the two false-match rates measured on a large public
    # benchmark of real news photos (issue 16): 4.7e-3 at 0.60 and 4.7e-2 at 0.68. It also
    # predicts that benchmark's third point (0.53: 14% of strangers within reach of someone among
    # 600; the model says 18%, its independence assumption overstating it). The fits for the mean
    # of the 2 and 3 nearest templates rescale the corpus's measured narrowing (bench/verdicts.py,
    # "fused_measured") onto that fit. Limits and the check against ../shared/faces:
    # docs/accuracy.md, "Verdicts as the registry grows".
    calibration = ImpostorCalibration(
        mean=0.8252,
        sd=0.0867,
        # Impostor distances to photos of one person correlate strongly (about 0.9 on the
        # corpus), so the mean of several barely narrows: several templates add little evidence.
        fused=((0.8186, 0.0835), (0.8246, 0.0836)),
        source="normal fit through FMR 4.7e-3 at 0.60 and 4.7e-2 at 0.68 (issue 16)",
    )
    # bench/verdicts.py: 2,108 with one photo per person and every probe kind (derived media
    # included), 2,990 with three; rounded down, since the corpus is easier than news photos.
    registry_capacity = 2000

    # Reference (enrollment) photos must meet these; ``FaceQuality.problems`` says which are not.
    enroll_min_face_px = 80
    enroll_min_sharpness = 0.25
    enroll_max_yaw = 30.0

    # Sharpness is var(Laplacian) / (var(Laplacian) + this), measured on the aligned 150 px chip:
    # the value a face must reach to score 0.5. Calibrated on ../shared/faces and blurred copies.
    sharpness_midpoint = 60.0
    # See detect(): how weak a coarse window may be and still be looked at closer, and when a
    # photo counts as a crowd (this many faces, the smallest within scene_size_ratio of the
    # coarse limit), whose frame is then searched for faces down to smallest / scene_size_ratio.
    hint_margin = 0.5
    crowd_faces = 3
    scene_size_ratio = 1.6
    # A face this wide or wider gets full marks for size in the quality score.
    good_face_px = 160
    # Ratio of nose offset to eye distance at 45 degrees of yaw (see ``_estimate_yaw``).
    _yaw_ratio_at_45 = 0.35

    def __init__(
        self,
        *,
        coarse_side: int = 800,
        min_face_px: int = 40,
        small_faces: SmallFaceSearch = "auto",
        model_dir: str | Path | None = None,
    ) -> None:
        if small_faces not in ("auto", "always", "never"):
            raise ValueError(f"small_faces must be auto, always or never, not {small_faces!r}")
        self.coarse_side = coarse_side
        self.min_face_px = min_face_px
        self.small_faces = small_faces
        self.model_dir = Path(model_dir) if model_dir is not None else _models_dir()
        self.version = (
            f"face_recognition_models-{installed_version('face_recognition_models')}"
            f"+dlib-{dlib.__version__}"
        )
        self._models: _Models | None = None
        self._load_lock = threading.Lock()
        # dlib's DNN keeps per-call buffers inside the network object, so two threads must not
        # run it at once; detection and landmarks are read-only and need no lock.
        self._encoder_lock = threading.Lock()

    # -- models ----------------------------------------------------------------------------------

    def load(self) -> None:
        """Load the model files now (workers call this at start; otherwise first use does)."""
        self._loaded_models()

    def _loaded_models(self) -> _Models:
        models = self._models
        if models is not None:
            return models
        with self._load_lock:
            if self._models is None:
                missing = [f for f in (SHAPE_PREDICTOR_FILE, ENCODER_FILE) if not self._has(f)]
                if missing:
                    # The directory goes to the log, never to a caller: no server path leaves.
                    logger.error(
                        "face model files missing dir=%s files=%s", self.model_dir, missing
                    )
                    raise FaceEngineUnavailable(
                        f"Face model files are missing: {', '.join(missing)}.",
                        detail={"missing": missing},
                    )
                try:
                    self._models = _Models(
                        detector=dlib.get_frontal_face_detector(),
                        shape_predictor=dlib.shape_predictor(
                            str(self.model_dir / SHAPE_PREDICTOR_FILE)
                        ),
                        encoder=dlib.face_recognition_model_v1(str(self.model_dir / ENCODER_FILE)),
                    )
                except RuntimeError as exc:  # dlib's error for unreadable/corrupt model files
                    logger.error("face model files unreadable dir=%s error=%s", self.model_dir, exc)
                    raise FaceEngineUnavailable(
                        "The face model files could not be loaded (see the server log)."
                    ) from exc
            return self._models

    def _has(self, filename: str) -> bool:
        return (self.model_dir / filename).is_file()

    def status(self) -> dict[str, Any]:
        files = {
            filename: {"present": self._has(filename)}
            for filename in (SHAPE_PREDICTOR_FILE, ENCODER_FILE)
        }
        return {
            "backend": f"{type(self).__module__}.{type(self).__qualname__}",
            "name": self.name,
            "version": self.version,
            "dimensions": self.dimensions,
            "threshold": self.threshold,
            "review_threshold": self.review_threshold,
            "model_files": files,
            "loaded": self._models is not None,
            "ok": all(entry["present"] for entry in files.values()),
        }

    # -- detection -------------------------------------------------------------------------------

    def detect(self, image: np.ndarray) -> list[Box]:
        check_image(image)
        detector = self._loaded_models().detector
        grey = Image.fromarray(image).convert("L")
        height, width = image.shape[:2]

        coarse_scale = min(_COARSE_MAX_SCALE, self.coarse_side / max(height, width))
        seen = self._scan(detector, grey, coarse_scale, threshold=-self.hint_margin)
        found = [(box, score) for box, score in seen if score >= 0]
        # A face below the coarse limit can only stir the detector's smallest windows; a weak
        # score in a larger window means "not a face", not "too small to tell".
        hint_max_px = _HINT_WINDOW_RATIO * _HOG_SMALLEST_FACE / coarse_scale
        hints = [
            box
            for box, score in seen
            if score < 0
            and box.width <= hint_max_px
            and not _overlaps_any(box, [b for b, _ in found])
        ]

        if self.small_faces == "always" or (self.small_faces == "auto" and not found):
            # Nothing large enough for the coarse pass: a wide shot, a crowd far away, or a small
            # face in a big frame. Only a search of the whole frame can tell.
            found = _merge(found + self._scan(detector, grey, self._scale_to_see(self.min_face_px)))
        elif self.small_faces == "auto":
            found = self._look_closer_at_hints(detector, grey, found, hints)
            found = self._search_crowd(detector, grey, found, coarse_scale)

        return [box for box, _score in sorted(found, key=lambda f: -f[0].area)]

    def _scale_to_see(self, face_px: float) -> float:
        """The scale at which a face ``face_px`` wide fills the detector's window."""
        return min(_FINE_MAX_SCALE, _HOG_SMALLEST_FACE / max(face_px, self.min_face_px))

    def _look_closer_at_hints(
        self, detector: Any, grey: Image.Image, found: list[_Found], hints: list[Box]
    ) -> list[_Found]:
        """Re-examine, enlarged, each spot where the coarse pass saw a face-like but too weak
        pattern: typically a face just below its size limit, or a blurry one."""
        for hint in hints:
            scale = self._scale_to_see(hint.width * _HINT_SMALLEST_FACE)
            region = _around(hint, hint.width, grey.size)
            found = _merge(found + self._scan(detector, grey, scale, region=region))
        return found

    def _search_crowd(
        self, detector: Any, grey: Image.Image, found: list[_Found], scale: float
    ) -> list[_Found]:
        """Several faces all at the edge of what the coarse pass can see: more are probably just
        below it. Search the whole frame for faces down to ``1/scene_size_ratio`` of the
        smallest, and again below any new ones, while new ones keep turning up."""
        while len(found) >= self.crowd_faces:
            smallest = min(box.width for box, _score in found)
            if smallest >= self.scene_size_ratio * _HOG_SMALLEST_FACE / scale:
                break  # the faces are comfortably large: a group photo, not a crowd
            next_scale = self._scale_to_see(smallest / self.scene_size_ratio)
            if next_scale <= scale:
                break
            before = [box for box, _score in found]
            found = _merge(found + self._scan(detector, grey, next_scale))
            scale = next_scale
            if all(_overlaps_any(box, before) for box, _score in found):
                break
        return found

    @staticmethod
    def _scan(
        detector: Any,
        grey: Image.Image,
        scale: float,
        *,
        region: tuple[int, int, int, int] | None = None,
        threshold: float = 0.0,
    ) -> list[_Found]:
        """Run the HOG detector on ``grey`` (or its ``region``: left, top, right, bottom)
        resized by ``scale``; boxes come back in ``grey``'s pixels with the detector's score.

        Greyscale because dlib's HOG on colour computes gradients for each channel and keeps the
        strongest, about 1.5x the work, for the same boxes on photographs.
        """
        full_width, full_height = grey.size
        left, top = (region[0], region[1]) if region else (0, 0)
        part = grey.crop(region) if region else grey
        width, height = part.size
        scaled_size = (max(1, round(width * scale)), max(1, round(height * scale)))
        if scaled_size == part.size:
            pixels = np.asarray(part)
        else:
            pixels = np.asarray(part.resize(scaled_size, Image.Resampling.BILINEAR))
        rects, scores, _kinds = detector.run(pixels, 0, threshold)
        to_x = width / scaled_size[0]
        to_y = height / scaled_size[1]
        boxes = []
        for rect, score in zip(rects, scores, strict=True):
            # dlib's right/bottom are inclusive pixel indices; scale the pixel edges, then go back.
            box = Box(
                top=max(0, top + round(rect.top() * to_y)),
                right=min(full_width, left + round((rect.right() + 1) * to_x) - 1),
                bottom=min(full_height, top + round((rect.bottom() + 1) * to_y) - 1),
                left=max(0, left + round(rect.left() * to_x)),
            )
            if box.width > 0 and box.height > 0:
                boxes.append((box, float(score)))
        return boxes

    # -- embedding -------------------------------------------------------------------------------

    def embed(self, image: np.ndarray, boxes: list[Box]) -> list[FaceEmbedding]:
        check_image(image)
        if not boxes:
            return []
        models = self._loaded_models()
        chips = []
        landmarks = []
        for box in boxes:
            shape = models.shape_predictor(
                image, dlib.rectangle(box.left, box.top, box.right, box.bottom)
            )
            landmarks.append(np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64))
            chips.append(dlib.get_face_chip(image, shape, size=_CHIP_SIZE, padding=_CHIP_PADDING))
        with self._encoder_lock:
            # The same network input face_recognition.face_encodings builds from (image, shape).
            descriptors = models.encoder.compute_face_descriptor(chips)
        return [
            FaceEmbedding(
                box=box,
                vector=np.asarray(descriptor, dtype=np.float32),
                quality=self._quality(box, chip, points),
                model_name=self.name,
                model_version=self.version,
            )
            for box, chip, points, descriptor in zip(
                boxes, chips, landmarks, descriptors, strict=True
            )
        ]

    # -- quality ---------------------------------------------------------------------------------

    def _quality(self, box: Box, chip: np.ndarray, points: np.ndarray) -> FaceQuality:
        size_px = box.width
        sharpness = self._sharpness(chip)
        yaw = self._estimate_yaw(points)

        size_score = min(
            1.0, max(0.0, size_px - self.min_face_px) / (self.good_face_px - self.min_face_px)
        )
        pose_score = max(0.0, 1.0 - abs(yaw) / 60.0)
        # Geometric mean: any one factor near zero makes the face unusable whatever the others.
        score = (size_score * sharpness * pose_score) ** (1.0 / 3.0)

        problems = []
        if size_px < self.enroll_min_face_px:
            problems.append(f"face too small: {size_px} px, need {self.enroll_min_face_px}")
        if sharpness < self.enroll_min_sharpness:
            problems.append(
                f"too blurry: sharpness {sharpness:.2f}, need {self.enroll_min_sharpness:.2f}"
            )
        if abs(yaw) > self.enroll_max_yaw:
            problems.append(
                f"face turned too far: about {abs(yaw):.0f} degrees, "
                f"limit {self.enroll_max_yaw:.0f}"
            )
        return FaceQuality(
            size_px=size_px,
            sharpness=round(sharpness, 4),
            yaw=round(yaw, 1),
            score=round(score, 4),
            problems=problems,
        )

    def _sharpness(self, chip: np.ndarray) -> float:
        """Variance of the Laplacian on the aligned chip's face area, squashed into 0..1.

        The chip has a fixed size, so the value does not depend on how large the face was in the
        photo except through real loss of detail (a tiny face enlarged to 150 px is soft too).
        """
        grey = chip.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        inner = grey[25:-25, 25:-25]  # drop the padding, which is background and hair
        laplacian = (
            inner[:-2, 1:-1]
            + inner[2:, 1:-1]
            + inner[1:-1, :-2]
            + inner[1:-1, 2:]
            - 4.0 * inner[1:-1, 1:-1]
        )
        variance = float(laplacian.var())
        return variance / (variance + self.sharpness_midpoint)

    def _estimate_yaw(self, points: np.ndarray) -> float:
        """Signed head turn in degrees from the 5 landmarks (eye corners and below the nose).

        Turning the head moves the nose sideways relative to the eyes: measured along the eye
        line and divided by the eye distance, the offset grows as tan(yaw) times the nose's depth
        over the eye distance (about 0.35 for adults). Rolling the head does not change it.
        """
        eye_a = points[0:2].mean(axis=0)
        eye_b = points[2:4].mean(axis=0)
        nose = points[4]
        across = eye_a - eye_b
        eye_distance = float(np.linalg.norm(across))
        if eye_distance < 1e-6:
            return 90.0
        offset = float(np.dot(nose - (eye_a + eye_b) / 2, across / eye_distance)) / eye_distance
        return math.degrees(math.atan(offset / self._yaw_ratio_at_45))


def _around(box: Box, margin: int, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """``box`` grown by ``margin`` on every side, clipped to an image of ``size`` (w, h)."""
    width, height = size
    return (
        max(0, box.left - margin),
        max(0, box.top - margin),
        min(width, box.right + margin + 1),
        min(height, box.bottom + margin + 1),
    )


def _overlaps_any(box: Box, others: list[Box]) -> bool:
    return any(box.iou(other) >= _SAME_FACE_IOU for other in others)


def _merge(found: list[_Found]) -> list[_Found]:
    """Keep one box per face: the best-scoring of any group that overlaps by ``_SAME_FACE_IOU``."""
    kept: list[_Found] = []
    for box, score in sorted(found, key=lambda f: -f[1]):
        if not _overlaps_any(box, [other for other, _ in kept]):
            kept.append((box, score))
    return kept
