"""Registry API: sign-up, the person's own data and photos, organisations, keys, attestations.

Thin views: validate input, call a service or selector, serialize. Who may do what:
- a person (session or personal token with ``profile:*``) sees and changes only their own data;
- an organisation's members see only that organisation; owners manage its members and keys;
- an organisation API key sees only its own organisation and can never manage keys;
- attestations need ``attest:write`` and a verifier organisation.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from registry import scopes, selectors, services
from registry.lib.errors import NotFound, PermissionDeniedError
from registry.models import ApiKey, MembershipRole, Organisation, OrganisationKind, User
from registry.permissions import (
    HasScope,
    HasScopes,
    IsPerson,
    request_api_key,
    request_organisation,
    request_person,
)


def person_or_404(request):
    person = request_person(request)
    if person is None:
        raise NotFound("There is no person for this account.")
    return person


def _session_user(request) -> User:
    if request_api_key(request) is not None or not isinstance(request.user, User):
        raise PermissionDeniedError("Only a signed-in person can do this, not an API key.")
    return request.user


# --- Serializers ------------------------------------------------------------------------------


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

    class Meta:
        ref_name = "RegistryOrganisation"

    def get_suspended(self, organisation) -> bool:
        return organisation.suspended_at is not None


def _new_key_body(key: ApiKey, plaintext: str) -> dict:
    return {**KeySerializer(key).data, "key": plaintext}


# --- Sign-up and verification -----------------------------------------------------------------


class SignupApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField()
        password = serializers.CharField(write_only=True)
        display_name = serializers.CharField(max_length=200)

        class Meta:
            ref_name = "RegistrySignup"

    @extend_schema(request=InputSerializer, responses={201: PersonSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        person = services.person_create(**data.validated_data)
        services.email_verification_send(user=person.user)
        return Response(PersonSerializer(person).data, status=status.HTTP_201_CREATED)


class VerifyEmailApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        uid = serializers.CharField(max_length=64)
        token = serializers.CharField(max_length=128)

        class Meta:
            ref_name = "RegistryVerifyEmail"

    @extend_schema(request=InputSerializer, responses={200: PersonSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.email_verify(**data.validated_data)
        return Response(PersonSerializer(user.person).data)


# --- The person's own data --------------------------------------------------------------------


class MeApi(APIView):
    permission_classes = [IsPerson, HasScope]
    scopes_by_method = {
        "GET": [scopes.PROFILE_READ],
        "PATCH": [scopes.PROFILE_WRITE],
    }

    class InputSerializer(serializers.Serializer):
        display_name = serializers.CharField(max_length=200, required=False)
        keep_photos = serializers.BooleanField(required=False)

        class Meta:
            ref_name = "RegistryPersonUpdate"

    @extend_schema(responses=PersonSerializer)
    def get(self, request):
        return Response(PersonSerializer(person_or_404(request)).data)

    @extend_schema(request=InputSerializer, responses=PersonSerializer)
    def patch(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        person = services.person_update(person=person_or_404(request), **data.validated_data)
        return Response(PersonSerializer(person).data)


class MeConfirmTemplatesApi(APIView):
    permission_classes = [IsPerson, HasScopes.require(scopes.PROFILE_WRITE)]

    @extend_schema(request=None, responses=PersonSerializer)
    def post(self, request):
        person = services.templates_confirm(person=person_or_404(request))
        return Response(PersonSerializer(person).data)


class MePhotoApi(APIView):
    permission_classes = [IsPerson, HasScopes.require(scopes.PROFILE_WRITE)]

    @extend_schema(responses={204: None})
    def delete(self, request, template_id: int):
        services.template_delete(person=person_or_404(request), template_id=template_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeTokensApi(APIView):
    """Personal tokens: created only from a signed-in session, never by another token."""

    permission_classes = [IsPerson, HasScopes.require(scopes.PROFILE_READ)]

    @extend_schema(responses=KeySerializer(many=True))
    def get(self, request):
        user = _session_user(request)
        return Response(KeySerializer(user.personal_tokens.order_by("-created_at"), many=True).data)

    @extend_schema(request=KeyCreateSerializer, responses={201: NewKeySerializer})
    def post(self, request):
        user = _session_user(request)
        data = KeyCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key, plaintext = services.api_key_create(user=user, created_by=user, **data.validated_data)
        return Response(_new_key_body(key, plaintext), status=status.HTTP_201_CREATED)


class MeTokenApi(APIView):
    permission_classes = [IsPerson, HasScopes.require(scopes.PROFILE_WRITE)]

    @extend_schema(responses={204: None})
    def delete(self, request, key_id: int):
        services.api_key_revoke_for(key_id=key_id, actor=_session_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Organisations ----------------------------------------------------------------------------


def _organisation_for(request, slug: str) -> tuple[Organisation, str | None]:
    """The organisation if the caller may see it, with the session user's role (None for a key).
    Anything else is a 404, so callers cannot learn which organisations exist."""
    organisation = Organisation.objects.filter(slug=slug).first()
    if organisation is None:
        raise NotFound("No such organisation.")
    key = request_api_key(request)
    if key is not None:
        if key.organisation_id != organisation.pk:
            raise NotFound("No such organisation.")
        return organisation, None
    role = selectors.membership_role(organisation=organisation, user=request.user)
    if role is None:
        raise NotFound("No such organisation.")
    return organisation, role


def _require_owner(role: str | None) -> None:
    if role != MembershipRole.OWNER:
        raise PermissionDeniedError("Only an owner of the organisation can do this.")


class OrganisationsApi(APIView):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        kind = serializers.ChoiceField(choices=OrganisationKind.choices)

        class Meta:
            ref_name = "RegistryOrganisationCreate"

    @extend_schema(responses=OrganisationSerializer(many=True))
    def get(self, request):
        key = request_api_key(request)
        if key is not None:
            organisation = request_organisation(request)
            found = [organisation] if organisation else []
        else:
            found = selectors.organisations_for_user(user=request.user)
        return Response(OrganisationSerializer(found, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: OrganisationSerializer})
    def post(self, request):
        user = _session_user(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        organisation = services.organisation_create(owner=user, **data.validated_data)
        return Response(OrganisationSerializer(organisation).data, status=status.HTTP_201_CREATED)


class OrganisationApi(APIView):
    @extend_schema(responses=OrganisationSerializer)
    def get(self, request, slug: str):
        organisation, _role = _organisation_for(request, slug)
        return Response(OrganisationSerializer(organisation).data)


class OrganisationMembersApi(APIView):
    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField()
        role = serializers.ChoiceField(choices=MembershipRole.choices)

        class Meta:
            ref_name = "RegistryMemberAdd"

    class OutputSerializer(serializers.Serializer):
        email = serializers.EmailField(source="user.email")
        role = serializers.CharField()
        created_at = serializers.DateTimeField()

        class Meta:
            ref_name = "RegistryMember"

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request, slug: str):
        _session_user(request)  # members' emails are for members, not for API keys
        organisation, _role = _organisation_for(request, slug)
        members = organisation.memberships.select_related("user").order_by("created_at")
        return Response(self.OutputSerializer(members, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request, slug: str):
        actor = _session_user(request)
        organisation, role = _organisation_for(request, slug)
        _require_owner(role)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = User.objects.filter(email__iexact=data.validated_data["email"]).first()
        if user is None:
            raise NotFound("No account has this email address.")
        membership = services.membership_add(
            organisation=organisation, user=user, role=data.validated_data["role"], actor=actor
        )
        return Response(self.OutputSerializer(membership).data, status=status.HTTP_201_CREATED)


class OrganisationKeysApi(APIView):
    @extend_schema(responses=KeySerializer(many=True))
    def get(self, request, slug: str):
        _session_user(request)
        organisation, _role = _organisation_for(request, slug)
        return Response(
            KeySerializer(organisation.api_keys.order_by("-created_at"), many=True).data
        )

    @extend_schema(request=KeyCreateSerializer, responses={201: NewKeySerializer})
    def post(self, request, slug: str):
        actor = _session_user(request)
        organisation, role = _organisation_for(request, slug)
        _require_owner(role)
        data = KeyCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key, plaintext = services.api_key_create(
            organisation=organisation, created_by=actor, **data.validated_data
        )
        return Response(_new_key_body(key, plaintext), status=status.HTTP_201_CREATED)


class OrganisationKeyApi(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request, slug: str, key_id: int):
        actor = _session_user(request)
        organisation, role = _organisation_for(request, slug)
        _require_owner(role)
        key = organisation.api_keys.filter(pk=key_id).first()
        if key is None:
            raise NotFound("No such key.")
        services.api_key_revoke(key=key, actor=actor)
        return Response(status=status.HTTP_204_NO_CONTENT)
