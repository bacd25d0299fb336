"""``manage.py rotate_template_key [--to VERSION] [--batch-size N]``

Re-protects every face template with the current template key (the highest version in
``TEMPLATE_KEYS``). Deploy the new key alongside the old one first (``1:<old>,2:<new>``), run
this, then remove the old key. Rows move in small batches, each row changing its vector and key
version together, and search covers every version in use, so searches keep finding everyone
while it runs.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from registry import services
from registry.selectors import current_template_key_version


class Command(BaseCommand):
    help = "Re-key every face template to the current (or given) template key version."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--to", type=int, default=None, help="target key version")
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, **options) -> None:
        target = options["to"] if options["to"] is not None else current_template_key_version()
        try:
            outcome = services.templates_rekey(
                to_version=target, batch_size=max(1, options["batch_size"])
            )
        except KeyError as error:
            raise CommandError(str(error.args[0])) from None
        self.stdout.write(json.dumps(outcome))
        if outcome["remaining"]:
            raise CommandError(f"{outcome['remaining']} templates are still on an older key")
