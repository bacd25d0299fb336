"""Face detection and embedding behind one small interface (see ``base.FaceEngine``).

``get_engine()`` returns the process's engine: the backend named by the Django setting
``FACE_ENGINE_BACKEND`` (a dotted path), or the dlib backend when Django is not configured, so
scripts and tests can use it without a settings module. Only the matching and enrollment
services should call it.
"""

from __future__ import annotations

import importlib
import threading

from matching.engine.base import Box, FaceEmbedding, FaceEngine, FaceQuality, MatchClass

DEFAULT_BACKEND = "matching.engine.dlib.DlibFaceEngine"

_engine: FaceEngine | None = None
_engine_lock = threading.Lock()


def get_engine() -> FaceEngine:
    """The configured engine, created once per process; its models load on first use."""
    global _engine
    engine = _engine
    if engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = load_backend(configured_backend())()
            engine = _engine
    return engine


def reset_engine() -> None:
    """Forget the engine so the next ``get_engine()`` reads the setting again (tests, reloads)."""
    global _engine
    with _engine_lock:
        _engine = None


def configured_backend() -> str:
    """The backend's dotted path from Django settings, or the default when there are none."""
    try:
        # Imported here so that this package works without Django installed or configured.
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured
    except ImportError:
        return DEFAULT_BACKEND
    try:
        return getattr(settings, "FACE_ENGINE_BACKEND", DEFAULT_BACKEND)
    except ImproperlyConfigured:  # no DJANGO_SETTINGS_MODULE and settings.configure() not called
        return DEFAULT_BACKEND


def load_backend(dotted_path: str) -> type[FaceEngine]:
    """Import ``package.module.ClassName`` and check it is a ``FaceEngine``."""
    module_path, _, class_name = dotted_path.rpartition(".")
    if not module_path:
        raise ValueError(f"FACE_ENGINE_BACKEND must be a dotted path, got {dotted_path!r}")
    backend = getattr(importlib.import_module(module_path), class_name, None)
    if not (isinstance(backend, type) and issubclass(backend, FaceEngine)):
        raise TypeError(f"{dotted_path} is not a FaceEngine subclass")
    return backend


__all__ = [
    "DEFAULT_BACKEND",
    "Box",
    "FaceEmbedding",
    "FaceEngine",
    "FaceQuality",
    "MatchClass",
    "configured_backend",
    "get_engine",
    "load_backend",
    "reset_engine",
]
