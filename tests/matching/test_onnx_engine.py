"""The ONNX engine's plumbing, with a small ONNX graph built here (no model is downloaded).

The graph (average-pool 4x4, flatten, multiply by a fixed random matrix) recognises no one; the
tests check what the engine does around any model: faces found, crops aligned to the ArcFace
template, unit vectors of the model's length, the model named by its file, clear errors.
"""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from matching.engine.dlib import DlibFaceEngine
from matching.engine.errors import FaceEngineUnavailable
from matching.engine.onnx import (
    ARCFACE_TEMPLATE_112,
    OnnxFaceEngine,
    similarity_transform,
    warp_face,
)
from tests.matching.conftest import read_rgb

REPO_ROOT = Path(__file__).resolve().parents[2]


def build_model(path: Path, *, dimensions: int = 512, batch: int | str = 1, seed: int = 0) -> Path:
    """An ONNX file mapping a (batch, 3, 112, 112) image to a ``dimensions`` vector."""
    weights = np.random.default_rng(seed).standard_normal((3 * 28 * 28, dimensions))
    output_length: int | str = dimensions if isinstance(batch, int) else "D"
    graph = helper.make_graph(
        [
            helper.make_node(
                "AveragePool", ["input"], ["pooled"], kernel_shape=[4, 4], strides=[4, 4]
            ),
            helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "weights"], ["embedding"]),
        ],
        "tiny_face_embedder",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, 112, 112])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [batch, output_length])],
        [numpy_helper.from_array(weights.astype(np.float32), "weights")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9  # readable by the pinned onnxruntime
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    return build_model(tmp_path_factory.mktemp("onnx") / "tiny.onnx")


@pytest.fixture(scope="module")
def onnx_engine(model_file: Path) -> OnnxFaceEngine:
    return OnnxFaceEngine(model_path=model_file)


def test_a_photo_gives_one_aligned_face_and_a_unit_vector_of_the_model_length(
    onnx_engine, faces: Path
):
    image = read_rgb(faces / "people/obama/obama.jpg")

    (face,) = onnx_engine.analyse(image)
    (crop,) = onnx_engine.aligned_crops(image, [face.box])

    assert onnx_engine.dimensions == 512
    assert face.vector.shape == (512,) and face.vector.dtype == np.float32
    assert math.isclose(float(np.linalg.norm(face.vector)), 1.0, rel_tol=1e-5)
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    assert not face.quality.problems


def test_the_same_photo_twice_is_the_same_vector_and_two_people_are_not(onnx_engine, faces: Path):
    obama = read_rgb(faces / "people/obama/obama.jpg")
    biden = read_rgb(faces / "people/biden/biden.jpg")

    (first,) = onnx_engine.analyse(obama)
    (again,) = onnx_engine.analyse(obama)
    (other,) = onnx_engine.analyse(biden)

    assert onnx_engine.distance(first, again) < 1e-6
    assert onnx_engine.distance(first, other) > 0.01


def test_embeddings_record_the_model_file_they_came_from(
    onnx_engine, model_file: Path, faces: Path, tmp_path: Path
):
    digest = hashlib.sha256(model_file.read_bytes()).hexdigest()
    (face,) = onnx_engine.analyse(read_rgb(faces / "people/biden/biden.jpg"))

    assert face.model_name == onnx_engine.name == f"onnx-tiny-{digest[:12]}"
    assert digest[:16] in face.model_version and "onnxruntime-" in face.model_version

    other_weights = OnnxFaceEngine(model_path=build_model(tmp_path / "tiny.onnx", seed=1))
    assert other_weights.name != onnx_engine.name  # same file name, different weights


def test_vectors_of_another_model_are_never_compared(onnx_engine, faces: Path):
    image = read_rgb(faces / "people/obama/obama.jpg")
    (onnx_face,) = onnx_engine.analyse(image)
    (dlib_face,) = DlibFaceEngine().analyse(image)
    with pytest.raises(ValueError, match="different models"):
        onnx_engine.distance(onnx_face, dlib_face)


def test_quality_is_judged_as_the_dlib_engine_judges_it(onnx_engine, faces: Path):
    image = read_rgb(faces / "people/kit_harington/kit1.jpg")
    (onnx_face,) = onnx_engine.analyse(image)
    (dlib_face,) = DlibFaceEngine().analyse(image)
    assert onnx_face.quality == dlib_face.quality


def test_a_model_taking_any_batch_embeds_every_face_of_a_group_photo_at_once(
    faces: Path, tmp_path: Path
):
    engine = OnnxFaceEngine(
        model_path=build_model(tmp_path / "any.onnx", dimensions=256, batch="N")
    )
    found = engine.analyse(read_rgb(faces / "group/two_people.jpg"))

    assert engine.dimensions == 256  # read by running the model: its output length is symbolic
    assert len(found) == 2
    assert all(math.isclose(float(np.linalg.norm(f.vector)), 1.0, rel_tol=1e-5) for f in found)
    assert engine.distance(found[0], found[1]) > 0.01


def test_the_similarity_transform_recovers_a_known_one():
    angle = math.radians(12)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    source = ARCFACE_TEMPLATE_112 * 3.0 + [200.0, 90.0]
    target = (1.7 * rotation @ source.T).T + np.array([-40.0, 15.0])

    scale, found_rotation, translation = similarity_transform(source, target)

    assert scale == pytest.approx(1.7)
    np.testing.assert_allclose(found_rotation, rotation, atol=1e-9)
    np.testing.assert_allclose(translation, [-40.0, 15.0], atol=1e-6)


def test_the_warp_puts_the_eyes_where_the_arcface_template_has_them():
    # dlib's 5 points for a tilted face 3x the template's size: eye corners 8 px either side of
    # each eye centre, then the base of the nose.
    angle = math.radians(-20)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    left_eye, right_eye = (
        3.0 * rotation @ ARCFACE_TEMPLATE_112[i] + [150.0, 120.0] for i in (0, 1)
    )
    nose_base = 3.0 * rotation @ np.array([55.91, 80.12]) + [150.0, 120.0]
    along = (right_eye - left_eye) / np.linalg.norm(right_eye - left_eye) * 8
    landmarks = np.array(
        [right_eye + along, right_eye - along, left_eye - along, left_eye + along, nose_base]
    )
    image = np.zeros((600, 600, 3), np.uint8)
    for x, y in (left_eye, right_eye):
        image[round(y) - 3 : round(y) + 4, round(x) - 3 : round(x) + 4] = 255

    crop = warp_face(image, landmarks, 112).astype(float)[..., 0]

    for expected in ARCFACE_TEMPLATE_112[:2]:
        x, y = (round(v) for v in expected)
        window = crop[y - 4 : y + 5, x - 4 : x + 5]
        rows, cols = np.indices(window.shape)
        centre = (
            (cols * window).sum() / window.sum() + x - 4,
            (rows * window).sum() / window.sum() + y - 4,
        )
        assert np.hypot(*(np.array(centre) - expected)) < 0.6


def test_a_missing_model_file_is_a_clear_error_and_status_says_so(tmp_path: Path):
    engine = OnnxFaceEngine(model_path=tmp_path / "absent.onnx")
    status = engine.status()
    assert status["ok"] is False and status["loaded"] is False
    assert status["model_files"]["onnx"] == {"present": False}
    with pytest.raises(FaceEngineUnavailable) as caught:
        engine.load()
    assert caught.value.status_code == 503
    assert "absent.onnx" in caught.value.message and "cannot be read" in caught.value.message


def test_no_configured_model_names_the_setting(monkeypatch):
    monkeypatch.delenv("FACE_ENGINE_ONNX_MODEL", raising=False)
    with pytest.raises(FaceEngineUnavailable, match="FACE_ENGINE_ONNX_MODEL"):
        OnnxFaceEngine().load()


def test_a_file_that_is_not_a_model_is_a_clear_error(tmp_path: Path):
    bogus = tmp_path / "model.onnx"
    bogus.write_bytes(b"this is not a protobuf")
    with pytest.raises(FaceEngineUnavailable, match="could not be loaded"):
        OnnxFaceEngine(model_path=bogus).load()


def test_without_onnxruntime_the_engine_is_unavailable_not_crashed(model_file, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes "import onnxruntime" fail
    with pytest.raises(FaceEngineUnavailable, match="onnxruntime is not installed"):
        OnnxFaceEngine(model_path=model_file).load()


def _run_python(code: str, **env: str) -> str:
    """Run ``code`` in a fresh interpreter: Django settings can only be configured once."""
    clean_env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DJANGO_SETTINGS_MODULE", "FACE_ENGINE_ONNX_MODEL")
    }
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO_ROOT,
        env={**clean_env, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.strip()


def test_the_backend_setting_selects_the_onnx_engine_and_its_model(model_file: Path):
    out = _run_python(
        f"""
        from django.conf import settings
        settings.configure(
            FACE_ENGINE_BACKEND="matching.engine.onnx.OnnxFaceEngine",
            FACE_ENGINE_ONNX_MODEL={str(model_file)!r},
        )
        from matching.engine import get_engine
        engine = get_engine()
        print(type(engine).__name__, engine.dimensions, engine.name.startswith("onnx-tiny-"))
        """
    )
    assert out == "OnnxFaceEngine 512 True"


def test_the_model_path_can_come_from_the_environment(model_file: Path):
    out = _run_python(
        """
        from django.conf import settings
        settings.configure(FACE_ENGINE_BACKEND="matching.engine.onnx.OnnxFaceEngine")
        from matching.engine import get_engine
        print(get_engine().status()["model_file"], get_engine().dimensions)
        """,
        FACE_ENGINE_ONNX_MODEL=str(model_file),
    )
    # The status names the file it read (its name only: /healthz shows no server path).
    assert out == f"{model_file.name} 512"
