"""Identity keys and device certificates: stored and served as the client made them; the server
refuses garbage, other devices' certificates and a swapped identity key, and holds no secret."""

import base64

import pytest
from django.db import connection
from nacl.signing import SigningKey
from rest_framework.test import APIClient

from apps.devices.models import Device, IdentityKey
from tests.conftest import Account, b64
from tests.support.certificates import device_certificate

pytestmark = pytest.mark.django_db


def certificate(
    identity: SigningKey, account: Account, *, device_id: str | None = None, user: str | None = None
) -> bytes:
    """The certificate Bob's client would make for his device (or a wrong one, with `device_id`/`user`)."""
    keys = account.device
    return device_certificate(
        identity,
        user or account.address,
        device_id or keys.client_device_id,
        bytes(keys.signing.verify_key),
        bytes(keys.box.public_key),
    )


def put(account: Account, identity: SigningKey, cert: bytes, device_id: int | None = None):
    return account.client.put(
        f"/v1/devices/{device_id or account.device_id}/certificate",
        {"identity_key": b64(bytes(identity.verify_key)), "certificate": b64(cert)},
        format="json",
    )


def test_certificate_is_stored_and_served_with_devices_and_claims(make_account) -> None:
    bob = make_account()
    identity = SigningKey.generate()
    cert = certificate(identity, bob)
    answer = put(bob, identity, cert)
    assert answer.status_code == 200, answer.json()
    assert answer.json()["certificate"] == b64(cert)
    listed = bob.client.get("/v1/devices").json()
    assert [d["certificate"] for d in listed] == [b64(cert)]
    assert bob.client.get("/v1/devices/identity").json() == {"identity_key": b64(bytes(identity.verify_key))}

    alice = make_account()
    bob.client.post("/v1/keypackages", {"keypackages": [b64(b"\x00\x01\x00\x05\x00\x01\xf0\x0cKP")]}, format="json")
    claimed = alice.client.post("/v1/keypackages/claim", {"users": [bob.username]}, format="json").json()
    [entry] = claimed[bob.address]
    assert entry["identity_key"] == b64(bytes(identity.verify_key))
    assert entry["certificate"] == b64(cert)


def test_anyone_signed_in_reads_a_users_identity_key_and_certificates(make_account) -> None:
    bob, alice = make_account(), make_account()
    identity = SigningKey.generate()
    cert = certificate(identity, bob)
    put(bob, identity, cert)
    answer = alice.client.get(f"/v1/devices/of/{bob.username}")
    assert answer.status_code == 200
    assert answer.json().pop("log")["size"] == 2, "the identity key and the certificate are logged"
    assert {k: v for k, v in answer.json().items() if k != "log"} == {
        "user": bob.address,
        "identity_key": b64(bytes(identity.verify_key)),
        "devices": [{"client_device_id": bob.device.client_device_id, "certificate": b64(cert)}],
    }
    missing = alice.client.get("/v1/devices/of/nobody-here")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "user_not_found"
    assert APIClient().get(f"/v1/devices/of/{bob.username}").status_code == 401


def test_uncertified_devices_are_served_with_nulls(make_account) -> None:
    bob, alice = make_account(), make_account()
    [entry] = alice.client.post("/v1/keypackages/claim", {"users": [bob.username]}, format="json").json()[bob.address]
    assert entry["identity_key"] is None and entry["certificate"] is None
    assert bob.client.get("/v1/devices").json()[0]["certificate"] is None
    assert bob.client.get("/v1/devices/identity").json() == {"identity_key": None}


@pytest.mark.parametrize(
    "mangle",
    [
        lambda c: c[:-1],  # truncated
        lambda c: c + b"\x00",  # trailing bytes
        lambda c: b"\x02" + c[1:],  # unknown version
        lambda c: c[:-64] + bytes(64),  # signature zeroed
        lambda c: b"\x01",  # almost nothing
        lambda c: b"\x01\xff\xff" + b"x" * 2000,  # too long
    ],
)
def test_malformed_or_unsigned_certificates_get_the_error_shape(make_account, mangle) -> None:
    bob = make_account()
    identity = SigningKey.generate()
    answer = put(bob, identity, mangle(certificate(identity, bob)))
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] in {"invalid_certificate", "invalid_input"}
    assert Device.objects.get(pk=bob.device_id).certificate is None


def test_refuses_certificates_for_another_device_user_or_signer(make_account) -> None:
    bob, carol = make_account(), make_account()
    identity = SigningKey.generate()
    for cert in (
        certificate(identity, bob, device_id=carol.device.client_device_id),
        certificate(identity, bob, user=carol.address),
        certificate(identity, carol),  # carol's keys presented for bob's device
    ):
        answer = put(bob, identity, cert)
        assert answer.status_code == 400, answer.json()
        assert answer.json()["error"]["code"] == "invalid_certificate"
    other = SigningKey.generate()
    answer = put(bob, other, certificate(identity, bob))  # identity_key does not match the signer
    assert answer.status_code == 400
    # Another user's device id: not found, nothing stored.
    assert put(bob, identity, certificate(identity, carol), device_id=carol.device_id).status_code == 404
    assert not IdentityKey.objects.exists()


