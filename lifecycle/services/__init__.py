"""Workflows that span a person's whole record across registry, consent and matching.

The apps form layers (``registry`` <- ``consent`` <- ``matching`` <- ``lifecycle``); these
workflows need more than one of them, so they live here, above all three, and no app imports
them. One module per workflow; callers import the names from here:

- ``enrollment``: reference photos -> protected face templates (engine, registry, consent flag)
- ``attestation``: a verifier confirms a person's identity (registry row + signed record)
- ``organisation_verification``: an operator verifies an organisation (registry state + signed
  record)
- ``disputes``: one face, one owner: conflicts found at enrollment or reported by a person,
  resolved by an operator (signed record)
- ``liveness``: the live selfie capture: a random head-turn challenge, a clip judged against it
  and the reference photos, the ``liveness`` level and turned templates (``docs/liveness.md``)
- ``erasure``: destroy a person at once (consent strips its links first, then the registry)
- ``export``: everything held about a person, as their own copy
- ``reenrollment``: move templates to the active engine's model, from kept photos
- ``retention``: remind, then purge face templates that nobody confirmed
- ``roster``: an operator's roster entry (name, email, photos, opt-out) becomes an enrolled
  person, for ``manage.py enroll`` and ``manage.py enroll_batch``
"""

from lifecycle.services.attestation import attestation_create, attestation_revoke
from lifecycle.services.disputes import (
    ReportOutcome,
    dispute_open,
    dispute_resolve,
    face_conflict_check,
    face_conflict_find,
    face_report,
    person_status_refresh,
)
from lifecycle.services.enrollment import EnrollmentResult, PhotoOutcome, person_enroll
from lifecycle.services.erasure import person_erase
from lifecycle.services.export import person_export
from lifecycle.services.liveness import (
    AttemptsExhausted,
    LivenessResult,
    LivenessUnavailable,
    liveness_attempt_for_nonce,
    liveness_challenge_create,
    liveness_challenge_current,
    liveness_clip_verify,
)
from lifecycle.services.organisation_verification import organisation_verify
from lifecycle.services.reenrollment import (
    ReenrollmentRefused,
    ReenrollmentSummary,
    templates_reenroll,
)
from lifecycle.services.retention import retention_sweep
from lifecycle.services.roster import NothingEnrolled, RosterEntryResult, roster_entry_enroll

__all__ = [
    "AttemptsExhausted",
    "EnrollmentResult",
    "LivenessResult",
    "LivenessUnavailable",
    "NothingEnrolled",
    "PhotoOutcome",
    "ReenrollmentRefused",
    "ReenrollmentSummary",
    "ReportOutcome",
    "RosterEntryResult",
    "attestation_create",
    "attestation_revoke",
    "dispute_open",
    "dispute_resolve",
    "face_conflict_check",
    "face_conflict_find",
    "face_report",
    "liveness_attempt_for_nonce",
    "liveness_challenge_create",
    "liveness_challenge_current",
    "liveness_clip_verify",
    "organisation_verify",
    "person_enroll",
    "person_erase",
    "person_export",
    "person_status_refresh",
    "retention_sweep",
    "roster_entry_enroll",
    "templates_reenroll",
]
