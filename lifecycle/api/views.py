"""API of the person-wide workflows: enrollment, export, erasure and attestations.

Thin views over ``lifecycle.services``. ``/me`` is the registry's view of the person with the
erasure (``DELETE``) added here, since erasure spans every app.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from lifecycle import services as lifecycle_services
from registry import scopes
from registry import selectors as registry_selectors
from registry.api.accounts import MeApi as RegistryMeApi
from registry.api.base import ApiView
from registry.api.callers import person_or_404
from registry.api.exceptions import ErrorSerializer
from registry.api.serializers import TemplateSerializer
from registry.lib.errors import NotFound, PermissionDeniedError, ValidationFailed
from registry.models import RegistrationStatus
from registry.permissions import (
    HasScope,
    HasScopes,
    IsPerson,
    request_api_key,
    request_organisation,
)


class MeApi(RegistryMeApi):
    # The registry's view of the person, with erasure (DELETE) added: it spans every app.
    scopes_by_method = {**RegistryMeApi.scopes_by_method, "DELETE": [scopes.PROFILE_WRITE]}

    @extend_schema(responses={204: None})
    def delete(self, request):
        """Erase the account at once: templates, photos and personal data."""
        lifecycle_services.person_erase(person=person_or_404(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PhotoOutcomeSerializer(serializers.Serializer):
    filename = serializers.CharField()
    accepted = serializers.BooleanField()
    reason = serializers.CharField(allow_null=True)
    problems = serializers.ListField(child=serializers.CharField())
    template_id = serializers.IntegerField(allow_null=True)
    quality = serializers.FloatField(allow_null=True)
    face_px = serializers.IntegerField(allow_null=True)

    class Meta:
        ref_name = "RegistryPhotoOutcome"


class EnrollmentSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()
    templates_total = serializers.IntegerField()
    status = serializers.ChoiceField(
        choices=RegistrationStatus.choices,
        help_text=(
            "`disputed` when one of the faces matches another person's registration: an "
            "operator resolves it, and until then this person's grants do not consent."
        ),
    )
    conflicts = serializers.IntegerField(
        help_text="How many open disputes this registration is in (never who the other is)."
    )
    photos = PhotoOutcomeSerializer(many=True)

    class Meta:
        ref_name = "RegistryEnrollment"


class MeExportApi(ApiView):
    permission_classes = [IsPerson, HasScopes.require(scopes.PROFILE_READ)]

    @extend_schema(
        responses=inline_serializer("RegistryExport", {"format": serializers.CharField()})
    )
    def get(self, request):
        person = person_or_404(request)
        response = Response(lifecycle_services.person_export(person=person))
        response["Content-Disposition"] = (
            f'attachment; filename="likeness-registry-{person.public_id}.json"'
        )
        return response


class MePhotosApi(ApiView):
    permission_classes = [IsPerson, HasScope]
    scopes_by_method = {"GET": [scopes.PROFILE_READ], "POST": [scopes.PROFILE_WRITE]}
    parser_classes = [MultiPartParser]

    class InputSerializer(serializers.Serializer):
        photos = serializers.ListField(child=serializers.FileField(), min_length=1)

        class Meta:
            ref_name = "RegistryPhotoUpload"

    @extend_schema(responses=TemplateSerializer(many=True))
    def get(self, request):
        templates = registry_selectors.person_templates(person=person_or_404(request))
        return Response(TemplateSerializer(templates, many=True).data)

    @extend_schema(
        request={"multipart/form-data": InputSerializer},
        responses={
            201: EnrollmentSerializer,
            422: OpenApiResponse(
                ErrorSerializer,
                description="No photo was accepted; `error.detail` has each photo's verdict.",
            ),
        },
    )
    def post(self, request):
        """Upload 1 to 10 reference photos (``photos``, repeated). Each gets a verdict; accepted
        photos are kept even if others are refused. 422 when none is accepted."""
        person = person_or_404(request)
        files = request.FILES.getlist("photos")
        images = read_uploads(files)
        result = lifecycle_services.person_enroll(person=person, images=images)
        body = result.as_dict()
        if not result.accepted:
            raise ValidationFailed(
                "No photo was accepted: " + "; ".join(p.reason or "" for p in result.photos),
                code="photos_rejected",
                detail=body,
                status_code=422,
            )
        return Response(body, status=status.HTTP_201_CREATED)


def read_uploads(files) -> list[tuple[str, bytes]]:
    """Uploaded files as (filename, bytes), refusing too many files or oversized ones early."""
    if not files:
        raise ValidationFailed("photos: Send at least one photo.", detail={"photos": "required"})
    limit = settings.ENROLLMENT_MAX_PHOTOS
    if len(files) > limit:
        raise ValidationFailed(
            f"photos: At most {limit} photos per request.", detail={"photos": "too_many"}
        )
    images = []
    for upload in files:
        # Reading one byte past the limit is enough for the service to say "file too large".
        data = upload.read(settings.MAX_IMAGE_BYTES + 1)
        images.append(((upload.name or "photo")[:200], data))
    return images


class AttestationsApi(ApiView):
    """A verifier organisation records how it verified a person's identity."""

    permission_classes = [HasScopes.require(scopes.ATTEST_WRITE)]

    class InputSerializer(serializers.Serializer):
        subject = serializers.CharField(max_length=32)
        method = serializers.CharField(max_length=200)

        class Meta:
            ref_name = "RegistryAttestationCreate"

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        subject = serializers.CharField(source="person.public_id")
        verifier = serializers.CharField(source="verifier.slug")
        method = serializers.CharField()
        attested_at = serializers.DateTimeField()

        class Meta:
            ref_name = "RegistryAttestationCreated"

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request):
        organisation = request_organisation(request)
        if organisation is None:
            raise PermissionDeniedError("Attestations are made by a verifier organisation.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        person = registry_selectors.person_by_public_id(public_id=data.validated_data["subject"])
        if person is None:
            raise NotFound("No such subject.")
        key = request_api_key(request)
        attested_by = key.created_by if key is not None else request.user
        attestation = lifecycle_services.attestation_create(
            person=person,
            verifier=organisation,
            method=data.validated_data["method"],
            attested_by=attested_by,
        )
        return Response(self.OutputSerializer(attestation).data, status=status.HTTP_201_CREATED)
