"""Two real instances on loopback: A (this test's database, served by a live daphne and its
mutual-TLS s2s listener on 127.0.0.2, with the real Celery worker delivering its outbox) and
B (`b.test`: its own daphne and s2s listener on 127.0.0.3 with its own PostgreSQL database,
key and certificate). A's outbox reaches B signed, over mutual TLS; B pins A's key (fetched
from A's s2s listener) on first contact; B is stopped while A keeps queueing, restarted, and
everything arrives once, in order."""

import json
import os
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from apps.core.errors import NotFound
from apps.devices.federation import claim_remote
from apps.devices.models import Device
from apps.devices.services import claim_keypackages
from apps.federation import discovery
from apps.federation.models import OutboxEnvelope
from apps.federation.services import ENVELOPES_PATH, deliver_to, queue_envelope
from apps.federation.signing import sign_request
from apps.federation.tasks import deliver_outbox, sweep_outbox
from tests.conftest import (
    FEDERATION_B,
    FEDERATION_HOSTS,
    ROOT,
    CeleryWorker,
    DeviceKeys,
    b64,
    fake_keypackage,
)
from tests.federation.pki import Pki
from tests.support.federation import InstanceB, RemoteAccount, chat_history, start_direct_chat, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

B = FEDERATION_B


def queue(start: int, count: int) -> None:
    with transaction.atomic():
        for n in range(start, start + count):
            queue_envelope(B, "ping", {"n": n})


def test_delivery_between_two_instances_survives_an_outage(instance_b: InstanceB) -> None:
    queue(0, 10)  # the worker delivers after commit
    wait_until(lambda: len(instance_b.inbox()) == 10, "the first ten envelopes on B")
    assert instance_b.pinned() == ["localhost"], "B pinned A's key on first contact"
    assert instance_b.inbox() == [("localhost", "ping", n) for n in range(10)]

    instance_b.stop()
    queue(10, 30)
    wait_until(
        lambda: OutboxEnvelope.objects.filter(attempts__gte=1, delivered_at=None).count() == 30,
        "a failed attempt while B is down",
    )
    assert all(r.last_error.startswith("unreachable") for r in OutboxEnvelope.objects.filter(delivered_at=None))
    instance_b.start()
    OutboxEnvelope.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))  # the backoff passed
    sweep_outbox.delay()  # what beat does every few seconds
    wait_until(lambda: not OutboxEnvelope.objects.filter(delivered_at=None).exists(), "catch-up")
    assert instance_b.inbox() == [("localhost", "ping", n) for n in range(40)]
    # B logged no failure of its own (a request cut off by its own shutdown is not one)
    b_errors = [
        line
        for line in instance_b.log_path.read_text().splitlines()
        if '"level": "ERROR"' in line and "RequestAborted" not in line
    ]
    assert b_errors == []
    # and no access log: no line pairs a peer or a time with a request (s2s listener included)
    assert ENVELOPES_PATH not in instance_b.log_path.read_text()


def test_a_worker_killed_mid_delivery_loses_and_duplicates_nothing(
    instance_b: InstanceB, celery_worker: CeleryWorker
) -> None:
    """The worker is SIGKILLed while it delivers 3,000 envelopes batch after batch; the
    outbox rows are the truth, so a new worker (re-queued by the sweeper, as beat does)
    sends what is left and B holds every envelope once, in order."""
    total = 3000  # 30 signed batches: seconds of delivery to cut into
    # The rows queue_envelope writes, written at once; then one delivery task for them.
    OutboxEnvelope.objects.bulk_create(
        OutboxEnvelope(
            destination=B, txn_id=f"txn-kill-{n:05d}", kind="ping", body={"n": n}, next_attempt_at=timezone.now()
        )
        for n in range(total)
    )
    deliver_outbox.delay(B)
    deadline = time.monotonic() + 60
    while not OutboxEnvelope.objects.filter(delivered_at__isnull=False).exists():  # the first batch is through
        assert time.monotonic() < deadline, "timed out waiting for the first batch"
        time.sleep(0.01)
    celery_worker.kill()
    delivered_at_kill = OutboxEnvelope.objects.filter(delivered_at__isnull=False).count()
    try:
        assert 0 < delivered_at_kill < total, "the worker was killed in the middle of the delivery"
        time.sleep(1)
        assert OutboxEnvelope.objects.filter(delivered_at=None).exists(), "nothing delivers while no worker runs"
    finally:
        celery_worker.start()
    sweep_outbox.delay()
    wait_until(lambda: not OutboxEnvelope.objects.filter(delivered_at=None).exists(), "catch-up", timeout=120)
    assert instance_b.inbox() == [("localhost", "ping", n) for n in range(total)]


