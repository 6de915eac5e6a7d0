"""Group calls on the instance's Janus SFU.

A current member's device asks for a call in a group chat (POST /v1/chats/{chat}/group-call):
the server makes sure the chat has a room on Janus and hands the device a *ticket* — random,
single-use, valid for TALKEE_GROUP_CALL_TICKET_SECONDS. The device opens the proxy socket on
the instance's own origin (/v1/group-call/ws, apps/calls/api/consumers.py) and sends the
ticket first. The proxy consumes the ticket (a second use finds nothing), checks that the
user is still a member, adds a fresh Janus token (admin API `add_token`, VideoRoom only),
relays the client's Janus requests with that token added (only requests for the ticket's
room), and removes the token when the socket closes. The Janus token never leaves the
server; an unused ticket simply expires (no token was ever added for it).

Janus learns that a room exists and how many publishers it has, never which chat it is for
nor who is in it: media keys come from the chat's MLS group and never reach Janus.
"""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from apps.calls import janus
from apps.chats import selectors as chat_selectors
from apps.chats.models import Chat
from apps.core.errors import NotFound, ServiceError

PROXY_PATH = "/v1/group-call/ws"
ROOM_KEY = "groupcall:room:{chat}"
TICKET_KEY = "groupcall:ticket:{digest}"
MAX_PUBLISHERS = 16
# How long a chat's room id is remembered; Janus is asked whether it still exists every time.
ROOM_REMEMBERED_SECONDS = 7 * 86400


class GroupCallsDisabled(ServiceError):
    """The operator runs no Janus: a feature this instance does not offer (404, like
    `push_disabled`), not a passing outage (that is 503 `sfu_unavailable`)."""

    status = 404
    code = "group_calls_disabled"


@dataclass(frozen=True)
class Ticket:
    ticket: str
    room: int
    expires_in: int


@dataclass(frozen=True)
class TicketGrant:
    chat_id: str
    user_id: int
    device_id: int
    room: int


def _digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


def check_group_calls_enabled() -> None:
    if not janus.enabled():
        raise GroupCallsDisabled("The operator has not enabled group calls on this instance.")


def check_can_call(chat_id: uuid.UUID, user_id: int) -> Chat:
    chat = chat_selectors.chat_for_member(chat_id, user_id)
    if chat is None:
        raise NotFound("No such chat.", code="chat_not_found")
    if chat.kind != Chat.Kind.GROUP:
        raise ServiceError("Group calls are for group chats; direct chats call peer to peer.", code="not_a_group")
    if chat.home and chat.home != settings.TALKEE_DOMAIN:
        raise ServiceError("Group calls in chats homed on another instance are not supported yet.", code="not_home")
    return chat


def ensure_room(chat_id: str) -> int:
    """The chat's room on Janus, created if there is none (network I/O: no transaction open)."""
    key = ROOM_KEY.format(chat=chat_id)
    known = cache.get(key)
    if isinstance(known, int) and janus.room_exists(known):
        return known
    room = janus.create_room(MAX_PUBLISHERS)
    if known is None and not cache.add(key, room, ROOM_REMEMBERED_SECONDS):
        # Another member's request created one at the same time: use theirs, drop ours.
        other = cache.get(key)
        if isinstance(other, int):
            janus.videoroom({"request": "destroy", "room": room, "secret": janus.room_secret(room)})
            return other
    cache.set(key, room, ROOM_REMEMBERED_SECONDS)
    return room


def do_issue_ticket(chat_id: uuid.UUID, user_id: int, device_id: int) -> Ticket:
    check_group_calls_enabled()
    check_can_call(chat_id, user_id)
    room = ensure_room(str(chat_id))
    ticket = secrets.token_urlsafe(32)
    ttl = int(settings.TALKEE_GROUP_CALL_TICKET_SECONDS)
    grant = {"chat": str(chat_id), "user": user_id, "device": device_id, "room": room}
    cache.set(TICKET_KEY.format(digest=_digest(ticket)), grant, ttl)
    return Ticket(ticket=ticket, room=room, expires_in=ttl)


def still_member(grant: TicketGrant) -> bool:
    return chat_selectors.membership_of(grant.chat_id, grant.user_id) is not None


def consume_ticket(ticket: Any) -> TicketGrant | None:
    """The ticket's grant, once: a replayed, expired or unknown ticket gives None. The user
    must still be a member of the chat (someone removed after the ticket was issued is refused)."""
    if not isinstance(ticket, str) or not 20 <= len(ticket) <= 100:
        return None
    key = TICKET_KEY.format(digest=_digest(ticket))
    grant = cache.get(key)
    # Only the request whose delete removed the key may use it: two racing uses, one wins.
    if not isinstance(grant, dict) or not cache.delete(key):
        return None
    if chat_selectors.membership_of(grant["chat"], grant["user"]) is None:
        return None
    return TicketGrant(chat_id=grant["chat"], user_id=grant["user"], device_id=grant["device"], room=grant["room"])
