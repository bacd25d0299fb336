"""``manage.py matching_index build|refresh|status``: the checks' in-memory index.

``build`` rebuilds it now; ``refresh`` rebuilds only when due (what the periodic Celery task
runs; a cron job can run it where no Celery beat runs); ``status`` prints the current build and
how many templates changed since, as JSON.
"""

import json

from django.core.management.base import BaseCommand, CommandError

from matching import services
from matching.models import SearchIndexBuild


class Command(BaseCommand):
    help = "Build, refresh or describe the checks' in-memory index (MATCHING_INDEX=memory)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=["build", "refresh", "status"])

    def handle(self, *args, action: str, **options) -> None:
        if action == "build":
            build = services.search_index_build()
            if build is None:
                raise CommandError("Another build is running; try again when it has finished.")
            self.stdout.write(json.dumps(_describe(build), indent=2))
        elif action == "refresh":
            self.stdout.write(services.search_index_refresh())
        else:
            state = services.search_index_state()
            status = {"build": _describe(state.build) if state.build else None}
            if state.build is not None:
                status["changed_since"] = state.changed_since
            status["due"] = state.due
            self.stdout.write(json.dumps(status, indent=2))


def _describe(build: SearchIndexBuild) -> dict:
    return {
        "id": str(build.id),
        "built_at": build.built_at.isoformat(),
        "templates": build.templates,
        "file_bytes": build.file_bytes,
        "seconds": build.seconds,
        "files": build.files,
    }
