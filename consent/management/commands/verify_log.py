"""Audit the whole transparency log: ``manage.py verify_log``.

Recomputes every leaf from the stored record bytes and checks every signature, complete node
and signed tree head. Prints one line per problem and exits 1 if there is any, 0 otherwise.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from consent.audit import log_audit


class Command(BaseCommand):
    help = "Recompute the transparency log from stored records and report every inconsistency."

    def handle(self, *args, **options) -> None:
        audit = log_audit()
        for line in audit.problems:
            self.stderr.write(line)
        if not audit.ok:
            raise CommandError(
                f"the log is NOT consistent: {len(audit.problems)} problem line(s) above"
            )
        note = ""
        if audit.unchecked_cosignatures:
            note = (
                f" ({audit.unchecked_cosignatures} co-signature(s) by keys no longer on file "
                "were not checked)"
            )
        self.stdout.write(
            f"ok: {audit.entries} entries, their signatures, nodes and tree heads verify{note}"
        )
