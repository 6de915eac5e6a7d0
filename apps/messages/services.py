"""Store-and-forward actions: send, edit, delete, burn, react, acknowledge, expire.

Sealed sender: the sender's identity is used to authorise a write and then dropped —
it is never stored with the row and never logged next to a message id.
"""

import functools
import hmac
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from blake3 import blake3
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.accounts.models import Block, User
from apps.accounts.selectors import blocked_in_chat
from apps.blobs.services import do_attach_blobs, do_attach_home_blobs, hold_for_home, release_blobs
from apps.chats.models import Chat, Membership
from apps.chats.selectors import remote_domains
from apps.core.b64 import b64, unb64, unb64_or_none
from apps.core.errors import Conflict, Forbidden, NotFound, ServiceError
from apps.devices.models import Device
from apps.messages import federation, stream
from apps.messages.delivery import add_inbox_rows, chat_event, chat_group, publish_on_commit
from apps.messages.frames import event_frame, message_fields, message_frame, reaction_frame
from apps.messages.models import DeviceCursor, DeviceInbox, Message, Reaction
from apps.messages.signals import send_message_stored_on_commit
from apps.messages.stream import allocate_position, allocate_positions, current_position, uses_sequence

Kind = Message.Kind


@dataclass(frozen=True)
class Sent:
    id: int | None  # None: forwarded to the chat's home, which orders it (it arrives as an event)
    seq: int | None
    created: bool
    cursor: int
    forwarded: bool = False


class SendContext(NamedTuple):
    home: str  # "" when this instance orders the chat
    federated: bool
    epoch: int


def check_send_allowed(chat_id: uuid.UUID | str, user_id: int, kind: str) -> SendContext:
    """Members send; in a channel only owners and admins post application messages.
    (One row of plain values, no model loading: this runs for every message.)"""
    row = (
        Membership.objects.filter(chat_id=chat_id, user_id=user_id)
        .values_list("role", "chat__kind", "chat__home", "chat__federated", "chat__epoch")
        .first()
    )
    return _send_context(row, kind, chat_id, user_id)


def _send_context(
    row: tuple[str, str, str, bool, int] | None, kind: str, chat_id: uuid.UUID | str, user_id: int
) -> SendContext:
    """The precise answer for a sender's membership row (role, chat kind, home, federated,
    epoch). In a direct chat whose other person blocked the sender, application messages
    are refused (403 `not_accepted`); commits still go, so the MLS group stays whole for
    when the block is lifted."""
    if row is None:
        raise NotFound("No such chat.", code="chat_not_found")
    role, chat_kind, home, federated, epoch = row
    managers = (Membership.Role.OWNER, Membership.Role.ADMIN)
    if chat_kind == Chat.Kind.CHANNEL and kind == Kind.APPLICATION and role not in managers:
        raise Forbidden("Only the channel's owners and admins can post here.", code="channel_read_only")
    if chat_kind == Chat.Kind.DIRECT and kind == Kind.APPLICATION and blocked_in_chat(chat_id, user_id):
        raise Forbidden("This person does not accept messages from you.", code="not_accepted")
    return SendContext(home, federated, epoch)


def check_ciphertext_size(kind: str, ciphertext: bytes) -> None:
    limit = settings.TALKEE_APPLICATION_MAX_BYTES if kind == Kind.APPLICATION else settings.TALKEE_HANDSHAKE_MAX_BYTES
    if len(ciphertext) > limit:
        raise ServiceError(f"A {kind} message may be at most {limit} bytes.", code="message_too_large", status=413)
    if not ciphertext:
        raise ServiceError("The ciphertext is empty.", code="invalid_input")


def secret_matches(secret: bytes | None, expected: bytes | memoryview | None) -> bool:
    """Whether `secret` is the preimage of the stored BLAKE3 hash (constant time)."""
    return secret is not None and expected is not None and hmac.compare_digest(blake3(secret).digest(), bytes(expected))


def check_author_or_manager(
    secret: bytes | None, expected: bytes | memoryview | None, membership: Membership, message: str, code: str
) -> None:
    """Whoever holds the secret (the author), or the chat's owners and admins."""
    if not secret_matches(secret, expected) and not membership.is_manager:
        raise Forbidden(message, code=code)


