"""Sender side: the Outbox row is the truth; delivery is signed, batched per destination,
backs off while the peer is down and catches up once it is back — nothing lost, nothing
sent twice."""

import base64
import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from nacl.signing import VerifyKey

from apps.federation.instance_key import instance_signing_key
from apps.federation.models import OutboxEnvelope
from apps.federation.services import backoff_seconds, deliver_to, due_destinations, queue_envelope
from apps.federation.signing import canonical, signed_fields
from tests.federation.conftest import PARTNER, StandInPeer

pytestmark = pytest.mark.django_db


def verify_as_peer(path: str, headers: dict[str, str], body: bytes) -> None:
    """What the receiving instance checks, done independently here with our public key."""
    fields = signed_fields(
        "POST",
        path,
        headers["X-Talkee-Origin"],
        headers["X-Talkee-Destination"],
        body,
        int(headers["X-Talkee-Ts"]),
        headers["X-Talkee-Txn"],
    )
    VerifyKey(bytes(instance_signing_key().verify_key)).verify(
        canonical(fields), base64.b64decode(headers["X-Talkee-Signature"])
    )


def queue(n: int) -> list[str]:
    with transaction.atomic():
        return [queue_envelope(PARTNER, "ping", {"n": i}).txn_id for i in range(n)]


def test_pending_envelopes_go_in_one_signed_batch(partner) -> None:
    txn_ids = queue(3)
    assert deliver_to(PARTNER) == 3
    ((path, headers, body),) = partner.requests
    assert path == "/s2s/v1/envelopes"
    assert headers["X-Talkee-Destination"] == PARTNER
    verify_as_peer(path, headers, body)
    assert [e["txn_id"] for e in json.loads(body)["envelopes"]] == txn_ids
    assert not OutboxEnvelope.objects.filter(delivered_at=None).exists()
    assert deliver_to(PARTNER) == 0


def test_outage_backs_off_then_catches_up_in_order_once(partner) -> None:
    partner.server.shutdown()
    partner.server.server_close()
    txn_ids = queue(5)
    assert deliver_to(PARTNER) == 0
    rows = list(OutboxEnvelope.objects.order_by("pk"))
    assert all(r.attempts == 1 and r.last_error.startswith("unreachable") for r in rows)
    assert rows[0].next_attempt_at is not None
    assert rows[0].next_attempt_at > timezone.now()
    assert deliver_to(PARTNER) == 0, "no retry before the backoff has passed"
    assert due_destinations() == []
    # the peer comes back on the same address; time passes
    revived = StandInPeer()
    with override_settings(TALKEE_FEDERATION_HOSTS={PARTNER: f"127.0.0.1:{revived.port}"}):
        OutboxEnvelope.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        assert due_destinations() == [PARTNER]
        txn_ids += queue(2)
        assert deliver_to(PARTNER) == 7
    revived.server.shutdown()
    delivered = [e["txn_id"] for _, _, body in revived.requests for e in json.loads(body)["envelopes"]]
    assert delivered == txn_ids


def test_backoff_grows_exponentially_with_jitter_and_caps_at_an_hour() -> None:
    for failures, base in ((1, 1), (2, 2), (5, 16), (12, 2048)):
        samples = [backoff_seconds(failures) for _ in range(50)]
        assert all(0.5 * base <= s <= 1.5 * base for s in samples)
        assert len(set(samples)) > 1
    assert all(backoff_seconds(40) <= 1.5 * 3600 for _ in range(20))
    assert all(backoff_seconds(40) >= 0.5 * 3600 for _ in range(20))


def test_blocked_destination_gets_nothing(partner) -> None:
    from apps.federation.models import Peer

    Peer.objects.create(domain=PARTNER, ed25519_pub=bytes(partner.key.verify_key), blocked=True)
    queue(1)
    assert deliver_to(PARTNER) == 0
    assert partner.requests == []


def test_a_batch_in_flight_is_left_alone_until_its_lease_runs_out(partner) -> None:
    """A worker that claimed a batch and died: nobody sends the batch (or anything after it,
    which would overtake it) while its lease holds; once it has run out, the sweeper sends
    it again, in order."""
    txn_ids = queue(2)
    OutboxEnvelope.objects.update(leased_until=timezone.now() + timedelta(seconds=60))
    txn_ids += queue(1)
    assert deliver_to(PARTNER) == 0
    assert due_destinations() == []
    assert partner.requests == []
    OutboxEnvelope.objects.update(leased_until=timezone.now() - timedelta(seconds=1))
    assert due_destinations() == [PARTNER]
    assert deliver_to(PARTNER) == 3
    ((_, _, body),) = partner.requests
    assert [e["txn_id"] for e in json.loads(body)["envelopes"]] == txn_ids
    assert not OutboxEnvelope.objects.filter(delivered_at=None).exists()
    assert not OutboxEnvelope.objects.exclude(leased_until=None).exists()


def test_a_lease_whose_worker_is_gone_ends_at_once(partner) -> None:
    """On PostgreSQL a lease names the claiming worker's database session: once that
    session is gone (the worker died), the batch is sent again without waiting for the
    lease to run out."""
    txn_ids = queue(2)
    gone = 2**31 - 1  # no such backend
    OutboxEnvelope.objects.update(leased_until=timezone.now() + timedelta(seconds=60), leased_by=gone)
    assert due_destinations() == [PARTNER]
    assert deliver_to(PARTNER) == 2
    ((_, _, body),) = partner.requests
    assert [e["txn_id"] for e in json.loads(body)["envelopes"]] == txn_ids
