"""An ONNX Runtime backend for ArcFace-style face recognition models supplied by the operator.

The slot for a stronger model than dlib's ResNet (see docs/engines.md for candidates, their
published accuracy and their licences). Select it with::

    FACE_ENGINE_BACKEND=matching.engine.onnx.OnnxFaceEngine
    FACE_ENGINE_ONNX_MODEL=/path/to/model.onnx

The model file is only ever read from that path, never downloaded. What the engine does:

- **Detection** is the dlib engine's (``DlibFaceEngine.detect``): faces are found the same way
  whichever model embeds them.
- **Alignment**: dlib's 5-point landmarks (``shape_predictor_5_face_landmarks.dat``, shipped with
  face_recognition_models and public domain) give both eye centres and the base of the nose; a
  least-squares similarity transform (Umeyama) maps them onto the standard ArcFace 112x112
  template's eyes and onto where the base of the nose sits in that template, and Pillow warps the
  face into the model's input. dlib's 5 points have no mouth corners (its 68-point model has,
  but may not be used in a commercial product: its training set's licence), and the template
  has the nose tip, not its base. Measured on 56 faces of ../shared/faces against the five
  ArcFace points located with the 68-point model (for the measurement only), the aligned
  points are 3.3 px from the template on average, against 3.0 px when aligning on those five
  points themselves, 3.4 px on the eyes alone and 5.8 px mapping the base of the nose onto the
  tip (docs/engines.md).
- **Input**: RGB, ``(pixel - input_mean) / input_std``, 127.5 and 128 unless the constructor is
  given what the model's authors document for it; NCHW or NHWC, as the model declares.
- **Embedding**: the model's first output, L2-normalised, so distances are between unit vectors.
  ``dimensions`` is the output's length, read from the model.
- **Quality** of each face is judged exactly as the dlib engine judges it (size, sharpness,
  yaw), so reference photos are accepted or refused the same way under either engine.

``name`` is ``onnx-<file stem>-<first 12 hex digits of the file's SHA-256>``: two different
weight files never share a name, so their templates are never compared (``FaceEngine.distance``
refuses to) and enrollment compares a person's photos only with templates of the same model.
Storing templates of a model whose ``dimensions`` is not 128 needs a schema change first; see
docs/engines.md ("Storage").
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dlib
import numpy as np
from PIL import Image

from matching.engine.base import (
    Box,
    FaceEmbedding,
    FaceEngine,
    check_image,
    installed_version,
)
from matching.engine.dlib import SHAPE_PREDICTOR_FILE, DlibFaceEngine
from matching.engine.errors import FaceEngineUnavailable

MODEL_SETTING = "FACE_ENGINE_ONNX_MODEL"

# The five points of the standard ArcFace 112x112 alignment, in the output crop's pixels: the
# eye on the image's left, the other eye, the nose tip, then the mouth corners (left, right).
ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)
# Where dlib's "bottom of the nose" point lands in the template's frame when a face is aligned on
# the template's own five points: the mean over 56 faces of ../shared/faces (standard deviation
# 1.6 px across, 2.1 px down), the five points located with dlib's 68-point model.
DLIB_NOSE_BASE_112 = np.array([55.91, 80.12])
# The targets of dlib's eye centres and nose base (see ``eye_and_nose_points``).
_ALIGNED_TEMPLATE_POINTS = np.vstack([ARCFACE_TEMPLATE_112[:2], DLIB_NOSE_BASE_112])
_TEMPLATE_SIZE = 112
# dlib's quality measures are calibrated on its own 150 px chip with 25% padding (see dlib.py).
_QUALITY_CHIP_SIZE = 150
_QUALITY_CHIP_PADDING = 0.25


def configured_model_path() -> str | None:
    """``FACE_ENGINE_ONNX_MODEL`` from Django settings when they define it, else the environment."""
    try:
        # Imported here so the engine also works without Django (scripts, benchmarks).
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured
    except ImportError:
        return os.environ.get(MODEL_SETTING) or None
    try:
        value = getattr(settings, MODEL_SETTING, None)
    except ImproperlyConfigured:
        value = None
    return value or os.environ.get(MODEL_SETTING) or None


def eye_and_nose_points(landmarks: np.ndarray) -> np.ndarray:
    """dlib's 5 landmarks (corners of the image-right eye, of the image-left eye, base of the
    nose) as three points in the template's order: image-left eye centre, image-right eye
    centre, base of the nose."""
    return np.stack([landmarks[2:4].mean(axis=0), landmarks[0:2].mean(axis=0), landmarks[4]])


def similarity_transform(
    source: np.ndarray, target: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """Scale ``s``, rotation ``R`` and translation ``t`` minimising the squared distances from
    ``s * R @ source + t`` to ``target`` (Umeyama 1991); points are rows of ``(N, 2)`` arrays."""
    source_mean = source.mean(axis=0)
    target_mean = target.mean(axis=0)
    source_centred = source - source_mean
    target_centred = target - target_mean
    covariance = target_centred.T @ source_centred / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    # A reflection would mirror the face; the closest proper rotation is taken instead.
    sign = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rotation = u @ sign @ vt
    variance = (source_centred**2).sum() / len(source)
    scale = float(np.trace(np.diag(singular) @ sign) / variance)
    translation = target_mean - scale * rotation @ source_mean
    return scale, rotation, translation


def warp_face(image: np.ndarray, landmarks: np.ndarray, size: int) -> np.ndarray:
    """The ``size`` x ``size`` RGB crop aligned to the ArcFace template (scaled from 112 px)."""
    target = _ALIGNED_TEMPLATE_POINTS * (size / _TEMPLATE_SIZE)
    scale, rotation, translation = similarity_transform(eye_and_nose_points(landmarks), target)
    # Pillow asks, for each output pixel, where to sample the input, in coordinates where a
    # pixel's centre is at +0.5; the landmarks and the template put it at the integer.
    inverse = rotation.T / scale
    offset = inverse @ (-0.5 - translation) + 0.5
    coefficients = (
        inverse[0, 0],
        inverse[0, 1],
        offset[0],
        inverse[1, 0],
        inverse[1, 1],
        offset[1],
    )
    warped = Image.fromarray(image).transform(
        (size, size),
        Image.Transform.AFFINE,
        coefficients,
        resample=Image.Resampling.BILINEAR,
    )
    return np.asarray(warped)


@dataclass(frozen=True, slots=True)
class _Model:
    session: Any
    input_name: str
    channels_first: bool
    input_size: int
    fixed_batch: bool
    dimensions: int
    name: str
    version: str
    shape_predictor: Any


class OnnxFaceEngine(FaceEngine):
    """An ArcFace-style ONNX model, with dlib's detection and landmarks."""

    # Euclidean distances between unit vectors: d = sqrt(2 - 2 cos), so 1.10 is a cosine
    # similarity of 0.395 and 1.20 one of 0.28. These are starting points in the range used for
    # ArcFace-style models, NOT calibrated on this registry's faces: measure genuine and impostor
    # distances for the model in use (as docs/accuracy.md does for dlib) and set them, through
    # the constructor or a subclass named in FACE_ENGINE_BACKEND, before relying on verdicts.
    threshold = 1.10
    review_threshold = 1.20

    def __init__(
        self,
        *,
        model_path: str | Path | None = None,
        input_mean: float = 127.5,
        input_std: float = 128.0,
        threshold: float | None = None,
        review_threshold: float | None = None,
        detector: DlibFaceEngine | None = None,
    ) -> None:
        configured = model_path if model_path is not None else configured_model_path()
        self.model_path = Path(configured) if configured else None
        self.input_mean = float(input_mean)
        self.input_std = float(input_std)
        if threshold is not None:
            self.threshold = threshold
        if review_threshold is not None:
            self.review_threshold = review_threshold
        if self.review_threshold < self.threshold:
            raise ValueError("review_threshold must not be below threshold")
        self.detector = detector or DlibFaceEngine()
        self._model: _Model | None = None
        self._load_lock = threading.Lock()

    # -- identity, from the model file ------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._loaded().name

    @property
    def version(self) -> str:
        return self._loaded().version

    @property
    def dimensions(self) -> int:
        return self._loaded().dimensions

    # -- model --------------------------------------------------------------------------------

    def load(self) -> None:
        """Load the model now (workers call this at start; otherwise first use does)."""
        self._loaded()

    def _loaded(self) -> _Model:
        model = self._model
        if model is not None:
            return model
        with self._load_lock:
            if self._model is None:
                self._model = self._load_model()
            return self._model

    def _load_model(self) -> _Model:
        if self.model_path is None:
            raise FaceEngineUnavailable(
                f"No ONNX face model configured: set {MODEL_SETTING} to the model file's path.",
                detail={"setting": MODEL_SETTING},
            )
        try:
            # Imported here, not at the top: onnxruntime is needed only when this engine is
            # chosen, and its absence must be reported as an unavailable engine, not a crash.
            import onnxruntime
        except ImportError:
            raise FaceEngineUnavailable(
                "onnxruntime is not installed; install the version pinned in requirements.txt.",
                detail={"missing": ["onnxruntime"]},
            ) from None
        try:
            data = self.model_path.read_bytes()
        except OSError as error:
            raise FaceEngineUnavailable(
                f"The ONNX face model {self.model_path.name} cannot be read: "
                f"{error.strerror or 'unreadable'}.",
                detail={"model_file": self.model_path.name},
            ) from None
        landmarks_file = self.detector.model_dir / SHAPE_PREDICTOR_FILE
        if not landmarks_file.is_file():
            raise FaceEngineUnavailable(
                f"Face model files are missing: {SHAPE_PREDICTOR_FILE}.",
                detail={"missing": [SHAPE_PREDICTOR_FILE]},
            )
        try:
            session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
        # onnxruntime's errors (InvalidProtobuf, InvalidGraph, Fail...) derive from Exception only.
        except Exception as error:  # noqa: BLE001
            raise FaceEngineUnavailable(
                f"The ONNX face model {self.model_path.name} could not be loaded: {error}",
                detail={"model_file": self.model_path.name},
            ) from None
        digest = hashlib.sha256(data).hexdigest()
        model_input = session.get_inputs()[0]
        channels_first, input_size = _input_layout(model_input.shape, self.model_path)
        fixed_batch = isinstance(model_input.shape[0], int)
        dimensions = _output_dimensions(session, model_input.name, channels_first, input_size)
        return _Model(
            session=session,
            input_name=model_input.name,
            channels_first=channels_first,
            input_size=input_size,
            fixed_batch=fixed_batch,
            dimensions=dimensions,
            name=f"onnx-{self.model_path.stem[:60]}-{digest[:12]}",
            version=(
                f"sha256:{digest[:16]}+onnxruntime-{onnxruntime.__version__}"
                f"+dlib-{dlib.__version__}"
            ),
            shape_predictor=dlib.shape_predictor(str(landmarks_file)),
        )

    def status(self) -> dict[str, Any]:
        model = self._model
        model_present = self.model_path is not None and self.model_path.is_file()
        runtime_installed = importlib.util.find_spec("onnxruntime") is not None
        detector = self.detector.status()
        return {
            "backend": f"{type(self).__module__}.{type(self).__qualname__}",
            "name": model.name if model else None,
            "version": model.version if model else None,
            "dimensions": model.dimensions if model else None,
            "threshold": self.threshold,
            "review_threshold": self.review_threshold,
            # The file's name only: /healthz is public and shows no server path.
            "model_file": self.model_path.name if self.model_path else None,
            "model_files": {
                **detector["model_files"],
                "onnx": {"present": model_present},
            },
            "onnxruntime": installed_version("onnxruntime") if runtime_installed else None,
            "loaded": model is not None,
            "ok": model_present and runtime_installed and detector["ok"],
        }

    # -- detection and embedding ----------------------------------------------------------------

    def detect(self, image: np.ndarray) -> list[Box]:
        return self.detector.detect(image)

    def embed(self, image: np.ndarray, boxes: list[Box]) -> list[FaceEmbedding]:
        check_image(image)
        if not boxes:
            return []
        model = self._loaded()
        crops, qualities = [], []
        for box in boxes:
            shape, landmarks = _landmarks(model, image, box)
            crops.append(warp_face(image, landmarks, model.input_size))
            quality_chip = dlib.get_face_chip(
                image, shape, size=_QUALITY_CHIP_SIZE, padding=_QUALITY_CHIP_PADDING
            )
            # The dlib engine's own measure on its own chip and landmarks (private there; see
            # the module docstring for why both engines must judge reference photos alike).
            qualities.append(self.detector._quality(box, quality_chip, landmarks))
        vectors = self._embed_crops(model, np.stack(crops))
        return [
            FaceEmbedding(
                box=box,
                vector=vector,
                quality=quality,
                model_name=model.name,
                model_version=model.version,
            )
            for box, vector, quality in zip(boxes, vectors, qualities, strict=True)
        ]

    def aligned_crops(self, image: np.ndarray, boxes: list[Box]) -> list[np.ndarray]:
        """The model's input crops for ``boxes`` (RGB uint8), for inspection and tests."""
        check_image(image)
        model = self._loaded()
        return [
            warp_face(image, _landmarks(model, image, box)[1], model.input_size) for box in boxes
        ]

    def _embed_crops(self, model: _Model, crops: np.ndarray) -> np.ndarray:
        batch = (crops.astype(np.float32) - self.input_mean) / self.input_std
        if model.channels_first:
            batch = batch.transpose(0, 3, 1, 2)
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if model.fixed_batch:  # exported for one face at a time
            outputs = [
                model.session.run(None, {model.input_name: batch[i : i + 1]})[0]
                for i in range(len(batch))
            ]
            raw = np.concatenate([o.reshape(1, -1) for o in outputs])
        else:
            raw = model.session.run(None, {model.input_name: batch})[0].reshape(len(batch), -1)
        raw = raw.astype(np.float64)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        # A zero vector has no direction to compare; it stays zero, far from every unit vector.
        unit = np.divide(raw, norms, out=np.zeros_like(raw), where=norms > 0)
        return unit.astype(np.float32)


