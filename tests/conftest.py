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


@pytest.fixture(autouse=True)
def example_domains_resolve(monkeypatch):
    """The RFC 2606 example domains resolve to a public address, as they do on the internet.

    This machine has no DNS; webhook and callback URLs in the tests name ``*.example.com`` and
    the outbound client resolves every name it is given. Every other name (localhost, numeric
    spellings, ``*.invalid``) goes to the real resolver.
    """
    from registry.lib import outbound

    real = outbound.system_resolver

    def resolve(host: str, port: int) -> list[str]:
        name = host.rstrip(".").lower()
        if name.split(".")[-1] == "example" or name.endswith(
            ("example.com", "example.org", "example.net")
        ):
            return ["93.184.216.34"]
        return real(host, port)

    monkeypatch.setattr(outbound, "system_resolver", resolve)


@pytest.fixture(autouse=True)
def fresh_cache():
    """Each test starts with an empty cache: the checks cache the registry's size for a minute,
    which would otherwise carry one test's registry into the next."""
    from django.core.cache import cache

    cache.clear()
    yield
