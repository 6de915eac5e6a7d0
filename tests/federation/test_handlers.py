"""Envelope handlers, driven by a signed stand-in peer (`partner.test`) that is the home of
a chat with a local member: each envelope takes effect once, a repeat changes nothing,
and an instance may speak only for its own chats and users."""

import base64
import json
import os
import secrets
import uuid
from datetime import timedelta
from typing import Any

import pytest
from blake3 import blake3
from django.test import Client
from django.utils import timezone
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from apps.accounts.federation import remote_user
from apps.chats.models import Chat, Membership
from apps.devices.models import Device
from apps.federation.models import InboxEnvelope, OutboxEnvelope
from apps.federation.services import handle_inbox_rows
from apps.federation.tasks import sweep_inbox
from apps.messages.models import DeviceInbox, Message, Reaction
from tests.conftest import b64, make_chat, send
from tests.federation.conftest import PARTNER

pytestmark = pytest.mark.django_db

PATH = "/s2s/v1/envelopes"
DAVE = f"dave@{PARTNER}"


def deliver(partner: Any, kind: str, body: dict[str, Any]) -> InboxEnvelope:
    """POST one signed envelope as the partner and run the handler task's function."""
    raw = json.dumps({"envelopes": [{"txn_id": secrets.token_urlsafe(12), "kind": kind, "body": body}]}).encode()
    answer = Client().post(PATH, raw, content_type="application/json", **partner.headers("POST", PATH, raw))
    assert answer.status_code == 202, answer.content
    row = InboxEnvelope.objects.order_by("-pk").first()
    assert row is not None
    handle_inbox_rows([row.pk])
    row.refresh_from_db()
    return row


def snapshot(chat_id: str, members: dict[str, str], **chat: Any) -> dict[str, Any]:
    return {
        "op": "snapshot",
        "chat": {"id": chat_id, "kind": "group", "epoch": 0, "next_seq": 1, "name_epoch": 0, **chat},
        "members": [{"user": u, "role": r, "joined_seq": 0} for u, r in members.items()],
    }


def message(chat_id: str, seq: int, ciphertext: bytes) -> dict[str, Any]:
    return {
        "op": "deliver",
        "chat_id": chat_id,
        "seq": seq,
        "epoch": 0,
        "kind": "application",
        "client_message_id": uuid.uuid4().hex,
        "ciphertext": b64(ciphertext),
    }


def notices(device_id: int, kind: str = "chat") -> list[Any]:
    return [r.data for r in DeviceInbox.objects.filter(device_id=device_id, kind=kind).order_by("pos")]