def _existing(chat_id: uuid.UUID | str, client_message_id: str) -> Sent | None:
    row = Message.objects.filter(chat_id=chat_id, client_message_id=client_message_id).values("id", "seq").first()
    return None if row is None else Sent(row["id"], row["seq"], created=False, cursor=0)


# The steps of ordering a message here, as SQL shared by both databases: the chat's next
# seq (and, for a commit, its epoch step) under the chat's row lock, only for a chat this
# instance orders. PostgreSQL fuses them with the position and the insert (_PLAIN_SEND).
_SEQ_SET = "next_seq = next_seq + 1"
_SEQ_WHERE = "id = %(chat)s"
_SEQ_RETURNING = "next_seq - 1, ttl_seconds"


def _chat_key(chat_id: uuid.UUID | str) -> Any:
    return Chat._meta.pk.get_db_prep_value(uuid.UUID(str(chat_id)), connection)  # type: ignore[union-attr]


def _take_seq(chat_id: uuid.UUID | str, commit_epoch: int | None) -> tuple[int, int | None] | None:
    """Next seq for the chat (and the epoch step for a commit), under the chat's row lock.
    None: the chat moved on (a commit for an older epoch)."""
    update = f"UPDATE {Chat._meta.db_table} SET {_SEQ_SET}"  # noqa: S608
    where = _SEQ_WHERE
    if commit_epoch is not None:
        update += ", epoch = epoch + 1"
        where += " AND epoch = %(epoch)s"
    with connection.cursor() as cursor:
        cursor.execute(
            f"{update} WHERE {where} RETURNING {_SEQ_RETURNING}",
            {"chat": _chat_key(chat_id), "epoch": commit_epoch},
        )
        row = cursor.fetchone()
    return None if row is None else (int(row[0]), row[1])


def do_send_message(
    user_id: int,
    chat_id: uuid.UUID | str,
    *,
    client_message_id: str,
    kind: str,
    epoch: int,
    ciphertext: bytes,
    edit_hash: bytes | None = None,
    ttl_seconds: int | None = None,
    burn_on_read: bool = False,
    welcome: dict[str, Any] | None = None,
    blob_ids: list[uuid.UUID] | None = None,
    wake: list[str] | None = None,
) -> Sent:
    """Store one message exactly once and fan it out after commit.

    One path for every send, on both databases: the sender's membership decides (404 not
    a member, 403 a channel's reader); a chat homed elsewhere forwards to its home once
    (`_forward_send`); otherwise the message is ordered here (`_order_here`): `seq` under
    the chat's row lock, the stream position last, files, Welcomes and the copies for
    other instances in the same transaction. On PostgreSQL the commonest send — an
    application message without files in a chat no other instance shares — runs those
    same steps fused into one statement (`_send_plain`), whose answer also carries the
    membership row when it stored nothing, so every other case goes on from there without
    a second look. A resend with the same `client_message_id` returns the original
    `{id, seq}` and stores nothing. A commit must name the chat's current epoch (first
    committer wins; the others get 409 stale_epoch). `wake` (the addresses the message
    mentions) only travels to the push fan-out, here and on the members' instances."""
    wake = list(dict.fromkeys(wake))[:50] if wake and kind == Kind.APPLICATION else None
    plain = kind == Kind.APPLICATION and welcome is None and not blob_ids
    context: SendContext | None = None
    if plain and uses_sequence() and 0 < len(ciphertext) <= settings.TALKEE_APPLICATION_MAX_BYTES:
        answer = _send_plain(
            user_id, chat_id, client_message_id, epoch, ciphertext, edit_hash, ttl_seconds, burn_on_read
        )
        if isinstance(answer, Sent):
            if answer.created:
                send_message_stored_on_commit(chat_id, user_id, kind, wake)
            return answer
        context = _send_context(answer, kind, chat_id, user_id)
    if context is None:
        context = check_send_allowed(chat_id, user_id, kind)
    check_ciphertext_size(kind, ciphertext)
    if blob_ids and kind != Kind.APPLICATION:
        raise ServiceError("Only application messages can carry files.", code="invalid_blob")
    welcome_devices: list[Device] = []
    welcome_payload = b""
    if welcome is not None:
        if kind != Kind.COMMIT:
            raise ServiceError("A Welcome travels with the commit that adds the members.", code="invalid_input")
        ids = list(dict.fromkeys(welcome["device_ids"]))
        welcome_devices = list(
            Device.objects.filter(pk__in=ids, user__memberships__chat_id=chat_id).select_related("user")
        )
        if len(welcome_devices) != len(ids):
            raise ServiceError("A Welcome may only go to devices of the chat's members.", code="invalid_welcome")
        welcome_payload = welcome["payload"]
        check_ciphertext_size(Kind.COMMIT, welcome_payload)
    if context.home:
        return _forward_send(
            context,
            user_id,
            chat_id,
            welcome_devices,
            welcome_payload,
            client_message_id=client_message_id,
            kind=kind,
            epoch=epoch,
            ciphertext=b64(ciphertext),
            edit_hash=None if edit_hash is None else b64(edit_hash),
            ttl_seconds=ttl_seconds,
            burn_on_read=burn_on_read,
            blob_ids=blob_ids or [],
            **({"wake": wake} if wake else {}),
        )
    sent = _order_here(
        context,
        chat_id,
        welcome_devices,
        welcome_payload,
        blob_ids or [],
        client_message_id=client_message_id,
        kind=kind,
        epoch=epoch,
        ciphertext=ciphertext,
        edit_hash=edit_hash,
        ttl_seconds=ttl_seconds,
        burn_on_read=burn_on_read,
        wake=wake,
    )
    if sent.created:
        send_message_stored_on_commit(chat_id, user_id, kind, wake)
    return sent


