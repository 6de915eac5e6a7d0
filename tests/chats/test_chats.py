import uuid

import pytest

from apps.chats.models import Chat, Membership
from tests.conftest import b64, make_chat

pytestmark = pytest.mark.django_db


def members_of(account, chat_id: str) -> dict[str, str]:
    chat = account.client.get(f"/v1/chats/{chat_id}").json()
    return {m["user"]: m["role"] for m in chat["members"]}


def test_direct_chat_is_unique_per_pair(make_account) -> None:
    alice, bob = make_account(), make_account()
    first = alice.client.post("/v1/chats", {"kind": "direct", "members": [bob.address]}, format="json")
    assert first.status_code == 201
    again = alice.client.post("/v1/chats", {"kind": "direct", "members": [bob.username]}, format="json")
    assert again.status_code == 200
    reverse = bob.client.post("/v1/chats", {"kind": "direct", "members": [alice.address]}, format="json")
    assert reverse.status_code == 200
    assert first.json()["id"] == again.json()["id"] == reverse.json()["id"]
    assert Chat.objects.count() == 1
    assert set(first.json()["members"][i]["user"] for i in range(2)) == {alice.address, bob.address}


def test_direct_chat_needs_exactly_two_people(make_account) -> None:
    alice, bob, carol = make_account(), make_account(), make_account()
    for members in ([], [bob.address, carol.address], [alice.address]):
        response = alice.client.post("/v1/chats", {"kind": "direct", "members": members}, format="json")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_members"


def test_group_with_proposed_id_and_sealed_name(make_account) -> None:
    alice, bob = make_account(), make_account()
    chat_id = str(uuid.uuid4())
    sealed = b"\x01" + bytes(range(40))
    chat = make_chat(alice, "group", bob, id=chat_id, encrypted_name=b64(sealed))
    assert chat["id"] == chat_id
    assert chat["encrypted_name"] == b64(sealed)
    assert chat["role"] == "owner"
    assert bob.client.get(f"/v1/chats/{chat_id}").json()["role"] == "member"
    clash = alice.client.post("/v1/chats", {"kind": "group", "members": [], "id": chat_id}, format="json")
    assert clash.status_code == 409


