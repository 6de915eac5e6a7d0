import os

import pytest

from apps.blobs.models import Blob, BlobChunk, UploadAllowance
from apps.blobs.sizes import ACCEPTED_SIZES, BUCKETS, encrypted_size
from tests.blobs.conftest import MEDIUM, SMALL, body, create_blob, download, put_chunk, stored_files, upload
from tests.conftest import make_chat

pytestmark = pytest.mark.django_db


def test_the_seven_accepted_sizes_are_the_documented_ones() -> None:
    # web/README.md, "File blobs": 24-byte header + bucket + 17 bytes per 64 KiB chunk
    assert sorted(ACCEPTED_SIZES) == [32_809, 131_130, 524_448, 2_097_720, 8_390_808, 33_563_160, 67_126_296]
    assert [encrypted_size(b) for b in BUCKETS] == sorted(ACCEPTED_SIZES)


def test_upload_complete_and_download_round_trip(make_account, blob_dir) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group", bob)
    data = os.urandom(MEDIUM)
    created = create_blob(alice, chat["id"], MEDIUM)
    assert created.status_code == 201
    info = created.json()
    assert (info["size"], info["chunk_size"], info["chunk_count"]) == (MEDIUM, 1024 * 1024, 3)
    blob_id = upload(alice, chat["id"], data)
    row = Blob.objects.get(pk=blob_id)
    assert (row.name, row.content_type, row.size, str(row.chat_id)) == (
        "encrypted",
        "application/octet-stream",
        MEDIUM,
        chat["id"],
    )
    assert row.completed_at is not None
    assert not BlobChunk.objects.filter(blob=row).exists()
    # the parts are gone; one file under a random name holds the blob
    files = stored_files(blob_dir)
    assert [f.relative_to(blob_dir).as_posix() for f in files] == [row.storage_name]
    assert files[0].stat().st_size == MEDIUM
    assert files[0].stat().st_mode & 0o777 == 0o600
    got = download(bob, blob_id)
    assert got.status_code == 200
    assert got["Content-Type"] == "application/octet-stream"
    assert got["Content-Length"] == str(MEDIUM)
    assert got["Accept-Ranges"] == "bytes"
    assert body(got) == data


@pytest.mark.parametrize("size", [0, 1, SMALL - 1, SMALL + 1, 32 * 1024, 64 * 1024 * 1024, 67_126_297, 10**12])
def test_a_size_that_is_not_a_padded_bucket_is_refused(make_account, size) -> None:
    alice = make_account()
    chat = make_chat(alice, "group")
    response = create_blob(alice, chat["id"], size)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("invalid_size", "invalid_input")
    assert not Blob.objects.exists()


def test_every_bucket_size_is_accepted(make_account) -> None:
    alice = make_account()
    chat = make_chat(alice, "group")
    for size in ACCEPTED_SIZES:
        assert create_blob(alice, chat["id"], size).status_code == 201


def test_bad_create_input_has_the_error_shape(make_account) -> None:
    alice = make_account()
    chat = make_chat(alice, "group")
    for payload in (
        {},
        {"chat_id": chat["id"]},
        {"size": SMALL},
        {"chat_id": 5, "size": SMALL},
        {"chat_id": chat["id"], "size": "x"},
    ):
        response = alice.client.post("/v1/blobs", payload, format="json")
        assert response.status_code == 400, payload
        assert response.json()["error"]["code"] == "invalid_input"


def test_resume_after_a_lost_chunk(make_account, settings) -> None:
    settings.TALKEE_BLOB_CHUNK_SIZE = 32 * 1024
    alice = make_account()
    chat = make_chat(alice, "group")
    data = os.urandom(encrypted_size(128 * 1024))
    blob = create_blob(alice, chat["id"], len(data)).json()
    assert blob["chunk_count"] == 5
    step = blob["chunk_size"]
    parts = [data[i * step : (i + 1) * step] for i in range(5)]
    assert len(parts[-1]) == len(data) - 4 * step
    for index in (0, 1, 3):
        assert put_chunk(alice, blob["id"], index, parts[index]).status_code == 201
    status = alice.client.get(f"/v1/blobs/{blob['id']}/chunks").json()
    assert status["received"] == [0, 1, 3]
    assert status["complete"] is False
    incomplete = alice.client.post(f"/v1/blobs/{blob['id']}/complete")
    assert incomplete.status_code == 409
    assert incomplete.json()["error"]["code"] == "upload_incomplete"
    assert "2, 4" in incomplete.json()["error"]["message"]
    # a half-uploaded blob is never served
    assert download(alice, blob["id"]).status_code == 409
    for index in (2, 4):
        assert put_chunk(alice, blob["id"], index, parts[index]).status_code == 201
    assert alice.client.post(f"/v1/blobs/{blob['id']}/complete").status_code == 200
    assert alice.client.post(f"/v1/blobs/{blob['id']}/complete").status_code == 200  # twice is harmless
    assert alice.client.get(f"/v1/blobs/{blob['id']}/chunks").json()["complete"] is True
    assert body(download(alice, blob["id"])) == data


