"""The signed server-to-server views of users and devices (`/s2s/v1/users`,
`/s2s/mls/keybundle`): a peer adding a local user to a chat looks them up, or claims one
KeyPackage per device. Each request is verified by federation's `verified_peer` first."""

import uuid

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.http import require_GET

from apps.accounts.selectors import active_user, full_address
from apps.core.b64 import b64
from apps.core.errors import ServiceError
from apps.devices import selectors
from apps.devices.federation import device_entry, identity_key_entry
from apps.devices.models import Device
from apps.devices.services import claim_keypackages
from apps.federation.views import refusal, verified_peer


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
        verified_peer(request)
        address = _local_address(request)
        device_ids = None
        if wanted := request.GET.getlist("device"):
            try:
                client_ids = [uuid.UUID(w) for w in wanted[:100]]
            except ValueError as exc:
                raise ServiceError("device must be client device ids.", code="invalid_device") from exc
            device_ids = selectors.device_ids_of(address, client_ids)
        claimed = claim_keypackages([address], device_ids)
    except ServiceError as exc:
        return refusal(exc)
    keys = {d.pk: device_entry(d) for d in Device.objects.filter(pk__in=[e["device_id"] for e in claimed[address]])}
    devices = [
        {
            **keys[int(str(entry["device_id"]))],
            "device_id": entry["device_id"],
            "keypackage": b64(entry["keypackage"]) if isinstance(entry["keypackage"], bytes) else None,
            "identity_key": b64(entry["identity_key"]) if isinstance(entry["identity_key"], bytes) else None,
        }
        for entry in claimed[address]
    ]
    return JsonResponse({address: devices})


@require_GET
def user_lookup(request: HttpRequest) -> JsonResponse:
    """A local user and their devices' public keys, for a peer adding them to a chat."""
    try:
        verified_peer(request)
        address = _local_address(request)
        user = active_user(address)
        if user is None:
            raise ServiceError("No such user.", code="user_not_found", status=404)
    except ServiceError as exc:
        return refusal(exc)
    devices = [device_entry(d) for d in Device.objects.filter(user=user).order_by("pk")]
    return JsonResponse({"user": address, "identity_key": identity_key_entry(user.pk), "devices": devices})


urlpatterns = [
    path("s2s/v1/users", user_lookup, name="s2s-users"),
    path("s2s/mls/keybundle", keybundle, name="s2s-keybundle"),
]
