"""The names ``lifecycle.api.views`` imports from here (the registry's ``/me`` view it extends,
the photo serializer, the person lookup), from the modules that now hold them.

The registry API lives in ``registry.api.accounts`` (sign-up, verification, the person's own
data and tokens), ``registry.api.organisations`` (organisations, members, keys),
``registry.api.serializers`` and ``registry.api.callers``; import from those.
"""

from registry.api.accounts import MeApi
from registry.api.callers import person_or_404
from registry.api.serializers import TemplateSerializer

__all__ = ["MeApi", "TemplateSerializer", "person_or_404"]
