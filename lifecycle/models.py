"""Data of the person-wide workflows: live selfie capture attempts.

A ``LivenessAttempt`` is one challenge the server chose for a person and, once a clip was sent,
its outcome. It holds no biometric data: the clip itself is analysed in memory and discarded, only
its SHA-256 stays (so the same bytes cannot pass twice) and, once passed, its head motion as yaw
angles (so a re-encoded copy cannot pass again either).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from registry.models import Person


class LivenessOutcome(models.TextChoices):
    PENDING = "pending", "Waiting for a clip"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Refused"


class LivenessAttempt(models.Model):
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="liveness_attempts")
    # Single-use and unguessable: the page sends it back with the clip.
    nonce = models.CharField(max_length=64, unique=True)
    # The head turns asked for, in order, as the person's own left/right: ["left", "right", ...].
    challenge = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(
        max_length=16, choices=LivenessOutcome.choices, default=LivenessOutcome.PENDING
    )
    # A sentence for the person ("We saw two faces"); never a distance or a server detail.
    reason = models.CharField(max_length=200, blank=True)
    clip_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    # A passed clip's head motion (yaw per sample, ``lifecycle.lib.head_turns.pose_trace``): how
    # a re-encoded replay of it is recognised. Head pose, not a face: nothing biometric.
    pose_trace = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["person", "created_at"], name="liveness_person_created_idx"),
        ]

    def __str__(self) -> str:
        return f"liveness attempt {self.pk} ({self.outcome})"

    def is_live(self, now=None) -> bool:
        now = now or timezone.now()
        return self.used_at is None and self.expires_at > now