def test_snapshot_and_messages_from_the_home_take_effect_once(partner, make_account) -> None:
    carol = make_account()
    chat_id = str(uuid.uuid4())
    first = deliver(partner, "membership", snapshot(chat_id, {DAVE: "owner", carol.address: "member"}))
    assert first.error == "" and first.handled_at is not None
    assert first.body == {}, "a handled envelope keeps no copy of what it carried"
    chat = Chat.objects.get(pk=chat_id)
    assert (chat.home, chat.federated) == (PARTNER, True)
    assert dict(Membership.objects.filter(chat=chat).values_list("user__username", "role")) == {
        DAVE: "owner",
        carol.address: "member",
    }
    assert [n["change"] for n in notices(carol.device_id)] == ["joined"]
    # the same snapshot again (a new envelope): nothing changes, nobody is told again
    deliver(partner, "membership", snapshot(chat_id, {DAVE: "owner", carol.address: "member"}))
    assert Membership.objects.filter(chat=chat).count() == 2
    assert [n["change"] for n in notices(carol.device_id)] == ["joined"]

    ciphertext = os.urandom(200)
    body = message(chat_id, 1, ciphertext)
    deliver(partner, "message", body)
    deliver(partner, "message", body)  # sent twice: stored once
    stored = list(Message.objects.filter(chat_id=chat_id).values_list("seq", "ciphertext"))
    assert [(seq, bytes(c)) for seq, c in stored] == [(1, ciphertext)]
    history = carol.client.get(f"/v1/chats/{chat_id}/messages").json()["messages"]
    assert [(m["seq"], base64.b64decode(m["ciphertext"])) for m in history] == [(1, ciphertext)]
    assert Chat.objects.get(pk=chat_id).next_seq == 2

    # changes of stored messages go to the home (checked here first, as far as this copy
    # allows); the home's answer comes back as `changed` / `reaction` and is mirrored once
    secret = os.urandom(32)
    body = {**message(chat_id, 2, os.urandom(100)), "edit_hash": b64(blake3(secret).digest())}
    deliver(partner, "message", body)
    stored_id = Message.objects.values_list("pk", flat=True).get(chat_id=chat_id, seq=2)
    wrong = carol.client.patch(
        f"/v1/messages/{stored_id}", {"edit_secret": b64(bytes(32)), "ciphertext": b64(b"e" * 64)}, format="json"
    )
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (403, "wrong_edit_secret")
    assert not OutboxEnvelope.objects.filter(destination=PARTNER, kind="message").exists()
    edit = carol.client.patch(
        f"/v1/messages/{stored_id}", {"edit_secret": b64(secret), "ciphertext": b64(b"e" * 64)}, format="json"
    )
    assert (edit.status_code, edit.json()["forwarded"]) == (202, True)
    (asked,) = OutboxEnvelope.objects.filter(destination=PARTNER, kind="message")
    assert {k: asked.body[k] for k in ("op", "action", "seq", "actor")} == {
        "op": "change",
        "action": "edit",
        "seq": 2,
        "actor": carol.address,
    }
    assert bytes(Message.objects.get(pk=stored_id).ciphertext) != b"e" * 64, "applied only when the home says so"
    changed = {"op": "changed", "chat_id": chat_id, "seq": 2, "ciphertext": b64(b"e" * 64), "deleted": False}
    changed["edited_at"] = timezone.now().isoformat()
    deliver(partner, "message", changed)
    before = Message.objects.get(pk=stored_id).pos
    deliver(partner, "message", changed)  # a repeat: no new position, no new event
    edited = Message.objects.get(pk=stored_id)
    assert (bytes(edited.ciphertext), edited.pos, edited.edited_at is not None) == (b"e" * 64, before, True)
    reaction = {"op": "reaction", "chat_id": chat_id, "seq": 2, "reaction_id": 77, "deleted": False}
    reaction |= {"ciphertext": b64(b"r" * 40), "remove_hash": b64(blake3(secret).digest())}
    deliver(partner, "message", reaction)
    deliver(partner, "message", reaction)
    (mirrored,) = Reaction.objects.filter(chat_id=chat_id)
    assert (mirrored.home_id, bytes(mirrored.ciphertext)) == (77, b"r" * 40)
    removal = carol.client.delete(f"/v1/reactions/{mirrored.pk}", {"remove_secret": b64(secret)}, format="json")
    assert (removal.status_code, removal.json()) == (202, {"forwarded": True})
    unreact = OutboxEnvelope.objects.filter(destination=PARTNER, kind="message").order_by("-pk").first()
    assert unreact is not None and (unreact.body["action"], unreact.body["reaction_id"]) == ("unreact", 77)
    refusal = {"op": "change_rejected", "chat_id": chat_id, "action": "edit", "seq": 2}
    deliver(partner, "message", {**refusal, "error": {"code": "wrong_edit_secret", "message": "no"}})
    assert notices(carol.device_id)[-1] == {
        "chat_id": chat_id,
        "change": "change_rejected",
        "seq": 2,
        "action": "edit",
        "error": {"code": "wrong_edit_secret", "message": "no"},
    }
    # a refused reaction removal names the home's reaction; Carol's devices get this
    # instance's reaction id and its message's seq (her app finds the removal it undoes)
    refused_unreact = {"op": "change_rejected", "chat_id": chat_id, "action": "unreact", "seq": 0, "reaction_id": 77}
    deliver(partner, "message", {**refused_unreact, "error": {"code": "wrong_remove_secret", "message": "no"}})
    assert {k: v for k, v in notices(carol.device_id)[-1].items() if k in ("seq", "reaction_id", "action")} == {
        "seq": 2,
        "reaction_id": mirrored.pk,
        "action": "unreact",
    }
    deliver(partner, "message", {**reaction, "deleted": True, "ciphertext": None})
    assert Reaction.objects.get(pk=mirrored.pk).deleted_at is not None
    deliver(partner, "message", {**changed, "deleted": True, "ciphertext": None})
    gone = Message.objects.get(pk=stored_id)
    assert (gone.ciphertext, gone.edit_hash, gone.deleted_at is not None) == (None, None, True)
    assert not OutboxEnvelope.objects.filter(destination=PARTNER, kind="message", body__op="changed").exists()

    # re-running the task on handled envelopes does nothing
    assert handle_inbox_rows(list(InboxEnvelope.objects.values_list("pk", flat=True))) == 0

    # a role change and a removal, as snapshots: the local member hears each once
    deliver(partner, "membership", snapshot(chat_id, {DAVE: "owner", carol.address: "admin"}))
    deliver(partner, "membership", snapshot(chat_id, {DAVE: "owner"}))
    changes = [n["change"] for n in notices(carol.device_id)]
    assert changes == ["joined", "change_rejected", "change_rejected", "members", "left"]
    assert not Membership.objects.filter(chat=chat, user__username=carol.address).exists()
    assert carol.client.get(f"/v1/chats/{chat_id}/messages").status_code == 404