def test_non_members_learn_nothing(make_account) -> None:
    alice, mallory = make_account(), make_account()
    chat = make_chat(alice, "group")
    for response in (
        mallory.client.get(f"/v1/chats/{chat['id']}"),
        mallory.client.get(f"/v1/chats/{uuid.uuid4()}"),
        mallory.client.post(f"/v1/chats/{chat['id']}/members", {"users": [mallory.address]}, format="json"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "chat_not_found"
    assert mallory.client.get("/v1/chats").json() == []


def test_roles_and_permissions_matrix(make_account) -> None:
    owner, admin, member, other = make_account(), make_account(), make_account(), make_account()
    chat = make_chat(owner, "group", member)
    cid = chat["id"]
    assert (
        owner.client.post(
            f"/v1/chats/{cid}/members", {"users": [admin.address], "role": "admin"}, format="json"
        ).status_code
        == 200
    )
    # a member cannot add, remove or promote
    assert member.client.post(f"/v1/chats/{cid}/members", {"users": [other.address]}, format="json").status_code == 403
    assert member.client.delete(f"/v1/chats/{cid}/members/{admin.address}").status_code == 403
    assert (
        member.client.patch(f"/v1/chats/{cid}/members/{member.address}", {"role": "admin"}, format="json").status_code
        == 403
    )
    # an admin adds and removes members but cannot touch the owner or make owners
    assert admin.client.post(f"/v1/chats/{cid}/members", {"users": [other.address]}, format="json").status_code == 200
    assert admin.client.delete(f"/v1/chats/{cid}/members/{other.address}").status_code == 204
    denied = admin.client.delete(f"/v1/chats/{cid}/members/{owner.address}")
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "cannot_remove_owner"
    assert (
        admin.client.patch(f"/v1/chats/{cid}/members/{owner.address}", {"role": "member"}, format="json").status_code
        == 403
    )
    assert (
        admin.client.patch(f"/v1/chats/{cid}/members/{member.address}", {"role": "owner"}, format="json").status_code
        == 403
    )
    assert (
        admin.client.patch(f"/v1/chats/{cid}/members/{member.address}", {"role": "admin"}, format="json").status_code
        == 200
    )
    assert members_of(owner, cid) == {owner.address: "owner", admin.address: "admin", member.address: "admin"}
    # the last owner cannot leave or step down; after handing over, they can
    last = owner.client.delete(f"/v1/chats/{cid}/members/{owner.address}")
    assert last.status_code == 409
    assert last.json()["error"]["code"] == "last_owner"
    assert (
        owner.client.patch(f"/v1/chats/{cid}/members/{owner.address}", {"role": "member"}, format="json").status_code
        == 409
    )
    assert (
        owner.client.patch(f"/v1/chats/{cid}/members/{admin.address}", {"role": "owner"}, format="json").status_code
        == 200
    )
    assert owner.client.delete(f"/v1/chats/{cid}/members/{owner.address}").status_code == 204
    assert owner.client.get(f"/v1/chats/{cid}").status_code == 404
    # members may leave
    assert member.client.delete(f"/v1/chats/{cid}/members/{member.address}").status_code == 204
    assert members_of(admin, cid) == {admin.address: "owner"}


def test_direct_chats_take_no_extra_members_or_names(make_account) -> None:
    alice, bob, carol = make_account(), make_account(), make_account()
    chat = make_chat(alice, "direct", bob)
    added = alice.client.post(f"/v1/chats/{chat['id']}/members", {"users": [carol.address]}, format="json")
    assert added.status_code == 400
    named = alice.client.put(f"/v1/chats/{chat['id']}/name", {"encrypted_name": b64(b"x"), "epoch": 0}, format="json")
    assert named.status_code == 400


def test_name_change_by_managers_only(make_account) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "channel", bob)
    assert (
        bob.client.put(
            f"/v1/chats/{chat['id']}/name", {"encrypted_name": b64(b"n" * 48), "epoch": 3}, format="json"
        ).status_code
        == 403
    )
    renamed = alice.client.put(
        f"/v1/chats/{chat['id']}/name", {"encrypted_name": b64(b"n" * 48), "epoch": 3}, format="json"
    )
    assert renamed.status_code == 200
    assert renamed.json()["name_epoch"] == 3
    assert bob.client.get(f"/v1/chats/{chat['id']}").json()["encrypted_name"] == b64(b"n" * 48)


def test_favourites_are_per_user(make_account) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group", bob)
    assert alice.client.put(f"/v1/chats/{chat['id']}/favourite").status_code == 204
    assert alice.client.get(f"/v1/chats/{chat['id']}").json()["favourite"] is True
    assert bob.client.get(f"/v1/chats/{chat['id']}").json()["favourite"] is False
    assert alice.client.delete(f"/v1/chats/{chat['id']}/favourite").status_code == 204
    assert alice.client.get(f"/v1/chats/{chat['id']}").json()["favourite"] is False


def test_unknown_members_are_named(make_account) -> None:
    alice = make_account()
    response = alice.client.post("/v1/chats", {"kind": "group", "members": ["ghost"]}, format="json")
    assert response.status_code == 404
    assert "ghost@" in response.json()["error"]["message"]
    assert Membership.objects.count() == 0


def timer(account, chat_id: str, body: object):
    return account.client.patch(f"/v1/chats/{chat_id}", body, format="json")


def test_chat_timer_either_person_in_a_direct_chat(make_account) -> None:
    from apps.messages.models import Message
    from tests.conftest import send

    alice, bob, mallory = make_account(), make_account(), make_account()
    chat = make_chat(alice, "direct", bob)
    before = send(alice, chat["id"]).json()
    answer = timer(bob, chat["id"], {"ttl_seconds": 60})
    assert answer.status_code == 200, answer.content
    assert answer.json()["ttl_seconds"] == 60
    assert alice.client.get(f"/v1/chats/{chat['id']}").json()["ttl_seconds"] == 60
    # both people hear about it (a `chat` device event), so their apps show the timer
    for account in (alice, bob):
        events = account.client.get("/v1/sync", {"cursor": 0, "timeout": 0}).json()["events"]
        notices = [e["data"] for e in events if e["type"] == "device_event" and e["kind"] == "chat"]
        assert {"change": "timer", "chat_id": chat["id"], "ttl_seconds": 60} in notices
    after = send(alice, chat["id"]).json()
    assert Message.objects.get(pk=before["id"]).expires_at is None, "the timer is for messages sent from now on"
    row = Message.objects.get(pk=after["id"])
    assert row.expires_at is not None
    assert (row.expires_at - row.created).total_seconds() == pytest.approx(60, abs=2)
    assert timer(alice, chat["id"], {"ttl_seconds": None}).json()["ttl_seconds"] is None
    assert Message.objects.get(pk=send(alice, chat["id"]).json()["id"]).expires_at is None
    outsider = timer(mallory, chat["id"], {"ttl_seconds": 10})
    assert outsider.status_code == 404
    assert outsider.json()["error"]["code"] == "chat_not_found"


def test_chat_timer_by_managers_in_groups_and_channels(make_account) -> None:
    owner, admin, member = make_account(), make_account(), make_account()
    for kind in ("group", "channel"):
        chat = make_chat(owner, kind, member)
        cid = chat["id"]
        owner.client.post(f"/v1/chats/{cid}/members", {"users": [admin.address], "role": "admin"}, format="json")
        denied = timer(member, cid, {"ttl_seconds": 3600})
        assert denied.status_code == 403
        assert denied.json()["error"]["code"] == "not_chat_admin"
        assert owner.client.get(f"/v1/chats/{cid}").json()["ttl_seconds"] is None
        assert timer(admin, cid, {"ttl_seconds": 3600}).json()["ttl_seconds"] == 3600
        assert timer(owner, cid, {"ttl_seconds": 604800}).json()["ttl_seconds"] == 604800
        assert member.client.get(f"/v1/chats/{cid}").json()["ttl_seconds"] == 604800


@pytest.mark.parametrize(
    "body",
    [{}, {"ttl_seconds": 0}, {"ttl_seconds": -5}, {"ttl_seconds": 365 * 86400 + 1}, {"ttl_seconds": "soon"}, []],
)
def test_chat_timer_bad_input_is_a_clear_400(make_account, body: object) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group", bob)
    answer = timer(alice, chat["id"], body)
    assert answer.status_code == 400, answer.content
    assert set(answer.json()["error"]) >= {"code", "message"}
    assert alice.client.get(f"/v1/chats/{chat['id']}").json()["ttl_seconds"] is None
