"""MLS (suite 0xF00C) inside the dedicated Web Worker, in Chromium."""

from __future__ import annotations

from typing import Any

KEYPACKAGE_PREFIX = bytes.fromhex("000100050001f00c")
WELCOME_PREFIX = bytes.fromhex("00010003f00c")  # mls10, mls_welcome, cipher_suite 0xF00C


def setup_device(h: Any, user: str, device: str) -> tuple[Any, dict[str, Any], str]:
    w = h.worker()
    db = f"vault-{device}"
    identity = w.setupDevice({"password": f"pw for {user}", "user": user, "deviceId": device, "dbName": db})
    return w, identity, db


def test_three_member_group_on_the_wire_suite(harness: Any) -> None:
    alice, a_id, _ = setup_device(harness, "alice@a.example", "dev-alice")
    bob, b_id, _ = setup_device(harness, "bob@a.example", "dev-bob")
    carol, c_id, _ = setup_device(harness, "carol@b.example", "dev-carol")

    assert set(a_id) == {"user", "deviceId", "credential", "ed25519Pub", "x25519Pub"}
    assert a_id["credential"] == "alice@a.example:dev-alice"

    (kp_bob,) = bob.makeKeyPackages(1)
    kp_carol_1, kp_carol_2 = carol.makeKeyPackages(2)
    for kp in (kp_bob, kp_carol_1, kp_carol_2):
        assert kp[:8] == KEYPACKAGE_PREFIX
        assert len(kp) > 3000  # ML-KEM-1024 init key inside

    alice.createGroup("chat-1")
    added = alice.addMembers("chat-1", [kp_bob, kp_carol_2])
    assert added["epoch"] == 1
    assert added["welcome"][:6] == WELCOME_PREFIX
    assert bob.joinFromWelcome(added["welcome"])["members"] == [
        a_id["credential"],
        b_id["credential"],
        c_id["credential"],
    ]
    assert carol.joinFromWelcome(added["welcome"])["epoch"] == 1

    reaction_key = {w.id: w.exportSecret("chat-1", "talkee-reaction-v1") for w in (alice, bob, carol)}
    assert len(set(reaction_key.values())) == 1
    assert len(reaction_key[alice.id]) == 32

    hello = alice.encrypt("chat-1", {"text": "hello, group"})
    for reader in (bob, carol):
        got = reader.decrypt("chat-1", hello["ciphertext"])
        assert got["payload"]["text"] == "hello, group"
        assert got["payload"]["sender"] == a_id["credential"]

    removal = bob.removeMembers("chat-1", [c_id["credential"]])
    assert removal["epoch"] == 2
    assert alice.processHandshake("chat-1", removal["commit"])["epoch"] == 2
    assert carol.processHandshake("chat-1", removal["commit"])["removed"] is True

    epoch2 = alice.exportSecret("chat-1", "talkee-reaction-v1")
    assert epoch2 == bob.exportSecret("chat-1", "talkee-reaction-v1")
    assert epoch2 != reaction_key[alice.id]

    secret = alice.encrypt("chat-1", {"text": "carol is gone"})
    assert bob.decrypt("chat-1", secret["ciphertext"])["payload"]["text"] == "carol is gone"
    assert harness.error_of(lambda: carol.decrypt("chat-1", secret["ciphertext"])) != ""


def test_killed_worker_restores_from_vault_decrypts_and_commits(harness: Any) -> None:
    alice, a_id, _ = setup_device(harness, "alice@a.example", "dev-a")
    bob, b_id, bob_db = setup_device(harness, "bob@a.example", "dev-b")
    (kp,) = bob.makeKeyPackages(1)
    alice.createGroup("chat-k")
    bob.joinFromWelcome(alice.addMembers("chat-k", [kp])["welcome"])
    first = alice.encrypt("chat-k", {"text": "before the swipe"})
    assert bob.decrypt("chat-k", first["ciphertext"], "msg-1")["payload"]["text"] == "before the swipe"

    bob.kill()  # worker.terminate(): every in-memory secret is gone
    bob2 = harness.worker()
    assert harness.error_of(lambda: bob2.unlock("not bob's password", bob_db)) == "WrongPasswordError"
    assert bob2.unlock("pw for bob@a.example", bob_db) == b_id  # same device keys, from the vault
    assert bob2.cachedMessage("chat-k", "msg-1")["text"] == "before the swipe"

    after = alice.encrypt("chat-k", {"text": "after the swipe"})
    assert bob2.decrypt("chat-k", after["ciphertext"])["payload"]["text"] == "after the swipe"

    update = bob2.selfUpdate("chat-k")
    bob2.kill()  # killed right after the commit resolved: it must already be on disk
    assert alice.processHandshake("chat-k", update["commit"])["epoch"] == update["epoch"]

    bob3 = harness.worker()
    bob3.unlock("pw for bob@a.example", bob_db)
    assert bob3.group("chat-k")["epoch"] == update["epoch"]
    third = alice.encrypt("chat-k", {"text": "new epoch"})
    got = bob3.decrypt("chat-k", third["ciphertext"])
    assert got["payload"] == {"_v": 1, "sender": a_id["credential"], "text": "new epoch"}
    assert got["epoch"] == update["epoch"]
    assert alice.exportSecret("chat-k", "x") == bob3.exportSecret("chat-k", "x")


def test_worker_vault_on_disk_holds_no_plaintext(harness: Any) -> None:
    alice, _, alice_db = setup_device(harness, "alice@a.example", "dev-a")
    bob, _, bob_db = setup_device(harness, "bob@a.example", "dev-b")
    (kp,) = bob.makeKeyPackages(1)
    alice.createGroup("chat-p")
    bob.joinFromWelcome(alice.addMembers("chat-p", [kp])["welcome"])
    texts = ["the falcon flies at dawn", "meet me by the old mill"]
    for i, text in enumerate(texts):
        m = alice.encrypt("chat-p", {"text": text})
        bob.decrypt("chat-p", m["ciphertext"], f"m{i}")  # written to the durable message cache

    for db in (alice_db, bob_db):
        records = harness.call("dumpIdb", db)
        assert {r["store"] for r in records} == {"meta", "rows"}
        row_keys = {r["key"] for r in records if r["store"] == "rows"}
        assert "group/chat-p" in row_keys and "device/identity" in row_keys
        for record in records:
            blob = record["bytes"] + record["text"].encode()
            for needle in [*texts, "falcon", "ed25519Secret", "x25519Secret", '"sender"']:
                assert needle.encode() not in blob, (db, record["key"], needle)
    assert "m0" in {r["key"].split("/")[-1] for r in harness.call("dumpIdb", bob_db)}
