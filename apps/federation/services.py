"""Federation actions: receive envelopes into the inbox and handle them in order, queue and
deliver the outbox; every request to a peer is signed and goes over mutual TLS (signed_call)."""

import json
import logging
import random
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.core import metrics
from apps.core.errors import ServiceError
from apps.core.queue import enqueue
from apps.federation import discovery, registry
from apps.federation.models import InboxEnvelope, OutboxEnvelope, Peer
from apps.federation.registry import Refused, RetryLater
from apps.federation.signing import sign_request

logger = logging.getLogger("talkee.federation")

ENVELOPES_PATH = "/s2s/v1/envelopes"
MAX_BACKOFF_SECONDS = 3600


def check_envelopes(document: Any) -> list[dict[str, Any]]:
    envelopes = document.get("envelopes") if isinstance(document, dict) else None
    if not isinstance(envelopes, list) or not envelopes:
        raise ServiceError('Send {"envelopes": [...]} with at least one envelope.', code="invalid_input")
    if len(envelopes) > settings.TALKEE_FEDERATION_MAX_ENVELOPES:
        raise ServiceError("Too many envelopes in one request.", code="too_many_envelopes")
    for envelope in envelopes:
        if not isinstance(envelope, dict):
            raise ServiceError("Each envelope is an object.", code="invalid_input")
        txn_id, kind, body = envelope.get("txn_id"), envelope.get("kind"), envelope.get("body")
        if not isinstance(txn_id, str) or not 8 <= len(txn_id) <= 64:
            raise ServiceError("Each envelope needs a txn_id of 8 to 64 characters.", code="invalid_input")
        if not registry.is_known_kind(kind):  # kinds no app registered are refused at the door
            raise ServiceError(f"Unknown envelope kind {kind!r}.", code="unknown_kind")
        if not isinstance(body, dict):
            raise ServiceError("An envelope's body is an object.", code="invalid_input")
    return envelopes


def do_receive_envelopes(origin: str, envelopes: list[dict[str, Any]]) -> list[int]:
    """Store each envelope once per (origin, txn_id); return the ids newly stored."""
    with transaction.atomic():
        InboxEnvelope.objects.bulk_create(
            [InboxEnvelope(origin=origin, txn_id=e["txn_id"], kind=e["kind"], body=e["body"]) for e in envelopes],
            ignore_conflicts=True,
        )
        txn_ids = [e["txn_id"] for e in envelopes]
        stored = list(
            InboxEnvelope.objects.filter(origin=origin, txn_id__in=txn_ids, handled_at__isnull=True).values_list(
                "pk", flat=True
            )
        )
        if stored:
            from apps.federation.tasks import handle_inbox

            transaction.on_commit(lambda: enqueue(handle_inbox, (stored,), recovered_by="the inbox sweep handles them"))
    return stored


def handle_inbox_rows(ids: list[int]) -> int:
    """Handle stored envelopes (and any older ones of the same origins) in order."""
    origins = set(InboxEnvelope.objects.filter(pk__in=ids, handled_at=None).values_list("origin", flat=True))
    return sum(handle_pending(origin) for origin in sorted(origins))


