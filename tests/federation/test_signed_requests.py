"""Fail closed: only correctly signed, fresh, unreplayed requests from a pinned key pass."""

import json
import time

import pytest
from django.test import Client, override_settings
from nacl.signing import SigningKey

from apps.federation.models import InboxEnvelope, Peer
from tests.federation.conftest import PARTNER

pytestmark = pytest.mark.django_db

PATH = "/s2s/v1/envelopes"


def batch(*txn_ids: str, kind: str = "ping") -> bytes:
    return json.dumps(
        {"envelopes": [{"txn_id": t, "kind": kind, "body": {"n": i}} for i, t in enumerate(txn_ids)]}
    ).encode()


def post(body: bytes, headers: dict[str, str]):
    return Client().post(PATH, body, content_type="application/json", **headers)


def test_signed_batch_is_stored_once_and_the_key_pinned(partner) -> None:
    body = batch("txn-00000001", "txn-00000002")
    response = post(body, partner.headers("POST", PATH, body))
    assert response.status_code == 202
    assert response.json() == {"accepted": 2}
    assert list(InboxEnvelope.objects.order_by("pk").values_list("origin", "txn_id")) == [
        (PARTNER, "txn-00000001"),
        (PARTNER, "txn-00000002"),
    ]
    assert bytes(Peer.objects.get(domain=PARTNER).ed25519_pub) == bytes(partner.key.verify_key)
    # the same envelope again in a new request (a retry after a lost 202) is not stored twice
    again = post(batch("txn-00000002"), partner.headers("POST", PATH, batch("txn-00000002")))
    assert again.status_code == 202
    assert InboxEnvelope.objects.count() == 2


def test_replayed_request_is_refused(partner) -> None:
    body = batch("txn-replay01")
    headers = partner.headers("POST", PATH, body, txn_id="req-1")
    assert post(body, headers).status_code == 202
    replay = post(body, headers)
    assert replay.status_code == 409
    assert replay.json()["error"]["code"] == "replayed"


def test_unsigned_request_is_refused(partner) -> None:
    response = post(batch("txn-unsigned1"), {})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unsigned"
    assert not InboxEnvelope.objects.exists()


def test_forged_signature_is_refused(partner) -> None:
    body = batch("txn-forged01")
    response = post(body, partner.headers("POST", PATH, body, key=SigningKey.generate()))
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "invalid signature"
    assert not InboxEnvelope.objects.exists()
    assert not Peer.objects.exists(), "nothing is pinned from an unverifiable request"


def test_tampered_body_is_refused(partner) -> None:
    body = batch("txn-honest01")
    headers = partner.headers("POST", PATH, body)
    response = post(batch("txn-evil0001"), headers)
    assert response.status_code == 401


def test_expired_and_future_timestamps_are_refused(partner) -> None:
    body = batch("txn-old00001")
    # just past the 300 s window, with room for a slow verification (int() rounds down, and
    # a +301 taken at x.9 s is back inside the window a second later)
    for ts in (int(time.time()) - 302, int(time.time()) + 305):
        response = post(body, partner.headers("POST", PATH, body, ts=ts))
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "expired"


def test_request_for_another_instance_is_refused(partner) -> None:
    body = batch("txn-elsewhere")
    response = post(body, partner.headers("POST", PATH, body, destination="other.example"))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "wrong_destination"


def test_origin_must_match_the_signing_key(partner) -> None:
    """Signed by partner.test's key but claiming to be acme.test: acme.test's published key
    (here the stand-in's own, different from the signer's) does not verify it."""
    from django.conf import settings

    hosts = {**settings.TALKEE_FEDERATION_HOSTS, "acme.test": f"127.0.0.1:{partner.port}"}
    body = batch("txn-wrongorg")
    partner.published = SigningKey.generate()
    with override_settings(TALKEE_FEDERATION_HOSTS=hosts):
        response = post(body, partner.headers("POST", PATH, body, origin="acme.test"))
    assert response.status_code == 401
    assert not InboxEnvelope.objects.exists()


def test_changed_key_is_refused_until_an_admin_repins(partner, admin_client) -> None:
    body = batch("txn-first001")
    assert post(body, partner.headers("POST", PATH, body)).status_code == 202
    partner.key = partner.published = SigningKey.generate()  # the peer now uses (and publishes) a new key
    body = batch("txn-after001")
    refused = post(body, partner.headers("POST", PATH, body))
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "invalid signature"
    peer = Peer.objects.get(domain=PARTNER)
    admin_client.post("/admin/federation/peer/", {"action": "repin_keys", "_selected_action": [peer.pk]})
    assert bytes(Peer.objects.get(domain=PARTNER).ed25519_pub) == bytes(partner.key.verify_key)
    body = batch("txn-after002")
    assert post(body, partner.headers("POST", PATH, body)).status_code == 202


def test_blocked_peer_is_refused(partner) -> None:
    body = batch("txn-block001")
    assert post(body, partner.headers("POST", PATH, body)).status_code == 202
    Peer.objects.filter(domain=PARTNER).update(blocked=True)
    body = batch("txn-block002")
    response = post(body, partner.headers("POST", PATH, body))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "peer_blocked"