def test_instance_b_refuses_a_key_change_of_a(instance_b: InstanceB, tmp_path: Path) -> None:
    queue(0, 1)
    wait_until(lambda: not OutboxEnvelope.objects.filter(delivered_at=None).exists(), "the first delivery")
    assert instance_b.inbox() == [("localhost", "ping", 0)]
    # A's key is replaced (a reinstall that lost var/keys, or an impostor): B refuses it
    from apps.federation.instance_key import instance_signing_key

    instance_signing_key.cache_clear()
    try:
        # written straight to the outbox and sent from here, signed with the new key; the
        # row stays uncommitted until then, so the worker (with A's real key) never sees it
        with override_settings(TALKEE_KEY_DIR=tmp_path / "new-keys"), transaction.atomic():
            OutboxEnvelope.objects.create(
                destination=B, txn_id="txn-newkey-01", kind="ping", body={"n": 1}, next_attempt_at=timezone.now()
            )
            assert deliver_to(B) == 0
    finally:
        instance_signing_key.cache_clear()
    row = OutboxEnvelope.objects.get(delivered_at=None)
    assert "401" in row.last_error and "invalid signature" in row.last_error
    assert instance_b.inbox() == [("localhost", "ping", 0)]
    assert json.dumps(instance_b.pinned()) == '["localhost"]'


def test_b_refuses_a_client_certificate_that_does_not_name_the_origin(
    instance_b: InstanceB, federation_pki: Pki
) -> None:
    """Correctly signed by A, but over TLS as c.test (a valid certificate from the same CA):
    refused; the same request with A's own certificate passes."""
    body = json.dumps({"envelopes": [{"txn_id": "txn-certname1", "kind": "ping", "body": {"n": 7}}]}).encode()

    def post_as(cert_domain: str) -> tuple[int, bytes]:
        headers = {**sign_request("POST", ENVELOPES_PATH, B, body), "Content-Type": "application/json"}
        with override_settings(
            TALKEE_FEDERATION_TLS_CERT=str(federation_pki.cert(cert_domain)),
            TALKEE_FEDERATION_TLS_KEY=str(federation_pki.key(cert_domain)),
        ):
            return discovery.call(B, "POST", ENVELOPES_PATH, body=body, headers=headers)

    status, raw = post_as("c.test")
    assert status == 403
    assert json.loads(raw)["error"]["code"] == "tls_origin_mismatch"
    assert instance_b.inbox() == []
    assert instance_b.pinned() == [], "nothing is pinned from a refused request"
    status, raw = post_as("localhost")
    assert status == 202, raw
    assert instance_b.inbox() == [("localhost", "ping", 7)]


