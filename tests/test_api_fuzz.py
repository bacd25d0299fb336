"""Schemathesis against the published OpenAPI schema, in-process through the WSGI app and the test
database: every operation, a bounded number of generated requests each, once with an
organisation API key holding every organisation scope and once with a personal token holding
every personal scope. Any 5xx, undocumented status, wrong content type or response that does not
match its schema fails.

Budget: ``FUZZ_EXAMPLES`` generated requests per operation (default 25), each sent with both
credentials: about 35 s for all 50 operations on two cores (40 examples: 48 s). Generation is
derandomized, so CI runs are repeatable; set the environment variable to fuzz harder locally.
No operation is skipped: the media uploads (``POST /checks``, ``POST /me/photos``) get small
generated files, which are refused quickly as not media or as photos without a face.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from registry import scopes
from tests.consent.records_factories import make_org, make_person, org_key, personal_token

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
app = get_wsgi_application()


@pytest.fixture(autouse=True)
def _keep_the_test_transactions_connection():
    # As Django's test client does: a request through the WSGI handler would otherwise close
    # the database connection that holds the test's transaction when it finishes.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def credentials(db) -> dict[str, str]:
    return {
        "organisation key": org_key(make_org("studio"), *scopes.ORGANISATION_SCOPES),
        "personal token": personal_token(make_person(handle="fuzzed"), *scopes.PERSONAL_SCOPES),
    }


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_every_generated_request_as_documented(case, credentials):
    # Each generated request is sent with both credentials: what one may do, the other may not.
    for credential in credentials.values():
        case.call_and_validate(
            app=app, headers={"Authorization": f"Bearer {credential}"}, checks=CHECKS
        )
