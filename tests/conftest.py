"""Fixtures shared by every test package."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
FACES_DIR = Path(os.environ.get("FACES_DIR", REPO_ROOT.parent / "shared" / "faces"))


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    if not FACES_DIR.is_dir():
        pytest.fail(f"the shared test faces are missing: expected them at {FACES_DIR}")
    return FACES_DIR


@pytest.fixture(scope="session")
def faces_manifest(faces_dir: Path) -> dict:
    return json.loads((faces_dir / "manifest.json").read_text())
