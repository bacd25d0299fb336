"""``manage.py apikey_create --organisation SLUG --scopes a,b [--name N]``

Creates an API key for an organisation and prints exactly one JSON line on stdout:
``{"key": "<secret>", "id": ..., "scopes": [...]}``. The secret is shown only here; the registry
keeps only its hash. Scopes are those of ``registry/scopes.py``'s ``ORGANISATION_SCOPES``; the
session-only scopes (creating organisations, managing members and keys) are refused, as they
are through the API. An unknown organisation or scope is a clear message and a non-zero exit.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from registry import services
from registry.lib.errors import RegistryError
from registry.models import Organisation
from registry.scopes import ORGANISATION_SCOPES


class Command(BaseCommand):
    help = "Create an organisation API key; prints one JSON line with the secret (shown once)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--organisation", required=True, help="the organisation's slug")
        parser.add_argument(
            "--scopes",
            required=True,
            help=f"comma-separated, from: {', '.join(sorted(ORGANISATION_SCOPES))}",
        )
        parser.add_argument("--name", default="cli", help="a name to recognise the key by")

    def handle(self, *args, **options) -> None:
        organisation = Organisation.objects.filter(slug=options["organisation"]).first()
        if organisation is None:
            raise CommandError(f"No organisation with the slug {options['organisation']!r}.")
        scopes = [s.strip() for s in options["scopes"].split(",") if s.strip()]
        try:
            key, secret = services.api_key_create(
                organisation=organisation, name=options["name"], scopes=scopes, created_by=None
            )
        except RegistryError as error:
            raise CommandError(error.message) from None
        self.stdout.write(json.dumps({"key": secret, "id": key.pk, "scopes": key.scopes}))
