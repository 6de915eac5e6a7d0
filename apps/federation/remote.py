"""Remote users and their devices, as this instance knows them.

A remote user (`bob@partner`) is a `User` row with the peer's domain and no password; their
devices are mirrored as `Device` rows (public keys only, no sessions), so welcomes and
device-list notices address them with this instance's device ids like local ones. Only
the user's own instance speaks for them: a signed lookup (`GET /s2s/v1/users?user=`), a
KeyPackage claim (`GET /s2s/mls/keybundle?user=`) or a `device_list` envelope from it.
"""

import base64
import binascii
import json
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction

from apps.core.errors import NotFound, ServiceError
from apps.federation import discovery
from apps.federation.services import signed_call

if TYPE_CHECKING:
    from apps.accounts.models import User
    from apps.devices.models import Device

USERS_PATH = "/s2s/v1/users"
KEYBUNDLE_PATH = "/s2s/mls/keybundle"
BLOBS_PATH = "/s2s/v1/blobs/"
UPLOADS_PATH = "/s2s/v1/uploads/"
# A file of a chat homed elsewhere is fetched in ranges of at most this many bytes
# (each one signed request, well under TALKEE_FEDERATION_MAX_BODY_BYTES).
BLOB_PIECE_BYTES = 4 * 1024 * 1024


class PeerUnavailable(ServiceError):
    status = 503
    code = "peer_unreachable"


def domain_of(address: str) -> str:
    return address.rsplit("@", 1)[1] if "@" in address else settings.TALKEE_DOMAIN


def is_remote(address: str) -> bool:
    return domain_of(address) != str(settings.TALKEE_DOMAIN)


def signed_get(domain: str, path: str, query: list[tuple[str, str]]) -> dict[str, Any]:
    """A signed GET to a peer over mutual TLS; its JSON answer, or a clear error (404 passes
    through)."""
    try:
        status, raw = signed_call(domain, "GET", f"{path}?{urllib.parse.urlencode(query, safe='@')}")
    except discovery.DiscoveryError as exc:
        raise PeerUnavailable(f"{domain} cannot be reached; try again later.") from exc
    if status == 404:
        raise NotFound(f"No such user on {domain}.", code="user_not_found")
    if status != 200:
        raise PeerUnavailable(f"{domain} answered {status}; try again later.")
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise PeerUnavailable(f"{domain} answered something that is not JSON.") from exc
    if not isinstance(document, dict):
        raise PeerUnavailable(f"{domain} answered something unexpected.")
    return document


def _key(value: Any) -> bytes:
    try:
        key = base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ServiceError("A peer sent a malformed device key.", code="invalid_peer_answer", status=502) from exc
    if len(key) != 32:
        raise ServiceError("A peer sent a malformed device key.", code="invalid_peer_answer", status=502)
    return key


def mirror_device(user: "User", entry: dict[str, Any]) -> tuple["Device", bool]:
    """The local mirror of one of a remote user's devices (created if new), with the same
    key checks as a local device's."""
    from apps.devices.models import Device
    from apps.devices.services import check_ed25519_public_key, check_x25519_public_key

    client_device_id = uuid.UUID(str(entry["client_device_id"]))
    existing = Device.objects.filter(user=user, client_device_id=client_device_id).first()
    if existing is not None:
        return existing, False
    ed25519_pub = check_ed25519_public_key(_key(entry.get("ed25519_pub")))
    x25519_pub = check_x25519_public_key(_key(entry.get("x25519_pub")))
    return Device.objects.get_or_create(
        user=user,
        client_device_id=client_device_id,
        defaults={"ed25519_pub": ed25519_pub, "x25519_pub": x25519_pub, "label": "remote"},
    )


