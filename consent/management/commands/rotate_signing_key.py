"""Start signing with a new registry key: ``manage.py rotate_signing_key``.

The previous key is retired but stays published, so everything it signed still verifies.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from consent.services import signing_key_rotate


class Command(BaseCommand):
    help = "Create a new current signing key and retire the previous one."

    def handle(self, *args, **options) -> None:
        new, retired = signing_key_rotate()
        if retired is not None:
            self.stdout.write(f"retired signing key {retired.kid}")
        self.stdout.write(f"current signing key {new.kid}")