def test_keypackages_of_a_user_on_b_are_claimed_over_mutual_tls(instance_b: InstanceB) -> None:
    """A claims Bob's KeyPackages at B (signed GET over mTLS): one per device, each once,
    under A's mirror of the device (with its public keys); naming one mirrored device
    claims only that device's at B."""
    devices = [DeviceKeys(), DeviceKeys()]
    packages = {d.client_device_id: [fake_keypackage(), fake_keypackage()] for d in devices}
    seed = [
        "import base64",
        "from apps.accounts.models import User",
        "from apps.devices.models import Device, KeyPackage",
        f"bob = User.objects.create_user('bob@{B}', domain='{B}')",
    ]
    for keys in devices:
        seed += [
            "device = Device.objects.create(",
            f"    user=bob, client_device_id='{keys.client_device_id}',",
            f"    ed25519_pub=base64.b64decode('{keys.as_json()['ed25519_pub']}'),",
            f"    x25519_pub=base64.b64decode('{keys.as_json()['x25519_pub']}'),",
            ")",
            *(
                f"KeyPackage.objects.create(device=device, data=base64.b64decode('{b64(p)}'))"
                for p in packages[keys.client_device_id]
            ),
        ]
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", "\n".join(seed)], cwd=ROOT, env=instance_b.env, check=True
    )
    first = claim_remote(f"bob@{B}")
    assert {d["client_device_id"]: d["keypackage"] for d in first} == {c: p[0] for c, p in packages.items()}
    mirrors = {d["client_device_id"]: int(str(d["device_id"])) for d in first}
    mirror = Device.objects.get(pk=mirrors[devices[0].client_device_id])
    assert bytes(mirror.ed25519_pub) == bytes(devices[0].signing.verify_key) and mirror.user.username == f"bob@{B}"
    # only the second device (as when one new device of Bob's joins a group)
    only = claim_keypackages([f"bob@{B}"], device_ids=[mirrors[devices[1].client_device_id]])[f"bob@{B}"]
    assert [(d["device_id"], d["keypackage"]) for d in only] == [
        (mirrors[devices[1].client_device_id], packages[devices[1].client_device_id][1])
    ]
    again = {d["client_device_id"]: d["keypackage"] for d in claim_remote(f"bob@{B}")}
    assert again == {
        devices[0].client_device_id: packages[devices[0].client_device_id][1],
        devices[1].client_device_id: None,
    }
    assert [d["device_id"] for d in claim_remote(f"bob@{B}")] == [mirrors[d.client_device_id] for d in devices]
    with pytest.raises(NotFound):
        claim_remote(f"nobody@{B}")
    assert instance_b.pinned() == ["localhost"], "B verified A's signed claim (and pinned A)"


def test_identity_keys_and_certificates_of_a_user_on_b_reach_a_s_clients(instance_b: InstanceB, make_account) -> None:
    """Bob lives on B and certified one of his two devices: A's KeyPackage claim and its
    `GET /v1/devices/of/bob@b.test` give Alice's client his identity key and that certificate
    (the other device stays uncertified, so her client refuses it) — asked of B each time."""
    from nacl.signing import SigningKey

    from tests.support.certificates import device_certificate

    identity = SigningKey.generate()
    certified, bare = DeviceKeys(), DeviceKeys()
    cert = device_certificate(
        identity,
        f"bob@{B}",
        certified.client_device_id,
        bytes(certified.signing.verify_key),
        bytes(certified.box.public_key),
    )
    seed = [
        "import base64",
        "from apps.accounts.models import User",
        "from apps.devices.models import Device, IdentityKey, KeyPackage",
        f"bob = User.objects.create_user('bob@{B}', domain='{B}')",
        f"IdentityKey.objects.create(user=bob, public_key=base64.b64decode('{b64(bytes(identity.verify_key))}'))",
    ]
    for keys, certificate in ((certified, cert), (bare, None)):
        seed += [
            "device = Device.objects.create(",
            f"    user=bob, client_device_id='{keys.client_device_id}',",
            f"    ed25519_pub=base64.b64decode('{keys.as_json()['ed25519_pub']}'),",
            f"    x25519_pub=base64.b64decode('{keys.as_json()['x25519_pub']}'),",
            f"    certificate={'None' if certificate is None else repr(certificate)},",
            ")",
            f"KeyPackage.objects.create(device=device, data=base64.b64decode('{b64(fake_keypackage())}'))",
        ]
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", "\n".join(seed)], cwd=ROOT, env=instance_b.env, check=True
    )
    alice = make_account()
    claimed = alice.client.post("/v1/keypackages/claim", {"users": [f"bob@{B}"]}, format="json")
    assert claimed.status_code == 200, claimed.json()
    entries = {e["client_device_id"]: e for e in claimed.json()[f"bob@{B}"]}
    assert entries[certified.client_device_id]["certificate"] == b64(cert)
    assert entries[bare.client_device_id]["certificate"] is None
    assert {e["identity_key"] for e in entries.values()} == {b64(bytes(identity.verify_key))}

    listed = alice.client.get(f"/v1/devices/of/bob@{B}")
    assert listed.status_code == 200, listed.json()
    assert listed.json() == {
        "user": f"bob@{B}",
        "identity_key": b64(bytes(identity.verify_key)),
        "devices": [
            {"client_device_id": certified.client_device_id, "certificate": b64(cert)},
            {"client_device_id": bare.client_device_id, "certificate": None},
        ],
        "log": None,  # B keeps Bob's key log; it is not carried over federation
    }
    # B is the authority: when it stops answering, A does not answer from a stale mirror.
    instance_b.stop()
    try:
        gone = alice.client.get(f"/v1/devices/of/bob@{B}")
        assert gone.status_code == 503 and gone.json()["error"]["code"] == "peer_unreachable", gone.json()
    finally:
        instance_b.start()


