"""What the server keeps about a file: ciphertext under a random name, the bucket size,
the chat and times. Never a name, a type, the uploader, or the bytes in the database."""

import json
import logging
import os
import uuid

import pytest

from apps.blobs.models import Blob, UploadAllowance
from tests.blobs.conftest import MEDIUM, SMALL, stored_files, upload
from tests.blobs.liveclient import LiveClient
from tests.conftest import make_chat, send
from tests.support.database import dump_database

pytestmark = pytest.mark.django_db(transaction=True)


def marked_bytes(size: int, marker: bytes) -> bytes:
    data = bytearray(os.urandom(size))
    for offset in (0, size // 2, size - len(marker)):
        data[offset : offset + len(marker)] = marker
    return bytes(data)


def assert_nowhere(marker: str, *, database: bytes, logs: str, paths: list[str]) -> None:
    raw = marker.encode()
    assert raw not in database
    assert raw.hex().encode() not in database
    assert marker not in logs
    assert not any(marker in p for p in paths)


def test_a_file_name_and_the_file_bytes_leave_no_trace(make_account, live_server_daphne, blob_dir) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group", bob)
    marker = f"holiday-photo-{uuid.uuid4().hex}"
    client = LiveClient(live_server_daphne.url, alice.token)
    name_headers = {"X-File-Name": f"{marker}.jpg", "Content-Disposition": f'attachment; filename="{marker}.jpg"'}
    created = client.post_json(
        "/v1/blobs",
        {
            "chat_id": chat["id"],
            "size": MEDIUM,
            "name": f"{marker}.jpg",
            "filename": f"{marker}.jpg",
            "content_type": "image/jpeg",
            "mime": f"image/{marker}",
        },
        **name_headers,
    )
    assert created.status == 201
    blob = created.json()
    data = marked_bytes(MEDIUM, marker.encode())
    step = blob["chunk_size"]
    for index in range(blob["chunk_count"]):
        answer = client.put_chunk(blob["id"], index, data[index * step : (index + 1) * step], **name_headers)
        assert answer.status == 201
    assert client.post_json(f"/v1/blobs/{blob['id']}/complete", **name_headers).status == 200
    # refused requests carrying the name too
    assert client.post_json("/v1/blobs", {"chat_id": chat["id"], "size": 12345, "name": marker}).status == 400
    assert client.put_chunk(blob["id"], 0, marker.encode(), **name_headers).status == 409
    assert send(alice, chat["id"], blob_ids=[blob["id"]]).status_code == 201
    row = Blob.objects.get(pk=blob["id"])
    assert (row.name, row.content_type, row.size) == ("encrypted", "application/octet-stream", MEDIUM)
    files = stored_files(blob_dir)
    paths = [f.relative_to(blob_dir).as_posix() for f in files]
    # the bytes are on disk, under a name that says nothing about chat, user, blob or file
    assert any(marker.encode() in f.read_bytes() for f in files)
    for path in paths:
        for secret in (chat["id"], blob["id"], alice.username, bob.username, "jpg", "image"):
            assert secret not in path
    assert_nowhere(marker, database=dump_database(), logs=live_server_daphne.log(), paths=paths)


def test_nothing_about_a_file_is_logged_in_process(make_account, caplog, blob_dir) -> None:
    caplog.set_level(logging.DEBUG)
    alice = make_account()
    chat = make_chat(alice, "group")
    marker = f"tax-return-{uuid.uuid4().hex}"
    data = marked_bytes(SMALL, marker.encode())
    extra = {"HTTP_X_FILE_NAME": marker}
    created = alice.client.post(
        "/v1/blobs", {"chat_id": chat["id"], "size": SMALL, "name": marker}, format="json", **extra
    ).json()
    alice.client.put(f"/v1/blobs/{created['id']}/chunks/0", data, content_type="application/octet-stream", **extra)
    alice.client.post(f"/v1/blobs/{created['id']}/complete", **extra)
    blob_id = upload(alice, chat["id"], marked_bytes(SMALL, marker.encode()))
    assert alice.client.get(f"/v1/blobs/{blob_id}").status_code == 200
    logs = "\n".join(json.dumps(r.__dict__, default=str) for r in caplog.records)
    paths = [f.relative_to(blob_dir).as_posix() for f in stored_files(blob_dir)]
    assert_nowhere(marker, database=dump_database(), logs=logs, paths=paths)


def test_no_row_links_a_blob_to_its_uploader() -> None:
    assert {f.name for f in Blob._meta.get_fields() if f.concrete} == {
        "id",
        "chat",
        "size",
        "chunk_size",
        "name",
        "content_type",
        "storage_name",
        "created",
        "completed_at",
        "expires_at",
        "at_home",  # a stub of a file stored at the chat's home: names no instance but the home
    }
    # the quota counter names a user and a window number, never a blob or a time
    assert {f.name for f in UploadAllowance._meta.get_fields() if f.concrete} == {"user", "window", "used"}
