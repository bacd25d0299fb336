"""Random secrets for local use, kept in ./var so `make run` works with no configuration.

Production never reaches this module: there, every secret must come from the environment and
settings refuse to start without it.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import secrets
from pathlib import Path


def load_or_create(path: Path) -> dict[str, str]:
    wanted = {
        "DJANGO_SECRET_KEY": lambda: secrets.token_urlsafe(50),
        "REGISTRY_KEK": lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
        "PHOTO_ENCRYPTION_KEY": lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
        "TEMPLATE_KEYS": lambda: "1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "SUBJECT_COMMITMENT_KEY": lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
        "OPAQUE_REFERENCE_KEY": lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    # Several processes (web, worker, test subprocesses) may start at once on a fresh checkout;
    # the lock makes sure they all end up with the same secrets.
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        missing = {name: make() for name, make in wanted.items() if name not in stored}
        if missing:
            stored.update(missing)
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(stored, handle, indent=2)
            os.replace(tmp, path)
    return stored
