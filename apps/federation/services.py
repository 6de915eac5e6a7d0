"""Federation actions: receive envelopes into the inbox, queue and deliver the outbox, claim
a remote user's KeyPackages."""

import base64
import binascii
import json
import logging
import random
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.federation import discovery
from apps.federation.models import InboxEnvelope, OutboxEnvelope, Peer
from apps.federation.signing import sign_request
from talkee.errors import NotFound, ServiceError

logger = logging.getLogger("talkee.federation")

ENVELOPES_PATH = "/s2s/v1/envelopes"
KEYBUNDLE_PATH = "/s2s/mls/keybundle"
# Kinds this instance understands; anything else is refused at the door.
ENVELOPE_KINDS = frozenset({"ping", "mls_welcome", "commit", "message", "membership", "device_list"})
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
        if kind not in ENVELOPE_KINDS:
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

            transaction.on_commit(lambda: handle_inbox.delay(stored))
    return stored


def handle_inbox_rows(ids: list[int]) -> int:
    """Handle stored envelopes once each (the row's handled_at is the guard)."""
    handled = 0
    for pk in ids:
        with transaction.atomic():
            row = InboxEnvelope.objects.select_for_update(skip_locked=True).filter(pk=pk, handled_at=None).first()
            if row is None:
                continue
            # Cross-instance chats (membership, commits, welcomes, messages) are not wired
            # yet: envelopes are stored durably and marked handled.
            row.handled_at = timezone.now()
            row.save(update_fields=["handled_at"])
            handled += 1
    return handled


def queue_envelope(destination: str, kind: str, body: dict[str, Any]) -> OutboxEnvelope:
    """The Outbox row is the source of truth; delivery is attempted after commit."""
    if kind not in ENVELOPE_KINDS:
        raise ValueError(f"unknown envelope kind {kind}")
    row = OutboxEnvelope.objects.create(
        destination=destination, txn_id=secrets.token_urlsafe(24), kind=kind, body=body, next_attempt_at=timezone.now()
    )
    from apps.federation.tasks import deliver_outbox

    transaction.on_commit(lambda: deliver_outbox.delay(destination))
    return row


def signed_call(destination: str, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    """A request to a peer signed by our instance key, over mutual TLS (discovery.call)."""
    headers = sign_request(method, path, destination, body)
    if body:
        headers["Content-Type"] = "application/json"
    return discovery.call(destination, method, path, body=body or None, headers=headers, timeout=30)


def fetch_keybundle(address: str) -> list[dict[str, Any]]:
    """Claim one KeyPackage per device of a remote user at their instance (each used once;
    `keypackage` is None for a device whose pool is empty)."""
    domain = address.rpartition("@")[2]
    try:
        status, raw = signed_call(domain, "GET", f"{KEYBUNDLE_PATH}?{urlencode({'user': address}, safe='@')}")
    except discovery.DiscoveryError as exc:
        raise ServiceError(f"{domain} cannot be reached: {exc}", code="peer_unreachable", status=502) from exc
    if status == 404:
        raise NotFound(f"No such user: {address}.", code="user_not_found")
    if status != 200:
        raise ServiceError(f"{domain} refused the request (HTTP {status}).", code="peer_refused", status=502)
    try:
        devices = json.loads(raw)[address]
        return [
            {
                "device_id": int(d["device_id"]),
                "client_device_id": str(d["client_device_id"]),
                "keypackage": None if d["keypackage"] is None else base64.b64decode(d["keypackage"], validate=True),
            }
            for d in devices
        ]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise ServiceError(f"{domain} sent a malformed key bundle.", code="peer_malformed", status=502) from exc


def backoff_seconds(failures: int) -> float:
    """Exponential from a second, capped at an hour, with ±50 % jitter."""
    base = min(float(MAX_BACKOFF_SECONDS), 2.0 ** max(0, failures - 1))
    return base * random.uniform(0.5, 1.5)


def deliver_to(destination: str, limit: int = 100) -> int:
    """Send the oldest pending envelopes for one destination in one signed batch.

    Returns how many were delivered. On failure the batch waits: exponential backoff per
    destination (the batch's attempt count), with jitter, capped at an hour."""
    if Peer.objects.filter(domain=destination, blocked=True).exists():
        return 0
    now = timezone.now()
    with transaction.atomic():
        batch = list(
            OutboxEnvelope.objects.select_for_update(skip_locked=True)
            .filter(destination=destination, delivered_at=None)
            .order_by("pk")[:limit]
        )
        if not batch or (batch[0].next_attempt_at and batch[0].next_attempt_at > now):
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
            OutboxEnvelope.objects.filter(pk__in=ids).update(delivered_at=timezone.now(), last_error="")
            return len(batch)
        attempts = max(e.attempts for e in batch) + 1
        OutboxEnvelope.objects.filter(pk__in=ids).update(
            attempts=F("attempts") + 1,
            next_attempt_at=now + timedelta(seconds=backoff_seconds(attempts)),
            last_error=error[:200],
        )
    logger.warning("federation delivery failed", extra={"destination": destination, "error": error[:200]})
    return 0


def due_destinations() -> list[str]:
    """Destinations with envelopes waiting whose next attempt is due (for the sweeper)."""
    return list(
        OutboxEnvelope.objects.filter(delivered_at=None, next_attempt_at__lte=timezone.now())
        .values_list("destination", flat=True)
        .distinct()
    )