def remote_user(address: str) -> "User":
    """The row for a remote address (a placeholder without devices until resolved)."""
    from apps.accounts.models import User

    user, created = User.objects.get_or_create(username=address, defaults={"domain": domain_of(address)})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def resolve_users(addresses: list[str]) -> list["User"]:
    """Users for these addresses; remote ones unknown here are looked up at their instance
    (signed) and stored with their devices. Unknown local users → 404."""
    from apps.accounts.models import User

    users = {u.username: u for u in User.objects.filter(username__in=addresses)}
    for address in addresses:
        if address in users or not is_remote(address):
            continue
        document = signed_get(domain_of(address), USERS_PATH, [("user", address)])
        if document.get("user") != address or not isinstance(document.get("devices"), list):
            raise ServiceError(
                f"{domain_of(address)} answered for someone else.", code="invalid_peer_answer", status=502
            )
        with transaction.atomic():
            user = remote_user(address)
            for entry in document["devices"]:
                mirror_device(user, entry)
        users[address] = user
    missing = sorted(set(addresses) - set(users))
    if missing:
        raise NotFound(f"No such user: {', '.join(missing)}.", code="user_not_found")
    return [users[a] for a in addresses]


def device_entry(device: "Device") -> dict[str, Any]:
    """How a device is described to peers (public keys only)."""
    return {
        "client_device_id": str(device.client_device_id),
        "ed25519_pub": base64.b64encode(bytes(device.ed25519_pub)).decode(),
        "x25519_pub": base64.b64encode(bytes(device.x25519_pub)).decode(),
    }


def claim_remote(address: str, client_device_ids: list[str] | None = None) -> list[dict[str, object]]:
    """One KeyPackage per device of a remote user (only these devices when given), claimed
    at their instance; device ids are this instance's mirrors (created for devices seen for
    the first time)."""
    query = [("user", address), *(("device", c) for c in client_device_ids or [])]
    document = signed_get(domain_of(address), KEYBUNDLE_PATH, query)
    entries = document.get(address)
    if not isinstance(entries, list):
        raise ServiceError(f"{domain_of(address)} answered for someone else.", code="invalid_peer_answer", status=502)
    claimed: list[dict[str, object]] = []
    with transaction.atomic():
        user = remote_user(address)
        for entry in entries:
            device, _ = mirror_device(user, entry)
            package = entry.get("keypackage")
            claimed.append(
                {
                    "device_id": device.pk,
                    "client_device_id": str(device.client_device_id),
                    "keypackage": base64.b64decode(package) if isinstance(package, str) else None,
                }
            )
    return claimed


def home_blob_pieces(chat_id: uuid.UUID, blob_id: uuid.UUID, user_id: int, first: int, last: int) -> Iterator[bytes]:
    """Bytes first..last of a file stored at the chat's home, asked for on behalf of a
    local member (the home checks their membership), in signed ranged requests."""
    from apps.accounts.models import User
    from apps.chats.models import Chat

    home = Chat.objects.values_list("home", flat=True).get(pk=chat_id)
    user = User.objects.values_list("username", flat=True).get(pk=user_id)
    path = f"{BLOBS_PATH}{blob_id}?{urllib.parse.urlencode({'user': user}, safe='@')}"
    return _signed_pieces(home, path, first, last)


def upload_pieces(origin: str, blob_id: uuid.UUID, size: int) -> Iterator[bytes]:
    """The whole of a file a member uploaded at their own instance (`origin`) for a chat
    homed here, pulled by the home when it orders the message that carries it. Only the
    chat's home may ask (see views.upload); no user is named."""
    return _signed_pieces(origin, f"{UPLOADS_PATH}{blob_id}", 0, size - 1)


def _signed_pieces(domain: str, path: str, first: int, last: int) -> Iterator[bytes]:
    """Bytes first..last of a peer's blob, one signed ranged GET per piece."""
    start = first
    while start <= last:
        end = min(last, start + BLOB_PIECE_BYTES - 1)
        try:
            status, raw = signed_call(domain, "GET", path, extra_headers={"Range": f"bytes={start}-{end}"})
        except discovery.DiscoveryError as exc:
            raise PeerUnavailable(f"{domain} cannot be reached; try again later.") from exc
        if status == 404:
            raise NotFound("No such blob.", code="blob_not_found")
        if 400 <= status < 500 and status != 429:
            raise ServiceError(f"{domain} refused a file ({status}).", code="peer_refused", status=502)
        if status != 206 or len(raw) != end - start + 1:
            raise PeerUnavailable(f"{domain} answered {status} for a file; try again later.")
        yield raw
        start = end + 1