def handle_pending(origin: str, limit: int = 200) -> int:
    """Handle one origin's unhandled envelopes in arrival order, each exactly once.

    The origin's Peer row is locked while envelopes are applied, so two tasks never apply
    the same origin's envelopes at once (or out of order: a chat's traffic from its home is
    one ordered stream). Each envelope's effects and its `handled_at` commit together. A
    refusal is final and recorded in `error`; once handled, a body is emptied (the rows
    it produced are the truth: an inbox copy would outlive a deleted or expired message).
    An envelope that must wait (RetryLater) stops the batch: it and everything after it
    stay pending, in order, for the inbox sweeper.

    No network call runs under that lock or in that transaction: a kind whose handler has a
    `prepare` step (a forwarded send pulls its files from the sender's instance) is
    prepared first, with no transaction open, when it is the oldest pending envelope of
    the origin (everything before it applied); the batch then starts with it."""
    handled = 0
    while True:
        head = InboxEnvelope.objects.filter(origin=origin, handled_at=None).order_by("pk").first()
        if head is None:
            return handled
        ready = _prepare(origin, head)
        if ready is None:
            return handled  # postponed
        prepared_pk, prepared, prepare_error = ready
        with transaction.atomic():
            Peer.objects.select_for_update().filter(domain=origin).first()
            rows = list(InboxEnvelope.objects.filter(origin=origin, handled_at=None).order_by("pk")[:limit])
            done: list[InboxEnvelope] = []
            postponed = False
            for row in rows:
                try:
                    handler = registry.handler_for(row.kind)
                    if row.pk == prepared_pk and prepare_error is not None:
                        raise prepare_error
                    if handler.prepare is None:
                        with transaction.atomic():
                            handler.apply(origin, row.body)
                    elif row.pk == prepared_pk or not handler.prepares(row.body):
                        with transaction.atomic():
                            handler.apply(origin, row.body, prepared if row.pk == prepared_pk else None)
                    else:
                        break  # prepared on the next round, outside any transaction
                except RetryLater as exc:
                    _log_postponed(origin, row, exc)
                    postponed = True
                    break
                except (Refused, ServiceError, KeyError, TypeError, ValueError) as exc:
                    row.error = (str(exc) or type(exc).__name__)[:200]
                    logger.warning(
                        "federation envelope refused",
                        extra={"origin": origin, "kind": row.kind, "txn_id": row.txn_id, "error": row.error},
                    )
                row.handled_at = timezone.now()
                if row.kind != "ping":
                    row.body = {}
                done.append(row)
            InboxEnvelope.objects.bulk_update(done, ["handled_at", "error", "body"])
        handled += len(done)
        if postponed or not rows:
            return handled


def _prepare(origin: str, row: InboxEnvelope) -> tuple[int, Any, Exception | None] | None:
    """Run the row's `prepare` step, if its kind has one, with no transaction open.
    Returns (the row's id, what prepare returned, a refusal to record), None when it must wait."""
    try:
        handler = registry.handler_for(row.kind)
        prepared = handler.prepare(origin, row.body) if handler.prepare and handler.prepares(row.body) else None
    except RetryLater as exc:
        _log_postponed(origin, row, exc)
        return None
    except (Refused, ServiceError, KeyError, TypeError, ValueError) as exc:
        return row.pk, None, exc
    return row.pk, prepared, None


def _log_postponed(origin: str, row: InboxEnvelope, exc: Exception) -> None:
    logger.warning(
        "federation envelope postponed",
        extra={"origin": origin, "kind": row.kind, "txn_id": row.txn_id, "error": str(exc)[:200]},
    )


def pending_origins(older_than: timedelta) -> list[str]:
    """Origins with envelopes stored a while ago and not handled (a task that died)."""
    return list(
        InboxEnvelope.objects.filter(handled_at=None, received__lte=timezone.now() - older_than)
        .values_list("origin", flat=True)
        .distinct()
    )


def send(kind: str, destination: str, body: dict[str, Any]) -> OutboxEnvelope:
    """The public way to send an envelope to a peer: queued in the caller's transaction
    (it commits with the change it carries, or not at all), delivered after commit."""
    return queue_envelope(destination, kind, body)


def queue_envelope(destination: str, kind: str, body: dict[str, Any]) -> OutboxEnvelope:
    """The Outbox row is the source of truth; delivery is attempted after commit."""
    if not registry.is_known_kind(kind):
        raise ValueError(f"unknown envelope kind {kind}")
    row = OutboxEnvelope.objects.create(
        destination=destination, txn_id=secrets.token_urlsafe(24), kind=kind, body=body, next_attempt_at=timezone.now()
    )
    from apps.federation.tasks import deliver_outbox

    transaction.on_commit(lambda: enqueue(deliver_outbox, (destination,), recovered_by="the outbox sweep delivers it"))
    return row