def test_a_refuses_a_key_change_of_b_until_its_admin_repins(instance_b: InstanceB, make_account, admin_client) -> None:
    """B's instance key is replaced (a reinstall that lost var/keys): A refuses B's signed
    envelopes ("invalid signature"), B keeps them queued; once A's admin re-pins B's key
    in the admin panel, B's retries get through — the message arrives once, in order."""
    import base64

    from apps.federation.models import Peer

    alice = make_account()
    bob = RemoteAccount.register(instance_b, "bob")
    chat_id = start_direct_chat(alice, bob)
    first, second = b"before the key change", b"after the key change"
    assert bob.send(chat_id, first)[0] == 202
    wait_until(lambda: 1 in chat_history(alice, chat_id), "Bob's first message on A")
    pinned = bytes(Peer.objects.get(domain=B).ed25519_pub)

    instance_b.stop()
    (instance_b.tmp / f"{instance_b.name}-var" / "keys" / "instance_ed25519").unlink()
    instance_b.start()
    assert bob.send(chat_id, second)[0] == 202

    def b_outbox_errors() -> list[str]:
        with psycopg.connect(instance_b.dsn) as conn:
            rows = conn.execute(
                "SELECT last_error FROM federation_outboxenvelope WHERE destination = 'localhost' "
                "AND delivered_at IS NULL"
            ).fetchall()
        return [r[0] for r in rows]

    wait_until(lambda: any("invalid signature" in e for e in b_outbox_errors()), "A refusing B's new key")
    assert sorted(chat_history(alice, chat_id)) == [1], "nothing signed with the new key got in"
    assert bytes(Peer.objects.get(domain=B).ed25519_pub) == pinned

    peer = Peer.objects.get(domain=B)
    admin_client.post("/admin/federation/peer/", {"action": "repin_keys", "_selected_action": [peer.pk]})
    new_key = bytes(Peer.objects.get(domain=B).ed25519_pub)
    with urllib.request.urlopen(f"{instance_b.url}/.well-known/talkee/server", timeout=10) as answer:
        published = base64.b64decode(json.loads(answer.read())["ed25519_pub"])
    assert new_key == published != pinned
    wait_until(lambda: 2 in chat_history(alice, chat_id), "Bob's second message on A after the re-pin", timeout=90)
    history = chat_history(alice, chat_id)
    assert sorted(history) == [1, 2]
    assert [base64.b64decode(history[s]["ciphertext"]) for s in (1, 2)] == [first, second]
    wait_until(lambda: b_outbox_errors() == [], "B's queue drained")


def test_a_finds_b_through_the_federation_url_b_publishes(instance_b: InstanceB) -> None:
    """No static entry for B on A: A asks B's web host for /.well-known/talkee/server, dials
    the federation URL found there (an address, not B's name) and still checks that the
    listener's certificate names b.test; the envelope arrives."""
    from django.core.cache import cache

    hosts = {d: a for d, a in FEDERATION_HOSTS.items() if d != B}
    cache.delete(f"federation-delegation:{B}")
    with override_settings(
        TALKEE_FEDERATION_HOSTS=hosts,
        TALKEE_FEDERATION_WELL_KNOWN_HOSTS={B: f"{instance_b.host}:{instance_b.port}"},
        TALKEE_FEDERATION_WELL_KNOWN_SCHEME="http",  # B's web port in this test is plain http
    ):
        assert discovery.peer_address(B) == (instance_b.host, instance_b.s2s_port)
        # written and sent in one transaction: the worker (with B in its static map) never sees it
        with transaction.atomic():
            OutboxEnvelope.objects.create(
                destination=B, txn_id="txn-delegated1", kind="ping", body={"n": 3}, next_attempt_at=timezone.now()
            )
            assert deliver_to(B) == 1
    cache.delete(f"federation-delegation:{B}")
    assert instance_b.inbox() == [("localhost", "ping", 3)]


