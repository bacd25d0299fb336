"""Audit the whole transparency log: ``manage.py verify_log``.

Recomputes every leaf from the stored record bytes and checks every signature, complete node
and signed tree head. Prints one line per problem and exits 1 if there is any, 0 otherwise.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from consent.selectors import log_audit, log_size


class Command(BaseCommand):
    help = "Recompute the transparency log from stored records and report every inconsistency."

    def handle(self, *args, **options) -> None:
        problems = 0
        for line in log_audit():
            problems += 1
            self.stderr.write(line)
        if problems:
            raise CommandError(f"the log is NOT consistent: {problems} problem line(s) above")
        self.stdout.write(
            f"ok: {log_size()} entries, their signatures, nodes and tree heads verify"
        )
