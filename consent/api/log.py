"""Public, read-only API of the transparency log.

Everything here is meant to be fetched by anyone and checked offline: no authentication (so
no session or CSRF either), and proofs use the field names of the transparency-dev test vectors
so a client can feed them straight to an RFC 9162 verifier.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from consent import selectors
from consent.api.serializers import InclusionProofSerializer, TreeHeadSerializer
from consent.lib.canonical import parse_json
from consent.lib.signing import b64encode
from registry.api.base import ApiView
from registry.api.exceptions import ErrorSerializer
from registry.lib.errors import NotFound

# Past tree sizes never change, so a proof between two given sizes can be cached for long.
_IMMUTABLE_CACHE = "public, max-age=86400"
_SHORT_CACHE = "public, max-age=60"
_MAX_SIZE = 2**62


class ConsistencyProofSerializer(serializers.Serializer):
    size1 = serializers.IntegerField(min_value=0)
    size2 = serializers.IntegerField(min_value=0)
    root1 = serializers.CharField()
    root2 = serializers.CharField()
    proof = serializers.ListField(child=serializers.CharField())

    class Meta:
        ref_name = "ConsistencyProof"


class TreeHeadApi(ApiView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="log_tree_head",
        tags=["transparency log"],
        summary="The latest signed tree head",
        responses={200: TreeHeadSerializer, 404: OpenApiResponse(ErrorSerializer)},
    )
    def get(self, request: Request) -> Response:
        head = selectors.latest_tree_head()
        if head is None:
            raise NotFound("No tree head has been signed yet.", code="no_tree_head")
        response = Response(TreeHeadSerializer(selectors.tree_head_description(head)).data)
        response["Cache-Control"] = _SHORT_CACHE
        return response


class LogEntryApi(ApiView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        index = serializers.IntegerField()
        record = serializers.JSONField(
            help_text='the signed envelope {"payload", "signatures": [{"kid", "sig"}]}'
        )
        record_bytes = serializers.CharField(
            help_text="base64 of the exact canonical bytes the leaf hash is computed over"
        )
        leaf_hash = serializers.CharField()
        tree_head = TreeHeadSerializer()
        inclusion_proof = InclusionProofSerializer()

        class Meta:
            ref_name = "LogEntryWithProof"

    @extend_schema(
        operation_id="log_entry",
        tags=["transparency log"],
        summary="One log entry with its inclusion proof against the latest signed tree head",
        parameters=[
            OpenApiParameter(
                "index",
                {"type": "integer", "minimum": 0, "maximum": _MAX_SIZE},
                OpenApiParameter.PATH,
                description="entry index, from 0; below the latest signed tree head's size",
            )
        ],
        responses={200: OutputSerializer, 404: OpenApiResponse(ErrorSerializer)},
    )
    def get(self, request: Request, index: int) -> Response:
        entry, head, proof = selectors.log_entry_with_proof(index=index)
        record = bytes(entry.record)
        data = {
            "index": entry.index,
            "record": parse_json(record),
            "record_bytes": b64encode(record),
            "leaf_hash": b64encode(bytes(entry.leaf_hash)),
            "tree_head": selectors.tree_head_description(head),
            "inclusion_proof": proof.to_json(),
        }
        response = Response(self.OutputSerializer(data).data)
        response["Cache-Control"] = _SHORT_CACHE
        return response


class InclusionProofApi(ApiView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        leaf_index = serializers.IntegerField(
            min_value=0, max_value=_MAX_SIZE, help_text="entry index, below tree_size"
        )
        tree_size = serializers.IntegerField(
            min_value=1,
            max_value=_MAX_SIZE,
            help_text="size of the tree, at most the latest signed tree head's",
        )

        class Meta:
            ref_name = "InclusionProofQuery"

    @extend_schema(
        operation_id="log_inclusion_proof",
        tags=["transparency log"],
        summary="Inclusion proof of one entry in the tree of a given size",
        parameters=[InputSerializer],
        responses={
            200: InclusionProofSerializer,
            400: OpenApiResponse(ErrorSerializer),
            404: OpenApiResponse(ErrorSerializer),
        },
    )
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        proof = selectors.inclusion_proof(**params.validated_data)
        response = Response(InclusionProofSerializer(proof.to_json()).data)
        response["Cache-Control"] = _IMMUTABLE_CACHE
        return response


class ConsistencyProofApi(ApiView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        first = serializers.IntegerField(
            min_value=0, max_value=_MAX_SIZE, help_text="the older tree size, at most `second`"
        )
        second = serializers.IntegerField(
            min_value=0,
            max_value=_MAX_SIZE,
            help_text="the newer tree size, at most the latest signed tree head's",
        )

        class Meta:
            ref_name = "ConsistencyProofQuery"

    @extend_schema(
        operation_id="log_consistency_proof",
        tags=["transparency log"],
        summary="Proof that the tree of size `first` is a prefix of the tree of size `second`",
        parameters=[InputSerializer],
        responses={
            200: ConsistencyProofSerializer,
            400: OpenApiResponse(ErrorSerializer),
            404: OpenApiResponse(ErrorSerializer),
        },
    )
    def get(self, request: Request) -> Response:
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        proof = selectors.consistency_proof(
            size1=params.validated_data["first"], size2=params.validated_data["second"]
        )
        response = Response(ConsistencyProofSerializer(proof.to_json()).data)
        response["Cache-Control"] = _IMMUTABLE_CACHE
        return response


class PublishedKeysApi(ApiView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        class Key(serializers.Serializer):
            kid = serializers.CharField()
            alg = serializers.ChoiceField(choices=["Ed25519"])
            public_key = serializers.CharField(help_text="base64 raw 32-byte public key")
            status = serializers.ChoiceField(choices=["current", "retired"])
            created_at = serializers.CharField()
            retired_at = serializers.CharField(allow_null=True)

            class Meta:
                ref_name = "PublishedKey"

        keys = Key(many=True)

        class Meta:
            ref_name = "PublishedKeys"

    @extend_schema(
        operation_id="published_signing_keys",
        tags=["transparency log"],
        summary="The registry's signing keys, current and retired",
        responses={200: OutputSerializer},
    )
    def get(self, request: Request) -> Response:
        response = Response(self.OutputSerializer({"keys": selectors.published_keys()}).data)
        response["Cache-Control"] = _SHORT_CACHE
        return response
