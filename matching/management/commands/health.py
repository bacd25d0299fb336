"""``manage.py health``: the ``/healthz`` report (``matching.health.system_health``) as JSON.

Exit status 0 when every part is ok, 1 when the report is degraded, so a monitor can run it.
"""

import json

from django.core.management.base import BaseCommand

from matching.health import system_health


class Command(BaseCommand):
    help = "Print the same health report as GET /healthz, as JSON; exit 1 when degraded."

    def handle(self, *args, **options) -> None:
        health = system_health()
        self.stdout.write(json.dumps(health, indent=2, default=str))
        if health["status"] != "ok":
            raise SystemExit(1)
