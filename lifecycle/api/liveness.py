"""API of the live selfie capture: ask for a challenge, send the clip recorded for it.

The same service as the page (``lifecycle.services.liveness``); a personal token with
``profile:write`` acts for its person.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from lifecycle.services import liveness
from registry import scopes
from registry.api.base import ApiView
from registry.api.callers import person_or_404
from registry.api.exceptions import ErrorSerializer
from registry.lib.errors import ValidationFailed
from registry.permissions import HasScopes, IsPerson


class ChallengeSerializer(serializers.Serializer):
    nonce = serializers.CharField()
    challenge = serializers.ListField(
        child=serializers.ChoiceField(choices=["left", "right"]),
        help_text="Head turns in order, as the person's own left and right.",
    )
    lead_in_s = serializers.FloatField(help_text="Seconds looking at the camera first.")
    step_s = serializers.FloatField(help_text="Seconds for each turn and the return.")
    seconds = serializers.FloatField(help_text="How long to record.")
    expires_at = serializers.DateTimeField()


class LivenessResultSerializer(serializers.Serializer):
    passed = serializers.BooleanField()
    reason = serializers.CharField(
        help_text="Why it did not pass, for the person; empty if it did."
    )
    level = serializers.CharField(help_text="The person's assurance level now.")
    templates_added = serializers.IntegerField()


class MeLivenessApi(ApiView):
    """A live-capture challenge for the token's person."""

    permission_classes = [IsPerson, HasScopes.require(scopes.PROFILE_WRITE)]

    @extend_schema(
        request=None,
        responses={
            201: ChallengeSerializer,
            409: OpenApiResponse(ErrorSerializer, description="No reference photos yet."),
            429: OpenApiResponse(ErrorSerializer, description="Too many attempts this hour."),
        },
    )
    def post(self, request):
        """The person's pending challenge, or a new one: head turns to perform in order while
        recording, and the single-use nonce to send with the clip (valid 3 minutes)."""
        person = person_or_404(request)
        attempt = liveness.liveness_challenge_current(
            person=person
        ) or liveness.liveness_challenge_create(person=person)
        return Response(
            {
                "nonce": attempt.nonce,
                "challenge": attempt.challenge,
                "lead_in_s": liveness.LEAD_IN_SECONDS,
                "step_s": liveness.STEP_SECONDS,
                "seconds": liveness.challenge_seconds(attempt.challenge),
                "expires_at": attempt.expires_at,
            },
            status=status.HTTP_201_CREATED,
        )


class MeLivenessClipApi(ApiView):
    """Send the clip recorded for a challenge."""

    permission_classes = [IsPerson, HasScopes.require(scopes.PROFILE_WRITE)]
    parser_classes = [MultiPartParser]

    class InputSerializer(serializers.Serializer):
        nonce = serializers.CharField(max_length=64)
        clip = serializers.FileField(help_text="WebM (VP8/VP9) or MP4, at most 20 MB and 20 s.")

        class Meta:
            ref_name = "LivenessClipUpload"

    @extend_schema(
        request={"multipart/form-data": InputSerializer},
        responses={
            200: LivenessResultSerializer,
            400: OpenApiResponse(ErrorSerializer, description="Unknown nonce, empty or bad clip."),
            409: OpenApiResponse(ErrorSerializer, description="The challenge was used or expired."),
            413: OpenApiResponse(ErrorSerializer, description="The clip is too large or long."),
            415: OpenApiResponse(ErrorSerializer, description="Not a video."),
        },
    )
    def post(self, request):
        """Judge the clip. 200 whether it passed or not (``passed``, ``reason``); a clip that
        cannot be read is a 4xx. Either way the challenge is spent: ask for a new one."""
        person = person_or_404(request)
        upload = request.FILES.get("clip")
        if upload is None:
            raise ValidationFailed("No clip was sent: record one first.", code="clip_required")
        attempt = liveness.liveness_attempt_for_nonce(
            person=person, nonce=request.data.get("nonce", "")
        )
        result = liveness.liveness_clip_verify(
            attempt=attempt, clip=upload.read(liveness.MAX_CLIP_BYTES + 1)
        )
        person.refresh_from_db(fields=["assurance"])
        return Response(
            {
                "passed": result.passed,
                "reason": result.attempt.reason,
                "level": person.assurance,
                "templates_added": result.templates_stored,
            }
        )