def _order_here(
    context: SendContext,
    chat_id: uuid.UUID | str,
    welcome_devices: list[Device],
    welcome_payload: bytes,
    blob_ids: list[uuid.UUID],
    *,
    client_message_id: str,
    kind: str,
    epoch: int,
    ciphertext: bytes,
    edit_hash: bytes | None,
    ttl_seconds: int | None,
    burn_on_read: bool,
    wake: list[str] | None,
) -> Sent:
    """A message in a chat this instance orders, in one transaction: seq, position, row,
    files, Welcomes, and the copies for the chat's other instances."""
    local_welcome = [d.pk for d in welcome_devices if d.user.domain == settings.TALKEE_DOMAIN]
    remote_welcome = [d for d in welcome_devices if d.user.domain != settings.TALKEE_DOMAIN]
    try:
        with transaction.atomic():
            taken = _take_seq(chat_id, epoch if kind == Kind.COMMIT else None)
            if taken is None:
                raise _StaleEpoch()
            seq, chat_ttl = taken
            ttl = ttl_seconds or chat_ttl
            expires_at = timezone.now() + timedelta(seconds=ttl) if ttl and kind == Kind.APPLICATION else None
            message = _store(
                chat_id,
                seq=seq,
                client_message_id=client_message_id,
                kind=kind,
                epoch=epoch,
                ciphertext=ciphertext,
                edit_hash=edit_hash,
                expires_at=expires_at,
                burn_on_read=burn_on_read,
            )
            files = do_attach_blobs(chat_id, message, blob_ids) if blob_ids else []
            if local_welcome:
                add_inbox_rows(
                    DeviceInbox(device_id=d, kind=DeviceInbox.Kind.WELCOME, chat_id=chat_id, payload=welcome_payload)
                    for d in local_welcome
                )
            if context.federated:
                federation.deliver_message(message, remote_domains(chat_id), files, wake)
                if remote_welcome:
                    federation.send_welcomes(chat_id, remote_welcome, welcome_payload)
    except (IntegrityError, _StaleEpoch) as exc:
        original = _existing(chat_id, client_message_id)
        if original is not None:
            return original
        if isinstance(exc, _StaleEpoch):
            current = Chat.objects.filter(pk=chat_id).values_list("epoch", flat=True).first()
            raise Conflict(
                f"The chat is at epoch {current}; process the newer commit and try again.", code="stale_epoch"
            ) from None
        raise
    return Sent(message.id, seq, created=True, cursor=message.pos)


