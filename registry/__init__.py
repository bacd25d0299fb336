"""The registry app (people, organisations, templates) and the Django project around every app.

The project's settings, URL conf, Celery app and WSGI/ASGI entry points live here too.
"""

# The Celery app is loaded with Django so that @shared_task binds to it.
from registry.celery import app as celery_app

__all__ = ("celery_app",)
