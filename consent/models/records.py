"""Records and decisions: the queryable mirror of signed decisions, requests, checks, keys."""

from __future__ import annotations

from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import Exact
from django.utils import timezone

from consent.models.log import ED25519_PUBLIC_KEY_SIZE, LogEntry

# =================================================================================================
# Records and decisions (records engineer)
#
# ``Record`` is the queryable mirror of one signed decision; the signed envelope appended to the
# log (``log_entry``) is the source of truth and the only thing a verifier needs. Rows keep the
# plain terms (purpose text, project reference) that the signed payload only commits to, so a
# grantee can show them and an erasure can drop them without touching the log.
# =================================================================================================


class RecordKind(models.TextChoices):
    OPTOUT = "optout", "Opt-out"
    GRANT = "grant", "Consent grant"
    REVOCATION = "revocation", "Revocation"
    ATTESTATION = "attestation", "Identity attestation"
    # About an organisation, not a person: no subject, ``organisation`` is the one verified.
    ORGANISATION_VERIFICATION = "org_verified", "Organisation verification"
    # An operator's resolution of a face dispute between two registrations: no person, no
    # organisation; the payload names the two only by subject commitments.
    DISPUTE_RESOLUTION = "dispute", "Dispute resolution"


class UseTerms(models.Model):
    """The terms of one use of a person's likeness: what for, in which media, where and when.

    A consent request proposes them and the grant that approves it records them unchanged.
    ``consent.services`` validates and normalises them in one place for both
    (``_clean_use_terms``). The signed payload carries the categories, media, territory and
    window in the clear, and commits to the purpose and project reference only by a salted
    digest, so an erasure can blank those two on the row without touching the log.
    """

    purpose = models.TextField()
    categories = models.JSONField()
    media_types = models.JSONField()
    territory = models.CharField(max_length=16)
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    project_ref = models.CharField(max_length=200, blank=True)

    class Meta:
        abstract = True


class Record(UseTerms):
    record_id = models.CharField(max_length=40, unique=True)
    kind = models.CharField(max_length=12, choices=RecordKind.choices)
    # NULL once the person is erased: the record stays in the log, verifiable but anonymous.
    person = models.ForeignKey(
        "registry.Person",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="consent_records",
    )
    subject = models.CharField(max_length=64, help_text="hex subject commitment in the payload")
    organisation = models.ForeignKey(
        "registry.Organisation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="consent_records",
        help_text="the grantee of a grant, the verifier of an attestation",
    )
    # Only a grant has every use term: an opt-out has categories alone, and revocations and
    # attestations none, so on a record these may be empty (purpose also once erased).
    purpose = models.TextField(blank=True)
    categories = models.JSONField(default=list, blank=True)
    media_types = models.JSONField(default=list, blank=True)
    territory = models.CharField(max_length=16, blank=True)
    terms_salt = models.BinaryField(max_length=16, null=True, blank=True)
    revokes = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="revocation",
        help_text="one revocation per record, enforced by the database",
    )
    person_key = models.ForeignKey(
        "consent.PersonKey",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="records",
        help_text="the person's own key, when they co-signed the record",
    )
    log_entry = models.OneToOneField(LogEntry, on_delete=models.PROTECT, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)
    expiry_notified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # optout_person_ids(): active opt-outs only, so revoked rows cost nothing.
            models.Index(
                fields=["person"],
                condition=Q(kind="optout", revoked_at__isnull=True),
                name="record_active_optout_idx",
            ),
            # ... and its category test (@> on the JSON list) by a GIN index over the same rows.
            GinIndex(
                fields=["categories"],
                opclasses=["jsonb_path_ops"],
                condition=Q(kind="optout", revoked_at__isnull=True),
                name="record_optout_categories_idx",
            ),
            models.Index(
                fields=["person", "organisation", "-created_at"],
                condition=Q(kind="grant"),
                name="record_grant_lookup_idx",
            ),
            models.Index(
                fields=["valid_until"],
                condition=Q(kind="grant", revoked_at__isnull=True, expiry_notified_at__isnull=True),
                name="record_grant_expiry_idx",
            ),
            models.Index(fields=["person", "-created_at"], name="record_person_history_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=[choice.value for choice in RecordKind]),
                name="record_kind_known",
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind="revocation", revokes__isnull=False)
                    | (~Q(kind="revocation") & Q(revokes__isnull=True))
                ),
                name="record_revokes_iff_revocation",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["optout", "grant"]) | Q(revoked_at__isnull=True),
                name="record_only_decisions_revoked",
            ),
            models.CheckConstraint(
                condition=(
                    Q(valid_from__isnull=True)
                    | Q(valid_until__isnull=True)
                    | Q(valid_until__gt=models.F("valid_from"))
                ),
                name="record_validity_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.record_id}"


class PersonKey(models.Model):
    """An Ed25519 public key a person registered to co-sign their own records."""

    person = models.ForeignKey(
        "registry.Person", on_delete=models.CASCADE, related_name="signing_keys"
    )
    kid = models.CharField(max_length=64, unique=True, help_text="hex SHA-256 of the public key")
    public_key = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Exact(Length("public_key"), ED25519_PUBLIC_KEY_SIZE),
                name="personkey_public_key_size",
            ),
        ]

    def __str__(self) -> str:
        return f"person key {self.kid[:16]}…"


