"""Consent app models.

Sections (each owned and documented on its own):
- Transparency log and signing keys: ``SigningKey``, ``LogState``, ``LogEntry``, ``MerkleNode``,
  ``SignedTreeHead``. Written only by ``consent.services`` (log part).
- Records and decisions: ``Record`` (the queryable mirror of a signed decision) and
  ``ConsentRequest``, which share their use terms through the abstract ``UseTerms``;
  ``PersonKey``, ``ConsentCheck``, ``PersonCheckedBy``, and the webhooks (``WebhookEndpoint``,
  ``WebhookDelivery``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import Exact
from django.utils import timezone

# =================================================================================================
# Transparency log and signing keys
#
# Every decision is appended to an RFC 6962 Merkle log as the exact canonical bytes of a signed
# envelope. Rows here are append-only by convention (nothing in the code updates or deletes
# them, except a key's retirement); ``manage.py verify_log`` recomputes everything from the
# stored bytes and reports any row that was changed behind the application's back.
# =================================================================================================

SHA256_SIZE = 32
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ED25519_PUBLIC_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64


class SigningKey(models.Model):
    """An Ed25519 key the registry signs records and tree heads with.

    The private half is sealed with AES-256-GCM under ``settings.REGISTRY_KEK`` with the kid as
    associated data; it never leaves ``consent.services``. Keys are never deleted: a retired key
    stays published so records it signed keep verifying.
    """

    class Status(models.TextChoices):
        CURRENT = "current", "current"
        RETIRED = "retired", "retired"

    kid = models.CharField(max_length=64, unique=True, help_text="hex SHA-256 of the public key")
    public_key = models.BinaryField(help_text="raw 32-byte Ed25519 public key")
    private_key_sealed = models.BinaryField(help_text="AES-GCM sealed raw private key")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CURRENT)
    created_at = models.DateTimeField(default=timezone.now)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # At most one current key; the service creates the first one lazily.
            models.UniqueConstraint(
                fields=["status"],
                condition=Q(status="current"),
                name="consent_signingkey_one_current",
            ),
            models.CheckConstraint(
                condition=(
                    Q(status="current", retired_at__isnull=True)
                    | Q(status="retired", retired_at__isnull=False)
                ),
                name="consent_signingkey_retired_at_iff_retired",
            ),
            models.CheckConstraint(
                condition=Exact(Length("public_key"), ED25519_PUBLIC_KEY_SIZE),
                name="consent_signingkey_public_key_size",
            ),
        ]

    def __str__(self) -> str:
        return f"signing key {self.kid[:16]}… ({self.status})"


class LogState(models.Model):
    """The log's single state row.

    Appends lock it with ``SELECT ... FOR UPDATE``, so appends from any number of processes
    are serialised and indexes are gapless; ``tree_size`` is the committed size of the log.
    """

    SINGLETON_ID = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_ID)
    tree_size = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="consent_logstate_single_row"),
            models.CheckConstraint(condition=Q(tree_size__gte=0), name="consent_logstate_size"),
        ]

    def __str__(self) -> str:
        return f"log of {self.tree_size} entries"


class LogEntry(models.Model):
    """One leaf of the log: the exact canonical bytes of a signed envelope.

    ``leaf_hash`` is ``SHA-256(0x00 || record)``. The bytes are stored rather than rebuilt from
    other tables so the leaf can always be recomputed exactly, whatever changes elsewhere.
    """

    index = models.BigIntegerField(unique=True)
    leaf_hash = models.BinaryField()
    record = models.BinaryField(help_text="RFC 8785 canonical JSON of the signed envelope")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["index"]
        verbose_name_plural = "log entries"
        constraints = [
            models.CheckConstraint(condition=Q(index__gte=0), name="consent_logentry_index_gte_0"),
            models.CheckConstraint(
                condition=Exact(Length("leaf_hash"), SHA256_SIZE),
                name="consent_logentry_leaf_hash_size",
            ),
        ]

    def __str__(self) -> str:
        return f"log entry {self.index}"


class MerkleNode(models.Model):
    """A complete node: the hash of the perfect subtree of leaves [i * 2**L, (i + 1) * 2**L).

    Level 0 holds the leaf hashes. The composite primary key is the only index the table needs
    (every read is a batch of exact (level, index) lookups), which keeps a log of a million
    entries at about two narrow rows per entry.
    """

    pk = models.CompositePrimaryKey("level", "index")
    level = models.PositiveSmallIntegerField()
    index = models.BigIntegerField()
    hash = models.BinaryField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(level__lte=63) & Q(index__gte=0), name="consent_merklenode_position"
            ),
            models.CheckConstraint(
                condition=Exact(Length("hash"), SHA256_SIZE),
                name="consent_merklenode_hash_size",
            ),
        ]

    def __str__(self) -> str:
        return f"merkle node (level {self.level}, index {self.index})"


class SignedTreeHead(models.Model):
    """The registry's signature over the root of the log at one size.

    The signed bytes are ``consent.lib.treehead.tree_head_signed_bytes`` of these fields, with
    the timestamp in whole milliseconds (the service truncates it so it round-trips exactly).
    """

    tree_size = models.BigIntegerField(unique=True)
    root_hash = models.BinaryField()
    timestamp = models.DateTimeField()
    kid = models.CharField(max_length=64, db_index=True)
    signature = models.BinaryField()

    class Meta:
        ordering = ["tree_size"]
        constraints = [
            models.CheckConstraint(
                condition=Q(tree_size__gte=0), name="consent_signedtreehead_size_gte_0"
            ),
            models.CheckConstraint(
                condition=Exact(Length("root_hash"), SHA256_SIZE),
                name="consent_signedtreehead_root_hash_size",
            ),
            models.CheckConstraint(
                condition=Exact(Length("signature"), ED25519_SIGNATURE_SIZE),
                name="consent_signedtreehead_signature_size",
            ),
        ]

    def __str__(self) -> str:
        return f"tree head at size {self.tree_size}"

    @property
    def timestamp_ms(self) -> int:
        # Integer arithmetic: a float detour could be off by one millisecond.
        return (self.timestamp - UNIX_EPOCH) // timedelta(milliseconds=1)


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


# --- webhooks -----------------------------------------------------------------------------------


class WebhookEndpoint(models.Model):
    """An organisation's HTTPS endpoint; the HMAC secret is sealed at rest and shown once."""

    endpoint_id = models.CharField(max_length=40, unique=True)
    organisation = models.ForeignKey(
        "registry.Organisation", on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=500)
    secret_sealed = models.BinaryField()
    description = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        "registry.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    disabled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"webhook endpoint {self.endpoint_id}"


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed (gave up)"

    delivery_id = models.CharField(max_length=40, unique=True)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.CharField(max_length=40)
    event_type = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["endpoint", "-created_at"], name="webhookdelivery_endpoint_idx"),
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="webhookdelivery_due_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event_id"], name="webhookdelivery_one_per_event"
            )
        ]

    def __str__(self) -> str:
        return f"delivery {self.delivery_id} of {self.event_type} ({self.status})"
