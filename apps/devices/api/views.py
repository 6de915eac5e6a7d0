from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers as drf_serializers
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from apps.accounts.authentication import request_session
from apps.accounts.selectors import full_address
from apps.core.api_fields import BIGINT_MAX, check_address, validated
from apps.core.b64 import b64_or_none
from apps.core.errors import NotFound, ServiceError
from apps.core.schema import error_response
from apps.devices import certificates, federation, selectors, services, sync
from apps.devices.api import serializers
from apps.devices.models import Device
from apps.federation.remote import is_remote

# What only these views know; the generic errors (400, 401, 404, 413, 415, 429) come from
# apps.core.schema.ApiAutoSchema.
NO_USER = error_response("user_not_found: an address names nobody")
PEER_DOWN = error_response("peer_unreachable: the user's instance cannot be reached now")
PEER_WRONG = error_response("invalid_peer_answer: the user's instance answered nonsense")


class ClaimThrottle(UserRateThrottle):
    scope = "claim_user"


class DeviceListView(APIView):
    @extend_schema(responses={200: serializers.DeviceSerializer(many=True)})
    def get(self, request: Request) -> Response:
        session = request_session(request)
        devices = selectors.devices_of(session.user_id)
        context = {"current_device_id": session.device_id}
        return Response(serializers.DeviceSerializer(devices, many=True, context=context).data)


class DeviceDetailView(APIView):
    @extend_schema(responses={204: None, 404: error_response("device_not_found: not one of your devices")})
    def delete(self, request: Request, device_id: int) -> Response:
        device = Device.objects.filter(pk=device_id, user_id=request_session(request).user_id).first()
        if device is None:
            raise NotFound("You have no device with this id.", code="device_not_found")
        services.do_revoke_device(device)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeviceCertificateView(APIView):
    @extend_schema(
        request=serializers.CertificateSerializer,
        responses={
            200: serializers.DeviceSerializer,
            400: error_response("invalid_certificate / invalid_key"),
            404: error_response("device_not_found: not one of your devices"),
            409: error_response("identity_key_conflict: the account has another identity key"),
        },
    )
    def put(self, request: Request, device_id: int) -> Response:
        """Store a device certificate made by one of the user's clients with the identity key.

        Certifying another of the user's devices approves it: with `sealed_identity` (the
        identity key sealed to that device's X25519 key) it can approve devices in turn."""
        session = request_session(request)
        data = validated(serializers.CertificateSerializer, request.data)
        device = Device.objects.select_related("user").filter(pk=device_id, user_id=session.user_id).first()
        if device is None:
            raise NotFound("You have no device with this id.", code="device_not_found")
        approved = certificates.do_set_certificate(
            device, data["identity_key"], data["certificate"], data.get("sealed_identity")
        )
        if approved:
            # The user's other devices and everyone sharing a chat with them (here and on
            # peers) may now add the device: their clients check the certificate first.
            with transaction.atomic():
                services.notify_device_change(device, "certified")
        context = {"current_device_id": session.device_id}
        return Response(serializers.DeviceSerializer(device, context=context).data)


class IdentityKeyView(APIView):
    @extend_schema(
        responses={200: inline_serializer("IdentityKeys", {"identity_key": drf_serializers.CharField(allow_null=True)})}
    )
    def get(self, request: Request) -> Response:
        """This account's identity public key as the server holds it (null before the first certificate)."""
        keys = certificates.identity_keys_of([request_session(request).user_id])
        key = next(iter(keys.values()), None)
        return Response({"identity_key": b64_or_none(key)})


class UserCertificatesView(APIView):
    @extend_schema(
        responses={
            200: OpenApiResponse(
                description='{"user", "identity_key": base64|null, "devices": [{client_device_id, certificate}], '
                '"log": {size, head, signature, entries: [{index, kind, body}]} | null (a user of another instance)}'
            ),
            400: error_response("invalid_input: not a user address, or log_from not a whole number"),
            404: NO_USER,
            502: PEER_WRONG,
            503: PEER_DOWN,
        },
        parameters=[
            OpenApiParameter(
                "log_from",
                int,
                description="The key log's entries from this index on (the size the client saw last; default 0).",
            )
        ],
    )
    def get(self, request: Request, address: str) -> Response:
        """A user's identity key and device certificates, as their clients made them (clients check them),
        with the user's key log: its signed head and its entries from `log_from` on."""
        request_session(request)
        address = full_address(check_address(address))
        start = request.query_params.get("log_from", "0")
        if not start.isdigit() or int(start) > BIGINT_MAX:
            raise ServiceError("log_from must be a whole number.", code="invalid_input")
        if is_remote(address):
            federation.refresh_remote_user(address)
        answer = certificates.certificates_of(address)
        answer["log"] = None if is_remote(address) else certificates.log_document(address, int(start))
        return Response(answer)


class KeyPackageUploadView(APIView):
    @extend_schema(
        request=serializers.KeyPackageUploadSerializer,
        responses={
            201: inline_serializer("KeyPackagesStored", {"stored": drf_serializers.IntegerField()}),
            409: error_response("keypackage_pool_full: this device holds as many KeyPackages as it may"),
        },
    )
    def post(self, request: Request) -> Response:
        data = validated(serializers.KeyPackageUploadSerializer, request.data)
        stored = services.do_store_keypackages(request_session(request).device, data["keypackages"])
        return Response({"stored": stored}, status=status.HTTP_201_CREATED)


class SyncBundleView(APIView):
    @extend_schema(
        request=serializers.SyncBundleSerializer,
        responses={
            201: inline_serializer("SyncBundleStored", {"id": drf_serializers.IntegerField()}),
            403: error_response("not_your_device: history bundles go to your own devices only"),
            404: error_response("chat_not_found"),
        },
    )
    def post(self, request: Request) -> Response:
        data = validated(serializers.SyncBundleSerializer, request.data)
        row = sync.do_store_sync_bundle(
            request_session(request), data["to_device_id"], data["chat_id"], data["ciphertext"]
        )
        return Response({"id": row.pk}, status=status.HTTP_201_CREATED)


class KeyPackageClaimView(APIView):
    throttle_classes = [ClaimThrottle]

    @extend_schema(
        request=serializers.KeyPackageClaimSerializer,
        responses={
            200: OpenApiResponse(
                description='{"bob@domain": [{device_id, client_device_id, keypackage}]}; '
                "keypackage is null when that device's pool is empty; with device_ids, only those devices"
            ),
            404: NO_USER,
            502: PEER_WRONG,
            503: PEER_DOWN,
        },
    )
    def post(self, request: Request) -> Response:
        data = validated(serializers.KeyPackageClaimSerializer, request.data)
        addresses = list(dict.fromkeys(full_address(u) for u in data["users"]))
        claimed = services.claim_keypackages(addresses, device_ids=data.get("device_ids"))
        answer: dict[str, Any] = {}
        for address, entries in claimed.items():
            answer[address] = serializers.ClaimedKeyPackageSerializer(entries, many=True).data  # type: ignore[arg-type]
        return Response(answer)