# The plain send fused (PostgreSQL): the sender's membership row (always returned: the
# precise answer when nothing is stored), the seq step of `_take_seq` for a chat that no
# other instance shares, the position drawn last (as stream._DRAW: guard, draw, exact
# key; only once the seq step matched), the insert, and — evaluated after the draw — the lower positions still in
# flight, which the live publish waits for.
_PLAIN_SEND_SQL = """
WITH member AS MATERIALIZED (
    SELECT m.role, c.kind, c.home, c.federated, c.epoch
    FROM {membership} m JOIN {chat} c ON c.id = m.chat_id
    WHERE m.chat_id = %(chat)s AND m.user_id = %(user)s
), s AS (
    UPDATE {chat} SET {seq_set}
    WHERE {seq_where} AND home = '' AND NOT federated
      AND EXISTS (SELECT 1 FROM member WHERE member.kind <> %(channel)s OR member.role IN (%(owner)s, %(admin)s))
      AND NOT EXISTS (
          SELECT 1 FROM member, {block} b JOIN {membership} o ON o.user_id = b.blocker_id
          WHERE member.kind = %(direct)s AND o.chat_id = %(chat)s AND b.blocked_id = %(user)s
      )
    RETURNING {seq_returning}
), {draw_inflight} AS MATERIALIZED (
    SELECT pg_advisory_xact_lock_shared({draw_key}) FROM {sequence} WHERE EXISTS (SELECT 1 FROM s)
), position AS MATERIALIZED (SELECT nextval('{sequence}') AS pos FROM {draw_inflight}
), exact AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared({exact_space} + pos) FROM position), i AS (
    INSERT INTO {message}
        (chat_id, seq, pos, client_message_id, kind, epoch, ciphertext, edit_hash, expires_at, burn_on_read, created)
    SELECT %(chat)s, s.seq, position.pos, %(cmid)s::varchar, %(kind)s::varchar, %(epoch)s::bigint,
        %(ciphertext)s::bytea, %(edit_hash)s::bytea,
        %(now)s::timestamptz + COALESCE(%(ttl)s::integer, s.ttl_seconds) * interval '1 second',
        %(burn)s::boolean, %(now)s::timestamptz
    FROM s, position, exact
    RETURNING id, seq, pos, expires_at
)
SELECT member.role, member.kind, member.home, member.federated, member.epoch,
    i.id, i.seq, i.pos, i.expires_at, {inflight_below}
FROM member LEFT JOIN i ON true
"""


@functools.cache
def _plain_send_sql() -> str:
    return _PLAIN_SEND_SQL.format(
        chat=Chat._meta.db_table,
        membership=Membership._meta.db_table,
        message=Message._meta.db_table,
        block=Block._meta.db_table,
        seq_set=_SEQ_SET,
        seq_where=_SEQ_WHERE,
        seq_returning=_SEQ_RETURNING.replace("next_seq - 1", "next_seq - 1 AS seq"),
        sequence=stream.SEQUENCE,
        draw_inflight="inflight",
        draw_key=stream.DRAW_KEY,
        exact_space=stream.EXACT_SPACE,
        inflight_below=stream.INFLIGHT_BELOW.replace("position.pos", "i.pos"),
    )