def test_a_remote_members_sealed_profile_is_asked_of_their_instance_and_mirrored(
    instance_b: InstanceB, make_account, settings
) -> None:
    """Bob lives on B and set his profile there (sealed: A cannot open it). Alice on A, in a
    chat with him, gets it through A, which asks B (signed, mutual TLS) and mirrors it: a
    newer version replaces it once the refresh time has passed, and while B is away A
    answers the mirror. Someone A knows of from no chat is not asked for at all."""
    settings.TALKEE_REMOTE_PROFILE_REFRESH_SECONDS = 2
    alice = make_account()
    bob = RemoteAccount.register(instance_b, "bob")
    sealed_1, sealed_2 = os.urandom(300), os.urandom(420)
    status, answer = bob.call("PUT", "/v1/accounts/me/profile", {"version": 1, "ciphertext": b64(sealed_1)})
    assert status == 200, answer
    unknown = alice.client.get(f"/v1/accounts/{bob.address}/profile")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "user_not_found"

    start_direct_chat(alice, bob)
    got = alice.client.get(f"/v1/accounts/{bob.address}/profile")
    assert got.status_code == 200, got.json()
    assert got.json() == {"user": bob.address, "version": 1, "ciphertext": b64(sealed_1)}

    status, answer = bob.call("PUT", "/v1/accounts/me/profile", {"version": 2, "ciphertext": b64(sealed_2)})
    assert status == 200, answer
    assert alice.client.get(f"/v1/accounts/{bob.address}/profile").json()["version"] == 1  # asked a moment ago
    time.sleep(2.5)
    assert alice.client.get(f"/v1/accounts/{bob.address}/profile").json() == {
        "user": bob.address,
        "version": 2,
        "ciphertext": b64(sealed_2),
    }

    carol = RemoteAccount.register(instance_b, "carol")  # in a chat with Alice, no profile yet
    start_direct_chat(alice, carol)
    missing = alice.client.get(f"/v1/accounts/{carol.address}/profile")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found", missing.json()
    instance_b.stop()
    try:
        away = alice.client.get(f"/v1/accounts/{bob.address}/profile")
        assert away.status_code == 200 and away.json()["version"] == 2  # the mirror
        gone = alice.client.get(f"/v1/accounts/{carol.address}/profile")
        assert gone.status_code == 503 and gone.json()["error"]["code"] == "peer_unreachable", gone.json()
    finally:
        instance_b.start()


def blocks_on(instance: InstanceB) -> int:
    with psycopg.connect(instance.dsn) as conn:
        row = conn.execute("SELECT count(*) FROM accounts_block").fetchone()
    return int(row[0]) if row else 0


def test_a_block_reaches_the_blocked_persons_instance_which_refuses_them_there(
    instance_b: InstanceB, make_account
) -> None:
    """Alice (A) blocks Bob (B), whom she met in a group: B is told, and refuses Bob — at
    once, with the API's 403 — a direct chat with her and a group with her in it; after
    she unblocks him, B lets him start the direct chat and it reaches her on A."""
    alice = make_account()
    bob = RemoteAccount.register(instance_b, "bob")
    made = alice.client.post("/v1/chats", {"kind": "group", "members": [bob.address]}, format="json")
    assert made.status_code == 201, made.content
    wait_until(lambda: bob.chat(str(made.json()["id"])) is not None, "the group on B")

    assert alice.client.post("/v1/blocks", {"user": bob.address}, format="json").status_code == 201
    wait_until(lambda: blocks_on(instance_b) == 1, "the block on B")
    for kind in ("direct", "group"):
        status, answer = bob.call("POST", "/v1/chats", {"kind": kind, "members": [alice.address]})
        assert (status, answer["error"]["code"]) == (403, "not_accepted"), (kind, status, answer)
    status, group = bob.call("POST", "/v1/chats", {"kind": "group", "members": []})
    assert status == 201, group
    status, answer = bob.call("POST", f"/v1/chats/{group['id']}/members", {"users": [alice.address]})
    assert (status, answer["error"]["code"]) == (403, "not_accepted"), answer
    assert len(alice.client.get("/v1/chats").json()) == 1, "nothing of Bob's reached Alice"

    assert alice.client.delete(f"/v1/blocks/{bob.address}").status_code == 204
    wait_until(lambda: blocks_on(instance_b) == 0, "the unblock on B")
    status, direct = bob.call("POST", "/v1/chats", {"kind": "direct", "members": [alice.address]})
    assert status == 201, direct
    wait_until(lambda: any(c["id"] == direct["id"] for c in alice.client.get("/v1/chats").json()), "the chat on A")
