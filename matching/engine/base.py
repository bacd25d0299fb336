"""The face engine interface: what every detection/embedding backend provides.

Services (matching, enrollment) talk to a ``FaceEngine`` only, so a backend can be swapped by
changing the ``FACE_ENGINE_BACKEND`` dotted path. Images are ``(H, W, 3)`` ``uint8`` RGB arrays as
returned by ``matching.lib.imaging.decode_image``; boxes are in that array's pixel coordinates.
Thresholds live with the backend because they only mean something for its model, and so does
the calibration of its impostor distances (``calibration``), which lets the verdict rule
(``matching.lib.verdict_rule``) tighten the thresholds as the number of candidates grows.
"""

from __future__ import annotations

import importlib.metadata
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from matching.lib.verdict_rule import FaceVerdict, ImpostorCalibration, RuleSettings, decide

MatchClass = Literal["match", "possible", "none"]


@dataclass(frozen=True, slots=True)
class Box:
    """A face rectangle in image pixels, in face_recognition's (top, right, bottom, left) order."""

    top: int
    right: int
    bottom: int
    left: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return max(self.width, 0) * max(self.height, 0)

    def as_list(self) -> list[int]:
        return [self.top, self.right, self.bottom, self.left]

    @classmethod
    def from_list(cls, values: list[int] | tuple[int, int, int, int]) -> Box:
        top, right, bottom, left = (int(v) for v in values)
        return cls(top=top, right=right, bottom=bottom, left=left)

    def iou(self, other: Box) -> float:
        """Intersection over union, 0 (disjoint) to 1 (identical)."""
        inter = Box(
            top=max(self.top, other.top),
            right=min(self.right, other.right),
            bottom=min(self.bottom, other.bottom),
            left=max(self.left, other.left),
        )
        if inter.width <= 0 or inter.height <= 0:
            return 0.0
        union = self.area + other.area - inter.area
        return inter.area / union if union else 0.0


@dataclass(frozen=True, slots=True)
class FaceQuality:
    """How usable a face is, with reasons a person can act on.

    ``size_px`` is the box width, ``sharpness`` 0 (smeared) to 1 (crisp), ``yaw`` an estimate in
    degrees of how far the head is turned sideways (sign says which way), ``score`` the three
    combined into 0..1. ``problems`` is judged against the backend's enrollment thresholds, so an
    empty list means "good enough as a reference photo".
    """

    size_px: int
    sharpness: float
    yaw: float
    score: float
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "size_px": self.size_px,
            "sharpness": round(self.sharpness, 3),
            "yaw": round(self.yaw, 1),
            "score": round(self.score, 3),
            "problems": list(self.problems),
        }


@dataclass(frozen=True, eq=False, slots=True)
class FaceEmbedding:
    """One face: where it is, its vector and the model that produced the vector.

    Vectors from different models (or model versions) are not comparable, which is why every
    embedding carries ``model_name`` and ``model_version`` and they are stored with it.
    """

    box: Box
    vector: np.ndarray
    quality: FaceQuality
    model_name: str
    model_version: str

    def __post_init__(self) -> None:
        if self.vector.dtype != np.float32 or self.vector.ndim != 1:
            raise ValueError(
                f"an embedding vector must be 1-D float32, got {self.vector.dtype} "
                f"with shape {self.vector.shape}"
            )