def _send_plain(
    user_id: int,
    chat_id: uuid.UUID | str,
    client_message_id: str,
    epoch: int,
    ciphertext: bytes,
    edit_hash: bytes | None,
    ttl_seconds: int | None,
    burn_on_read: bool,
) -> Sent | tuple[str, str, str, bool, int] | None:
    """The plain send as one statement (PostgreSQL). Under autocommit the statement is its
    own transaction; inside an atomic block it runs in a savepoint. Answers the message
    sent; or the sender's membership row when it stored nothing (a channel's reader, a
    federated chat or one homed elsewhere: the caller goes on from there); or None when
    the sender is no member. A duplicate `client_message_id` aborts the statement
    (nothing is consumed) and answers the original."""
    now = timezone.now()
    params = {
        "chat": _chat_key(chat_id),
        "user": user_id,
        "channel": Chat.Kind.CHANNEL.value,
        "direct": Chat.Kind.DIRECT.value,
        "owner": Membership.Role.OWNER.value,
        "admin": Membership.Role.ADMIN.value,
        "cmid": client_message_id,
        "kind": Kind.APPLICATION.value,
        "epoch": epoch,
        "ciphertext": ciphertext,
        "edit_hash": edit_hash,
        "ttl": ttl_seconds or None,  # as `_order_here`: a zero means the chat's timer
        "burn": burn_on_read,
        "now": now,
    }
    try:
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            with connection.cursor() as cursor:
                cursor.execute(_plain_send_sql(), params)
                row = cursor.fetchone()
    except IntegrityError:
        # A resend (the unique (chat, client_message_id)).
        original = _existing(chat_id, client_message_id)
        if original is None:
            raise
        return original
    if row is None:
        return None
    role, chat_kind, home, federated, chat_epoch, message_id, seq, pos, expires_at, inflight = row
    if message_id is None:
        return (role, chat_kind, home, federated, chat_epoch)
    text_chat_id = str(chat_id)
    fields = message_fields(
        message_id=message_id,
        seq=seq,
        chat_id=text_chat_id,
        kind=Kind.APPLICATION.value,
        epoch=epoch,
        ciphertext=ciphertext,
        edited_at=None,
        deleted=False,
        expires_at=expires_at,
        burn_on_read=burn_on_read,
        created=now,
    )
    frame = event_frame(pos, text_chat_id, fields)
    publish_on_commit([(chat_group(text_chat_id), chat_event(frame, seq))], inflight=list(inflight or []))
    return Sent(message_id, seq, created=True, cursor=pos)


def _store(chat_id: uuid.UUID | str, **fields: Any) -> Message:
    """Store one ordered message at its stream position and publish it after commit."""
    message = Message.objects.create(chat_id=chat_id, pos=allocate_position(), **fields)
    publish_on_commit([(chat_group(chat_id), chat_event(message_frame(message), message.seq))])
    return message


def _forward_send(
    context: SendContext,
    user_id: int,
    chat_id: uuid.UUID | str,
    welcome_devices: list[Device],
    welcome_payload: bytes,
    **fields: Any,
) -> Sent:
    """A send in a chat homed on another instance: stored durably in the outbox for the
    home, which assigns the seq and delivers it back (as an `event`, like any message);
    its files stay here until the home has pulled them. A resend of a message that came
    back answers its id and seq."""
    original = _existing(chat_id, fields["client_message_id"])
    if original is not None:
        return original
    if fields["kind"] == Kind.COMMIT and fields["epoch"] != context.epoch:
        raise Conflict(
            f"The chat is at epoch {context.epoch}; process the newer commit and try again.", code="stale_epoch"
        )
    if welcome_devices:
        fields["welcome"] = {
            "devices": [
                {"user": d.user.username, "client_device_id": str(d.client_device_id)} for d in welcome_devices
            ],
            "payload": b64(welcome_payload),
        }
    sender = User.objects.values_list("username", flat=True).get(pk=user_id)
    blob_ids = fields.pop("blob_ids")
    with transaction.atomic():
        if blob_ids:
            # The home pulls them from here when it orders the message (do_pull_blobs).
            fields["blobs"] = hold_for_home(chat_id, blob_ids)
        federation.forward_send(context.home, chat_id, sender, fields)
    return Sent(None, None, created=True, cursor=0, forwarded=True)


def do_store_delivered(chat_id: uuid.UUID, fields: dict[str, Any]) -> bool:
    """A message the chat's home ordered: stored once under its seq (a repeat is a no-op),
    then fanned out to this instance's members like a local one. Inside the caller's
    transaction, with the chat row locked by it."""
    seq = int(fields["seq"])
    if Message.objects.filter(chat_id=chat_id, seq=seq).exists():
        return False
    kind = fields["kind"]
    if kind not in Kind.values:
        raise ServiceError(f"Unknown message kind {kind!r}.", code="invalid_input")
    ciphertext = unb64(fields["ciphertext"])
    check_ciphertext_size(kind, ciphertext)
    expires_at = fields.get("expires_at")
    edit_hash = fields.get("edit_hash")
    message = _store(
        chat_id,
        seq=seq,
        client_message_id=str(fields["client_message_id"])[:64],
        kind=kind,
        epoch=int(fields["epoch"]),
        ciphertext=ciphertext,
        edit_hash=unb64_or_none(edit_hash),
        expires_at=None if expires_at is None else datetime.fromisoformat(expires_at),
        burn_on_read=bool(fields.get("burn_on_read")),
    )
    files = fields.get("blobs") or []
    if not isinstance(files, list) or len(files) > 10 or (files and kind != Kind.APPLICATION):
        raise ServiceError("At most 10 files, on an application message.", code="invalid_blob")
    do_attach_home_blobs(chat_id, message, files)
    Chat.objects.filter(pk=chat_id, next_seq__lte=seq).update(next_seq=seq + 1)
    if kind == Kind.COMMIT:
        Chat.objects.filter(pk=chat_id, epoch__lte=int(fields["epoch"])).update(epoch=int(fields["epoch"]) + 1)
    send_message_stored_on_commit(chat_id, None, kind, peer_wake_list(fields.get("wake")))
    return True