def test_first_identity_key_is_kept_and_a_swap_is_refused(make_account) -> None:
    bob = make_account()
    identity = SigningKey.generate()
    assert put(bob, identity, certificate(identity, bob)).status_code == 200
    assert put(bob, identity, certificate(identity, bob)).status_code == 200  # the same again is fine
    swapped = SigningKey.generate()
    answer = put(bob, swapped, certificate(swapped, bob))
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "identity_key_conflict"
    assert bytes(IdentityKey.objects.get(user__username=bob.address).public_key) == bytes(identity.verify_key)


def test_bad_input_is_an_api_error_not_a_500(make_account) -> None:
    bob = make_account()
    for body in (
        {},
        {"identity_key": "not base64!", "certificate": "AA=="},
        {"identity_key": b64(bytes(32)), "certificate": ""},
    ):
        answer = bob.client.put(f"/v1/devices/{bob.device_id}/certificate", body, format="json")
        assert answer.status_code == 400, body
        assert "error" in answer.json()


def test_revoking_a_device_removes_its_certificate(make_account) -> None:
    bob = make_account()
    identity = SigningKey.generate()
    cert = certificate(identity, bob)
    put(bob, identity, cert)
    from apps.devices.services import do_revoke_device

    do_revoke_device(Device.objects.get(pk=bob.device_id))
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM devices_device WHERE certificate = %s", [cert])
        assert cursor.fetchone() == (0,)


def test_an_existing_device_approves_a_new_one_and_seals_it_the_identity_key(make_account) -> None:
    """Bob signed in on a phone without his recovery phrase: his laptop (holding the identity
    key) certifies the phone and seals the identity key to the phone's X25519 key. Only the
    phone is shown the sealed key; Bob's devices and Alice (who shares a chat) hear that the
    phone was approved, once."""
    from nacl.public import SealedBox

    from tests.conftest import DeviceKeys, login, make_chat
    from tests.devices.test_multidevice import device_events

    bob, alice = make_account(), make_account()
    make_chat(alice, "direct", bob)
    identity = SigningKey.generate()
    assert put(bob, identity, certificate(identity, bob)).status_code == 200
    phone_keys, phone = DeviceKeys(label="phone"), APIClient()
    answer = login(phone, bob.username, bob.password, phone_keys).json()
    phone.credentials(HTTP_AUTHORIZATION=f"Bearer {answer['token']}")
    phone_cert = device_certificate(
        identity,
        bob.address,
        phone_keys.client_device_id,
        bytes(phone_keys.signing.verify_key),
        bytes(phone_keys.box.public_key),
    )
    sealed = SealedBox(phone_keys.box.public_key).encrypt(bytes(identity))
    approved = bob.client.put(
        f"/v1/devices/{answer['device_id']}/certificate",
        {
            "identity_key": b64(bytes(identity.verify_key)),
            "certificate": b64(phone_cert),
            "sealed_identity": b64(sealed),
        },
        format="json",
    )
    assert approved.status_code == 200, approved.json()
    assert approved.json()["sealed_identity"] is None, "the approving device is not shown what it sealed"

    seen_by_phone = {d["id"]: d for d in phone.get("/v1/devices").json()}
    assert seen_by_phone[answer["device_id"]]["certificate"] == b64(phone_cert)
    opened = SealedBox(phone_keys.box).decrypt(base64.b64decode(seen_by_phone[answer["device_id"]]["sealed_identity"]))
    assert opened == bytes(identity), "only the phone's key opens it"
    assert seen_by_phone[bob.device_id]["sealed_identity"] is None
    assert all(d["sealed_identity"] is None for d in bob.client.get("/v1/devices").json())

    for account in (alice, bob):
        changes = [
            e["data"]["change"]
            for e in device_events(account.client, "device")
            if e["data"]["device_id"] == answer["device_id"]
        ]
        assert changes == ["added", "certified"]
    # The phone itself hears that it was approved (and nothing of its own sign-in).
    assert [e["data"]["change"] for e in device_events(phone, "device")] == ["certified"]
    # Certified again (a new certificate, say): not a new approval.
    again = bob.client.put(
        f"/v1/devices/{answer['device_id']}/certificate",
        {"identity_key": b64(bytes(identity.verify_key)), "certificate": b64(phone_cert)},
        format="json",
    )
    assert again.status_code == 200
    phone_events = [e for e in device_events(alice.client, "device") if e["data"]["device_id"] == answer["device_id"]]
    assert [e["data"]["change"] for e in phone_events] == ["added", "certified"]
    too_big = bob.client.put(
        f"/v1/devices/{answer['device_id']}/certificate",
        {
            "identity_key": b64(bytes(identity.verify_key)),
            "certificate": b64(phone_cert),
            "sealed_identity": b64(bytes(600)),
        },
        format="json",
    )
    assert too_big.status_code == 400 and "sealed_identity" in too_big.json()["error"]["message"], too_big.json()
