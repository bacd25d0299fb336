"""Media checks: what a platform asked, how far the work got, and who it matched.

A ``Check`` is kept for every check an organisation makes, whatever its verdict: the
organisation reads its history back (``GET /api/v1/checks``) and downloads each receipt. The media
itself is never kept (a video only while its job runs). After ``CHECK_DETAIL_RETENTION_DAYS`` a
check drops its per-face detail (boxes, distances, references) and keeps its verdict, time, key
and receipt. ``CheckMatch`` rows are what a person sees in their dashboard ("checks that matched
me"); platforms never see person ids. ``ReviewDecision`` is a member's answer to a face that
needs review.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from registry.models import ApiKey, Organisation, Person, User


class CheckKind(models.TextChoices):
    IMAGE = "image", "Image"
    VIDEO = "video", "Video"
    EMBEDDINGS = "embeddings", "Precomputed embeddings"


class CheckStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINAL_STATUSES = (CheckStatus.DONE, CheckStatus.FAILED, CheckStatus.CANCELLED)


class Verdict(models.TextChoices):
    BLOCKED = "blocked", "Blocked: an opted-out person without consent"
    NEEDS_REVIEW = "needs_review", "Needs review: a possible match"
    CONSENTED = "consented", "Consented: matched people consented to this use"
    CLEAR = "clear", "Clear"


class CheckSource(models.TextChoices):
    API = "api", "API"
    WEB = "web", "Web form"


class Check(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="checks", null=True, blank=True
    )
    api_key = models.ForeignKey(
        ApiKey, on_delete=models.SET_NULL, related_name="checks", null=True, blank=True
    )
    # Who made the check: an API key, or a member (session) through the API or the web form.
    source = models.CharField(max_length=3, choices=CheckSource.choices, default=CheckSource.API)
    submitted_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, related_name="+", null=True, blank=True
    )
    kind = models.CharField(max_length=10, choices=CheckKind.choices)
    status = models.CharField(
        max_length=10, choices=CheckStatus.choices, default=CheckStatus.QUEUED
    )
    progress = models.PositiveSmallIntegerField(default=0)
    category = models.CharField(max_length=30)
    media_sha256 = models.CharField(max_length=64, blank=True)
    media_type = models.CharField(max_length=50, blank=True)
    # Relative to MEDIA_ROOT (under checks/); emptied once the file is deleted after processing.
    media_path = models.CharField(max_length=300, blank=True)
    callback_url = models.URLField(max_length=500, blank=True)
    # AES-GCM sealed under REGISTRY_KEK with the check id as associated data.
    callback_secret_sealed = models.BinaryField(null=True, blank=True)
    callback_delivered_at = models.DateTimeField(null=True, blank=True)
    callback_attempts = models.PositiveSmallIntegerField(default=0)
    verdict = models.CharField(max_length=12, choices=Verdict.choices, blank=True)
    faces = models.PositiveIntegerField(default=0)
    result = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Set when the retention period dropped the per-face detail from ``result``.
    detail_dropped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["organisation", "-created_at"], name="check_org_created_idx"),
            models.Index(
                fields=["status"],
                name="check_unfinished_idx",
                condition=Q(status__in=["queued", "running"]),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(progress__lte=100), name="check_progress_at_most_100"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} check {self.id} ({self.status})"


class CheckMatch(models.Model):
    """One person one check matched (or possibly matched): the person's dashboard line."""

    media_check = models.ForeignKey(Check, on_delete=models.CASCADE, related_name="matches")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="check_matches")
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
    match = models.CharField(max_length=10)  # "match" or "possible"
    verdict = models.CharField(max_length=12, choices=Verdict.choices)
    distance = models.FloatField()
    # The matched person's assurance level at the time: it decided blocked vs needs_review.
    assurance = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["person", "-created_at"], name="checkmatch_person_idx")]
        constraints = [
            models.UniqueConstraint(fields=["media_check", "person"], name="checkmatch_unique")
        ]

    def __str__(self) -> str:
        return f"check {self.media_check_id} matched person #{self.person_id}"


class ReviewDecisionKind(models.TextChoices):
    NOT_THIS_PERSON = "not_this_person", "Not this person"
    TREAT_AS_BLOCKED = "treat_as_blocked", "Treat as blocked"


class ReviewDecision(models.Model):
    """A member's decision on one face of a check that needs review (``face`` indexes
    ``result["faces"]``). It names no person: the organisation only ever saw a reference."""

    media_check = models.ForeignKey(Check, on_delete=models.CASCADE, related_name="reviews")
    face = models.PositiveSmallIntegerField()
    decision = models.CharField(max_length=20, choices=ReviewDecisionKind.choices)
    decided_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, related_name="+", null=True, blank=True
    )
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["media_check", "face"], name="reviewdecision_unique")
        ]

    def __str__(self) -> str:
        return f"check {self.media_check_id} face {self.face}: {self.decision}"


class RateCounter(models.Model):
    """Fixed-window request counters when no shared cache (Redis) is configured.

    The table is UNLOGGED (see the migration): counters are written on every check, need no
    crash safety, and so cost no WAL flush.
    """

    bucket = models.CharField(max_length=100)
    window_start = models.BigIntegerField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bucket", "window_start"], name="ratecounter_unique")
        ]

    def __str__(self) -> str:
        return f"{self.bucket}@{self.window_start}: {self.count}"


class SearchIndexBuild(models.Model):
    """One build of the checks' in-memory index (``matching.services.search_index``).

    The files live in ``MATCHING_INDEX_DIR``; this row proves a manifest there belongs to this
    database (a worker ignores a manifest whose build it cannot find here, such as one left by a
    database that was since recreated) and keeps the history an operator reads.
    ``snapshot`` is PostgreSQL's ``pg_snapshot`` the templates were read under: the search
    compares exactly every opted-out template changed by a transaction it could not see.
    Holds no vectors and nothing about any person.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    built_at = models.DateTimeField(default=timezone.now)
    snapshot = models.TextField()
    templates = models.PositiveIntegerField()
    file_bytes = models.BigIntegerField()
    seconds = models.FloatField()
    # [{"model_name", "key_version", "file", "count", "dimensions"}], one per index file.
    files = models.JSONField(default=list)

    class Meta:
        ordering = ["-built_at"]

    def __str__(self) -> str:
        return f"index build {self.id} ({self.templates} templates)"