@pytest.mark.parametrize(
    ("document", "code"),
    [
        (b"not json", "malformed_json"),
        (json.dumps({"envelopes": []}).encode(), "invalid_input"),
        (json.dumps({"envelopes": [{"txn_id": "short", "kind": "ping", "body": {}}]}).encode(), "invalid_input"),
        (
            json.dumps({"envelopes": [{"txn_id": "txn-unknown1", "kind": "exploit", "body": {}}]}).encode(),
            "unknown_kind",
        ),
    ],
)
def test_bad_batches_are_refused_with_a_reason(partner, document: bytes, code: str) -> None:
    response = post(document, partner.headers("POST", PATH, document))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


@override_settings(TALKEE_FEDERATION_PEER_RATE="3/min")
def test_per_peer_rate_limit(partner) -> None:
    statuses = []
    for i in range(5):
        body = batch(f"txn-rate{i:04d}")
        statuses.append(post(body, partner.headers("POST", PATH, body)).status_code)
    assert statuses == [202, 202, 202, 429, 429]


@override_settings(TALKEE_FEDERATION_MAX_BODY_BYTES=1000)
def test_oversized_batch_is_refused(partner) -> None:
    body = batch(*[f"txn-big{i:05d}" for i in range(40)])
    assert post(body, partner.headers("POST", PATH, body)).status_code == 413


def test_keybundle_claims_one_keypackage_per_device_for_a_signed_peer(partner, make_account) -> None:
    from nacl.signing import SigningKey

    from tests.conftest import b64, fake_keypackage
    from tests.support.certificates import device_certificate

    bob = make_account()
    package = fake_keypackage()
    bob.client.post("/v1/keypackages", {"keypackages": [b64(package)]}, format="json")
    # Bob's client certified his device: the peer gets the certificate and identity key to hand on.
    identity = SigningKey.generate()
    keys = bob.device
    cert = device_certificate(
        identity, bob.address, keys.client_device_id, bytes(keys.signing.verify_key), bytes(keys.box.public_key)
    )
    stored = bob.client.put(
        f"/v1/devices/{bob.device_id}/certificate",
        {"identity_key": b64(bytes(identity.verify_key)), "certificate": b64(cert)},
        format="json",
    )
    assert stored.status_code == 200
    path = f"/s2s/mls/keybundle?user={bob.username}@localhost"
    unsigned = Client().get(path)
    assert unsigned.status_code == 401
    answer = Client().get(path, **partner.headers("GET", path, b""))
    assert answer.status_code == 200
    keys = bob.device.as_json()
    assert answer.json() == {
        bob.address: [
            {
                "device_id": bob.device_id,
                "client_device_id": bob.device.client_device_id,
                "ed25519_pub": keys["ed25519_pub"],
                "x25519_pub": keys["x25519_pub"],
                "keypackage": b64(package),
                "identity_key": b64(bytes(identity.verify_key)),
                "certificate": b64(cert),
            }
        ]
    }
    lookup = f"/s2s/v1/users?user={bob.username}@localhost"
    looked_up = Client().get(lookup, **partner.headers("GET", lookup, b"")).json()
    assert looked_up["identity_key"] == b64(bytes(identity.verify_key))
    assert [d["certificate"] for d in looked_up["devices"]] == [b64(cert)]
    elsewhere = "/s2s/mls/keybundle?user=carol@acme.test"
    assert Client().get(elsewhere, **partner.headers("GET", elsewhere, b"")).status_code == 404


def test_keybundle_claims_only_the_named_devices(partner, make_account) -> None:
    """`device=` (client device ids): a peer adding one new device of Bob's takes only its
    KeyPackage and leaves his other devices' pools alone."""
    from rest_framework.test import APIClient

    from apps.devices.models import KeyPackage
    from tests.conftest import PASSWORD, DeviceKeys, b64, fake_keypackage, login

    bob = make_account()
    second, second_client = DeviceKeys(), APIClient()
    token = login(second_client, bob.username, PASSWORD, second).json()["token"]
    second_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    for client in (bob.client, second_client):
        client.post("/v1/keypackages", {"keypackages": [b64(fake_keypackage())]}, format="json")
    path = f"/s2s/mls/keybundle?user={bob.username}@localhost&device={second.client_device_id}"
    answer = Client().get(path, **partner.headers("GET", path, b""))
    assert answer.status_code == 200, answer.content
    (entry,) = answer.json()[bob.address]
    assert entry["client_device_id"] == second.client_device_id and entry["keypackage"] is not None
    assert KeyPackage.objects.filter(device_id=bob.device_id).count() == 1, "the first device's pool is untouched"
    assert not KeyPackage.objects.filter(device__client_device_id=second.client_device_id).exists()
    bad = f"/s2s/mls/keybundle?user={bob.username}@localhost&device=not-a-uuid"
    refused = Client().get(bad, **partner.headers("GET", bad, b""))
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "invalid_device")
