"""The instance's Janus SFU, through its admin API (HTTP transport, `admin_secret`).

Only this server speaks the admin API: it creates VideoRoom rooms (`message_plugin`, with
the plugin's `admin_key`, which is the same secret) and adds and removes the tokens that
Janus's `token_auth` requires on every client request. Callers must not hold a database
transaction open around these calls (they are network I/O).
"""

import hashlib
import hmac
import secrets
from typing import Any

import requests
from django.conf import settings

from apps.core.errors import ServiceError

VIDEOROOM = "janus.plugin.videoroom"
TIMEOUT_SECONDS = 5
# Janus's numeric room ids travel as JSON numbers: stay below 2**53 for JavaScript.
ROOM_ID_LIMIT = 2**52


class JanusUnavailable(ServiceError):
    status = 503
    code = "sfu_unavailable"


def enabled() -> bool:
    return bool(settings.TALKEE_JANUS_URL and settings.TALKEE_JANUS_ADMIN_URL and settings.TALKEE_JANUS_ADMIN_SECRET)


def admin(janus_request: str, **body: Any) -> dict[str, Any]:
    """One admin API request; Janus's refusals and network failures become JanusUnavailable."""
    payload = {
        "janus": janus_request,
        "transaction": secrets.token_hex(8),
        "admin_secret": settings.TALKEE_JANUS_ADMIN_SECRET,
        **body,
    }
    try:
        response = requests.post(settings.TALKEE_JANUS_ADMIN_URL, json=payload, timeout=TIMEOUT_SECONDS)
        answer: dict[str, Any] = response.json()
    except (requests.RequestException, ValueError) as err:
        raise JanusUnavailable("The group-call server cannot be reached.") from err
    if answer.get("janus") != "success":
        raise JanusUnavailable("The group-call server refused the request.")
    return answer


def videoroom(request: dict[str, Any]) -> dict[str, Any]:
    """A synchronous VideoRoom request through the admin API (no session or handle)."""
    answer = admin("message_plugin", plugin=VIDEOROOM, request=request)
    response: dict[str, Any] = answer.get("response", {})
    if response.get("videoroom") == "event" and "error_code" in response:
        raise JanusUnavailable("The group-call server refused the request.")
    return response


def room_secret(room: int) -> str:
    """The room's edit/destroy secret: derived, never stored, known only to this server."""
    key = settings.TALKEE_JANUS_ADMIN_SECRET.encode()
    return hmac.new(key, f"talkee-janus-room-v1:{room}".encode(), hashlib.sha256).hexdigest()


def room_exists(room: int) -> bool:
    return bool(videoroom({"request": "exists", "room": room}).get("exists"))


def create_room(max_publishers: int) -> int:
    """A new private room that only takes end-to-end encrypted media (`require_e2ee`)."""
    room = secrets.randbelow(ROOM_ID_LIMIT - 1) + 1
    videoroom(
        {
            "request": "create",
            "admin_key": settings.TALKEE_JANUS_ADMIN_SECRET,
            "room": room,
            "secret": room_secret(room),
            "description": "talkee",  # nothing about the chat
            "is_private": True,
            "require_e2ee": True,
            "lock_record": True,  # only this server (the room's secret) may start a recording
            "publishers": max_publishers,
            "audiocodec": "opus",
            "videocodec": "vp8",
            "notify_joining": True,
            "permanent": False,
        }
    )
    return room


def add_token(token: str) -> None:
    admin("add_token", token=token, plugins=[VIDEOROOM])


def remove_token(token: str) -> None:
    admin("remove_token", token=token)
