"""The key log (apps/devices/keylog.py): every identity key and device certificate a user's
clients store, and every certified device revoked, is appended to a hash-chained log whose
head the instance signs; GET /v1/devices/of/{user} serves it from the position asked."""

import base64
import struct

import pytest
from blake3 import blake3
from nacl.signing import SigningKey, VerifyKey
from rest_framework.test import APIClient

from tests.conftest import DeviceKeys, b64, login
from tests.support.certificates import device_certificate

pytestmark = pytest.mark.django_db


def recompute(user: str, entries: list[dict], start: bytes | None = None) -> bytes:
    """The chain as a client recomputes it (written here from the format, not from the server's code)."""
    kinds = {"identity": 1, "certified": 2, "revoked": 3}
    head = start if start is not None else blake3(b"talkee-keylog-v1\x00" + user.encode()).digest()
    for entry in entries:
        body = base64.b64decode(entry["body"])
        head = blake3(head + bytes([kinds[entry["kind"]]]) + struct.pack(">I", len(body)) + body).digest()
    return head


def test_the_log_records_keys_certificates_and_revocations_and_its_head_is_signed(make_account) -> None:
    bob, alice = make_account(), make_account()
    identity = SigningKey.generate()

    def certify(keys: DeviceKeys, device_id: int) -> bytes:
        cert = device_certificate(
            identity, bob.address, keys.client_device_id, bytes(keys.signing.verify_key), bytes(keys.box.public_key)
        )
        answer = bob.client.put(
            f"/v1/devices/{device_id}/certificate",
            {"identity_key": b64(bytes(identity.verify_key)), "certificate": b64(cert)},
            format="json",
        )
        assert answer.status_code == 200, answer.json()
        return cert

    empty = alice.client.get(f"/v1/devices/of/{bob.username}").json()["log"]
    assert (empty["size"], empty["entries"]) == (0, [])
    first = certify(bob.device, bob.device_id)
    certify(bob.device, bob.device_id)  # the same certificate again: nothing new to log
    phone_keys = DeviceKeys()
    phone = login(APIClient(), bob.username, bob.password, phone_keys).json()
    second = certify(phone_keys, phone["device_id"])
    assert bob.client.delete(f"/v1/devices/{phone['device_id']}").status_code == 204

    log = alice.client.get(f"/v1/devices/of/{bob.username}").json()["log"]
    assert [(e["index"], e["kind"]) for e in log["entries"]] == [
        (0, "identity"),
        (1, "certified"),
        (2, "certified"),
        (3, "revoked"),
    ]
    bodies = [base64.b64decode(e["body"]) for e in log["entries"]]
    assert bodies == [bytes(identity.verify_key), first, second, phone_keys.client_device_id.encode()]
    assert log["size"] == 4
    head = recompute(bob.address, log["entries"])
    assert base64.b64decode(log["head"]) == head
    instance_key = APIClient().get("/.well-known/talkee/server").json()["ed25519_pub"]
    signed = b"talkee-keylog-head-v1\x00" + bob.address.encode() + b"\x00" + struct.pack(">Q", 4) + head
    VerifyKey(base64.b64decode(instance_key)).verify(signed, base64.b64decode(log["signature"]))

    # From a position on: only what came after, chaining on from the head seen then.
    tail = alice.client.get(f"/v1/devices/of/{bob.username}", {"log_from": 2}).json()["log"]
    assert [e["index"] for e in tail["entries"]] == [2, 3]
    at_two = recompute(bob.address, log["entries"][:2])
    assert recompute(bob.address, tail["entries"], start=at_two) == head
    for bad in ("-1", "x", "1.5", str(2**63)):
        refused = alice.client.get(f"/v1/devices/of/{bob.username}", {"log_from": bad})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_input", bad
