"""Serializers the registry API's views share: a person, their photos and attestations, API keys
and organisations. Each names its schema component (``ref_name``) so the OpenAPI schema keeps its
names wherever the serializer is used, including in ``lifecycle.api``."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers

from registry import selectors
from registry.models import ApiKey, RegistrationStatus


class AttestationSerializer(serializers.Serializer):
    verifier = serializers.CharField(source="verifier.name")
    method = serializers.CharField()
    attested_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "RegistryAttestation"


class PersonSerializer(serializers.Serializer):
    subject = serializers.CharField(source="public_id")
    display_name = serializers.CharField()
    email = serializers.EmailField(source="user.email", allow_null=True)
    email_verified = serializers.SerializerMethodField()
    assurance = serializers.CharField()
    registration_status = serializers.ChoiceField(
        choices=RegistrationStatus.choices,
        help_text="`disputed` while another registration holds the same face (docs/disputes.md)",
    )
    keep_photos = serializers.BooleanField()
    templates_confirmed_at = serializers.DateTimeField(allow_null=True)
    photos = serializers.SerializerMethodField()
    attestations = serializers.SerializerMethodField()

    class Meta:
        ref_name = "RegistryPerson"

    def get_email_verified(self, person) -> bool:
        return bool(person.user and person.user.email_verified_at)

    def get_photos(self, person) -> int:
        return person.templates.count()

    @extend_schema(responses=AttestationSerializer(many=True))
    def get_attestations(self, person) -> list[dict]:
        return AttestationSerializer(selectors.person_attestations(person=person), many=True).data


class TemplateSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    model_name = serializers.CharField()
    model_version = serializers.CharField()
    quality = serializers.FloatField()
    face_px = serializers.IntegerField()
    photo_kept = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "RegistryPhoto"

    def get_photo_kept(self, template) -> bool:
        return hasattr(template, "photo")


class KeySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        ref_name = "RegistryApiKey"


class NewKeySerializer(KeySerializer):
    key = serializers.CharField(help_text="The secret key. Shown once: store it now.")

    class Meta:
        ref_name = "RegistryNewApiKey"


class KeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(child=serializers.CharField(), min_length=1)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)

    class Meta:
        ref_name = "RegistryApiKeyCreate"


class OrganisationSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    suspended = serializers.SerializerMethodField()
    verification = serializers.CharField(
        help_text="unverified until an operator verifies the organisation (a signed record)"
    )
    verified_at = serializers.DateTimeField(allow_null=True)
    block_min_assurance = serializers.CharField(
        help_text="the lowest assurance whose opt-out blocks in this organisation's checks; "
        "below it a match needs review"
    )

    class Meta:
        ref_name = "RegistryOrganisation"

    def get_suspended(self, organisation) -> bool:
        return organisation.suspended_at is not None


def new_key_body(key: ApiKey, plaintext: str) -> dict:
    """A new key as the API shows it once: its fields and the plaintext secret."""
    return {**KeySerializer(key).data, "key": plaintext}
