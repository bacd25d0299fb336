"""People and organisations.

``User`` is the login account (email + password). Personal data lives on the account and on
``Person``; everything that leaves the registry (signed records, the Merkle log, platform check
results) refers to people only through commitments or opaque references.
"""

from __future__ import annotations

import secrets

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from registry.db import EmbeddingField


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **fields) -> User:
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def get_by_natural_key(self, email: str) -> User:
        # Sign-in finds the account whatever the case typed, as sign-up refuses an address that
        # differs only in case. Only the admin's add form can store two such addresses; then
        # the exact spelling decides rather than a crash.
        email = (email or "").strip()
        try:
            return self.get(email__iexact=email)
        except self.model.MultipleObjectsReturned:
            return self.get(email=email)

    def create_user(self, email: str, password: str | None = None, **fields) -> User:
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create(email, password, **fields)

    def create_superuser(self, email: str, password: str | None = None, **fields) -> User:
        fields.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(unique=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = "user"
        verbose_name_plural = "users"

    def __str__(self) -> str:
        return f"user #{self.pk}"


def _public_id() -> str:
    # Subject ids are printed by `manage.py enroll` and used by operators; they carry no meaning.
    return "sub_" + secrets.token_hex(10)


def _commitment_salt() -> bytes:
    return secrets.token_bytes(32)


class AssuranceLevel(models.TextChoices):
    SELF_ASSERTED = "self_asserted", "Self-asserted"
    EMAIL_VERIFIED = "email_verified", "Email verified"
    LIVENESS = "liveness", "Passed a live selfie capture"
    VERIFIED = "verified", "Verified by a verifier organisation"


# Lowest to highest: the order the choices are declared in.
ASSURANCE_ORDER: tuple[str, ...] = tuple(AssuranceLevel.values)
# Below this level a person's grant never turns a check into ``consented``: anyone could have
# signed up in their name.
CONSENT_MIN_ASSURANCE = AssuranceLevel.LIVENESS


def assurance_at_least(level: str, minimum: str) -> bool:
    """Whether ``level`` is ``minimum`` or higher (an unknown level counts as the lowest)."""
    rank = ASSURANCE_ORDER.index(level) if level in ASSURANCE_ORDER else -1
    return rank >= ASSURANCE_ORDER.index(minimum)


class RegistrationStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    # Another registration holds the same face and an operator has not resolved it yet: the
    # person's grants do not consent and their opt-outs ask for review rather than block.
    DISPUTED = "disputed", "Disputed"


class Person(models.Model):
    """An individual whose likeness the registry protects.

    ``public_id`` identifies the person to operators and to the person; signed records name them
    only by ``commitment`` (keyed by ``commitment_salt``, destroyed on erasure), and platforms
    only by a per-organisation opaque reference.
    """

    user = models.OneToOneField(
        User, on_delete=models.CASCADE, related_name="person", null=True, blank=True
    )
    public_id = models.CharField(max_length=32, unique=True, default=_public_id, editable=False)
    display_name = models.CharField(max_length=200)
    handle = models.SlugField(max_length=60, unique=True, null=True, blank=True)
    assurance = models.CharField(
        max_length=20, choices=AssuranceLevel.choices, default=AssuranceLevel.SELF_ASSERTED
    )
    keep_photos = models.BooleanField(default=False)
    commitment_salt = models.BinaryField(max_length=32, default=_commitment_salt, editable=False)
    templates_confirmed_at = models.DateTimeField(null=True, blank=True)
    retention_reminded_at = models.DateTimeField(null=True, blank=True)
    suspended_at = models.DateTimeField(null=True, blank=True)
    # When the person last passed a live selfie capture (lifecycle.services.liveness): the
    # evidence behind the ``liveness`` level, kept here so assurance_refresh can read it.
    liveness_passed_at = models.DateTimeField(null=True, blank=True)
    # Kept by lifecycle.services.disputes from the person's open disputes (``Dispute``).
    registration_status = models.CharField(
        max_length=10,
        choices=RegistrationStatus.choices,
        default=RegistrationStatus.ACTIVE,
        db_default=RegistrationStatus.ACTIVE,
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["templates_confirmed_at"], name="person_confirmed_idx")]

    def __str__(self) -> str:
        return self.public_id

    @property
    def is_disputed(self) -> bool:
        return self.registration_status == RegistrationStatus.DISPUTED


