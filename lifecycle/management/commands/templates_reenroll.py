"""``manage.py templates_reenroll [--batch-size N] [--notify]``

Moves the registry to the active engine's model (``FACE_ENGINE_BACKEND``): everyone who kept
photos is re-enrolled from them and loses their templates of other models; everyone else keeps
theirs and is counted (``--notify`` also emails them asking for new photos). Progress goes to
stderr (``--verbosity 0`` silences it); stdout gets one JSON line of counts, never who:
``{"reenrolled": n, "templates": n, "needs_new_photos": n, "failed": n}``. Running it again
changes nothing (except that ``--notify`` emails again). Refuses when the active engine's vectors
do not fit the template column (docs/engines.md).
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from lifecycle.management.commands.enroll_batch import ProgressBar
from lifecycle.services import templates_reenroll
from lifecycle.services.reenrollment import BATCH_SIZE
from registry.lib.errors import RegistryError


class Command(BaseCommand):
    help = "Re-enrol everyone who kept photos with the active engine's model; prints one JSON line."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=BATCH_SIZE, help="people read per query"
        )
        parser.add_argument(
            "--notify",
            action="store_true",
            help="email people without kept photos, asking for new photos",
        )

    def handle(self, *args, **options) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        bar: ProgressBar | None = None
        enabled = options["verbosity"] > 0

        def progress(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                bar = ProgressBar(self.stderr, total, enabled=enabled)
            bar.update(done, 0)

        try:
            summary = templates_reenroll(
                batch_size=options["batch_size"], notify=options["notify"], progress=progress
            )
        except RegistryError as error:
            raise CommandError(error.message) from None
        if bar is not None and bar.enabled:
            self.stderr.write("")
        self.stdout.write(json.dumps(summary.as_dict(), separators=(", ", ": ")))
