"""The transparency log and the registry's signing keys: the source of truth of every decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
