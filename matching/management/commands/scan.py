"""``manage.py scan [--json] [--use CATEGORY] PATH [PATH ...]``: check media as the operator.

Images and videos are checked against the registry with the same decision as the API, but as
the registry's operator: matched people are named by their real public ids (``sub_...``), not by
per-organisation references, and nothing is stored. Without ``--use`` anyone with an active
opt-out of any use is a candidate.

With ``--json`` each file gives one line on stdout::

    {"file": PATH, "verdict": "blocked|needs_review|clear", "faces": N,
     "matches": [{"subject": "sub_...", "distance": D, "box": [top, right, bottom, left],
                  "time_s": T or null, "match": "match|possible",
                  "assurance": "self_asserted|email_verified|liveness|verified"}]}

(for a video, one entry per face track, ``time_s`` its start and ``end_s`` its end). A file that
cannot be checked gives ``{"file": PATH, "error": {"code", "message"}}``. Progress goes to
stderr. The exit status is 0 whatever was found, 1 when some file could not be checked.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from consent.lib.uses import USE_CATEGORIES, category_check
from matching import services
from matching.lib.imaging import describe_content, sniff_image_type
from matching.video import analyse_video
from matching.video.reader import sniff_container
from registry.lib.errors import RegistryError, ValidationFailed
from registry.lib.sizes import megabytes


class Command(BaseCommand):
    help = "Check images and videos against the registry as the operator (real subject ids)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="one JSON line per file")
        parser.add_argument(
            "--use",
            type=_use_category,
            default=None,
            metavar="CATEGORY",
            help=f"the intended use ({', '.join(USE_CATEGORIES)}); without it, an opt-out of "
            "any use counts",
        )
        parser.add_argument("paths", nargs="+", metavar="PATH", help="image or video files")

    def handle(self, *args, **options) -> None:
        failures = 0
        total = len(options["paths"])
        for number, name in enumerate(options["paths"], start=1):
            started = time.perf_counter()
            self.stderr.write(f"[{number}/{total}] {name} ...")
            try:
                line = scan_file(Path(name), category=options["use"])
            except RegistryError as error:
                failures += 1
                line = {"file": name, "error": {"code": error.code, "message": error.message}}
            except OSError as error:
                failures += 1
                line = {
                    "file": name,
                    "error": {"code": "unreadable", "message": error.strerror or str(error)},
                }
            line["file"] = name
            elapsed = time.perf_counter() - started
            if "error" in line:
                self.stderr.write(f"[{number}/{total}] {name}: error: {line['error']['message']}")
            else:
                self.stderr.write(
                    f"[{number}/{total}] {name}: {line['verdict']}, {line['faces']} face(s), "
                    f"{len(line['matches'])} match(es) in {elapsed:.1f} s"
                )
            if options["json"]:
                self.stdout.write(json.dumps(line, separators=(", ", ": ")))
            else:
                self.stdout.write(_human(line))
        if failures:
            raise CommandError(f"{failures} of {total} file(s) could not be checked", returncode=1)


def _use_category(value: str) -> str:
    # The API's validator, so the CLI refuses the same values with the same message.
    try:
        return category_check(value)
    except ValidationFailed as error:
        raise argparse.ArgumentTypeError(error.message) from None


def scan_file(path: Path, *, category: str | None) -> dict[str, Any]:
    with path.open("rb") as handle:
        head = handle.read(64)
    if sniff_image_type(head) is not None:
        size = path.stat().st_size
        if size > settings.MAX_IMAGE_BYTES:
            raise RegistryError(
                f"The image is {megabytes(size)}; "
                f"the limit is {megabytes(settings.MAX_IMAGE_BYTES)}.",
                code="image_too_large",
            )
        faces = services.image_faces(data=path.read_bytes())
        media_type = "image"
    else:
        if sniff_container(head) is None:
            raise RegistryError(
                f"Not an image or video this registry reads (detected: {describe_content(head)}).",
                code="unsupported_media_type",
            )
        analysis = analyse_video(
            path, max_seconds=settings.MAX_VIDEO_SECONDS, max_bytes=settings.MAX_VIDEO_BYTES
        )
        faces = services.video_observations(analysis)
        media_type = "video"
    decision = services.faces_decide(
        faces=faces, category=category, organisation=None, operator=True, media_type=media_type
    )
    matches = []
    for face in decision["faces"]:
        if face["match"] == "none":
            continue
        entry = {
            "subject": face["subject"],
            "distance": face["distance"],
            "box": face["box"],
            "time_s": face.get("start_s"),
            "match": face["match"],
            "assurance": face["assurance"],
        }
        if media_type == "video":
            entry["end_s"] = face.get("end_s")
        matches.append(entry)
    return {
        "file": str(path),
        "verdict": decision["verdict"],
        "faces": len(decision["faces"]),
        "matches": matches,
    }


def _human(line: dict[str, Any]) -> str:
    if "error" in line:
        return f"{line['file']}: error: {line['error']['message']}"
    parts = [f"{line['file']}: {line['verdict']} ({line['faces']} face(s))"]
    for match in line["matches"]:
        when = f" at {match['time_s']:.1f} s" if match["time_s"] is not None else ""
        parts.append(
            f"  {match['match']}: {match['subject']} ({match['assurance']}) "
            f"distance {match['distance']:.3f}{when}"
        )
    return "\n".join(parts)