class OrganisationKind(models.TextChoices):
    STUDIO = "studio", "Studio"
    PLATFORM = "platform", "Platform"
    VERIFIER = "verifier", "Verifier"


class OrganisationVerification(models.TextChoices):
    UNVERIFIED = "unverified", "Unverified"
    VERIFIED = "verified", "Verified by an operator"


class Organisation(models.Model):
    """A studio, platform or verifier.

    Anyone can create one under any name, so people are not asked to trust it until an operator
    has verified it (``lifecycle.services.organisation_verify``, a signed record in the log):
    until then its consent requests carry a warning and its grants do not consent. Names are
    unique only among verified organisations, so an impostor cannot squat a real one's name.
    """

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    kind = models.CharField(max_length=10, choices=OrganisationKind.choices)
    verification = models.CharField(
        max_length=12,
        choices=OrganisationVerification.choices,
        default=OrganisationVerification.UNVERIFIED,
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    block_min_assurance = models.CharField(
        max_length=20,
        choices=AssuranceLevel.choices,
        default=AssuranceLevel.LIVENESS,
        help_text=(
            "the lowest assurance level whose opt-out blocks this organisation's checks; "
            "a match of a person below it needs review instead"
        ),
    )
    suspended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                condition=models.Q(verification="verified"),
                name="organisation_verified_name_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(verification="unverified") | models.Q(verified_at__isnull=False),
                name="organisation_verified_has_date",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_verified(self) -> bool:
        return self.verification == OrganisationVerification.VERIFIED


class MembershipRole(models.TextChoices):
    OWNER = "owner", "Owner"
    MEMBER = "member", "Member"


class Membership(models.Model):
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=MembershipRole.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "user"], name="membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.role} of organisation #{self.organisation_id}"


class Invitation(models.Model):
    """An owner's invitation to join an organisation, sent by email; the link carries a secret
    token of which only the SHA-256 is stored. Accepted once, by the account with that address."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=MembershipRole.choices)
    token_hash = models.BinaryField(max_length=32, unique=True)
    invited_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    accepted_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "organisation",
                Lower("email"),
                condition=models.Q(accepted_at__isnull=True, cancelled_at__isnull=True),
                name="invitation_pending_unique",
            )
        ]

    def __str__(self) -> str:
        return f"invitation #{self.pk} to organisation #{self.organisation_id}"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.cancelled_at is None


class ApiKey(models.Model):
    """A bearer credential: an organisation's API key or a person's personal token.

    The secret is shown once; only its SHA-256 is stored (keys are 256-bit random, so a fast hash
    is enough). ``prefix`` is the public, non-secret part used to find the row.
    """

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="api_keys", null=True, blank=True
    )
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="personal_tokens", null=True, blank=True
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.BinaryField(max_length=32)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(organisation__isnull=False, user__isnull=True)
                    | models.Q(organisation__isnull=True, user__isnull=False)
                ),
                name="apikey_one_owner",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class FaceTemplate(models.Model):
    """A protected face embedding of one reference photo.

    ``embedding`` is the engine's embedding after the secret orthogonal rotation of template key
    ``key_version`` (see ``registry.lib.template_protection``): distances are preserved, so search
    works, but the stored vector is not the model's output.
    """

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="templates")
    embedding = EmbeddingField(dimensions=128)
    key_version = models.PositiveIntegerField()
    model_name = models.CharField(max_length=100)
    model_version = models.CharField(max_length=100)
    quality = models.FloatField()
    face_px = models.PositiveIntegerField()
    # The person has an active opt-out (any category), so checks search this template. Kept by
    # consent.services.templates_optout_sync; a partial HNSW index covers only these rows
    # (migration 0006), so a check never walks the templates of people who did not opt out.
    opted_out = models.BooleanField(default=False, db_default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["person"], name="template_person_idx")]

    def __str__(self) -> str:
        return f"template #{self.pk} (key v{self.key_version})"


class ReferencePhoto(models.Model):
    """A reference photo kept at the person's request, encrypted with AES-GCM."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="photos")
    template = models.OneToOneField(
        FaceTemplate, on_delete=models.CASCADE, related_name="photo", null=True, blank=True
    )
    content_type = models.CharField(max_length=50)
    ciphertext = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"encrypted photo #{self.pk}"


