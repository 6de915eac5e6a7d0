"""Blobs referenced by messages: attach on send, delete with the last live reference."""

import os
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.blobs.models import Blob, BlobAttachment
from apps.messages.models import Message
from apps.messages.services import purge_expired
from tests.blobs.conftest import SMALL, create_blob, download, stored_files, upload
from tests.conftest import make_chat, send

pytestmark = pytest.mark.django_db


def test_a_message_references_completed_blobs_of_its_chat(make_account) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group", bob)
    blobs = [upload(alice, chat["id"], os.urandom(SMALL)) for _ in range(2)]
    assert Blob.objects.get(pk=blobs[0]).expires_at is not None
    sent = send(alice, chat["id"], blob_ids=blobs)
    assert sent.status_code == 201, sent.content
    assert set(BlobAttachment.objects.filter(message_id=sent.json()["id"]).values_list("blob_id", flat=True)) == {
        uuid.UUID(b) for b in blobs
    }
    # referenced: no upload deadline any more, it lives as long as the message
    assert Blob.objects.get(pk=blobs[0]).expires_at is None
    # a resend is the same message: nothing attached twice
    again = send(alice, chat["id"], client_message_id="same-message-1", blob_ids=blobs)
    repeat = send(alice, chat["id"], client_message_id="same-message-1", blob_ids=blobs)
    assert (again.status_code, repeat.status_code) == (201, 200)
    assert BlobAttachment.objects.filter(message_id=again.json()["id"]).count() == 2


def test_bad_blob_references_are_refused_and_nothing_is_stored(make_account) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group", bob)
    other = make_chat(alice, "group")
    elsewhere = upload(alice, other["id"], os.urandom(SMALL))
    unfinished = create_blob(alice, chat["id"]).json()["id"]
    good = upload(alice, chat["id"], os.urandom(SMALL))
    cases = [
        [elsewhere],  # another chat's blob
        [unfinished],  # a half-uploaded blob
        [str(uuid.uuid4())],  # no such blob
        [good, elsewhere],  # one bad spoils the message
    ]
    for blob_ids in cases:
        response = send(alice, chat["id"], blob_ids=blob_ids)
        assert response.status_code == 400, blob_ids
        assert response.json()["error"]["code"] == "invalid_blob"
    malformed: list[object] = [[good] * 11, ["not-a-uuid"], [123], "x"]
    for wrong in malformed:
        response = send(alice, chat["id"], blob_ids=wrong)
        assert response.status_code == 400, wrong
        assert response.json()["error"]["code"] == "invalid_input"
    commit = send(alice, chat["id"], kind="commit", blob_ids=[good])
    assert commit.status_code == 400
    assert not Message.objects.filter(chat_id=chat["id"]).exists()
    assert not BlobAttachment.objects.exists()


def test_deleting_a_message_deletes_its_blob_only_when_nothing_else_references_it(
    make_account, django_capture_on_commit_callbacks, blob_dir
) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group", bob)
    shared = upload(alice, chat["id"], os.urandom(SMALL))
    own = upload(alice, chat["id"], os.urandom(SMALL))
    first = send(alice, chat["id"], blob_ids=[shared, own]).json()
    forward = send(bob, chat["id"], blob_ids=[shared]).json()
    files_before = stored_files(blob_dir)
    assert len(files_before) == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert alice.client.delete(f"/v1/messages/{first['id']}").status_code == 200
    assert not Blob.objects.filter(pk=own).exists()
    assert Blob.objects.filter(pk=shared).exists()
    assert download(bob, shared).status_code == 200
    assert download(bob, own).status_code == 404
    assert len(stored_files(blob_dir)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert alice.client.delete(f"/v1/messages/{forward['id']}").status_code == 200  # the owner
    assert not Blob.objects.exists()
    assert stored_files(blob_dir) == []


def test_burning_a_message_deletes_its_blob(make_account, django_capture_on_commit_callbacks, blob_dir) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "direct", bob)
    blob_id = upload(alice, chat["id"], os.urandom(SMALL))
    sent = send(alice, chat["id"], blob_ids=[blob_id], burn_on_read=True).json()
    with django_capture_on_commit_callbacks(execute=True):
        assert bob.client.post(f"/v1/messages/{sent['id']}/burn").status_code == 200
    assert download(alice, blob_id).status_code == 404
    assert stored_files(blob_dir) == []


def test_expiry_deletes_blobs_only_with_their_last_message(
    make_account, django_capture_on_commit_callbacks, blob_dir
) -> None:
    alice = make_account()
    chat = make_chat(alice, "group")
    blob_id = upload(alice, chat["id"], os.urandom(SMALL))
    short = send(alice, chat["id"], blob_ids=[blob_id], ttl_seconds=1).json()
    longer = send(alice, chat["id"], blob_ids=[blob_id], ttl_seconds=3600).json()
    time.sleep(1.1)
    with django_capture_on_commit_callbacks(execute=True):
        assert purge_expired() == 1
    assert Message.objects.get(pk=short["id"]).deleted_at is not None
    assert Blob.objects.filter(pk=blob_id).exists()
    assert len(stored_files(blob_dir)) == 1
    Message.objects.filter(pk=longer["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert purge_expired() == 1
    assert not Blob.objects.exists()
    assert stored_files(blob_dir) == []