def test_a_peer_speaks_only_for_its_own_chats_and_users(partner, make_account) -> None:
    carol, erin = make_account(), make_account()
    local = make_chat(carol, "group", erin)
    # a chat homed here: the partner may not deliver ordered messages or snapshots for it
    refused = deliver(partner, "message", message(local["id"], 1, os.urandom(64)))
    assert refused.error == "only the chat's home speaks for it"
    refused = deliver(partner, "membership", snapshot(local["id"], {DAVE: "owner", carol.address: "member"}))
    assert refused.error == "only the chat's home speaks for it"
    assert not Message.objects.filter(chat_id=local["id"]).exists()
    assert Membership.objects.filter(chat_id=local["id"]).count() == 2
    # nor send as someone of another instance (or as a local user)
    for sender in ("eve@elsewhere.test", carol.address):
        body = {"op": "send", "chat_id": local["id"], "sender": sender, "client_message_id": "x" * 12}
        assert deliver(partner, "message", {**body, "kind": "application", "epoch": 0, "ciphertext": b64(b"x")}).error
    assert not Message.objects.filter(chat_id=local["id"]).exists()
    # a partner user who is not a member is refused by the home's membership check, and
    # told so by client_message_id only
    deliver(partner, "membership", snapshot(str(uuid.uuid4()), {DAVE: "owner", carol.address: "member"}))
    body = {
        "op": "send",
        "chat_id": local["id"],
        "sender": DAVE,
        "client_message_id": "not-a-member-1",
        "kind": "application",
        "epoch": 0,
        "ciphertext": b64(os.urandom(64)),
    }
    assert deliver(partner, "message", body).error == ""
    assert not Message.objects.filter(chat_id=local["id"]).exists()
    (rejection,) = OutboxEnvelope.objects.filter(destination=PARTNER, kind="message")
    assert rejection.body == {
        "op": "rejected",
        "chat_id": local["id"],
        "client_message_id": "not-a-member-1",
        "error": {"code": "chat_not_found", "message": "No such chat."},
    }


def test_device_list_of_a_remote_member_reaches_local_members_once(partner, make_account) -> None:
    carol = make_account()
    chat_id = str(uuid.uuid4())
    deliver(partner, "membership", snapshot(chat_id, {DAVE: "owner", carol.address: "member"}))
    device = {
        "user": DAVE,
        "client_device_id": str(uuid.uuid4()),
        "ed25519_pub": b64(bytes(SigningKey.generate().verify_key)),
        "x25519_pub": b64(bytes(PrivateKey.generate().public_key)),
    }
    bad_key = deliver(partner, "device_list", {**device, "ed25519_pub": b64(bytes(32)), "change": "added"})
    assert bad_key.error == "ed25519_pub is not a valid Ed25519 public key."
    deliver(partner, "device_list", {**device, "change": "added"})
    deliver(partner, "device_list", {**device, "change": "added"})
    (mirror,) = Device.objects.filter(user__username=DAVE)
    events = notices(carol.device_id, "device")
    assert events == [
        {"change": "added", "user": DAVE, "device_id": mirror.pk, "client_device_id": device["client_device_id"]}
    ]
    deliver(partner, "device_list", {**device, "change": "revoked"})
    deliver(partner, "device_list", {**device, "change": "revoked"})
    assert not Device.objects.filter(user__username=DAVE).exists()
    assert [e["change"] for e in notices(carol.device_id, "device")] == ["added", "revoked"]
    # no instance speaks for another's users
    refused = deliver(partner, "device_list", {**device, "user": carol.address, "change": "revoked"})
    assert refused.error == "an instance speaks only for its own users"
    # a local member's send in the partner's chat goes to the partner (the home), durably
    answer = carol.client.post(
        f"/v1/chats/{chat_id}/messages",
        {"client_message_id": "forwarded-01", "kind": "application", "epoch": 0, "ciphertext": b64(b"c" * 64)},
        format="json",
    )
    assert (answer.status_code, answer.json()) == (202, {"id": None, "seq": None, "forwarded": True})
    (forward,) = OutboxEnvelope.objects.filter(destination=PARTNER, kind="message")
    assert forward.body["op"] == "send" and forward.body["sender"] == carol.address
    assert not Message.objects.filter(chat_id=chat_id).exists(), "only the home stores and orders it"


