"""``manage.py enroll --name NAME --email EMAIL [--optout] IMAGE [IMAGE ...]``

Creates the person (or adds to the one with that email) from photos and prints exactly one JSON
line on stdout: ``{"subject": "<public id>", "templates": N, "accepted": n, "rejected": [...],
"created": bool, "optout": "<record id>" | null, "status": "active" | "disputed", "conflicts": N}``
(``disputed`` when a face matches another registration; ``conflicts`` counts the person's open
disputes and never names the other side). Exit status 0 when at least one photo was accepted,
disputed or not, 2 when none was (the JSON line still says why).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from lifecycle.services import roster_entry_enroll
from registry.lib.errors import RegistryError


class Command(BaseCommand):
    help = "Create or extend a person from reference photos; prints one JSON line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", required=True, help="display name of the person")
        parser.add_argument("--email", required=True, help="email address (login) of the person")
        parser.add_argument(
            "--optout",
            action="store_true",
            help="also record a general opt-out from every use of the person's likeness",
        )
        parser.add_argument("images", nargs="+", help="photo files (JPEG, PNG or WebP)")

    def handle(self, *args, **options) -> None:
        images = []
        for name in options["images"]:
            path = Path(name)
            try:
                images.append((path.name, path.read_bytes()))
            except OSError as error:
                raise CommandError(f"cannot read {name}: {error.strerror}") from None

        try:
            entry = roster_entry_enroll(
                name=options["name"],
                email=options["email"],
                images=images,
                optout=options["optout"],
            )
        except RegistryError as error:
            raise CommandError(error.message) from None

        self.stdout.write(json.dumps(entry.as_dict(), separators=(", ", ": ")))
        if not entry.enrollment.accepted:
            sys.exit(2)
