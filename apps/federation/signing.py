"""Signed server-to-server requests: the one place requests are signed and verified.

Every request carries an Ed25519 signature by the origin's instance key over the
canonical JSON (sorted keys, no spaces, UTF-8) of
`{method, path, origin, destination, body_sha256, ts, txn_id}`. Verification fails
closed: anything missing, stale, replayed, for another destination, from a blocked peer,
or signed by a key other than the pinned one is refused. With mutual TLS required (the
default), the request must also have come through the s2s listener with a verified client
certificate naming the origin (apps/federation/tls.py).
"""

import binascii
import hashlib
import json
import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from apps.core.b64 import b64, unb64
from apps.core.errors import Forbidden, ServiceError
from apps.federation import discovery, tls
from apps.federation.instance_key import instance_signing_key
from apps.federation.models import Peer, SeenRequest

HEADER_ORIGIN = "X-Talkee-Origin"
HEADER_DESTINATION = "X-Talkee-Destination"
HEADER_TS = "X-Talkee-Ts"
HEADER_TXN = "X-Talkee-Txn"
HEADER_SIGNATURE = "X-Talkee-Signature"


class Unauthenticated(ServiceError):
    status = 401
    code = "invalid_signature"


def canonical(fields: dict[str, object]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signed_fields(
    method: str, path: str, origin: str, destination: str, body: bytes, ts: int, txn_id: str
) -> dict[str, object]:
    return {
        "method": method.upper(),
        "path": path,
        "origin": origin,
        "destination": destination,
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "ts": ts,
        "txn_id": txn_id,
    }


def sign_request(
    method: str, path: str, destination: str, body: bytes, *, txn_id: str | None = None, ts: int | None = None
) -> dict[str, str]:
    """Headers that authenticate this request as coming from our instance."""
    txn_id = txn_id or secrets.token_urlsafe(16)
    ts = int(time.time()) if ts is None else ts
    fields = signed_fields(method, path, settings.TALKEE_DOMAIN, destination, body, ts, txn_id)
    signature = instance_signing_key().sign(canonical(fields)).signature
    return {
        HEADER_ORIGIN: settings.TALKEE_DOMAIN,
        HEADER_DESTINATION: destination,
        HEADER_TS: str(ts),
        HEADER_TXN: txn_id,
        HEADER_SIGNATURE: b64(signature),
    }


@dataclass(frozen=True)
class VerifiedRequest:
    origin: str
    txn_id: str
    peer: Peer


def _pinned_or_discovered(origin: str) -> tuple[Peer | None, bytes]:
    peer = Peer.objects.filter(domain=origin).first()
    if peer is not None:
        if peer.blocked:
            raise Forbidden("This instance does not federate with yours.", code="peer_blocked")
        return peer, bytes(peer.ed25519_pub)
    try:
        return None, discovery.fetch_server_key(origin)
    except discovery.DiscoveryError as exc:
        raise Unauthenticated(f"Cannot fetch the key of {origin}: {exc}", code="unknown_peer") from exc


def _tls_names(request: HttpRequest) -> list[str] | None:
    """The verified TLS client identity, or None when mutual TLS is not required."""
    if not settings.TALKEE_FEDERATION_REQUIRE_MTLS:
        return None
    names = tls.client_names(getattr(request, "scope", None))
    if not names:
        raise Unauthenticated(
            "Server-to-server requests need mutual TLS (this instance's s2s listener).", code="mtls_required"
        )
    return names


def verify_request(request: HttpRequest) -> VerifiedRequest:
    """Check a signed request; pin the origin's key on first contact (TOFU)."""
    tls_names = _tls_names(request)
    headers = request.headers
    origin = headers.get(HEADER_ORIGIN, "")
    destination = headers.get(HEADER_DESTINATION, "")
    txn_id = headers.get(HEADER_TXN, "")
    raw_ts = headers.get(HEADER_TS, "")
    raw_signature = headers.get(HEADER_SIGNATURE, "")
    if not (origin and destination and txn_id and raw_ts and raw_signature):
        raise Unauthenticated("The request is not signed.", code="unsigned")
    if len(origin) > 253 or len(txn_id) > 64 or not raw_ts.isdigit():
        raise Unauthenticated("Malformed signature headers.", code="unsigned")
    if tls_names is not None and origin not in tls_names:
        raise Forbidden("Your TLS client certificate does not name the origin you claim.", code="tls_origin_mismatch")
    if destination != settings.TALKEE_DOMAIN:
        raise Unauthenticated("The request is for another instance.", code="wrong_destination")
    if abs(time.time() - int(raw_ts)) > settings.TALKEE_FEDERATION_MAX_SKEW_SECONDS:
        raise Unauthenticated("The request is too old (or from the future).", code="expired")
    try:
        signature = unb64(raw_signature)
    except (binascii.Error, ValueError) as exc:
        raise Unauthenticated("invalid signature") from exc
    peer, key = _pinned_or_discovered(origin)
    fields = signed_fields(
        request.method or "", request.get_full_path(), origin, destination, request.body, int(raw_ts), txn_id
    )
    try:
        VerifyKey(key).verify(canonical(fields), signature)
    except (BadSignatureError, ValueError) as exc:
        raise Unauthenticated("invalid signature") from exc
    try:
        with transaction.atomic():
            if peer is None:
                peer, _ = Peer.objects.get_or_create(domain=origin, defaults={"ed25519_pub": key})
                if bytes(peer.ed25519_pub) != key:
                    raise Unauthenticated("invalid signature")
            SeenRequest.objects.create(origin=origin, txn_id=txn_id)
    except IntegrityError as exc:
        raise ServiceError("This request was seen before.", code="replayed", status=409) from exc
    return VerifiedRequest(origin=origin, txn_id=txn_id, peer=peer)
