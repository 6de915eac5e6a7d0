"""Server-to-server endpoints. Every request is verified before anything else happens."""

import json
import logging
import uuid

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.http import HttpRequest, JsonResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from apps.accounts.models import User
from apps.accounts.selectors import full_address
from apps.core.api_fields import b64
from apps.core.errors import NotFound, ServiceError, error_body
from apps.core.ratelimit import over_rate
from apps.devices.models import Device
from apps.devices.services import claim_keypackages
from apps.federation import services
from apps.federation.instance_key import instance_signing_key
from apps.federation.remote import device_entry, domain_of
from apps.federation.signing import VerifiedRequest, verify_request
from apps.transport.sealing import tunnel_public_key

logger = logging.getLogger("talkee.federation")


@require_GET
def server_discovery(request: HttpRequest) -> JsonResponse:
    """Where to reach this instance's federation API and the key peers pin."""
    return JsonResponse(
        {
            "domain": settings.TALKEE_DOMAIN,
            "federation_url": settings.TALKEE_FEDERATION_URL,
            "ed25519_pub": b64(bytes(instance_signing_key().verify_key)),
            # The DNS tunnel (apps/transport): the key its frames are sealed to, and its zone.
            "tunnel_x25519_pub": b64(tunnel_public_key()),
            "tunnel_zone": settings.TALKEE_TUNNEL_ZONE,
            "tunnel_doh_url": settings.TALKEE_TUNNEL_DOH_URL or None,
        }
    )


def _refusal(exc: ServiceError) -> JsonResponse:
    return JsonResponse(error_body(exc.code, exc.message), status=exc.status)


def _verified(request: HttpRequest) -> VerifiedRequest:
    verified = verify_request(request)
    if over_rate("s2s", verified.origin, settings.TALKEE_FEDERATION_PEER_RATE):
        raise ServiceError("Too many requests from your instance; slow down.", code="rate_limited", status=429)
    return verified


@csrf_exempt
@require_http_methods(["POST"])
def envelopes(request: HttpRequest) -> JsonResponse:
    """verify → store in the inbox (once per (origin, txn_id)) → 202 → handled by a task."""
    if len(request.body) > settings.TALKEE_FEDERATION_MAX_BODY_BYTES:
        return JsonResponse(error_body("payload_too_large", "The batch is too large."), status=413)
    try:
        verified = _verified(request)
        try:
            document = json.loads(request.body)
        except ValueError as exc:
            raise ServiceError("The body is not JSON.", code="malformed_json") from exc
        stored = services.do_receive_envelopes(verified.origin, services.check_envelopes(document))
    except ServiceError as exc:
        return _refusal(exc)
    return JsonResponse({"accepted": len(stored)}, status=202)


def _local_address(request: HttpRequest) -> str:
    address = full_address(request.GET.get("user", ""))
    if not address.endswith("@" + settings.TALKEE_DOMAIN):
        raise ServiceError("That user does not live here.", code="not_local", status=404)
    return address


@require_GET
def keybundle(request: HttpRequest) -> JsonResponse:
    """One KeyPackage per device of a local user (only the `device=` client device ids when
    given), for a peer adding them to a group, with the devices' public keys (the peer
    mirrors them)."""
    try:
        _verified(request)
        address = _local_address(request)
        device_ids = None
        if wanted := request.GET.getlist("device"):
            try:
                client_ids = [uuid.UUID(w) for w in wanted[:100]]
            except ValueError as exc:
                raise ServiceError("device must be client device ids.", code="invalid_device") from exc
            device_ids = list(
                Device.objects.filter(user__username=address, client_device_id__in=client_ids).values_list(
                    "pk", flat=True
                )
            )
        claimed = claim_keypackages([address], device_ids)
    except ServiceError as exc:
        return _refusal(exc)
    keys = {d.pk: device_entry(d) for d in Device.objects.filter(pk__in=[e["device_id"] for e in claimed[address]])}
    devices = [
        {
            **keys[int(str(entry["device_id"]))],
            "device_id": entry["device_id"],
            "keypackage": b64(entry["keypackage"]) if isinstance(entry["keypackage"], bytes) else None,
        }
        for entry in claimed[address]
    ]
    return JsonResponse({address: devices})


@require_GET
def user_lookup(request: HttpRequest) -> JsonResponse:
    """A local user and their devices' public keys, for a peer adding them to a chat."""
    try:
        _verified(request)
        address = _local_address(request)
        user = User.objects.filter(username=address, is_blocked=False).first()
        if user is None:
            raise ServiceError("No such user.", code="user_not_found", status=404)
    except ServiceError as exc:
        return _refusal(exc)
    devices = [device_entry(d) for d in Device.objects.filter(user=user).order_by("pk")]
    return JsonResponse({"user": address, "devices": devices})


@require_GET
def blob(request: HttpRequest, blob_id: uuid.UUID) -> HttpResponseBase:
    """A range of a file stored here (the chat's home) for a member on the asking instance:
    the instance speaks only for its own users, and the member list here decides."""
    from apps.blobs.api.views import blob_response
    from apps.blobs.models import Blob
    from apps.chats.models import Membership

    try:
        verified = _verified(request)
        address = full_address(request.GET.get("user", ""))
        if domain_of(address) != verified.origin:
            raise ServiceError("An instance asks only for its own users.", code="not_your_user", status=403)
        member = Membership.objects.filter(chat_id=OuterRef("chat_id"), user__username=address)
        found = Blob.objects.filter(pk=blob_id, at_home=False, chat__home="").filter(Exists(member)).first()
        if found is None:
            raise NotFound("No such blob.", code="blob_not_found")
        return blob_response(request, found)
    except ServiceError as exc:
        return _refusal(exc)


@require_GET
def upload(request: HttpRequest, blob_id: uuid.UUID) -> HttpResponseBase:
    """A range of a file a member here uploaded for a chat homed at the asking instance:
    the home pulls it when it orders the message that carries it (and then stores it
    like its own members' files). Nobody but the chat's home may ask."""
    from apps.blobs.api.views import blob_response
    from apps.blobs.models import Blob

    try:
        verified = _verified(request)
        found = Blob.objects.filter(pk=blob_id, at_home=False, chat__home=verified.origin).first()
        if found is None:
            raise NotFound("No such blob.", code="blob_not_found")
        return blob_response(request, found)
    except ServiceError as exc:
        return _refusal(exc)
