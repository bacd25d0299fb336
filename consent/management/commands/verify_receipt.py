"""Check a receipt: ``manage.py verify_receipt RECEIPT.json [--keys keys.json]``.

With ``--keys`` nothing but the two files is read (the same check as
``python -m consent.lib.receipts``); without it, the registry's published keys come from the
database. Exit status 0 means valid, 1 not; either way one line says why.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from consent.lib.canonical import CanonicalJSONError, parse_json
from consent.lib.receipts import ReceiptInvalid, verify_receipt
from consent.selectors import published_keys


class Command(BaseCommand):
    help = "Verify a consent-check or media-check receipt against the registry's keys."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("receipt", type=Path)
        parser.add_argument("--keys", type=Path, help="keys.json; default: the database's keys")

    def handle(self, *args, receipt: Path, keys: Path | None, **options) -> None:
        try:
            document = parse_json(receipt.read_bytes())
            if keys is not None:
                published = parse_json(keys.read_bytes())
            else:
                published = {"keys": published_keys()}
            payload = verify_receipt(document, published)
        except OSError as error:
            raise CommandError(f"invalid: cannot read a file: {error.strerror}") from None
        except (CanonicalJSONError, ReceiptInvalid) as error:
            raise CommandError(f"invalid: {error}") from None
        result = payload.get("result") or payload.get("body", {}).get("verdict", "")
        self.stdout.write(f"valid: receipt {payload.get('receipt_id')} {result}".rstrip())