class Attestation(models.Model):
    """A verifier organisation's confirmation of a person's identity (who, when, how)."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="attestations")
    verifier = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="attestations"
    )
    attested_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    method = models.CharField(max_length=200)
    # The signed attestation record in the transparency log.
    record = models.ForeignKey(
        "consent.Record", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    attested_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"attestation #{self.pk} by organisation #{self.verifier_id}"


class AuditEvent(models.Model):
    """Operator and security-relevant actions. Ids only: never names, emails or biometrics."""

    actor = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=60)
    target_type = models.CharField(max_length=60, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["created_at"], name="audit_created_idx")]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type}#{self.target_id}"


def _dispute_id() -> str:
    return "dsp_" + secrets.token_hex(10)


class DisputeOrigin(models.TextChoices):
    ENROLLMENT_CONFLICT = "enrollment_conflict", "A new face matched another registration"
    REPORTED = "reported", "Reported by a person from their page"


class DisputeStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


class DisputeResolution(models.TextChoices):
    NEWCOMER_OWNS = "newcomer_owns", "The newcomer (or reporter) owns the face"
    EXISTING_OWNS = "existing_owns", "The existing registration owns the face"
    DISTINCT_PEOPLE = "distinct_people", "They are two different people"
    BOTH_REMOVED = "both_removed", "Neither can show the face is theirs: both removed"


class Dispute(models.Model):
    """Two registrations that hold the same face: who owns it is for an operator to decide.

    ``newcomer`` is the registration whose enrollment found the conflict, or the person who
    reported it; ``existing`` is the other one. The disputed party (see ``disputed_party_id``)
    cannot consent until the dispute is resolved. Evidence is the template ids involved, never
    an embedding. A party's erasure leaves the dispute for the operator, with that side empty.
    """

    public_id = models.CharField(max_length=32, unique=True, default=_dispute_id, editable=False)
    newcomer = models.ForeignKey(
        Person, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    existing = models.ForeignKey(
        Person, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    origin = models.CharField(max_length=20, choices=DisputeOrigin.choices)
    status = models.CharField(
        max_length=10, choices=DisputeStatus.choices, default=DisputeStatus.OPEN
    )
    newcomer_template_ids = models.JSONField(default=list, blank=True)
    existing_template_ids = models.JSONField(default=list, blank=True)
    resolution = models.CharField(max_length=20, choices=DisputeResolution.choices, blank=True)
    resolved_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)
    # The signed resolution record in the transparency log.
    record = models.ForeignKey(
        "consent.Record", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(
                fields=["newcomer"], condition=models.Q(status="open"), name="dispute_open_new_idx"
            ),
            models.Index(
                fields=["existing"], condition=models.Q(status="open"), name="dispute_open_old_idx"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(newcomer=models.F("existing")), name="dispute_two_people"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(status="open", resolution="", resolved_at__isnull=True)
                    | (
                        models.Q(status="resolved", resolved_at__isnull=False)
                        & ~models.Q(resolution="")
                    )
                ),
                name="dispute_resolved_has_resolution",
            ),
        ]

    def __str__(self) -> str:
        return self.public_id

    @property
    def disputed_party_id(self) -> int | None:
        """Whose registration is in question: the newcomer's when their enrollment found the
        conflict, the existing one's when someone reported it."""
        if self.origin == DisputeOrigin.REPORTED:
            return self.existing_id
        return self.newcomer_id
