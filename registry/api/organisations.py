"""Registry API for organisations: listing and creating them, their members and their API keys.

Scopes (``registry.scopes``): ``organisation:read`` to see an organisation (every organisation
key holds it for its own organisation, every signed-in member for theirs); ``members:read`` to
list its members and keys and ``organisation:create`` to create one, which only signed-in
sessions hold; ``organisation:manage`` to add members and create or revoke keys, which only the
organisation's owners' sessions hold, so no API key, organisation or personal, ever manages
keys. Personal tokens hold none of these. Any organisation the caller may not see is a 404, so
callers cannot learn which organisations exist.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from registry import scopes, selectors, services
from registry.api.base import ApiView
from registry.api.callers import session_user
from registry.api.serializers import (
    KeyCreateSerializer,
    KeySerializer,
    NewKeySerializer,
    OrganisationSerializer,
    new_key_body,
)
from registry.lib.errors import NotFound, PermissionDeniedError
from registry.models import AssuranceLevel, MembershipRole, Organisation, OrganisationKind, User
from registry.permissions import HasScope, HasScopes, request_api_key, request_organisation


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
    # HasScope already asked for organisation:manage, which only owners' sessions hold; this
    # second look at the role of the organisation found keeps the two from ever drifting apart.
    if role != MembershipRole.OWNER:
        raise PermissionDeniedError("Only an owner of the organisation can do this.")


class OrganisationsApi(ApiView):
    permission_classes = [HasScope]
    scopes_by_method = {
        "GET": [scopes.ORGANISATION_READ],
        "POST": [scopes.ORGANISATION_CREATE],
    }

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
        user = session_user(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        organisation = services.organisation_create(owner=user, **data.validated_data)
        return Response(OrganisationSerializer(organisation).data, status=status.HTTP_201_CREATED)


class OrganisationApi(ApiView):
    permission_classes = [HasScope]
    organisation_url_kwarg = "slug"
    scopes_by_method = {
        "GET": [scopes.ORGANISATION_READ],
        "PATCH": [scopes.ORGANISATION_MANAGE],
    }

    class InputSerializer(serializers.Serializer):
        block_min_assurance = serializers.ChoiceField(choices=AssuranceLevel.choices)

        class Meta:
            ref_name = "RegistryOrganisationPolicy"

    @extend_schema(responses=OrganisationSerializer)
    def get(self, request, slug: str):
        organisation, _role = _organisation_for(request, slug)
        return Response(OrganisationSerializer(organisation).data)

    @extend_schema(request=InputSerializer, responses=OrganisationSerializer)
    def patch(self, request, slug: str):
        """Owners set the organisation's policy: which registrations' opt-outs block."""
        organisation, role = _organisation_for(request, slug)
        _require_owner(role)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        organisation = services.organisation_policy_set(
            organisation=organisation,
            block_min_assurance=data.validated_data["block_min_assurance"],
            actor=request.user,
        )
        return Response(OrganisationSerializer(organisation).data)


class OrganisationMembersApi(ApiView):
    permission_classes = [HasScope]
    organisation_url_kwarg = "slug"
    scopes_by_method = {
        "GET": [scopes.MEMBERS_READ],
        "POST": [scopes.ORGANISATION_MANAGE],
    }

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
        organisation, _role = _organisation_for(request, slug)
        members = organisation.memberships.select_related("user").order_by("created_at")
        return Response(self.OutputSerializer(members, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request, slug: str):
        actor = session_user(request)
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


class OrganisationKeysApi(ApiView):
    permission_classes = [HasScope]
    organisation_url_kwarg = "slug"
    scopes_by_method = {
        "GET": [scopes.MEMBERS_READ],
        "POST": [scopes.ORGANISATION_MANAGE],
    }

    @extend_schema(responses=KeySerializer(many=True))
    def get(self, request, slug: str):
        organisation, _role = _organisation_for(request, slug)
        return Response(
            KeySerializer(organisation.api_keys.order_by("-created_at"), many=True).data
        )

    @extend_schema(request=KeyCreateSerializer, responses={201: NewKeySerializer})
    def post(self, request, slug: str):
        actor = session_user(request)
        organisation, role = _organisation_for(request, slug)
        _require_owner(role)
        data = KeyCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key, plaintext = services.api_key_create(
            organisation=organisation, created_by=actor, **data.validated_data
        )
        return Response(new_key_body(key, plaintext), status=status.HTTP_201_CREATED)


class OrganisationKeyApi(ApiView):
    permission_classes = [HasScopes.require(scopes.ORGANISATION_MANAGE)]
    organisation_url_kwarg = "slug"

    @extend_schema(responses={204: None})
    def delete(self, request, slug: str, key_id: int):
        actor = session_user(request)
        organisation, role = _organisation_for(request, slug)
        _require_owner(role)
        key = organisation.api_keys.filter(pk=key_id).first()
        if key is None:
            raise NotFound("No such key.")
        services.api_key_revoke(key=key, actor=actor)
        return Response(status=status.HTTP_204_NO_CONTENT)
