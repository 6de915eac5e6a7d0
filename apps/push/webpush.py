"""Talking to a browser's push service (RFC 8030), payloads encrypted to the device
(RFC 8291, aes128gcm) and requests signed with the instance's VAPID key (RFC 8292).

What the push service sees: the endpoint, a `Topic` that is an opaque per-device hash, a
TTL, an urgency, and a ciphertext of one fixed size. What the device gets: the kind of
notice and an opaque chat reference — never text, sender, chat name or counts.
"""

import hashlib
import hmac
import ipaddress
import json
import socket
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import cache
from urllib.parse import urlsplit

import requests
from django.conf import settings
from py_vapid import Vapid02
from pywebpush import WebPusher

from apps.core.b64 import b64url
from apps.core.errors import ServiceError
from apps.push.vapid import vapid_private_key

# Every payload is padded to this many bytes before encryption, so its size says nothing.
PAYLOAD_BYTES = 128
MAX_ENDPOINT_CHARS = 1024


def encode_payload(kind: str, chat_ref: str | None) -> bytes:
    """The one plaintext a push carries, padded with JSON whitespace to one size."""
    body = json.dumps({"v": 1, "kind": kind, "chat": chat_ref}, separators=(",", ":")).encode()
    if len(body) > PAYLOAD_BYTES:
        raise ValueError("push payload larger than its padded size")
    return body + b" " * (PAYLOAD_BYTES - len(body))


def topic_for(device_id: int, kind: str, chat_ref: str | None) -> str:
    """A `Topic` (≤ 32 base64url characters) the push service replaces by: one per device,
    chat and kind, unlinkable across devices and meaningless without the VAPID key."""
    secret = vapid_private_key().private_numbers().private_value.to_bytes(32, "big")
    digest = hmac.new(secret, f"topic:{device_id}:{kind}:{chat_ref or '-'}".encode(), hashlib.sha256).digest()
    return b64url(digest)[:32]


def check_endpoint(endpoint: str) -> str:
    """A push endpoint the server may post to: https, and resolving only to public
    addresses (a forged endpoint must not make the server reach its own network). A
    loopback push service is accepted when TALKEE_PUSH_ALLOW_LOOPBACK is on (tests)."""
    if len(endpoint) > MAX_ENDPOINT_CHARS:
        raise ServiceError(f"endpoint is longer than {MAX_ENDPOINT_CHARS} characters.", code="invalid_endpoint")
    try:
        parts = urlsplit(endpoint)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ServiceError("endpoint is not a URL.", code="invalid_endpoint") from None
    host = parts.hostname
    if parts.scheme not in ("https", "http") or not host or parts.username is not None or parts.password is not None:
        raise ServiceError("endpoint must be an https URL of a push service.", code="invalid_endpoint")
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}
    except (OSError, UnicodeError):
        raise ServiceError("endpoint's host does not resolve.", code="invalid_endpoint") from None
    loopback_ok = settings.TALKEE_PUSH_ALLOW_LOOPBACK
    all_loopback = True
    for address in addresses:
        ip = ipaddress.ip_address(str(address).split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip.is_loopback and loopback_ok:
            continue
        all_loopback = False
        if not ip.is_global or ip.is_multicast:
            raise ServiceError("endpoint must be a public push service.", code="invalid_endpoint")
    if parts.scheme != "https" and not (loopback_ok and all_loopback):
        raise ServiceError("endpoint must be an https URL of a push service.", code="invalid_endpoint")
    return endpoint


@cache
def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxies or netrc from the environment
    return session


@dataclass(frozen=True)
class PushAnswer:
    status: int | None  # None: no answer (timeout, refused, reset)
    retry_after: float | None = None


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def vapid_headers(endpoint: str) -> dict[str, str]:
    """`Authorization: vapid t=<ES256 JWT>, k=<public key>` for the endpoint's origin."""
    parts = urlsplit(endpoint)
    claims = {
        "aud": f"{parts.scheme}://{parts.netloc}",
        "exp": int(time.time()) + 12 * 3600,
        "sub": settings.TALKEE_VAPID_SUBJECT,
    }
    signer = Vapid02(private_key=vapid_private_key())
    return {str(k): str(v) for k, v in signer.sign(claims).items()}


def encrypt_payload(p256dh: bytes, auth: bytes, plaintext: bytes) -> bytes:
    """RFC 8291 aes128gcm: the body a push service carries to the device."""
    pusher = WebPusher(
        {"endpoint": "https://unused.invalid/", "keys": {"p256dh": b64url(p256dh), "auth": b64url(auth)}}
    )
    return bytes(pusher.encode(plaintext, "aes128gcm")["body"])


def post_push(
    endpoint: str, p256dh: bytes, auth: bytes, plaintext: bytes, *, ttl: int, urgency: str, topic: str
) -> PushAnswer:
    """One POST to the push service. Never raises for the service's faults: a timeout or a
    broken connection is an answer without a status."""
    body = encrypt_payload(p256dh, auth, plaintext)
    headers = {
        **vapid_headers(endpoint),
        "Content-Encoding": "aes128gcm",
        "Content-Type": "application/octet-stream",
        "TTL": str(ttl),
        "Urgency": urgency,
        "Topic": topic,
    }
    timeout = settings.TALKEE_PUSH_TIMEOUT_SECONDS
    try:
        # A push service answers; a redirect (which could point anywhere) is not followed.
        response = _session().post(
            endpoint, data=body, headers=headers, timeout=(timeout, timeout), allow_redirects=False
        )
    except requests.RequestException:
        return PushAnswer(status=None)
    with response:
        return PushAnswer(status=response.status_code, retry_after=_retry_after(response.headers.get("Retry-After")))