def test_device_list_carries_certificates_that_the_mirror_keeps_and_clients_read(partner, make_account) -> None:
    """Dave's instance announces his device with its certificate and his identity key: A keeps
    both on its mirror and lists them to its users; a certificate Dave's key did not make for
    that device is refused; one made later arrives as `certified`."""
    from tests.support.certificates import device_certificate

    carol = make_account()
    deliver(partner, "membership", snapshot(str(uuid.uuid4()), {DAVE: "owner", carol.address: "member"}))
    identity, signing, box = SigningKey.generate(), SigningKey.generate(), PrivateKey.generate()
    client_device_id = str(uuid.uuid4())
    device = {
        "user": DAVE,
        "client_device_id": client_device_id,
        "ed25519_pub": b64(bytes(signing.verify_key)),
        "x25519_pub": b64(bytes(box.public_key)),
        "identity_key": b64(bytes(identity.verify_key)),
    }

    def cert_by(key: SigningKey, **override: Any) -> str:
        fields = {"user": DAVE, "client_device_id": client_device_id, **override}
        return b64(
            device_certificate(
                key, fields["user"], fields["client_device_id"], bytes(signing.verify_key), bytes(box.public_key)
            )
        )

    forged = deliver(
        partner, "device_list", {**device, "change": "added", "certificate": cert_by(SigningKey.generate())}
    )
    assert forged.error is not None and "does not verify" in forged.error
    other = deliver(
        partner, "device_list", {**device, "change": "added", "certificate": cert_by(identity, user=f"erin@{PARTNER}")}
    )
    assert other.error is not None and "another user or device" in other.error
    assert not Device.objects.filter(user__username=DAVE).exists(), "nothing of a refused announcement is kept"

    # Announced before his client certified it (signed in without the phrase), then certified.
    deliver(partner, "device_list", {**device, "change": "added", "certificate": None})
    (mirror,) = Device.objects.filter(user__username=DAVE)
    assert mirror.certificate is None
    deliver(partner, "device_list", {**device, "change": "certified", "certificate": cert_by(identity)})
    mirror.refresh_from_db()
    assert mirror.certificate is not None and bytes(mirror.certificate) == base64.b64decode(cert_by(identity))
    assert bytes(mirror.user.identity_key.public_key) == bytes(identity.verify_key)
    # Carol's client may add it now (it refused the uncertified device); again is nothing new.
    deliver(partner, "device_list", {**device, "change": "certified", "certificate": cert_by(identity)})
    assert [e["change"] for e in notices(carol.device_id, "device")] == ["added", "certified"]


def test_member_changes_asked_for_elsewhere_are_applied_by_the_home_with_the_actors_rights(
    partner, make_account
) -> None:
    carol, erin = make_account(), make_account()
    remote_user(DAVE)  # known here already (as after a lookup), so no lookup is needed
    chat = make_chat(carol, "group", erin)
    added = carol.client.post(f"/v1/chats/{chat['id']}/members", {"users": [DAVE]}, format="json")
    assert added.status_code == 200, added.content
    (shared,) = OutboxEnvelope.objects.filter(destination=PARTNER, kind="membership")
    assert shared.body["op"] == "snapshot"
    assert {m["user"] for m in shared.body["members"]} == {carol.address, erin.address, DAVE}
    # Dave (a plain member) may not add people; the refusal is recorded, nothing changes
    request = {"op": "request", "chat_id": chat["id"], "actor": DAVE, "action": "add", "users": [erin.address]}
    refused = deliver(partner, "membership", {**request, "action": "role", "user": erin.address, "role": "admin"})
    assert refused.error.startswith("not_chat_admin")
    # made admin by the owner, he can; the home sends the new snapshot to the partner
    carol.client.patch(f"/v1/chats/{chat['id']}/members/{DAVE}", {"role": "admin"}, format="json")
    frank = make_account()
    assert deliver(partner, "membership", {**request, "users": [frank.address]}).error == ""
    assert Membership.objects.filter(chat_id=chat["id"], user__username=frank.address).exists()
    latest = OutboxEnvelope.objects.filter(destination=PARTNER, kind="membership").order_by("-pk").first()
    assert latest is not None and frank.address in {m["user"] for m in latest.body["members"]}
    # and leaving, asked for by Dave himself
    assert deliver(partner, "membership", {**request, "action": "remove", "user": DAVE}).error == ""
    assert not Membership.objects.filter(chat_id=chat["id"], user__username=DAVE).exists()
    last = OutboxEnvelope.objects.filter(destination=PARTNER, kind="membership").order_by("-pk").first()
    assert last is not None and DAVE not in {m["user"] for m in last.body["members"]}, "the partner learns he is out"


