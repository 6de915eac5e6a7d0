"""Web Push: subscriptions, mutes, and the notify path.

The notify path never holds a transaction across a network call: the fan-out reads the
targets (autocommit), each device's push is a separate task that reads its subscription,
posts to the push service, then records the outcome in its own short write. Delivery of
the message itself never waits on any of this (it happened before the signal fired).
"""

import logging
import random
import threading
import uuid
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.core.cache import cache
from django.db import connection, connections
from django.utils import timezone

from apps.chats.selectors import membership_of
from apps.core.errors import NotFound, ServiceError
from apps.core.metrics import PUSH_SENDS
from apps.core.queue import QUEUE_ERRORS, enqueue
from apps.core.ratelimit import over_rate
from apps.devices.realtime import live_device_ids
from apps.push import selectors, webpush
from apps.push.models import ChatMute, PushPreference, PushSubscription

logger = logging.getLogger("talkee.push")

MESSAGE = "message"
MENTION = "mention"  # a message push to a device whose user the message mentions
CALL = "call"
MIXED = "-"  # a window that saw several chats: the push names none


def push_enabled() -> bool:
    return bool(settings.TALKEE_VAPID_SUBJECT)


def check_push_enabled() -> None:
    if not push_enabled():
        raise NotFound("Push notifications are not set up on this instance.", code="push_disabled")


def check_subscription_keys(p256dh: bytes, auth: bytes) -> None:
    if len(auth) != 16:
        raise ServiceError("keys.auth must be 16 bytes.", code="invalid_input")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), p256dh)
    except ValueError:
        raise ServiceError("keys.p256dh must be an uncompressed P-256 point.", code="invalid_input") from None
    if len(p256dh) != 65:
        raise ServiceError("keys.p256dh must be an uncompressed P-256 point.", code="invalid_input")


def do_subscribe(device_id: int, endpoint: str, p256dh: bytes, auth: bytes) -> PushSubscription:
    """Store (or replace) the device's one subscription."""
    check_push_enabled()
    check_subscription_keys(p256dh, auth)
    webpush.check_endpoint(endpoint)  # resolves a name: before any transaction
    subscription, _ = PushSubscription.objects.update_or_create(
        device_id=device_id, defaults={"endpoint": endpoint, "p256dh": p256dh, "auth": auth}
    )
    return subscription


def do_unsubscribe(device_id: int) -> None:
    PushSubscription.objects.filter(device_id=device_id).delete()


def do_mute_chat(device_id: int, user_id: int, chat_id: uuid.UUID, until: datetime | None) -> ChatMute:
    """Mute a chat on one device until a time (None: until unmuted)."""
    if membership_of(chat_id, user_id) is None:
        raise NotFound("No such chat.", code="chat_not_found")
    if until is not None and until <= timezone.now():
        raise ServiceError("until must be in the future.", code="invalid_input")
    mute, _ = ChatMute.objects.update_or_create(device_id=device_id, chat_id=chat_id, defaults={"until": until})
    return mute


def do_unmute_chat(device_id: int, chat_id: uuid.UUID) -> None:
    ChatMute.objects.filter(device_id=device_id, chat_id=chat_id).delete()


def do_set_preferences(device_id: int, changes: dict[str, bool]) -> dict[str, bool]:
    """This device's choices for chats it muted: do calls ring, do mentions of its user
    wake it (both yes by default). Returns both after the change."""
    row, _ = PushPreference.objects.update_or_create(device_id=device_id, defaults=changes)
    return {name: bool(getattr(row, name)) for name in selectors.PREFERENCE_DEFAULTS}


# --- notify ---------------------------------------------------------------------------


def queue_chat_notice(chat_id: str, user_id: int | None, kind: str, wake: list[str] | None = None) -> None:
    """After commit: hand the fan-out to the worker (one small enqueue, no I/O to push services).

    A call is a burst of signals (the offer, ICE candidates, the caller's repeated offer
    while it rings), all opaque here: the first one of a chat queues the fan-out and the
    rest within TALKEE_PUSH_CALL_REPEAT_SECONDS queue nothing (`cache.add` is atomic in
    Redis, so this holds across server processes). A call in another chat, or once that
    time passed, queues at once. `wake`: the addresses a message mentions (the sender's
    client names them so that a mention reaches people who muted the chat)."""
    if not push_enabled():
        return
    from apps.push import tasks

    try:
        if kind == CALL and not cache.add(
            _call_queued_key(chat_id), 1, timeout=settings.TALKEE_PUSH_CALL_REPEAT_SECONDS
        ):
            return
    except QUEUE_ERRORS:
        return  # Redis is restarting: no push for this one (the message itself is stored)
    schedule(tasks.notify_chat, (chat_id, user_id, kind, wake or None))