def _landmarks(model: _Model, image: np.ndarray, box: Box) -> tuple[Any, np.ndarray]:
    """dlib's 5-point shape for the face in ``box``, and its points as a ``(5, 2)`` array."""
    shape = model.shape_predictor(image, dlib.rectangle(box.left, box.top, box.right, box.bottom))
    return shape, np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def _input_layout(shape: list[Any], path: Path) -> tuple[bool, int]:
    """(channels first?, square input size) from a model input shape such as
    ``[1, 3, 112, 112]`` or ``["N", 112, 112, 3]``; 112 where the size is left open."""
    if len(shape) != 4 or not (shape[1] == 3 or shape[3] == 3):
        raise FaceEngineUnavailable(
            f"The ONNX face model {path.name} takes input of shape {shape}; an image batch "
            "(N, 3, H, W) or (N, H, W, 3) is needed.",
            detail={"model_file": path.name, "input_shape": [str(s) for s in shape]},
        )
    channels_first = shape[1] == 3
    height, width = (shape[2], shape[3]) if channels_first else (shape[1], shape[2])
    sizes = {s for s in (height, width) if isinstance(s, int)}
    if len(sizes) > 1:
        raise FaceEngineUnavailable(
            f"The ONNX face model {path.name} takes {width}x{height} input; a square input is "
            "needed.",
            detail={"model_file": path.name},
        )
    return channels_first, sizes.pop() if sizes else _TEMPLATE_SIZE


def _output_dimensions(session: Any, input_name: str, channels_first: bool, size: int) -> int:
    declared = session.get_outputs()[0].shape
    if declared and isinstance(declared[-1], int):
        return declared[-1]
    # The output's length is left symbolic: one blank face tells it.
    blank = np.zeros((1, 3, size, size) if channels_first else (1, size, size, 3), np.float32)
    return int(np.asarray(session.run(None, {input_name: blank})[0]).reshape(1, -1).shape[1])
