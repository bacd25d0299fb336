"""get_engine() picks the backend from settings, once per process, and reports its health."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from matching import engine as engine_module
from matching.engine import DEFAULT_BACKEND, get_engine, load_backend, reset_engine
from matching.engine.dlib import DlibFaceEngine
from matching.engine.errors import FaceEngineUnavailable

REPO_ROOT = Path(__file__).resolve().parents[2]


class ThoroughDlibEngine(DlibFaceEngine):
    """A backend named by its dotted path in the settings test below."""

    def __init__(self) -> None:
        super().__init__(small_faces="always")


def _run_python(code: str, **env: str) -> str:
    """Run ``code`` in a fresh interpreter: Django settings can only be configured once."""
    clean_env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
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


def test_without_django_settings_the_dlib_backend_is_used():
    out = _run_python(
        """
        from matching.engine import get_engine
        print(type(get_engine()).__name__)
        """
    )
    assert out == "DlibFaceEngine"


def test_the_face_engine_backend_setting_chooses_the_class():
    out = _run_python(
        """
        from django.conf import settings
        settings.configure(
            FACE_ENGINE_BACKEND="tests.matching.test_engine_selection.ThoroughDlibEngine"
        )
        from matching.engine import get_engine
        engine = get_engine()
        print(type(engine).__name__, engine.small_faces)
        """
    )
    assert out == "ThoroughDlibEngine always"


def test_one_engine_per_process_even_when_threads_race_for_it(monkeypatch):
    monkeypatch.setattr(engine_module, "_engine", None)
    got = []
    barrier = threading.Barrier(8)

    def fetch():
        barrier.wait()
        got.append(get_engine())

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(got) == 8
    assert all(engine is got[0] for engine in got)
    reset_engine()
    assert get_engine() is not got[0]


def test_creating_the_engine_does_not_load_models():
    engine = DlibFaceEngine()
    status = engine.status()
    assert status["loaded"] is False
    assert status["ok"] is True
    assert status["name"] == "dlib_face_recognition_resnet_model_v1"
    assert set(status["model_files"]) == {
        "shape_predictor_5_face_landmarks.dat",
        "dlib_face_recognition_resnet_model_v1.dat",
    }
    engine.load()
    assert engine.status()["loaded"] is True


def test_missing_model_files_are_reported_not_crashed_on(tmp_path):
    engine = DlibFaceEngine(model_dir=tmp_path)
    assert engine.status()["ok"] is False
    with pytest.raises(FaceEngineUnavailable) as caught:
        engine.load()
    assert caught.value.status_code == 503
    assert "shape_predictor_5_face_landmarks.dat" in caught.value.message
    # The missing directory is for the server log, never for the caller.
    assert str(tmp_path) not in caught.value.message and str(tmp_path) not in str(engine.status())


def test_a_dotted_path_to_something_else_is_refused():
    assert load_backend(DEFAULT_BACKEND) is DlibFaceEngine
    with pytest.raises(TypeError):
        load_backend("matching.engine.base.Box")
    with pytest.raises(ValueError):
        load_backend("DlibFaceEngine")