def test_message_changes_asked_for_elsewhere_are_checked_and_applied_by_the_home(partner, make_account) -> None:
    carol = make_account()
    remote_user(DAVE)
    chat = make_chat(carol, "group")
    carol.client.post(f"/v1/chats/{chat['id']}/members", {"users": [DAVE]}, format="json")
    secret = os.urandom(32)
    sent = send(carol, chat["id"], b"carol's text", edit_hash=b64(blake3(secret).digest()))
    message_id, seq = sent.json()["id"], sent.json()["seq"]
    request = {"op": "change", "chat_id": chat["id"], "actor": DAVE, "seq": seq}

    def outgoing(op: str) -> list[dict[str, Any]]:
        rows = OutboxEnvelope.objects.filter(destination=PARTNER, kind="message", body__op=op).order_by("pk")
        return [r.body for r in rows]

    # Dave does not hold Carol's edit secret: the home refuses, whatever his instance said,
    # and tells his instance which change was refused (not who asked)
    wrong = {**request, "action": "edit", "edit_secret": b64(bytes(32)), "ciphertext": b64(b"x" * 64)}
    deliver(partner, "message", wrong)
    deliver(partner, "message", {**request, "action": "delete"})
    assert bytes(Message.objects.get(pk=message_id).ciphertext) == b"carol's text"
    assert [(b["action"], b["seq"], b["error"]["code"]) for b in outgoing("change_rejected")] == [
        ("edit", seq, "wrong_edit_secret"),
        ("delete", seq, "wrong_edit_secret"),
    ]
    # a reaction from Dave: stored here, announced to his instance under this instance's id
    react = {**request, "action": "react", "ciphertext": b64(b"r" * 40), "remove_hash": b64(bytes(32))}
    assert deliver(partner, "message", react).error == ""
    (reaction,) = Reaction.objects.filter(chat_id=chat["id"])
    assert [(b["reaction_id"], b["deleted"]) for b in outgoing("reaction")] == [(reaction.pk, False)]
    # removal needs the secret behind remove_hash (he has no admin role)
    unreact = {**request, "action": "unreact", "reaction_id": reaction.pk, "remove_secret": b64(os.urandom(32))}
    deliver(partner, "message", unreact)
    assert outgoing("change_rejected")[-1]["error"]["code"] == "wrong_remove_secret"
    assert outgoing("change_rejected")[-1]["reaction_id"] == reaction.pk, "which removal was refused"
    assert Reaction.objects.get(pk=reaction.pk).deleted_at is None
    # made admin at the home, his deletion of Carol's message is applied and fanned out
    carol.client.patch(f"/v1/chats/{chat['id']}/members/{DAVE}", {"role": "admin"}, format="json")
    assert deliver(partner, "message", {**request, "action": "delete"}).error == ""
    assert Message.objects.get(pk=message_id).deleted_at is not None
    assert [(b["seq"], b["deleted"], b["ciphertext"]) for b in outgoing("changed")] == [(seq, True, None)]
    answers = outgoing("changed") + outgoing("reaction") + outgoing("change_rejected")
    assert not [b for b in answers if DAVE in json.dumps(b)], "no answer names who asked"


