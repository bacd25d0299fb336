"""Every non-trivial read of the consent app, one module per responsibility.

- ``log``: the transparency log as readers see it: complete nodes (``DatabaseNodeStore``),
  inclusion and consistency proofs, signed tree heads, log entries, the registry's published
  keys and people's co-signing keys.
- ``decisions``: the consent decision rules: active opt-outs and the oldest one covering a
  use, ``consent_decision`` for a studio's check and ``people_consent`` for a media check.
- ``records``: plain reads of records, consent requests, consent checks and people, and a
  person's consent data for their export.
- ``webhooks``: an organisation's webhook endpoints and their deliveries.

The auditor that recomputes the whole log (``manage.py verify_log``) is ``consent.audit``.
Callers import from ``consent.selectors``; the modules are how the code is organised, not an
interface.
"""

from consent.selectors.decisions import (
    ConsentDecision,
    OptOutScope,
    PersonConsent,
    consent_decision,
    optout_person_ids,
    optouts_covering,
    people_assurance,
    people_consent,
    people_disputed,
    person_has_active_optout,
)
from consent.selectors.log import (
    DatabaseNodeStore,
    consistency_proof,
    cosigner_published_keys,
    inclusion_proof,
    latest_tree_head,
    log_entry_get,
    log_entry_with_proof,
    log_size,
    logged_receipt,
    published_keys,
    signing_key_description,
    tree_head_description,
)
from consent.selectors.records import (
    consent_check_receipt,
    organisation_consent_checks,
    organisation_grants,
    organisation_request,
    organisation_requests,
    person_checks,
    person_consent_export,
    person_find,
    person_records,
    record_get,
    record_with_proof,
    request_for_person,
    requests_waiting,
)
from consent.selectors.webhooks import endpoint_deliveries, organisation_endpoints

__all__ = [
    "ConsentDecision",
    "DatabaseNodeStore",
    "OptOutScope",
    "PersonConsent",
    "consent_check_receipt",
    "consent_decision",
    "consistency_proof",
    "cosigner_published_keys",
    "endpoint_deliveries",
    "inclusion_proof",
    "latest_tree_head",
    "log_entry_get",
    "log_entry_with_proof",
    "log_size",
    "logged_receipt",
    "optout_person_ids",
    "optouts_covering",
    "organisation_consent_checks",
    "organisation_endpoints",
    "organisation_grants",
    "organisation_request",
    "organisation_requests",
    "people_assurance",
    "people_consent",
    "people_disputed",
    "person_checks",
    "person_consent_export",
    "person_find",
    "person_has_active_optout",
    "person_records",
    "published_keys",
    "record_get",
    "record_with_proof",
    "request_for_person",
    "requests_waiting",
    "signing_key_description",
    "tree_head_description",
]
