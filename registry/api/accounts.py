"""Registry API for people: sign-up, email verification, and the person's own data, photos and
personal tokens.

A person (session or personal token with ``profile:*``) sees and changes only their own data;
personal tokens are created and revoked only from a signed-in session. Thin views: validate
input, call a service, serialize.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from registry import scopes, services
from registry.api.base import ApiView
from registry.api.callers import person_or_404, session_user
from registry.api.serializers import (
    KeyCreateSerializer,
    KeySerializer,
    NewKeySerializer,
    PersonSerializer,
    new_key_body,
)
from registry.permissions import HasScope, HasScopes, IsPerson
from registry.site import site_url

# --- Sign-up and verification -----------------------------------------------------------------


class SignupApi(ApiView):
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
        services.email_verification_send(user=person.user, site_url=site_url(request))
        return Response(PersonSerializer(person).data, status=status.HTTP_201_CREATED)


class VerifyEmailApi(ApiView):
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


class MeApi(ApiView):
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


class MeConfirmTemplatesApi(ApiView):
    permission_classes = [IsPerson, HasScopes.require(scopes.PROFILE_WRITE)]

    @extend_schema(request=None, responses=PersonSerializer)
    def post(self, request):
        person = services.templates_confirm(person=person_or_404(request))
        return Response(PersonSerializer(person).data)


class MePhotoApi(ApiView):
    permission_classes = [IsPerson, HasScopes.require(scopes.PROFILE_WRITE)]

    @extend_schema(responses={204: None})
    def delete(self, request, template_id: int):
        services.template_delete(person=person_or_404(request), template_id=template_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeTokensApi(ApiView):
    """Personal tokens: created only from a signed-in session, never by another token."""

    permission_classes = [IsPerson, HasScopes.require(scopes.PROFILE_READ)]

    @extend_schema(responses=KeySerializer(many=True))
    def get(self, request):
        user = session_user(request)
        return Response(KeySerializer(user.personal_tokens.order_by("-created_at"), many=True).data)

    @extend_schema(request=KeyCreateSerializer, responses={201: NewKeySerializer})
    def post(self, request):
        user = session_user(request)
        data = KeyCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key, plaintext = services.api_key_create(user=user, created_by=user, **data.validated_data)
        return Response(new_key_body(key, plaintext), status=status.HTTP_201_CREATED)


class MeTokenApi(ApiView):
    permission_classes = [IsPerson, HasScopes.require(scopes.PROFILE_WRITE)]

    @extend_schema(responses={204: None})
    def delete(self, request, key_id: int):
        services.api_key_revoke_for(key_id=key_id, actor=session_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
