"""The sealed IndexedDB vault in Chromium: round trip, wrong password, tampering."""

from __future__ import annotations

from typing import Any

PASSWORD = "tr0ub4dor&3 but longer"
SECRETS = {
    "msg/chat-1/1": "the eagle lands at midnight",
    "msg/chat-1/2": "bring the blue folder",
    "outbox/7": "unsent: see you at the station",
}


def fill_vault(harness: Any, db: str) -> None:
    vid = harness.call("vaultCreate", db, PASSWORD)
    for key, text in SECRETS.items():
        harness.call("vaultPut", vid, key, text)
    harness.raw("vaultLock", vid)


def raw_blobs(harness: Any, db: str) -> list[tuple[str, str, bytes]]:
    return [(r["store"], r["key"], r["bytes"] + r["text"].encode()) for r in harness.call("dumpIdb", db)]


def test_round_trip_and_nothing_readable_on_disk(harness: Any) -> None:
    fill_vault(harness, "v-round")
    unlocked = harness.call("vaultUnlock", "v-round", PASSWORD)
    assert unlocked["ms"] > 0
    for key, text in SECRETS.items():
        assert harness.call("vaultGet", unlocked["id"], key) == text

    records = raw_blobs(harness, "v-round")
    assert {key for store, key, _ in records if store == "rows"} == set(SECRETS)
    for _store, _key, blob in records:
        for text in [*SECRETS.values(), PASSWORD, "eagle", "station"]:
            assert text.encode() not in blob
    # every row: 24-byte nonce + ciphertext with a 16-byte tag, never the plaintext length
    rows = [r for r in harness.call("dumpIdb", "v-round") if r["store"] == "rows"]
    for row in rows:
        assert len(row["bytes"]) == 24 + len(SECRETS[row["key"]].encode()) + 16


def test_wrong_password_is_refused_and_changes_nothing(harness: Any) -> None:
    fill_vault(harness, "v-wrong")
    before = raw_blobs(harness, "v-wrong")
    assert harness.error_of(lambda: harness.call("vaultUnlock", "v-wrong", "guess")) == "WrongPasswordError"
    assert harness.error_of(lambda: harness.call("vaultCreate", "v-wrong", "guess")) == "VaultExistsError"
    assert raw_blobs(harness, "v-wrong") == before
    unlocked = harness.call("vaultUnlock", "v-wrong", PASSWORD)
    assert harness.call("vaultGet", unlocked["id"], "msg/chat-1/1") == SECRETS["msg/chat-1/1"]


def test_password_change_rewraps_only_the_master_key(harness: Any) -> None:
    fill_vault(harness, "v-change")
    rows_before = [r for r in raw_blobs(harness, "v-change") if r[0] == "rows"]
    vid = harness.call("vaultUnlock", "v-change", PASSWORD)["id"]
    assert harness.error_of(lambda: harness.call("vaultChangePassword", vid, "nope", "new pw")) == "WrongPasswordError"
    harness.call("vaultChangePassword", vid, PASSWORD, "new pw")
    harness.raw("vaultLock", vid)
    assert [r for r in raw_blobs(harness, "v-change") if r[0] == "rows"] == rows_before
    assert harness.error_of(lambda: harness.call("vaultUnlock", "v-change", PASSWORD)) == "WrongPasswordError"
    vid = harness.call("vaultUnlock", "v-change", "new pw")["id"]
    assert harness.call("vaultGet", vid, "outbox/7") == SECRETS["outbox/7"]


def test_tampered_and_swapped_rows_are_refused(harness: Any) -> None:
    fill_vault(harness, "v-tamper")
    vid = harness.call("vaultUnlock", "v-tamper", PASSWORD)["id"]

    harness.call("tamperRow", "v-tamper", "msg/chat-1/1", 5)
    assert harness.error_of(lambda: harness.call("vaultGet", vid, "msg/chat-1/1")) == "VaultIntegrityError"
    assert harness.call("vaultGet", vid, "msg/chat-1/2") == SECRETS["msg/chat-1/2"]

    harness.call("swapRows", "v-tamper", "msg/chat-1/2", "outbox/7")
    assert harness.error_of(lambda: harness.call("vaultGet", vid, "msg/chat-1/2")) == "VaultIntegrityError"
    assert harness.error_of(lambda: harness.call("vaultGet", vid, "outbox/7")) == "VaultIntegrityError"
