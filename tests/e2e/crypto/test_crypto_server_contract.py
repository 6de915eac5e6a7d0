"""Values the browser client sends, checked with the Python libraries the server uses."""

from __future__ import annotations

import base64
import os
from typing import Any

from blake3 import blake3
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.signing import VerifyKey

TEST_MNEMONIC = "abandon " * 11 + "about"


def test_recovery_proof_and_hash_match_the_python_derivation(harness: Any) -> None:
    got = harness.call("recovery", "alice", TEST_MNEMONIC)
    proof = blake3(b"talkee-recovery-proof-v1\x00alice\x00" + bytes(16)).digest()
    assert base64.b64decode(got["proof"]) == proof
    assert base64.b64decode(got["hash"]) == blake3(proof).digest()
    assert proof.hex() == "971adc58a1cdb7e6d3e132e114a765614b8abe9c66f7b39eefbb7148e6ef2ea1"
    assert harness.error_of(lambda: harness.call("recovery", "alice", TEST_MNEMONIC.replace("about", "abandon"))) == (
        "InvalidMnemonicError"
    )


def test_edit_hash_is_base64_blake3(harness: Any) -> None:
    secret = os.urandom(32)
    assert (
        harness.call("editHash", {"b64": base64.b64encode(secret).decode()})
        == base64.b64encode(blake3(secret).digest()).decode()
    )


def test_login_signature_verifies_with_pynacl(harness: Any) -> None:
    worker = harness.worker()
    identity = worker.setupDevice(
        {"password": "pw", "user": "alice@a.example", "deviceId": "d-1", "dbName": "contract-vault"}
    )
    nonce = "q3Vv1n0nce-from-the-server"
    signature = base64.b64decode(worker.signChallenge(nonce))
    public = base64.b64decode(identity["ed25519Pub"])
    assert len(public) == 32 and len(signature) == 64
    VerifyKey(public).verify(nonce.encode(), signature)  # raises if invalid
    assert len(base64.b64decode(identity["x25519Pub"])) == 32


def test_history_bundle_sealed_to_the_device_opens_only_in_its_worker(harness: Any) -> None:
    bob = harness.worker()
    identity = bob.setupDevice({"password": "pw", "user": "bob@a.example", "deviceId": "d-2", "dbName": "bundle"})
    sealed = harness.call("sealForDevice", identity["x25519Pub"], "chat history for the new device")
    assert bob.openSealedBundle(sealed) == b"chat history for the new device"
    # libsodium's crypto_box_seal format: a bundle sealed by PyNaCl opens too
    from_python = SealedBox(PublicKey(base64.b64decode(identity["x25519Pub"]))).encrypt(b"sealed in python")
    assert bob.openSealedBundle(from_python) == b"sealed in python"

    other = PrivateKey.generate()
    sealed_elsewhere = harness.call("sealForDevice", base64.b64encode(bytes(other.public_key)).decode(), "not for bob")
    assert harness.error_of(lambda: bob.openSealedBundle(sealed_elsewhere)) == "SealedBoxOpenError"


def test_payload_padding_buckets_and_limit(harness: Any) -> None:
    assert harness.call("paddedPayloadLength", "") == 64
    assert harness.call("paddedPayloadLength", "x" * 200) == 256
    assert harness.call("paddedPayloadLength", "x" * 65_000) == 65_536
    assert harness.error_of(lambda: harness.call("paddedPayloadLength", "x" * 70_000)) == "PayloadTooLargeError"