def test_expiry_at_the_home_reaches_the_other_instances_and_theirs_stay_local(partner, make_account) -> None:
    from apps.messages.services import purge_expired

    carol = make_account()
    remote_user(DAVE)
    chat = make_chat(carol, "group")
    carol.client.post(f"/v1/chats/{chat['id']}/members", {"users": [DAVE]}, format="json")
    sent = send(carol, chat["id"], b"short-lived", ttl_seconds=60)
    Message.objects.filter(pk=sent.json()["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    # a copy of a chat homed elsewhere expires here too, on its own timer, telling no one
    elsewhere = str(uuid.uuid4())
    deliver(partner, "membership", snapshot(elsewhere, {DAVE: "owner", carol.address: "member"}))
    expired = {**message(elsewhere, 1, os.urandom(64)), "expires_at": timezone.now().isoformat()}
    deliver(partner, "message", expired)
    assert purge_expired() == 2
    changed = [
        e.body for e in OutboxEnvelope.objects.filter(destination=PARTNER, kind="message") if e.body["op"] == "changed"
    ]
    assert [(b["chat_id"], b["seq"], b["deleted"]) for b in changed] == [(chat["id"], sent.json()["seq"], True)]
    # the home's own tombstone of the copy that already expired here changes nothing more
    pos = Message.objects.get(chat_id=elsewhere, seq=1).pos
    deliver(partner, "message", {"op": "changed", "chat_id": elsewhere, "seq": 1, "deleted": True})
    assert Message.objects.get(chat_id=elsewhere, seq=1).pos == pos


def test_an_envelope_whose_task_never_ran_is_handled_by_the_sweeper(partner, make_account) -> None:
    carol = make_account()
    chat_id = str(uuid.uuid4())
    raw = json.dumps(
        {
            "envelopes": [
                {
                    "txn_id": "sweep-000001",
                    "kind": "membership",
                    "body": snapshot(chat_id, {DAVE: "owner", carol.address: "member"}),
                },
                {"txn_id": "sweep-000002", "kind": "message", "body": message(chat_id, 1, b"m" * 64)},
            ]
        }
    ).encode()
    answer = Client().post(PATH, raw, content_type="application/json", **partner.headers("POST", PATH, raw))
    assert answer.status_code == 202  # stored; the handler task is lost (never run here)
    assert sweep_inbox() == 0, "too fresh: its task may still be on its way"
    InboxEnvelope.objects.update(received=timezone.now() - timedelta(minutes=1))
    assert sweep_inbox() == 1
    assert not InboxEnvelope.objects.filter(handled_at=None).exists()
    assert list(Message.objects.filter(chat_id=chat_id).values_list("seq", flat=True)) == [1]


def test_a_chat_timer_travels_through_the_home(partner, make_account) -> None:
    """The self-destruct default is part of the home's snapshot; set elsewhere, it is a
    request the home applies with the actor's rights (as for member changes)."""
    carol, erin = make_account(), make_account()
    chat_id = str(uuid.uuid4())
    deliver(partner, "membership", snapshot(chat_id, {DAVE: "owner", carol.address: "member"}))
    timed = deliver(partner, "membership", snapshot(chat_id, {DAVE: "owner", carol.address: "member"}, ttl_seconds=60))
    assert timed.error == ""
    assert Chat.objects.get(pk=chat_id).ttl_seconds == 60
    assert [(n["change"], n.get("ttl_seconds")) for n in notices(carol.device_id)][-1] == ("timer", 60)
    deliver(partner, "membership", snapshot(chat_id, {DAVE: "owner", carol.address: "member"}, ttl_seconds=60))
    assert [n["change"] for n in notices(carol.device_id)].count("timer") == 1, "an unchanged timer is not news"
    bad = deliver(partner, "membership", snapshot(chat_id, {DAVE: "owner", carol.address: "member"}, ttl_seconds=-5))
    assert bad.error == "ttl_seconds out of range" and Chat.objects.get(pk=chat_id).ttl_seconds == 60
    # a plain member cannot set it; an admin on this side asks the home, which decides
    assert carol.client.patch(f"/v1/chats/{chat_id}", {"ttl_seconds": 5}, format="json").status_code == 403
    deliver(partner, "membership", snapshot(chat_id, {DAVE: "owner", carol.address: "admin"}, ttl_seconds=60))
    asked = carol.client.patch(f"/v1/chats/{chat_id}", {"ttl_seconds": 5}, format="json")
    assert (asked.status_code, asked.json()["ttl_seconds"]) == (202, 60), "unchanged until the home's snapshot"
    request = OutboxEnvelope.objects.get(destination=PARTNER, kind="membership")
    assert request.body == {
        "op": "request",
        "chat_id": chat_id,
        "actor": carol.address,
        "action": "timer",
        "ttl_seconds": 5,
    }

    # a chat homed here: the owner's change goes out in the snapshot; a plain member
    # elsewhere is refused, and so is a timer out of range
    remote_user(DAVE)
    local = make_chat(carol, "group", erin)
    carol.client.post(f"/v1/chats/{local['id']}/members", {"users": [DAVE]}, format="json")
    assert carol.client.patch(f"/v1/chats/{local['id']}", {"ttl_seconds": 3600}, format="json").status_code == 200
    shared = OutboxEnvelope.objects.filter(destination=PARTNER, kind="membership").order_by("-pk").first()
    assert shared is not None and shared.body["chat"]["ttl_seconds"] == 3600
    ask = {"op": "request", "chat_id": local["id"], "actor": DAVE, "action": "timer", "ttl_seconds": 10}
    assert deliver(partner, "membership", ask).error.startswith("not_chat_admin")
    carol.client.patch(f"/v1/chats/{local['id']}/members/{DAVE}", {"role": "admin"}, format="json")
    assert deliver(partner, "membership", {**ask, "ttl_seconds": 0}).error == "ttl_seconds out of range"
    assert deliver(partner, "membership", ask).error == ""
    assert Chat.objects.get(pk=local["id"]).ttl_seconds == 10


def _forwarded_file_send(chat_id: str, blob_id: str, size: int, **extra: Any) -> dict[str, Any]:
    return {
        "op": "send",
        "chat_id": chat_id,
        "sender": DAVE,
        "client_message_id": uuid.uuid4().hex,
        "kind": "application",
        "epoch": 0,
        "ciphertext": b64(b"dave's file message" + os.urandom(8)),
        "blobs": [{"id": blob_id, "size": size, "chunk_size": 1024 * 1024}],
        **extra,
    }


def test_a_file_sent_on_the_members_instance_is_pulled_by_the_home_once(
    partner, make_account, settings, tmp_path
) -> None:
    from apps.blobs.models import Blob, BlobAttachment
    from apps.blobs.sizes import encrypted_size
    from apps.federation.remote import BLOB_PIECE_BYTES
    from tests.conftest import use_blob_dir

    use_blob_dir(settings, tmp_path)
    carol = make_account()
    remote_user(DAVE)
    chat = make_chat(carol, "group")
    carol.client.post(f"/v1/chats/{chat['id']}/members", {"users": [DAVE]}, format="json")
    size = encrypted_size(8 * 1024 * 1024)
    blob_id, data = str(uuid.uuid4()), os.urandom(size)
    partner.files[blob_id] = data
    body = _forwarded_file_send(chat["id"], blob_id, size)
    assert deliver(partner, "message", body).error == ""
    # pulled in signed ranged pieces, stored here, attached to the message the home ordered
    assert len(partner.file_requests) == -(-size // BLOB_PIECE_BYTES) > 1
    (message_row,) = Message.objects.filter(chat_id=chat["id"], kind="application")
    assert BlobAttachment.objects.filter(message=message_row, blob_id=blob_id).exists()
    blob = Blob.objects.get(pk=blob_id)
    assert (blob.size, blob.at_home, blob.expires_at) == (size, False, None)
    got = carol.client.get(f"/v1/blobs/{blob_id}")
    assert got.status_code == 200 and b"".join(got.streaming_content) == data
    # the message goes back to the partner with the file's id and padded size only
    (deliver_env,) = OutboxEnvelope.objects.filter(destination=PARTNER, kind="message", body__op="deliver")
    assert deliver_env.body["blobs"] == [{"id": blob_id, "size": size, "chunk_size": 1024 * 1024}]
    # the same send again (a resend): one message, nothing pulled again
    assert deliver(partner, "message", body).error == ""
    assert len(partner.file_requests) == -(-size // BLOB_PIECE_BYTES)
    assert Message.objects.filter(chat_id=chat["id"], kind="application").count() == 1


def test_a_file_pull_that_fails_waits_or_refuses_the_send(partner, make_account, settings, tmp_path) -> None:
    from apps.blobs.models import Blob
    from apps.blobs.sizes import encrypted_size
    from tests.conftest import use_blob_dir

    use_blob_dir(settings, tmp_path)
    carol = make_account()
    remote_user(DAVE)
    chat = make_chat(carol, "group")
    carol.client.post(f"/v1/chats/{chat['id']}/members", {"users": [DAVE]}, format="json")
    size = encrypted_size(32 * 1024)
    blob_id = str(uuid.uuid4())
    partner.files[blob_id] = os.urandom(size)

    def rejected() -> list[str]:
        rows = OutboxEnvelope.objects.filter(destination=PARTNER, kind="message", body__op="rejected")
        return [r.body["error"]["code"] for r in rows.order_by("pk")]

    # the partner cannot serve it right now: the send waits, and so does what came after it
    partner.file_status = 503
    waiting = deliver(partner, "message", _forwarded_file_send(chat["id"], blob_id, size))
    later = deliver(partner, "message", message_send := _forwarded_file_send(chat["id"], blob_id, size, blobs=[]))
    assert (waiting.handled_at, later.handled_at) == (None, None), (waiting.error, rejected())
    assert not Message.objects.filter(chat_id=chat["id"], kind="application").exists()
    # served again: the sweeper handles both, in their order
    partner.file_status = None
    InboxEnvelope.objects.update(received=timezone.now() - timedelta(minutes=1))
    sweep_inbox()
    cmids = list(
        Message.objects.filter(chat_id=chat["id"], kind="application")
        .order_by("seq")
        .values_list("client_message_id", flat=True)
    )
    assert len(cmids) == 2 and cmids[1] == message_send["client_message_id"]
    assert rejected() == []
    # gone at the partner (404): the send is refused back to it, nothing stored
    missing = str(uuid.uuid4())
    deliver(partner, "message", _forwarded_file_send(chat["id"], missing, size))
    assert rejected() == ["blob_not_found"]
    # an id this instance already uses for another chat's file: refused, that file untouched
    other = make_chat(carol, "group")
    Blob.objects.create(id=uuid.uuid4(), chat_id=other["id"], size=size, chunk_size=1024 * 1024)
    taken = str(Blob.objects.get(chat_id=other["id"]).pk)
    partner.files[taken] = os.urandom(size)
    deliver(partner, "message", _forwarded_file_send(chat["id"], taken, size))
    assert rejected() == ["blob_not_found", "invalid_blob"]
    assert str(Blob.objects.get(pk=taken).chat_id) == other["id"]
    # a size that is no padded bucket: refused as well
    deliver(partner, "message", _forwarded_file_send(chat["id"], str(uuid.uuid4()), size + 1))
    assert rejected()[-1] == "invalid_size"
    # Dave's upload allowance here is spent (the first file counted): refused, not pulled
    settings.TALKEE_BLOB_QUOTA_BYTES = size
    big = str(uuid.uuid4())
    partner.files[big] = os.urandom(size)
    deliver(partner, "message", _forwarded_file_send(chat["id"], big, size))
    assert rejected()[-1] == "quota_exceeded"
    assert not [r for r in partner.file_requests if r.startswith(big)]
    assert Message.objects.filter(chat_id=chat["id"], kind="application").count() == 2


def test_only_the_chats_home_may_pull_a_members_upload(partner, make_account, settings, tmp_path) -> None:
    from tests.blobs.conftest import upload
    from tests.conftest import use_blob_dir

    use_blob_dir(settings, tmp_path)
    carol = make_account()
    mine = make_chat(carol, "group")  # homed here
    data = os.urandom(32809)
    blob_id = upload(carol, mine["id"], data)
    path = f"/s2s/v1/uploads/{blob_id}"

    def pull() -> Any:
        return Client().get(path, HTTP_RANGE="bytes=0-99", **partner.headers("GET", path, b""))

    assert pull().status_code == 404, "the partner is not this chat's home"
    Chat.objects.filter(pk=mine["id"]).update(home=PARTNER)  # as if the partner ordered it
    answer = pull()
    assert answer.status_code == 206 and b"".join(answer.streaming_content) == data[:100]


def test_a_call_signal_is_taken_only_from_an_instance_with_a_member_in_the_chat(partner, make_account) -> None:
    carol, erin = make_account(), make_account()
    remote_user(DAVE)
    with_dave = make_chat(carol, "group")
    carol.client.post(f"/v1/chats/{with_dave['id']}/members", {"users": [DAVE]}, format="json")
    without = make_chat(carol, "direct", erin)
    signal = b64(os.urandom(64))
    assert deliver(partner, "call", {"chat_id": with_dave["id"], "payload": signal}).error == ""
    assert deliver(partner, "call", {"chat_id": without["id"], "payload": signal}).error.startswith("no member")
    assert deliver(partner, "call", {"chat_id": str(uuid.uuid4()), "payload": signal}).error.startswith("no member")
    too_big = b64(os.urandom(64 * 1024 + 16))
    assert deliver(partner, "call", {"chat_id": with_dave["id"], "payload": too_big}).error.startswith("a call payload")
    # handled and gone: no copy of a signal stays in the inbox
    assert not [r for r in InboxEnvelope.objects.filter(kind="call") if r.body]


def test_blocks_cross_instances_both_ways(partner, make_account) -> None:
    """Carol (here) blocks Dave (on the partner): the partner is told, so that it refuses
    Dave's direct chats and invitations to her; and a direct chat the partner sends anyway
    is refused here. Dave blocking Erin, told by the partner, makes this instance refuse
    Erin's direct chat with him and her invitation of him. Only the blocker's own instance may say so."""
    from apps.accounts.models import Block

    carol = make_account()
    remote_user(DAVE)  # known here (met in some chat)
    assert carol.client.post("/v1/blocks", {"user": DAVE}, format="json").status_code in (200, 201)
    (told,) = OutboxEnvelope.objects.filter(destination=PARTNER, kind="block")
    assert told.body == {"op": "block", "blocker": carol.address, "blocked": DAVE}
    assert carol.client.post("/v1/blocks", {"user": DAVE}, format="json").status_code in (200, 201)
    assert OutboxEnvelope.objects.filter(destination=PARTNER, kind="block").count() == 1, "a block is told once"

    # A partner that ignores it cannot open a direct chat between them here.
    direct = str(uuid.uuid4())
    pair = snapshot(direct, {DAVE: "owner", carol.address: "member"}, kind="direct")
    refused = deliver(partner, "membership", pair)
    assert refused.error.startswith("not_accepted"), refused.error
    assert not Chat.objects.filter(pk=direct).exists()
    assert carol.client.delete(f"/v1/blocks/{DAVE}").status_code == 204
    lifted = OutboxEnvelope.objects.filter(destination=PARTNER, kind="block").order_by("-pk").first()
    assert lifted is not None and lifted.body == {"op": "unblock", "blocker": carol.address, "blocked": DAVE}
    assert deliver(partner, "membership", pair).error == ""
    assert Membership.objects.filter(chat_id=direct, user__username=carol.address).exists()

    # Dave blocks Carol on the partner: mirrored here, Carol's new direct chat with him is refused.
    erin = make_account()
    assert deliver(partner, "block", {"op": "block", "blocker": DAVE, "blocked": erin.address}).error == ""
    assert Block.objects.filter(blocker__username=DAVE, blocked__username=erin.address).exists()
    made = erin.client.post("/v1/chats", {"kind": "direct", "members": [DAVE]}, format="json")
    assert made.status_code == 403 and made.json()["error"]["code"] == "not_accepted", made.content
    group = make_chat(erin, "group")
    added = erin.client.post(f"/v1/chats/{group['id']}/members", {"users": [DAVE]}, format="json")
    assert added.status_code == 403 and added.json()["error"]["code"] == "not_accepted", added.content

    # Only the blocker's instance speaks for them, only for users of ours, only these ops.
    for body in (
        {"op": "block", "blocker": "eve@elsewhere.test", "blocked": erin.address},
        {"op": "block", "blocker": carol.address, "blocked": erin.address},
        {"op": "block", "blocker": DAVE, "blocked": "someone@elsewhere.test"},
        {"op": "block", "blocker": DAVE, "blocked": f"nobody@{erin.address.split('@')[1]}"},
        {"op": "mute", "blocker": DAVE, "blocked": erin.address},
        {"op": "block", "blocker": 5, "blocked": erin.address},
    ):
        assert deliver(partner, "block", body).error, body
    assert Block.objects.filter(blocked__username=erin.address).count() == 1

    assert deliver(partner, "block", {"op": "unblock", "blocker": DAVE, "blocked": erin.address}).error == ""
    made = erin.client.post("/v1/chats", {"kind": "direct", "members": [DAVE]}, format="json")
    assert made.status_code == 201, made.content
