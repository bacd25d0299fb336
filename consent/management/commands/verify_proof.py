"""Check a Merkle proof file offline: ``manage.py verify_proof inclusion|consistency FILE.json``.

The file uses the transparency-dev vector layout (what the log API serves). Exit status 0 means
the proof is valid, 1 that it is not; either way one line says why. No database is touched.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from consent.lib.merkle import ConsistencyProof, InclusionProof, ProofError

PROOF_KINDS = {"inclusion": InclusionProof, "consistency": ConsistencyProof}


class Command(BaseCommand):
    help = "Verify an RFC 9162 inclusion or consistency proof stored in a JSON file."
    requires_system_checks: list = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=sorted(PROOF_KINDS))
        parser.add_argument("file", type=Path)

    def handle(self, *args, kind: str, file: Path, **options) -> None:
        try:
            document = json.loads(file.read_bytes())
        except OSError as error:
            raise CommandError(f"invalid: cannot read {file}: {error.strerror}") from None
        except ValueError as error:
            raise CommandError(f"invalid: {file} is not JSON: {error}") from None
        try:
            proof = PROOF_KINDS[kind].from_json(document)
            proof.verify()
        except ProofError as error:
            raise CommandError(f"invalid: {error}") from None
        self.stdout.write(f"valid: {kind} proof verified")