def queue_device_notices(pairs: list[tuple[int, str]]) -> None:
    """After commit: devices were added to chats (a Welcome each); they hear of it like a message."""
    if not push_enabled():
        return
    from apps.push import tasks

    schedule(tasks.notify_devices, ([[device_id, chat_id] for device_id, chat_id in pairs],))


def schedule(task: Any, args: tuple[Any, ...], countdown: float = 0) -> None:
    """Queue a task. Without a broker (tasks run inline) it runs on a timer thread, so a
    slow push service never holds up the thread that served a send."""
    if settings.CELERY_TASK_ALWAYS_EAGER:

        def run() -> None:
            try:
                task.apply(args=args)
            finally:
                connections.close_all()  # this thread's own database connection

        timer = threading.Timer(countdown, run)
        timer.daemon = True
        timer.start()
    else:
        # A push that cannot be queued is not retried: the message itself is stored and
        # the device sees it when it next opens the app.
        options = {"countdown": countdown} if countdown > 0 else {}
        enqueue(task, args, recovered_by="this push is skipped", **options)


def _window_key(device_id: int) -> str:
    return f"push:window:{device_id}"


def _call_key(device_id: int) -> str:
    return f"push:call:{device_id}"


def _mention_key(device_id: int) -> str:
    return f"push:mention:{device_id}"


def _call_queued_key(chat_id: str) -> str:
    return f"push:call-queued:{chat_id}"


def do_fan_out(chat_id: str, user_id: int | None, kind: str, wake: list[str] | None = None) -> int:
    """Schedule a push for every subscribed device of the chat that has no live socket:
    calls at once (one per device per few seconds), messages coalesced per device — the
    first message of a window schedules one push at its end, later ones join it. The
    devices of users the message mentions (`wake`, this instance's addresses) are pushed
    even where they muted the chat, unless they chose otherwise, and their push says
    "mention"."""
    from apps.push import tasks

    devices = selectors.subscribed_devices_of_chat(chat_id, except_user=user_id, call=kind == CALL)
    if kind == MESSAGE and wake:
        mine = [a for a in wake if isinstance(a, str) and a.endswith(f"@{settings.TALKEE_DOMAIN}")]
        woken = selectors.woken_devices_of_chat(chat_id, mine[:50], except_user=user_id) if mine else []
        window = int(settings.TALKEE_PUSH_COALESCE_SECONDS * 4) + 5
        for device_id in woken:
            cache.set(_mention_key(device_id), 1, timeout=window)
        devices = sorted(set(devices) | set(woken))
    live = live_device_ids(devices)
    scheduled = 0
    for device_id in devices:
        if device_id in live:
            continue
        if kind == CALL:
            if cache.add(_call_key(device_id), 1, timeout=settings.TALKEE_PUSH_CALL_REPEAT_SECONDS):
                schedule(tasks.push_to_device, (device_id, CALL, chat_id, 1))
                scheduled += 1
            continue
        scheduled += _join_window(device_id, chat_id)
    return scheduled


def _join_window(device_id: int, chat_id: str) -> int:
    """Add a message notice to the device's window; 1 when it opened a new window."""
    from apps.push import tasks

    window = settings.TALKEE_PUSH_COALESCE_SECONDS
    if cache.add(_window_key(device_id), chat_id, timeout=int(window * 4) + 5):
        schedule(tasks.flush_device_window, (device_id,), countdown=window)
        return 1
    if cache.get(_window_key(device_id)) not in (chat_id, MIXED):
        cache.set(_window_key(device_id), MIXED, timeout=int(window * 4) + 5)
    return 0


