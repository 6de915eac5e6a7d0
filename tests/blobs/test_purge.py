"""Lifecycle by the real Celery worker: expired messages take their blobs with them,
abandoned uploads go after their deadline, and nothing still referenced is touched."""

import os
import time
from collections.abc import Callable

import pytest

from apps.blobs.models import Blob, BlobChunk
from apps.blobs.tasks import purge_abandoned_uploads
from apps.messages.models import Message
from apps.messages.tasks import purge_stale_ciphertext
from tests.blobs.conftest import SMALL, create_blob, put_chunk, upload
from tests.conftest import make_chat, send

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(condition: Callable[[], bool], log, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


def test_blobs_of_expired_messages_are_deleted_by_purge_stale_ciphertext(
    make_account, celery_worker_process, blob_dir
) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group", bob)
    gone, shared, kept = (upload(alice, chat["id"], os.urandom(SMALL)) for _ in range(3))
    short = send(alice, chat["id"], blob_ids=[gone, shared], ttl_seconds=1).json()
    send(bob, chat["id"], blob_ids=[shared]).json()  # forwarded: still referenced after the expiry
    send(alice, chat["id"], blob_ids=[kept], ttl_seconds=3600).json()
    names = {str(pk): name for pk, name in Blob.objects.values_list("pk", "storage_name")}
    time.sleep(1.2)
    purge_stale_ciphertext.delay()
    wait_for(lambda: Message.objects.get(pk=short["id"]).deleted_at is not None, celery_worker_process)
    wait_for(lambda: not Blob.objects.filter(pk=gone).exists(), celery_worker_process)
    wait_for(lambda: not (blob_dir / names[gone]).exists(), celery_worker_process)
    assert {str(pk) for pk in Blob.objects.values_list("pk", flat=True)} == {shared, kept}
    assert (blob_dir / names[shared]).exists() and (blob_dir / names[kept]).exists()
    assert bob.client.get(f"/v1/blobs/{shared}").status_code == 200
    assert bob.client.get(f"/v1/blobs/{gone}").status_code == 404


def test_abandoned_uploads_are_purged_by_the_beat_task(make_account, celery_worker_process, settings, blob_dir) -> None:
    alice = make_account()
    chat = make_chat(alice, "group")
    # made while the deadline setting is zero: already past it when the task runs
    settings.TALKEE_BLOB_UPLOAD_TTL_SECONDS = 0
    settings.TALKEE_BLOB_CHUNK_SIZE = 32 * 1024
    half = create_blob(alice, chat["id"], 131_130).json()
    assert half["chunk_count"] == 5
    assert put_chunk(alice, half["id"], 0, os.urandom(32 * 1024)).status_code == 201
    never_sent = upload(alice, chat["id"], os.urandom(SMALL))
    sent_blob = upload(alice, chat["id"], os.urandom(SMALL))
    assert send(alice, chat["id"], blob_ids=[sent_blob]).status_code == 201
    settings.TALKEE_BLOB_UPLOAD_TTL_SECONDS = 24 * 3600
    fresh = create_blob(alice, chat["id"]).json()["id"]
    part_names = list(BlobChunk.objects.values_list("storage_name", flat=True))
    purge_abandoned_uploads.delay()
    wait_for(lambda: not Blob.objects.filter(pk__in=[half["id"], never_sent]).exists(), celery_worker_process)
    assert {str(pk) for pk in Blob.objects.values_list("pk", flat=True)} == {sent_blob, fresh}
    wait_for(lambda: not any((blob_dir / n).exists() for n in part_names), celery_worker_process)
    assert "purge_abandoned_uploads" in celery_worker_process.read_text()


def test_files_no_row_names_are_purged_once_old_by_the_beat_task(make_account, celery_worker_process, blob_dir) -> None:
    from apps.blobs.tasks import purge_orphan_blob_files

    alice = make_account()
    chat = make_chat(alice, "group")
    kept = Blob.objects.get(pk=upload(alice, chat["id"], os.urandom(SMALL))).storage_name
    half = create_blob(alice, chat["id"], 131_130).json()
    assert put_chunk(alice, half["id"], 0, os.urandom(min(half["chunk_size"], 131_130))).status_code == 201
    part = BlobChunk.objects.get(blob_id=half["id"]).storage_name
    # what a crash between writing a file and committing its row leaves: no row names them
    orphans = [f"{os.urandom(1).hex()}/{os.urandom(16).hex()}", f"parts/{os.urandom(1).hex()}/{os.urandom(16).hex()}"]
    young = f"{os.urandom(1).hex()}/{os.urandom(16).hex()}"
    two_days_ago = time.time() - 2 * 24 * 3600
    for name in [*orphans, young]:
        (blob_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (blob_dir / name).write_bytes(os.urandom(64))
    for name in [*orphans, kept, part]:
        os.utime(blob_dir / name, (two_days_ago, two_days_ago))
    purge_orphan_blob_files.delay()
    wait_for(lambda: not any((blob_dir / n).exists() for n in orphans), celery_worker_process)
    assert all((blob_dir / n).exists() for n in (kept, part, young)), "named or young files stay"
    assert alice.client.get(f"/v1/blobs/{Blob.objects.get(storage_name=kept).pk}").status_code == 200