def peer_wake_list(value: Any) -> list[str] | None:
    """The mentioned addresses a peer sent (a forwarded send, a delivered message), taken as
    the API would take them; anything else is none."""
    if not isinstance(value, list):
        return None
    return [a for a in value if isinstance(a, str) and "@" in a and len(a) <= 404][:50] or None


class _StaleEpoch(Exception):
    pass


def _membership_for_change(chat_id: uuid.UUID | str, user_id: int) -> Membership | None:
    """The member's row (with its chat), for changing a stored message (edit, delete,
    burn, react)."""
    return Membership.objects.filter(chat_id=chat_id, user_id=user_id).select_related("chat").first()


def is_blocked_in_direct(chat: Chat, user_id: int) -> bool:
    """A direct chat whose other person blocked this user."""
    return chat.kind == Chat.Kind.DIRECT and blocked_in_chat(chat.pk, user_id)


def check_not_blocked_in_direct(chat: Chat, user_id: int) -> None:
    """In a direct chat whose other person blocked this user, what would reach them is
    refused (messages, edits, reactions, call signals; 403 `not_accepted`)."""
    if is_blocked_in_direct(chat, user_id):
        raise Forbidden("This person does not accept messages from you.", code="not_accepted")


def _message_for_member(message_id: int, user_id: int) -> tuple[Message, Membership]:
    message = Message.objects.filter(pk=message_id).first()
    membership = None if message is None else _membership_for_change(message.chat_id, user_id)
    if message is None or membership is None:
        raise NotFound("No such message.", code="message_not_found")
    message.chat = membership.chat
    return message, membership


def is_forwarded(message: Message) -> bool:
    """Whether a change of this message was sent to its chat's home rather than applied here."""
    return bool(message.chat.home)


def _forward_change(membership: Membership, user_id: int, action: str, **fields: Any) -> None:
    """A change in a chat homed elsewhere: checked here as far as this copy allows (for a
    clear answer), then durably queued for the home, which checks again and applies it."""
    sender = User.objects.values_list("username", flat=True).get(pk=user_id)
    with transaction.atomic():
        federation.request_message_change(membership.chat.home, membership.chat_id, sender, action, fields)


def _publish_change(message: Message) -> None:
    publish_on_commit([(chat_group(message.chat_id), chat_event(message_frame(message), message.seq))])


def _tombstone(messages: list[Message]) -> None:
    """Null the ciphertext, mark deleted, give each row a new position and announce it
    (at a federated chat's home also to the other instances)."""
    if not messages:
        return
    now = timezone.now()
    for message, position in zip(messages, allocate_positions(len(messages)), strict=True):
        message.ciphertext = None
        message.edit_hash = None
        message.deleted_at = now
        message.pos = position
    Message.objects.bulk_update(messages, ["ciphertext", "edit_hash", "deleted_at", "pos"])
    release_blobs([m.id for m in messages])
    publish_on_commit([(chat_group(m.chat_id), chat_event(message_frame(m), m.seq)) for m in messages])
    ordered_here = set(
        Chat.objects.filter(pk__in={m.chat_id for m in messages}, federated=True, home="").values_list("pk", flat=True)
    )
    federation.message_changed(m for m in messages if m.chat_id in ordered_here)


