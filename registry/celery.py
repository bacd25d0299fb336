"""Celery application, configured from Django settings (``CELERY_*``).

Without ``CELERY_BROKER_URL`` tasks run eagerly in the calling process; with it, a real worker
(``make worker``) consumes them. JSON only, late acknowledgement and a prefetch of one, so a
long media job that dies with its worker is delivered again rather than lost.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings")

app = Celery("registry")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
