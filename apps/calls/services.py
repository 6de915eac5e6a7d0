"""TURN credentials for calls, in coturn's REST-API scheme (`use-auth-secret`).

username   = "<expiry unix time>:<opaque id>"
credential = base64(HMAC-SHA1(TALKEE_TURN_SECRET, username))

The opaque id is random for every request: coturn (and its logs) learn neither the user
nor the device, and two credentials of the same person cannot be linked by their names.
Nothing about a call is stored here; signalling goes through the socket as sealed bytes.
"""

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from django.conf import settings

from apps.core.b64 import b64


@dataclass(frozen=True)
class TurnCredentials:
    urls: list[str]
    username: str
    credential: str
    ttl: int


def turn_credential(secret: str, username: str) -> str:
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return b64(digest)


def issue_turn_credentials(now: float | None = None) -> TurnCredentials | None:
    """Short-lived credentials for the instance's own TURN servers, or None when none is set."""
    urls = [u for u in settings.TALKEE_TURN_URLS if u]
    if not urls or not settings.TALKEE_TURN_SECRET:
        return None
    ttl = int(settings.TALKEE_TURN_TTL_SECONDS)
    expiry = int(now if now is not None else time.time()) + ttl
    username = f"{expiry}:{secrets.token_hex(12)}"
    return TurnCredentials(
        urls=urls, username=username, credential=turn_credential(settings.TALKEE_TURN_SECRET, username), ttl=ttl
    )