def do_edit_message(user_id: int, message_id: int, edit_secret: bytes, ciphertext: bytes) -> Message:
    """Replace the ciphertext; only whoever holds the message's edit secret can."""
    message, membership = _message_for_member(message_id, user_id)
    if message.deleted_at is not None or message.kind != Kind.APPLICATION:
        raise Conflict("This message can no longer be edited.", code="not_editable")
    if not secret_matches(edit_secret, message.edit_hash):
        raise Forbidden("Only the author can edit this message.", code="wrong_edit_secret")
    check_not_blocked_in_direct(membership.chat, user_id)
    check_ciphertext_size(Kind.APPLICATION, ciphertext)
    if membership.chat.home:
        _forward_change(
            membership, user_id, "edit", seq=message.seq, edit_secret=b64(edit_secret), ciphertext=b64(ciphertext)
        )
        return message
    with transaction.atomic():
        message.ciphertext = ciphertext
        message.edited_at = timezone.now()
        message.pos = allocate_position()
        message.save(update_fields=["ciphertext", "edited_at", "pos"])
        _publish_change(message)
        if membership.chat.federated:
            federation.message_changed([message])
    return message


def do_delete_message(user_id: int, message_id: int, edit_secret: bytes | None) -> Message:
    """Tombstone a message: its author (edit secret) or the chat's owners and admins."""
    message, membership = _message_for_member(message_id, user_id)
    if message.deleted_at is not None:
        return message
    check_author_or_manager(
        edit_secret,
        message.edit_hash,
        membership,
        "Only the author or the chat's admins can delete this message.",
        "wrong_edit_secret",
    )
    if membership.chat.home:
        _forward_change(
            membership,
            user_id,
            "delete",
            seq=message.seq,
            edit_secret=None if edit_secret is None else b64(edit_secret),
        )
        return message
    with transaction.atomic():
        _tombstone([message])
    return message


def do_burn_message(user_id: int, message_id: int) -> Message:
    """A reader burns a burn-on-read message: gone for everyone, at once."""
    message, membership = _message_for_member(message_id, user_id)
    if not message.burn_on_read:
        raise ServiceError("This message is not burn-on-read.", code="not_burn_on_read")
    if message.deleted_at is None:
        if membership.chat.home:
            _forward_change(membership, user_id, "burn", seq=message.seq)
            return message
        with transaction.atomic():
            _tombstone([message])
    return message


def purge_expired(limit: int = 500) -> int:
    """Tombstone up to `limit` messages whose self-destruct time has passed. Every instance
    purges its own copies on time (the home's own purge tells the others too, which then
    find theirs already gone), so no copy outlives its timer while a peer is down."""
    with transaction.atomic():
        expired = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(deleted_at__isnull=True, expires_at__lte=timezone.now())
            .order_by("expires_at")[:limit]
        )
        _tombstone(expired)
    return len(expired)


def do_add_reaction(user_id: int, message_id: int, ciphertext: bytes, remove_hash: bytes) -> Reaction | None:
    """A reaction (None: forwarded to the chat's home, which orders it; it arrives as a
    `reaction` frame like any other)."""
    message, membership = _message_for_member(message_id, user_id)
    if message.deleted_at is not None:
        raise Conflict("This message was deleted.", code="message_deleted")
    check_not_blocked_in_direct(membership.chat, user_id)
    if membership.chat.home:
        _forward_change(
            membership, user_id, "react", seq=message.seq, ciphertext=b64(ciphertext), remove_hash=b64(remove_hash)
        )
        return None
    with transaction.atomic():
        reaction = Reaction.objects.create(
            message=message,
            chat_id=message.chat_id,
            pos=allocate_position(),
            ciphertext=ciphertext,
            remove_hash=remove_hash,
        )
        publish_on_commit([(chat_group(message.chat_id), chat_event(reaction_frame(reaction), message.seq))])
        if membership.chat.federated:
            federation.reaction_changed(reaction, message.seq)
    return reaction


def do_remove_reaction(user_id: int, reaction_id: int, remove_secret: bytes | None) -> Reaction:
    reaction = Reaction.objects.select_related("message").filter(pk=reaction_id).first()
    membership = None if reaction is None else _membership_for_change(reaction.chat_id, user_id)
    if reaction is None or membership is None:
        raise NotFound("No such reaction.", code="reaction_not_found")
    if reaction.deleted_at is not None:
        return reaction
    check_author_or_manager(
        remove_secret,
        reaction.remove_hash,
        membership,
        "Only who reacted can remove this reaction.",
        "wrong_remove_secret",
    )
    if membership.chat.home:
        secret = None if remove_secret is None else b64(remove_secret)
        _forward_change(membership, user_id, "unreact", reaction_id=reaction.home_id, remove_secret=secret)
        return reaction
    _mark_reaction_removed(reaction)
    if membership.chat.federated:
        federation.reaction_changed(reaction, reaction.message.seq)
    return reaction