class ConsentRequest(UseTerms):
    """A studio asking a person for one described use; answered with a grant or a decline."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        APPROVED = "approved", "Approved"
        DECLINED = "declined", "Declined"
        WITHDRAWN = "withdrawn", "Withdrawn"

    request_id = models.CharField(max_length=40, unique=True)
    organisation = models.ForeignKey(
        "registry.Organisation", on_delete=models.CASCADE, related_name="consent_requests"
    )
    requested_by = models.ForeignKey(
        "registry.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    person = models.ForeignKey(
        "registry.Person",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="consent_requests",
    )
    # Only until someone with this address signs up (or the request is answered).
    invite_email = models.EmailField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    grant = models.OneToOneField(
        Record, on_delete=models.PROTECT, null=True, blank=True, related_name="request"
    )
    created_at = models.DateTimeField(default=timezone.now)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["person"], condition=Q(status="pending"), name="consentrequest_waiting_idx"
            ),
            models.Index(
                fields=["invite_email"],
                condition=Q(status="pending", person__isnull=True),
                name="consentrequest_invite_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                # A pending request must reach someone; answered ones may forget the address.
                condition=~Q(status="pending") | Q(person__isnull=False) | ~Q(invite_email=""),
                name="consentrequest_has_addressee",
            ),
            models.CheckConstraint(
                condition=Q(status="approved", grant__isnull=False)
                | (~Q(status="approved") & Q(grant__isnull=True)),
                name="consentrequest_grant_iff_approved",
            ),
        ]

    def __str__(self) -> str:
        return f"consent request {self.request_id} ({self.status})"


class ConsentCheck(models.Model):
    """One studio consent check and the logged receipt it was answered with."""

    class Result(models.TextChoices):
        CONSENTED = "consented", "consented"
        NOT_CONSENTED = "not_consented", "not consented"
        REVOKED = "revoked", "revoked"
        EXPIRED = "expired", "expired"
        OPTED_OUT = "opted_out", "opted out"

    check_id = models.CharField(max_length=40, unique=True)
    organisation = models.ForeignKey(
        "registry.Organisation", on_delete=models.CASCADE, related_name="consent_checks"
    )
    person = models.ForeignKey(
        "registry.Person",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="consent_checks",
    )
    category = models.CharField(max_length=20)
    media_type = models.CharField(max_length=10, blank=True)
    territory = models.CharField(max_length=16, blank=True)
    use_at = models.DateTimeField()
    result = models.CharField(max_length=16, choices=Result.choices)
    # The person's assurance level when checked (signed in the receipt too); blank on checks
    # made before levels were reported.
    assurance = models.CharField(max_length=20, blank=True)
    decided_by = models.ForeignKey(
        Record, on_delete=models.PROTECT, null=True, blank=True, related_name="checks"
    )
    log_entry = models.OneToOneField(LogEntry, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["person", "-created_at"], name="consentcheck_person_idx"),
            models.Index(fields=["organisation", "-created_at"], name="consentcheck_org_idx"),
        ]

    def __str__(self) -> str:
        return f"consent check {self.check_id}: {self.result}"


class PersonCheckedBy(models.Model):
    """Which organisations checked which person, so they hear when that person opts out.

    ``reference`` is how the organisation knows the person (a studio: the public id it asked
    with; a platform: its opaque per-organisation reference), echoed in the webhook event.
    """

    person = models.ForeignKey(
        "registry.Person", on_delete=models.CASCADE, related_name="checked_by"
    )
    organisation = models.ForeignKey(
        "registry.Organisation", on_delete=models.CASCADE, related_name="checked_people"
    )
    reference = models.CharField(max_length=100)
    first_checked_at = models.DateTimeField(default=timezone.now)
    last_checked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["person", "organisation"], name="personcheckedby_unique"
            )
        ]

    def __str__(self) -> str:
        return f"person #{self.person_id} checked by organisation #{self.organisation_id}"