def do_fan_out_devices(pairs: list[tuple[int, str]]) -> int:
    """Message-like notices to given devices (a Welcome; added to a chat or removed from
    it by someone else), coalesced as messages are; not for a chat the device muted."""
    subscribed = set(
        PushSubscription.objects.filter(device_id__in=[d for d, _ in pairs]).values_list("device_id", flat=True)
    )
    live = live_device_ids(sorted(subscribed))
    muted = selectors.muted_device_chats(sorted(subscribed))
    return sum(_join_window(d, c) for d, c in pairs if d in subscribed and d not in live and (d, c) not in muted)


def do_flush_window(device_id: int) -> None:
    """End a device's coalescing window: one push for everything it saw."""
    from apps.push import tasks

    chat_ref = cache.get(_window_key(device_id))
    mentioned = cache.get(_mention_key(device_id)) is not None
    cache.delete_many([_window_key(device_id), _mention_key(device_id)])
    if chat_ref is None:
        return
    if device_id in live_device_ids([device_id]):
        return  # it came online meanwhile and fetched everything itself
    kind = MENTION if mentioned else MESSAGE
    schedule(tasks.push_to_device, (device_id, kind, None if chat_ref == MIXED else chat_ref, 1))


def release_connection() -> None:
    """Give this thread's database connection back (to the pool, under the ASGI server) before
    network I/O, unless a transaction is open (then the caller's, never ours to end)."""
    if not connection.in_atomic_block:
        connection.close()


def do_push(device_id: int, kind: str, chat_ref: str | None, attempt: int) -> float | None:
    """Post one push for the device. Returns the delay after which to try again, or None
    when done (sent, refused for good, gone, or out of attempts)."""
    if not push_enabled():
        return None
    row = PushSubscription.objects.filter(device_id=device_id).values("endpoint", "p256dh", "auth").first()
    if row is None:
        return None
    endpoint = row["endpoint"]
    if over_rate("push-device", str(device_id), settings.TALKEE_PUSH_DEVICE_RATE):
        logger.info("push dropped", extra={"outcome": "rate_limited"})
        PUSH_SENDS.labels(outcome="dropped").inc()
        return None
    release_connection()  # none is held while the push service is asked (it may take the whole timeout)
    try:
        webpush.check_endpoint(endpoint)  # names can change what they resolve to
    except ServiceError:
        PushSubscription.objects.filter(device_id=device_id, endpoint=endpoint).delete()
        logger.warning("push subscription dropped", extra={"outcome": "endpoint_refused"})
        PUSH_SENDS.labels(outcome="dropped").inc()
        return None
    call = kind == CALL
    answer = webpush.post_push(
        endpoint,
        bytes(row["p256dh"]),
        bytes(row["auth"]),
        webpush.encode_payload(kind, chat_ref),
        ttl=settings.TALKEE_PUSH_CALL_TTL_SECONDS if call else settings.TALKEE_PUSH_MESSAGE_TTL_SECONDS,
        urgency="high" if call else "normal",
        topic=webpush.topic_for(device_id, kind, chat_ref),
    )
    status = answer.status
    if status is not None and 200 <= status < 300:
        logger.info("push sent", extra={"outcome": "sent", "status": status})
        PUSH_SENDS.labels(outcome="sent").inc()
        return None
    if status in (404, 410):
        # The subscription expired or was withdrawn: forget it (unless it was replaced meanwhile).
        PushSubscription.objects.filter(device_id=device_id, endpoint=endpoint).delete()
        logger.info("push subscription gone", extra={"outcome": "gone", "status": status})
        PUSH_SENDS.labels(outcome="gone").inc()
        return None
    retryable = status is None or status == 429 or status >= 500
    if not retryable or attempt >= settings.TALKEE_PUSH_MAX_ATTEMPTS:
        logger.warning("push given up", extra={"outcome": "failed", "status": status, "attempt": attempt})
        PUSH_SENDS.labels(outcome="failed").inc()
        return None
    if status == 429 and answer.retry_after is not None:
        delay = min(answer.retry_after, 3600.0)
    else:
        base = settings.TALKEE_PUSH_RETRY_BASE_SECONDS * 2 ** (attempt - 1)
        delay = min(base, 600.0) * random.uniform(0.8, 1.2)
    logger.info("push retried", extra={"outcome": "retry", "status": status, "attempt": attempt})
    PUSH_SENDS.labels(outcome="retry").inc()
    return delay
