"""Blob tests store into the session's blob directory shared by this process, the live
daphne and the Celery worker (tests.conftest.BLOB_DIR), or a fresh one per test."""

from pathlib import Path
from typing import Any

import pytest
from django.test import TestCase

from apps.blobs.sizes import encrypted_size
from tests.conftest import BLOB_DIR, Account, use_blob_dir

SMALL = encrypted_size(32 * 1024)  # 32,809 bytes: one chunk
MEDIUM = encrypted_size(2 * 1024 * 1024)  # 2,097,720 bytes: three 1 MiB chunks, the last short


LIVE_FIXTURES = {"live_server_daphne", "celery_worker_process"}


@pytest.fixture(autouse=True)
def blob_dir(settings: Any, request: Any, tmp_path: Path) -> Path:
    """Where this test's blobs go: the directory the live processes share, or a fresh
    one per test (an in-process test's rollback cannot remove files it wrote)."""
    directory = BLOB_DIR if LIVE_FIXTURES & set(request.fixturenames) else tmp_path / "blobs"
    use_blob_dir(settings, directory)
    return directory


def stored_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file())


def create_blob(account: Account, chat_id: str, size: int = SMALL, **extra: Any) -> Any:
    return account.client.post("/v1/blobs", {"chat_id": chat_id, "size": size, **extra}, format="json")


def put_chunk(account: Account, blob_id: str, index: int, data: bytes, **headers: Any) -> Any:
    return account.client.put(
        f"/v1/blobs/{blob_id}/chunks/{index}", data, content_type="application/octet-stream", **headers
    )


def upload(account: Account, chat_id: str, data: bytes) -> str:
    """The whole client flow in process: create, every chunk, complete; the blob id."""
    created = create_blob(account, chat_id, len(data))
    assert created.status_code == 201, created.content
    blob = created.json()
    step = blob["chunk_size"]
    for index in range(blob["chunk_count"]):
        answer = put_chunk(account, blob["id"], index, data[index * step : (index + 1) * step])
        assert answer.status_code == 201, answer.content
    # Run the after-commit work (removing the parts) even inside a test's transaction.
    with TestCase.captureOnCommitCallbacks(execute=True):
        done = account.client.post(f"/v1/blobs/{blob['id']}/complete")
    assert done.status_code == 200, done.content
    assert done.json() == {"id": blob["id"], "size": len(data)}
    return str(blob["id"])


def download(account: Account, blob_id: str, **headers: Any) -> Any:
    return account.client.get(f"/v1/blobs/{blob_id}", **headers)


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content)
