"""``manage.py organisation_create --name NAME --kind studio|platform|verifier --owner-email EMAIL``

Creates an organisation with its first owner and prints exactly one JSON line on stdout:
``{"organisation": "<slug>", "name": ..., "kind": ..., "owner": "<email>", "verification": ...}``.

The owner is the existing account with that email address (compared case-insensitively, like
sign-up and sign-in), else a new login account with no usable password and no person: owning an
organisation does not enrol anyone in the registry, and the owner signs in once a password is set.
Names need not be unique: running it twice with one name makes two organisations with different
slugs, as the API does. New organisations are unverified until an operator verifies them.
Bad input (empty name, unknown kind, invalid email) is a clear message and a non-zero exit.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from registry import services
from registry.lib.errors import RegistryError
from registry.models import OrganisationKind


class Command(BaseCommand):
    help = "Create an organisation with its owner (created if needed); prints one JSON line."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", required=True, help="the organisation's name")
        parser.add_argument(
            "--kind", required=True, help=f"one of {', '.join(OrganisationKind.values)}"
        )
        parser.add_argument("--owner-email", required=True, help="email address of the owner")

    def handle(self, *args, **options) -> None:
        try:
            organisation, owner, _ = services.organisation_create_for_email(
                name=options["name"], kind=options["kind"], owner_email=options["owner_email"]
            )
        except RegistryError as error:
            raise CommandError(error.message) from None
        line = {
            "organisation": organisation.slug,
            "name": organisation.name,
            "kind": organisation.kind,
            "owner": owner.email,
            "verification": organisation.verification,
        }
        self.stdout.write(json.dumps(line))
