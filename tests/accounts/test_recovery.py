import pytest
from blake3 import blake3
from rest_framework.test import APIClient

from apps.accounts.models import Session
from tests.conftest import DeviceKeys, b64, login, recovery_proof

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a brand new passphrase 42"


def test_known_answer_vector_matches_the_documented_one() -> None:
    """README's vector: username "alice", BIP-39 test mnemonic "abandon" x11 + "about" (entropy 0x00 * 16).
    The web client's Vitest suite checks the same hex, so both sides derive identical bytes."""
    proof = recovery_proof("alice", bytes(16))
    assert proof.hex() == "971adc58a1cdb7e6d3e132e114a765614b8abe9c66f7b39eefbb7148e6ef2ea1"
    assert blake3(proof).hexdigest() == "abe3ef4ecb1e2a1a200c300925a2c52900709b2304b3552071f1a0c3cc985d46"


def test_recovery_resets_password_and_revokes_every_session(make_account) -> None:
    alice = make_account()
    second = login(APIClient(), alice.username, alice.password, DeviceKeys())
    assert second.status_code == 200
    assert Session.objects.filter(user__username=alice.address).count() == 2
    response = APIClient().post(
        "/v1/accounts/recover",
        {
            "username": alice.username,
            "recovery_proof": b64(recovery_proof(alice.username, alice.entropy)),
            "new_password": NEW_PASSWORD,
        },
        format="json",
    )
    assert response.status_code == 204
    assert not Session.objects.filter(user__username=alice.address).exists()
    assert alice.client.get("/v1/devices").status_code == 401
    assert login(APIClient(), alice.username, alice.password, DeviceKeys()).status_code == 401
    assert login(APIClient(), alice.username, NEW_PASSWORD, DeviceKeys()).status_code == 200


def test_wrong_proof_changes_nothing(make_account) -> None:
    alice = make_account()
    response = APIClient().post(
        "/v1/accounts/recover",
        {
            "username": alice.username,
            "recovery_proof": b64(recovery_proof(alice.username, bytes(16))),
            "new_password": NEW_PASSWORD,
        },
        format="json",
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_recovery_proof"
    assert alice.client.get("/v1/devices").status_code == 200


def test_proof_of_one_user_does_not_open_another(make_account) -> None:
    alice = make_account()
    bob = make_account()
    response = APIClient().post(
        "/v1/accounts/recover",
        {
            "username": bob.username,
            "recovery_proof": b64(recovery_proof(alice.username, alice.entropy)),
            "new_password": NEW_PASSWORD,
        },
        format="json",
    )
    assert response.status_code == 403


def test_unknown_user_recovery_refused_the_same_way() -> None:
    response = APIClient().post(
        "/v1/accounts/recover",
        {"username": "ghost", "recovery_proof": b64(bytes(32)), "new_password": NEW_PASSWORD},
        format="json",
    )
    assert response.status_code == 403
