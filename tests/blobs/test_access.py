import os

import pytest
from rest_framework.test import APIClient

from apps.blobs.models import Blob
from tests.blobs.conftest import SMALL, body, create_blob, download, put_chunk, upload
from tests.conftest import make_chat

pytestmark = pytest.mark.django_db


def test_members_read_outsiders_get_404_for_everything(make_account) -> None:
    alice, bob, mallory = make_account(), make_account(), make_account()
    chat = make_chat(alice, "group", bob)
    data = os.urandom(SMALL)
    blob_id = upload(alice, chat["id"], data)
    pending = create_blob(alice, chat["id"]).json()["id"]
    assert body(download(bob, blob_id)) == data
    for blob in (blob_id, pending):
        for response in (
            download(mallory, blob),
            mallory.client.get(f"/v1/blobs/{blob}/chunks"),
            put_chunk(mallory, blob, 0, os.urandom(SMALL)),
            mallory.client.post(f"/v1/blobs/{blob}/complete"),
        ):
            assert response.status_code == 404, response.content
            assert response.json()["error"]["code"] == "blob_not_found"
    # the same answer as for a blob that does not exist: existence does not leak
    assert download(mallory, "00000000-0000-4000-8000-000000000000").json() == download(mallory, blob_id).json()
    assert put_chunk(alice, pending, 0, os.urandom(SMALL)).status_code == 201


def test_outsiders_cannot_upload_into_a_chat(make_account) -> None:
    alice, mallory = make_account(), make_account()
    chat = make_chat(alice, "group")
    response = create_blob(mallory, chat["id"])
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "chat_not_found"
    assert create_blob(mallory, "00000000-0000-4000-8000-000000000000").status_code == 404
    assert not Blob.objects.exists()


def test_a_removed_member_loses_access(make_account) -> None:
    alice, bob, carol = make_account(), make_account(), make_account()
    chat = make_chat(alice, "group", bob, carol)
    blob_id = upload(alice, chat["id"], os.urandom(SMALL))
    pending = create_blob(carol, chat["id"]).json()["id"]
    assert download(carol, blob_id).status_code == 200
    assert alice.client.delete(f"/v1/chats/{chat['id']}/members/{carol.address}").status_code == 204
    assert download(carol, blob_id).status_code == 404
    assert put_chunk(carol, pending, 0, os.urandom(SMALL)).status_code == 404
    assert carol.client.post(f"/v1/blobs/{pending}/complete").status_code == 404
    assert create_blob(carol, chat["id"]).status_code == 404
    assert download(bob, blob_id).status_code == 200


def test_only_channel_managers_upload(make_account) -> None:
    owner, reader = make_account(), make_account()
    channel = make_chat(owner, "channel", reader)
    refused = create_blob(reader, channel["id"])
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "channel_read_only"
    blob_id = upload(owner, channel["id"], os.urandom(SMALL))
    assert download(reader, blob_id).status_code == 200


def test_anonymous_requests_are_refused(make_account) -> None:
    alice = make_account()
    chat = make_chat(alice, "group")
    blob_id = upload(alice, chat["id"], os.urandom(SMALL))
    anonymous = APIClient()
    assert anonymous.get(f"/v1/blobs/{blob_id}").status_code == 401
    assert anonymous.post("/v1/blobs", {"chat_id": chat["id"], "size": SMALL}, format="json").status_code == 401
    answer = anonymous.put(f"/v1/blobs/{blob_id}/chunks/0", b"x", content_type="application/octet-stream")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthenticated"