def signed_call(
    destination: str, method: str, path: str, body: bytes = b"", extra_headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """A request to a peer signed by our instance key, over mutual TLS (discovery.call)."""
    headers = {**(extra_headers or {}), **sign_request(method, path, destination, body)}
    if body:
        headers["Content-Type"] = "application/json"
    return discovery.call(destination, method, path, body=body or None, headers=headers, timeout=30)


def backoff_seconds(failures: int) -> float:
    """Exponential from a second, capped at an hour, with ±50 % jitter."""
    base = min(float(MAX_BACKOFF_SECONDS), 2.0 ** max(0, failures - 1))
    return base * random.uniform(0.5, 1.5)


def deliver_to(destination: str, limit: int = 100) -> int:
    """Send the oldest pending envelopes for one destination in one signed batch.

    Returns how many were delivered. No transaction or row lock is held while the request
    is in flight: the batch is claimed in a short transaction (a lease, `leased_until`),
    the request is made with nothing open, and the outcome is recorded in another short
    transaction. One batch per destination is in flight at a time (a destination whose
    oldest pending envelopes are leased is left alone), so a peer receives its envelopes
    in order; a worker that dies mid-request leaves a lease that runs out, and the sweeper
    sends the batch again (the peer stores each txn_id once). On failure the batch waits:
    exponential backoff per destination (the batch's attempt count), with jitter, capped
    at an hour."""
    if Peer.objects.filter(domain=destination, blocked=True).exists():
        return 0
    batch = _claim(destination, limit)
    if not batch:
        return 0
    body = json.dumps(
        {"envelopes": [{"txn_id": e.txn_id, "kind": e.kind, "body": e.body} for e in batch]},
        separators=(",", ":"),
    ).encode()
    try:
        status, raw = signed_call(destination, "POST", ENVELOPES_PATH, body)
        error = "" if status == 202 else f"HTTP {status}: {raw[:120]!r}"
    except discovery.DiscoveryError as exc:
        error = f"unreachable: {exc}"
    ids = [e.pk for e in batch]
    if not error:
        OutboxEnvelope.objects.filter(pk__in=ids).update(
            delivered_at=timezone.now(), last_error="", leased_until=None, leased_by=None
        )
        return len(batch)
    attempts = max(e.attempts for e in batch) + 1
    OutboxEnvelope.objects.filter(pk__in=ids, delivered_at=None).update(
        attempts=F("attempts") + 1,
        next_attempt_at=timezone.now() + timedelta(seconds=backoff_seconds(attempts)),
        last_error=error[:200],
        leased_until=None,
        leased_by=None,
    )
    metrics.FEDERATION_DELIVERY_FAILURES.labels(peer=destination).inc()
    logger.warning("federation delivery failed", extra={"destination": destination, "error": error[:200]})
    return 0


def _claim(destination: str, limit: int) -> list[OutboxEnvelope]:
    """The destination's oldest pending envelopes, leased to this worker (committed before
    any request is made); none while an earlier batch is in flight or backing off."""
    now = timezone.now()
    with transaction.atomic():
        batch = list(
            OutboxEnvelope.objects.select_for_update()
            .filter(destination=destination, delivered_at=None)
            .order_by("pk")[:limit]
        )
        if not batch or (batch[0].next_attempt_at and batch[0].next_attempt_at > now):
            return []
        if _in_flight([e for e in batch if e.leased_until is not None and e.leased_until > now]):
            return []  # at another worker: one batch at a time keeps the order
        OutboxEnvelope.objects.filter(pk__in=[e.pk for e in batch]).update(
            leased_until=now + timedelta(seconds=settings.TALKEE_FEDERATION_LEASE_SECONDS),
            leased_by=_session_pid(),
        )
    return batch


def _session_pid() -> int | None:
    """This worker's database session (PostgreSQL), which ends when the worker dies."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    return int(pid)


def _in_flight(leased: list[OutboxEnvelope]) -> bool:
    """Whether any of these leased rows is still held by a live worker: its lease has not run
    out and (on PostgreSQL) the session that claimed it is still connected."""
    if not leased:
        return False
    pids = {e.leased_by for e in leased}
    if None in pids or connection.vendor != "postgresql":
        return True
    return bool(_live_sessions({pid for pid in pids if pid is not None}))


def _live_sessions(pids: set[int]) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s)", [list(pids)])
        return {int(pid) for (pid,) in cursor.fetchall()}


def due_destinations() -> list[str]:
    """Destinations with envelopes waiting whose next attempt is due (for the sweeper), but
    not while a batch of theirs is in flight (leased)."""
    now = timezone.now()
    leased: dict[str, list[OutboxEnvelope]] = {}
    for row in OutboxEnvelope.objects.filter(delivered_at=None, leased_until__gt=now).only(
        "destination", "leased_until", "leased_by"
    ):
        leased.setdefault(row.destination, []).append(row)
    busy = {destination for destination, rows in leased.items() if _in_flight(rows)}
    due = (
        OutboxEnvelope.objects.filter(delivered_at=None, next_attempt_at__lte=now)
        .values_list("destination", flat=True)
        .distinct()
    )
    return [destination for destination in due if destination not in busy]


def clear_delivered_bodies() -> int:
    return (
        OutboxEnvelope.objects.filter(delivered_at__isnull=False).exclude(kind="ping").exclude(body={}).update(body={})
    )