def test_a_chunk_sent_again_is_idempotent_and_a_different_one_conflicts(make_account, settings) -> None:
    settings.TALKEE_BLOB_CHUNK_SIZE = 32 * 1024
    alice = make_account()
    chat = make_chat(alice, "group")
    data = os.urandom(encrypted_size(128 * 1024))
    blob = create_blob(alice, chat["id"], len(data)).json()
    first = data[: 32 * 1024]
    assert put_chunk(alice, blob["id"], 0, first).status_code == 201
    again = put_chunk(alice, blob["id"], 0, first)
    assert again.status_code == 200
    assert again.json() == {"index": 0, "length": 32 * 1024}
    other = put_chunk(alice, blob["id"], 0, os.urandom(32 * 1024))
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "chunk_conflict"
    assert BlobChunk.objects.filter(blob_id=blob["id"]).count() == 1
    for index in range(1, 5):
        assert put_chunk(alice, blob["id"], index, data[index * 32 * 1024 : (index + 1) * 32 * 1024]).status_code == 201
    assert alice.client.post(f"/v1/blobs/{blob['id']}/complete").status_code == 200
    # the stored data is the first upload's, untouched by the refused one
    assert body(download(alice, blob["id"])) == data
    late = put_chunk(alice, blob["id"], 0, first)
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "already_complete"


def test_wrong_length_and_out_of_range_chunks_are_refused(make_account, blob_dir) -> None:
    alice = make_account()
    chat = make_chat(alice, "group")
    blob = create_blob(alice, chat["id"], MEDIUM).json()
    one_mib = 1024 * 1024
    cases = [
        (0, os.urandom(one_mib + 1), 400, "wrong_chunk_length"),  # oversize chunk
        (0, os.urandom(one_mib - 1), 400, "wrong_chunk_length"),
        (2, os.urandom(one_mib), 400, "wrong_chunk_length"),  # the last chunk is short
        (3, os.urandom(10), 400, "chunk_out_of_range"),
        (99999, b"x", 400, "chunk_out_of_range"),
    ]
    for index, data, status, code in cases:
        response = put_chunk(alice, blob["id"], index, data)
        assert response.status_code == status, (index, response.content)
        assert response.json()["error"]["code"] == code
    assert (
        alice.client.put(f"/v1/blobs/{blob['id']}/chunks/-1", b"x", content_type="application/octet-stream").status_code
        == 404
    )
    wrong_type = alice.client.put(f"/v1/blobs/{blob['id']}/chunks/0", b"{}", content_type="application/json")
    assert wrong_type.status_code == 415
    assert wrong_type.json()["error"]["code"] == "unsupported_media_type"
    assert put_chunk(alice, blob["id"], 2, os.urandom(MEDIUM - 2 * one_mib)).status_code == 201
    assert not BlobChunk.objects.exclude(index=2).exists()
    assert len(stored_files(blob_dir)) == 1  # the refused chunks left nothing behind
    unknown = put_chunk(alice, "00000000-0000-4000-8000-000000000000", 0, b"x")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "blob_not_found"


def test_quota_is_enforced_with_413(make_account, settings, blob_dir) -> None:
    size = encrypted_size(128 * 1024)
    settings.TALKEE_BLOB_QUOTA_BYTES = 3 * size
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group", bob)
    # uploads started and never carried on cost nothing (the bytes are charged as they arrive)
    started = [create_blob(alice, chat["id"], size) for _ in range(5)]
    assert [r.status_code for r in started] == [201] * 5
    for _ in range(3):
        upload(alice, chat["id"], os.urandom(size))
    refused = create_blob(alice, chat["id"], SMALL)
    assert refused.status_code == 413
    assert refused.json()["error"]["code"] == "quota_exceeded"
    # an upload started before the allowance ran out cannot store past it either
    late = started[0].json()
    files_before = stored_files(blob_dir)
    over = put_chunk(alice, late["id"], 0, os.urandom(size))
    assert (over.status_code, over.json()["error"]["code"]) == (413, "quota_exceeded")
    assert stored_files(blob_dir) == files_before, "the refused chunk left nothing behind"
    # per user: bob is unaffected
    assert create_blob(bob, chat["id"], SMALL).status_code == 201
    # a new window starts afresh
    UploadAllowance.objects.update(window=0)
    assert create_blob(alice, chat["id"], SMALL).status_code == 201


def test_a_part_damaged_on_disk_is_never_assembled(make_account, settings, blob_dir) -> None:
    settings.TALKEE_BLOB_CHUNK_SIZE = 32 * 1024
    alice = make_account()
    chat = make_chat(alice, "group")
    data = os.urandom(encrypted_size(128 * 1024))
    blob = create_blob(alice, chat["id"], len(data)).json()
    step = blob["chunk_size"]
    for index in range(blob["chunk_count"]):
        assert put_chunk(alice, blob["id"], index, data[index * step : (index + 1) * step]).status_code == 201
    damaged = BlobChunk.objects.get(blob_id=blob["id"], index=3)
    path = blob_dir / damaged.storage_name
    path.write_bytes(b"\0" * path.stat().st_size)
    refused = alice.client.post(f"/v1/blobs/{blob['id']}/complete")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "upload_incomplete"
    assert alice.client.get(f"/v1/blobs/{blob['id']}/chunks").json()["received"] == [0, 1, 2, 4]
    assert download(alice, blob["id"]).status_code == 409
    assert put_chunk(alice, blob["id"], 3, data[3 * step : 4 * step]).status_code == 201
    assert alice.client.post(f"/v1/blobs/{blob['id']}/complete").status_code == 200
    assert body(download(alice, blob["id"])) == data