class FaceEngine(ABC):
    """A face detector plus embedder, with the distance thresholds that belong to its model.

    Distances are Euclidean between embeddings; smaller means more alike. A pair is a "match"
    when ``distance <= threshold``, "possible" (worth a human look) when it falls in
    ``(threshold, review_threshold]``, otherwise "none".

    ``calibration`` says how often a stranger's face falls within a distance of a template
    (``ImpostorCalibration``). A backend that has not been calibrated leaves it None: it then
    has only its fixed thresholds (``classify``), whose false blocks grow with the registry, and
    no registry capacity can be stated for it.
    """

    name: str
    version: str
    dimensions: int
    threshold: float
    review_threshold: float
    calibration: ImpostorCalibration | None = None
    # Opted-out people up to which the verdict rule keeps strangers' expected false blocks under
    # its target while still blocking most genuine photos (measured by bench/verdicts.py with
    # ``verdict_rule.registry_capacity``); None when not measured for this model.
    registry_capacity: int | None = None

    @abstractmethod
    def detect(self, image: np.ndarray) -> list[Box]:
        """Find faces; boxes are in ``image`` coordinates, largest first."""

    @abstractmethod
    def embed(self, image: np.ndarray, boxes: list[Box]) -> list[FaceEmbedding]:
        """One embedding (with quality) per box, in the order given."""

    @abstractmethod
    def status(self) -> dict[str, Any]:
        """A health summary without loading anything: model files present/loaded, name, version."""

    def analyse(self, image: np.ndarray) -> list[FaceEmbedding]:
        """Detect, then embed every face found."""
        return self.embed(image, self.detect(image))

    def distance(self, a: FaceEmbedding | np.ndarray, b: FaceEmbedding | np.ndarray) -> float:
        if isinstance(a, FaceEmbedding) and isinstance(b, FaceEmbedding):
            self._check_same_model(a, b)
        return float(np.linalg.norm(self._as_vector(a) - self._as_vector(b)))

    def distances(self, probe: FaceEmbedding | np.ndarray, gallery: np.ndarray) -> np.ndarray:
        """Distances from one probe to each row of an ``(N, dimensions)`` gallery, at once."""
        gallery = np.asarray(gallery, dtype=np.float64).reshape(-1, self.dimensions)
        return np.linalg.norm(gallery - self._as_vector(probe), axis=1)

    def classify(self, distance: float) -> MatchClass:
        if distance <= self.threshold:
            return "match"
        if distance <= self.review_threshold:
            return "possible"
        return "none"

    def verdict_settings(self, **overrides: Any) -> RuleSettings:
        """The verdict rule's policy, bounded by this backend's thresholds."""
        return RuleSettings(
            max_block_distance=self.threshold,
            max_review_distance=self.review_threshold,
            **overrides,
        )

    def decide(
        self,
        distances: dict[Any, list[float]],
        *,
        candidates: int,
        face_px: int | None = None,
        face_quality: float | None = None,
    ) -> FaceVerdict:
        """The verdict for one probe face: ``distances`` maps each returned person to the
        distances of their templates, ``candidates`` is how many people the check searched.

        With a calibration this is ``matching.lib.verdict_rule.decide``; without one, the fixed
        thresholds applied to the nearest template (the behaviour before the rule existed).
        """
        if self.calibration is not None:
            return decide(
                distances,
                candidates=candidates,
                calibration=self.calibration,
                face_px=face_px,
                face_quality=face_quality,
                settings=self.verdict_settings(),
            )
        nearest = {pid: min(ds) for pid, ds in distances.items() if len(ds)}
        if not nearest:
            return FaceVerdict(None, "none", {})
        person_id = min(nearest, key=nearest.__getitem__)
        match = self.classify(nearest[person_id])
        evidence = {"distance": round(nearest[person_id], 4), "calibrated": False}
        return FaceVerdict(None if match == "none" else person_id, match, evidence)

    def _as_vector(self, value: FaceEmbedding | np.ndarray) -> np.ndarray:
        vector = value.vector if isinstance(value, FaceEmbedding) else value
        vector = np.asarray(vector, dtype=np.float64)
        if vector.shape != (self.dimensions,):
            raise ValueError(
                f"expected a vector of {self.dimensions} numbers, got shape {vector.shape}"
            )
        return vector

    @staticmethod
    def _check_same_model(a: FaceEmbedding, b: FaceEmbedding) -> None:
        # Only the name is compared: the version also records library versions (useful to decide
        # what to re-embed) that do not change the network's weights.
        if a.model_name != b.model_name:
            raise ValueError(
                "embeddings from different models cannot be compared: "
                f"{a.model_name} vs {b.model_name}"
            )


def check_image(image: np.ndarray) -> None:
    """Reject arrays the engines cannot use; a programming error, not a user's."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise TypeError("the image must be a numpy uint8 array (use decode_image)")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"the image must be RGB with shape (H, W, 3), got {image.shape}")


def installed_version(name: str) -> str:
    """The installed version of distribution ``name``, or ``"unknown"``: part of an engine's
    model version, so templates record the library that computed them."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
