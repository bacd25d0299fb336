"""Settings come from the environment and stop loudly on bad values."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from registry.lib.env import Env, EnvError, parse_key32

REPO = Path(__file__).resolve().parents[2]


def test_a_misspelt_boolean_names_the_variable():
    with pytest.raises(EnvError, match="DJANGO_DEBUG='ture' is not a boolean"):
        Env({"DJANGO_DEBUG": "ture"}).bool("DJANGO_DEBUG", False)


def test_a_non_numeric_limit_names_the_variable():
    with pytest.raises(EnvError, match="MAX_IMAGE_BYTES='25MB' is not an integer"):
        Env({"MAX_IMAGE_BYTES": "25MB"}).int("MAX_IMAGE_BYTES", 1)


def test_a_short_key_is_refused():
    with pytest.raises(EnvError, match="must be 32 random bytes"):
        parse_key32("REGISTRY_KEK", "c2hvcnQ=")


def test_keys_are_accepted_as_base64_or_hex():
    raw = bytes(range(32))
    assert parse_key32("K", raw.hex()) == raw
    assert parse_key32("K", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=") == raw


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _production_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "REGISTRY_"))}
    env.update(
        REGISTRY_ENV="production",
        DJANGO_SECRET_KEY="p" * 20 + "-not-a-real-secret-but-long-enough-for-check-deploy-xyz",
        DJANGO_ALLOWED_HOSTS="registry.example.org",
        DATABASE_URL="postgresql://postgres@127.0.0.1:5432/postgres",
        REGISTRY_KEK="A" * 43 + "=",
        PHOTO_ENCRYPTION_KEY="B" * 43 + "=",
        TEMPLATE_KEYS="1:" + "C" * 43 + "=",
        SUBJECT_COMMITMENT_KEY="D" * 43 + "=",
        OPAQUE_REFERENCE_KEY="E" * 43 + "=",
    )
    env.update(extra)
    return env


def test_production_settings_pass_check_deploy():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=_production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_its_secrets():
    env = _production_env()
    del env["REGISTRY_KEK"]
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "REGISTRY_KEK must be set in production" in result.stderr


def test_a_bad_value_stops_start_up_with_a_clear_message():
    result = _manage("check", env=_production_env(MAX_VIDEO_SECONDS="ten minutes"))
    assert result.returncode != 0
    assert "MAX_VIDEO_SECONDS='ten minutes' is not an integer" in result.stderr


def test_a_malformed_rate_limit_stops_start_up():
    result = _manage("check", env=_production_env(CHECKS_RATE_PER_KEY="10/fortnight"))
    assert result.returncode != 0
    assert "CHECKS_RATE_PER_KEY='10/fortnight' must look like '600/min'" in result.stderr