def _mark_reaction_removed(reaction: Reaction) -> None:
    with transaction.atomic():
        reaction.ciphertext = None
        reaction.deleted_at = timezone.now()
        reaction.pos = allocate_position()
        reaction.save(update_fields=["ciphertext", "deleted_at", "pos"])
        publish_on_commit([(chat_group(reaction.chat_id), chat_event(reaction_frame(reaction), reaction.message.seq))])


def do_apply_changed(chat_id: uuid.UUID, fields: dict[str, Any]) -> bool:
    """A message change the chat's home applied (`changed`): the local copy made to match
    and announced like a local change; a repeat, or a change of a copy already gone here
    (expired on time), is a no-op. Inside the caller's transaction."""
    message = Message.objects.select_for_update().filter(chat_id=chat_id, seq=int(fields["seq"])).first()
    if message is None or message.deleted_at is not None:
        return False
    if fields.get("deleted"):
        _tombstone([message])
        return True
    edited_at = fields.get("edited_at")
    ciphertext = fields.get("ciphertext")
    if edited_at is None or ciphertext is None:
        raise ServiceError("A change is an edit or a deletion.", code="invalid_input")
    when = datetime.fromisoformat(edited_at)
    if message.edited_at is not None and message.edited_at >= when:
        return False
    new_ciphertext = unb64(ciphertext)
    check_ciphertext_size(Kind.APPLICATION, new_ciphertext)
    message.ciphertext = new_ciphertext
    message.edited_at = when
    message.pos = allocate_position()
    message.save(update_fields=["ciphertext", "edited_at", "pos"])
    _publish_change(message)
    return True


def do_apply_reaction(chat_id: uuid.UUID, fields: dict[str, Any]) -> bool:
    """A reaction the chat's home added or removed, mirrored under the home's id (a repeat
    is a no-op) and announced like a local one. Inside the caller's transaction."""
    home_id = int(fields["reaction_id"])
    existing = Reaction.objects.select_related("message").filter(chat_id=chat_id, home_id=home_id).first()
    if fields.get("deleted"):
        if existing is None or existing.deleted_at is not None:
            return False
        _mark_reaction_removed(existing)
        return True
    if existing is not None:
        return False
    message = Message.objects.filter(chat_id=chat_id, seq=int(fields["seq"]), deleted_at__isnull=True).first()
    if message is None:
        return False
    reaction = Reaction.objects.create(
        message=message,
        chat_id=chat_id,
        home_id=home_id,
        pos=allocate_position(),
        ciphertext=unb64(fields["ciphertext"]),
        remove_hash=unb64(fields["remove_hash"]),
    )
    publish_on_commit([(chat_group(chat_id), chat_event(reaction_frame(reaction), message.seq))])
    return True


def do_init_cursor(device_id: int) -> DeviceCursor:
    """A new device starts at the present: it never replays what was sent before it existed."""
    now = current_position()
    cursor, _ = DeviceCursor.objects.get_or_create(device_id=device_id, defaults={"pos": now, "floor": now})
    return cursor


def do_ack(device_id: int, position: int) -> int:
    """Move the device's cursor forward (never back, never past the stream's end)."""
    position = min(position, current_position())
    try:
        cursor = do_init_cursor(device_id)
    except IntegrityError as exc:  # the device was revoked while its socket was still open
        raise ServiceError("This device was revoked.", code="device_revoked") from exc
    if position > cursor.pos:
        DeviceCursor.objects.filter(device_id=device_id, pos__lt=position).update(pos=position)
        return position
    return cursor.pos


def signals_refused(chat_id: str, user_id: int) -> bool:
    """A call signal from this user in this chat goes nowhere: a direct chat whose other
    person blocked them."""
    chat = Chat.objects.filter(pk=chat_id).only("pk", "kind").first()
    return chat is not None and is_blocked_in_direct(chat, user_id)
