"""Every write of the consent app, one module per responsibility; callers import from here.

- ``log``: the registry's signing keys, signed tree heads, ``log_append`` and the subject
  commitment that names a person in records. Lock order: the log lock, then the signing key.
- ``records``: opt-outs, grants, revocations, attestations, the drafts a person signs, person
  keys, the templates' opt-out flag (``templates_optout_sync``) and the erasure hook.
- ``disputes``: the signed record of an operator's resolution of a face dispute.
- ``checks``: signed receipts for platform checks and logged studio consent checks.
- ``requests``: consent requests from studios and their answers.
- ``webhooks``: endpoints, events and delivery attempts (signing, POST and retry policy are
  ``consent.delivery``'s).

Decision rows are locked before the log, everywhere (see ``records``).
"""

from consent.delivery import WEBHOOK_MAX_ATTEMPTS, webhook_backoff_seconds
from consent.lib.uses import MAX_PURPOSE_LENGTH
from consent.services.checks import (
    CHECK_RECEIPT_FORMAT,
    SIGNED_RECEIPT_FORMAT,
    consent_check,
    person_checked_by,
    receipt_sign,
)
from consent.services.disputes import dispute_resolution_record
from consent.services.log import (
    MAX_RECORD_BYTES,
    _private_key,
    log_append,
    signing_key_current,
    signing_key_rotate,
    subject_commitment,
    tree_head_sign,
)
from consent.services.person_keys import person_key_register, person_key_revoke
from consent.services.records import (
    DRAFT_MAX_AGE,
    RECORD_FORMAT,
    attestation_record,
    grant_record,
    optout_record,
    organisation_verification_record,
    person_records_on_erasure,
    record_draft,
    record_revoke,
    templates_optout_sync,
    terms_digest,
)
from consent.services.requests import (
    consent_request_approve,
    consent_request_create,
    consent_request_decline,
    consent_request_withdraw,
    grant_draft,
)
from consent.services.webhooks import (
    grants_expired_notify,
    webhook_attempt,
    webhook_deliveries_due,
    webhook_endpoint_create,
    webhook_endpoint_disable,
    webhook_endpoint_ping,
    webhook_event_emit,
    webhook_event_for_grant,
    webhook_events_for_optout,
    webhook_redeliver,
)

__all__ = [
    "CHECK_RECEIPT_FORMAT",
    "DRAFT_MAX_AGE",
    "MAX_PURPOSE_LENGTH",
    "MAX_RECORD_BYTES",
    "RECORD_FORMAT",
    "SIGNED_RECEIPT_FORMAT",
    "WEBHOOK_MAX_ATTEMPTS",
    # Tests check that no published data holds the sealed key's private bytes.
    "_private_key",
    "attestation_record",
    "consent_check",
    "consent_request_approve",
    "consent_request_create",
    "consent_request_decline",
    "consent_request_withdraw",
    "dispute_resolution_record",
    "grant_draft",
    "grant_record",
    "grants_expired_notify",
    "log_append",
    "optout_record",
    "organisation_verification_record",
    "person_checked_by",
    "person_key_register",
    "person_key_revoke",
    "person_records_on_erasure",
    "receipt_sign",
    "record_draft",
    "record_revoke",
    "signing_key_current",
    "signing_key_rotate",
    "subject_commitment",
    "templates_optout_sync",
    "terms_digest",
    "tree_head_sign",
    "webhook_attempt",
    "webhook_backoff_seconds",
    "webhook_deliveries_due",
    "webhook_endpoint_create",
    "webhook_endpoint_disable",
    "webhook_endpoint_ping",
    "webhook_event_emit",
    "webhook_event_for_grant",
    "webhook_events_for_optout",
    "webhook_redeliver",
]
