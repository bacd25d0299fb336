"""``manage.py enroll_batch FILE.jsonl``: enroll a roster of people in one process.

Each non-blank line of ``FILE.jsonl`` is one person::

    {"name": "Ada Example", "email": "ada@example.org", "photos": ["ada1.jpg", "ada2.jpg"],
     "optout": true}

``optout`` may be left out (false). Relative photo paths are read from the roster file's folder,
so a roster and its photos can be moved together. Each line is handled as ``manage.py enroll``
would handle it, and prints one JSON line on stdout with the same fields plus ``line`` (1-based
line number in the file) and ``email``::

    {"line": 1, "email": "ada@example.org", "subject": "...", "templates": 2, "accepted": 2,
     "rejected": [], "created": true, "optout": "<record id>", "status": "active",
     "conflicts": 0}

(``"status": "disputed"`` with a count of ``conflicts`` when a face matches another person's
registration: the line is still enrolled, see ``docs/disputes.md``.)

A line that cannot be enrolled (not JSON, a missing, unknown or mistyped field, an address that
is not an email, a photo that cannot be read, every photo rejected) prints
``{"line": N, "email": ... (when known), "error": "<why>"}`` instead, changes nothing, and the
run goes on with the next line; lines already enrolled stay enrolled. A progress bar goes to
stderr (``--verbosity 0`` silences it).

Exit status: 0 when every line was enrolled, 2 when at least one line failed (its JSON line says
why), 1 when the run could not start or had to stop (unreadable roster, face engine unavailable).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

from lifecycle.services import roster_entry_enroll
from matching.engine.errors import FaceEngineUnavailable
from registry.lib.errors import RegistryError

_FIELDS = {"name": str, "email": str, "photos": list, "optout": bool}
_REQUIRED = ("name", "email", "photos")
_TYPE_NAMES = {str: "a string", list: "a list of paths", bool: "true or false"}


class BadLine(Exception):
    """A roster line that cannot be enrolled; the message is shown to the operator as is."""


@dataclass(frozen=True)
class RosterLine:
    name: str
    email: str
    photos: list[str]
    optout: bool


def load_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise BadLine(f"not valid JSON: {error.msg} at column {error.colno}") from None


def parse_roster_entry(entry: Any) -> RosterLine:
    """Check one decoded roster line; ``BadLine`` says what is wrong with it."""
    if not isinstance(entry, dict):
        raise BadLine("expected a JSON object with name, email, photos and optout")
    unknown = sorted(set(entry) - set(_FIELDS))
    if unknown:
        # A misspelt "optout" must not silently enroll someone without their opt-out.
        raise BadLine(f"unknown field(s): {', '.join(unknown)}")
    missing = [name for name in _REQUIRED if name not in entry]
    if missing:
        raise BadLine(f"missing field(s): {', '.join(missing)}")
    for name, kind in _FIELDS.items():
        if name in entry and not isinstance(entry[name], kind):
            raise BadLine(f"{name} must be {_TYPE_NAMES[kind]}")
    if not entry["name"].strip():
        raise BadLine("name is empty")
    try:
        validate_email(entry["email"].strip())
    except ValidationError:
        raise BadLine(f"not an email address: {entry['email']!r}") from None
    photos = entry["photos"]
    if not photos:
        raise BadLine("photos is empty")
    if not all(isinstance(photo, str) and photo for photo in photos):
        raise BadLine("photos must be a list of paths")
    return RosterLine(
        name=entry["name"],
        email=entry["email"],
        photos=photos,
        optout=entry.get("optout", False),
    )


def read_photos(photos: list[str], *, folder: Path) -> list[tuple[str, bytes]]:
    """The photos' bytes, named as the roster names them (so messages show the operator's own
    paths and nothing of the server's layout)."""
    images = []
    for photo in photos:
        try:
            images.append((photo, (folder / photo).read_bytes()))
        except OSError as error:
            raise BadLine(f"cannot read {photo}: {error.strerror or 'unreadable'}") from None
    return images


class ProgressBar:
    """``[#######.......] 37/120 people, 2.1/s, 1 failed, 45 s left`` redrawn in place on stderr."""

    width = 30

    def __init__(self, stream: Any, total: int, *, enabled: bool) -> None:
        self.stream = stream
        self.total = total
        self.enabled = enabled and total > 0
        self.started = time.monotonic()

    def update(self, done: int, failed: int) -> None:
        if not self.enabled:
            return
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = done / elapsed
        filled = round(self.width * done / self.total)
        text = f"\r[{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} people"
        text += f", {rate:.1f}/s"
        if failed:
            text += f", {failed} failed"
        if 0 < done < self.total and rate > 0:
            text += f", {(self.total - done) / rate:.0f} s left"
        self.stream.write(text, style_func=str, ending="")
        self.stream.flush()

    def finish(self, *, people: int, failed: int, photos: int) -> None:
        if not self.enabled:
            return
        elapsed = max(time.monotonic() - self.started, 1e-9)
        self.stream.write(
            f"\n{people} people ({failed} failed), {photos} photos in {elapsed:.1f} s: "
            f"{people / elapsed:.2f} people/s, {photos / elapsed:.2f} photos/s",
            style_func=str,
        )
        self.stream.flush()


class Command(BaseCommand):
    help = "Enroll a JSON Lines roster (one person per line); prints one JSON line per line."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "roster",
            help='JSON Lines file: {"name", "email", "photos": [paths], "optout": true|false}',
        )

    def handle(self, *args, **options) -> None:
        roster = Path(options["roster"])
        try:
            lines = roster.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            raise CommandError(f"cannot read {options['roster']}: {reason}") from None
        numbered = [(number, text) for number, text in enumerate(lines, 1) if text.strip()]

        progress = ProgressBar(self.stderr, len(numbered), enabled=options["verbosity"] > 0)
        failed = photos_analysed = 0
        progress.update(0, 0)
        for done, (number, text) in enumerate(numbered, 1):
            line, photos = self._enroll_line(number, text, folder=roster.parent)
            failed += "error" in line
            photos_analysed += photos
            self.stdout.write(json.dumps(line, separators=(", ", ": ")))
            self.stdout.flush()
            progress.update(done, failed)
        progress.finish(people=len(numbered), failed=failed, photos=photos_analysed)
        if failed:
            sys.exit(2)

    def _enroll_line(self, number: int, text: str, *, folder: Path) -> tuple[dict[str, Any], int]:
        """The JSON line to print for roster line ``number``, and how many photos were analysed."""
        head: dict[str, Any] = {"line": number}
        images: list[tuple[str, bytes]] = []
        try:
            decoded = load_json(text)
            email = decoded.get("email") if isinstance(decoded, dict) else None
            if isinstance(email, str) and email.strip():
                head["email"] = email.strip()
            entry = parse_roster_entry(decoded)
            head["email"] = entry.email.strip().lower()
            images = read_photos(entry.photos, folder=folder)
            result = roster_entry_enroll(
                name=entry.name,
                email=entry.email,
                images=images,
                optout=entry.optout,
                require_accepted=True,
            )
        except BadLine as error:
            return head | {"error": str(error)}, 0
        except FaceEngineUnavailable as error:
            # Every further line would fail the same way: stop, the operator must fix the engine.
            raise CommandError(f"line {number}: {error.message}") from None
        except RegistryError as error:  # NothingEnrolled included: its message lists each photo
            return head | {"error": error.message}, len(images)
        return head | result.as_dict(), len(images)
