"""A channel of three: the sealed name opens on every member's device, roles are
enforced by the UI and by the server, and a removed member no longer reads new
messages. Nothing typed reaches the database or the server log."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from apps.chats.models import Chat
from tests.conftest import DeviceKeys, LiveServer, b64
from tests.e2e.app.conftest import PASSWORD, SLOW, assert_controls_named, assert_private, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def http(server: LiveServer, method: str, path: str, body: dict[str, Any], token: str | None = None) -> tuple[int, Any]:
    """A plain HTTP call to the live server (as another client would make it)."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(server.url + path, json.dumps(body).encode(), headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def test_channel_roles_and_removal(people: Any) -> None:
    alice = people("alice")
    bob = people("bob")
    carol = people("carol", viewport={"width": 390, "height": 844})
    for person in (alice, bob, carol):
        person.sign_up()

    name = "Secret Garden Club"
    alice.typed.append(name)
    alice.create_group(name, [bob, carol], kind="channel")
    alice.say("Welcome to the garden")

    for member in (bob, carol):
        member.open_chat(name)  # the name was sealed by Alice and opened on this device
        member.expect_message("Welcome to the garden")
        # A member of a channel reads but does not post: the UI says so...
        expect(member.composer).to_be_hidden()
        expect(member.page.get_by_text("Only the channel's owners and admins can post here.")).to_be_visible()
        # ...and sees the chat's timer but cannot change it (owners and admins do).
        expect(member.page.get_by_label("Timer for this chat")).to_be_disabled()
    alice.page.get_by_label("Timer for this chat").select_option("604800")
    for member in (bob, carol):
        expect(member.page.get_by_label("Timer for this chat")).to_have_value("604800", timeout=SLOW)
    shot(carol.page, "08-channel-member-phone")

    # ...and the server refuses it too (Bob on another device, straight at the API).
    device = DeviceKeys()
    nonce = http(alice.server, "POST", "/v1/auth/challenge", {"username": bob.name})[1]["nonce"]
    body = {
        "username": bob.name,
        "password": PASSWORD,
        "device": device.as_json(),
        "nonce": nonce,
        "signature": device.sign(nonce),
    }
    token = http(alice.server, "POST", "/v1/auth/login", body)[1]["token"]
    chat = Chat.objects.get(kind="channel", memberships__user__username__startswith=bob.name)
    status, answer = http(
        alice.server,
        "POST",
        f"/v1/chats/{chat.id}/messages",
        {
            "client_message_id": uuid.uuid4().hex,
            "kind": "application",
            "epoch": chat.epoch,
            "ciphertext": b64(b"x" * 64),
        },
        token,
    )
    assert status == 403
    assert answer["error"]["code"] == "channel_read_only"

    # Alice makes Bob an admin; an admin still cannot remove the owner (the server's refusal is shown).
    alice.page.get_by_role("button", name="Members").click()
    alice.page.get_by_label(f"Role of {bob.name}", exact=True).select_option("admin")
    alice.page.get_by_role("button", name=f"Change role of {bob.name}").click()
    expect(bob.composer).to_be_visible(timeout=SLOW)
    bob.page.get_by_role("button", name="Members").click()
    bob.page.get_by_role("button", name=f"Remove {alice.name}").click()
    expect(bob.page.get_by_role("complementary", name="Members").get_by_role("alert")).to_have_text(
        "An admin cannot remove the owner.", timeout=SLOW
    )
    shot(bob.page, "09-members-panel-refusal")
    assert_controls_named(bob.page)
    assert_controls_named(carol.page)
    bob.say("Admins can post now")
    alice.expect_message("Admins can post now")
    carol.expect_message("Admins can post now")

    # Alice removes Carol: Carol's device is out of the group and reads nothing new.
    alice.page.get_by_role("button", name=f"Remove {carol.name}").click()
    expect(carol.page.get_by_text("You are no longer a member of this chat.")).to_be_visible(timeout=SLOW)
    expect(alice.page.get_by_role("button", name=f"Remove {carol.name}")).to_have_count(0, timeout=SLOW)
    alice.say("Only for the two of us now")
    bob.expect_message("Only for the two of us now")
    carol.page.wait_for_timeout(1500)
    expect(carol.log).not_to_contain_text("Only for the two of us now")
    shot(alice.page, "10-channel-owner")
    shot(carol.page, "11-removed-member-phone")

    # Added back from the members panel: a new Welcome; she reads what comes next, not what she missed.
    alice.page.get_by_label("Add someone").fill(carol.name)
    alice.page.get_by_role("button", name="Add member").click()
    expect(carol.page.get_by_text("Only the channel's owners and admins can post here.")).to_be_visible(timeout=SLOW)
    alice.say("Welcome back Carol")
    carol.expect_message("Welcome back Carol")
    bob.expect_message("Welcome back Carol")
    expect(carol.log).not_to_contain_text("Only for the two of us now")

    # The owner deletes someone else's message (admins may; the author's secret is not needed).
    alice.message("Admins can post now").get_by_role("button", name="Delete").click()
    expect(bob.log).not_to_contain_text("Admins can post now", timeout=SLOW)
    expect(carol.log).not_to_contain_text("Admins can post now", timeout=SLOW)
    assert_private(alice.server, alice.typed)


def test_a_member_added_while_the_link_dropped_is_brought_in_on_the_next_start(people: Any) -> None:
    """Alice adds Carol; the server takes it, but Alice's commit (which brings Carol's device
    into the MLS group) is never made — the link drops. Carol is a member without the keys.
    When Alice's app starts again it makes the commit it still owes: Carol reads on."""
    alice = people("alice")
    bob = people("bob")
    carol = people("carol")
    for person in (alice, bob, carol):
        person.sign_up()
    name = "Owed commits"
    alice.typed.append(name)
    alice.create_group(name, [bob])
    alice.say("Before Carol")
    bob.open_chat(name)
    bob.expect_message("Before Carol")

    # the link drops right after the server took the change: the KeyPackage claim for
    # Carol's device (the first step of the commit) does not get out
    blocked: list[str] = []

    def drop(route: Any) -> None:
        blocked.append(route.request.url)
        route.abort("internetdisconnected")

    alice.page.route("**/v1/keypackages/claim", drop)
    alice.page.get_by_role("button", name="Members").click()
    alice.page.get_by_label("Add someone").fill(carol.name)
    alice.page.get_by_role("button", name="Add member").click()
    carol.open_chat("Group")  # the server took the change: Carol is a member (the name is sealed)...
    expect(carol.page.get_by_text("Waiting for the encryption keys of this chat…")).to_be_visible(timeout=SLOW)

    # ...without the keys: Alice's commit was never made
    carol.page.wait_for_timeout(2000)
    expect(carol.page.get_by_text("Waiting for the encryption keys of this chat…")).to_be_visible()
    assert blocked, "the claim was attempted (and dropped)"
    alice.page.unroute("**/v1/keypackages/claim")
    alice.page.reload()
    alice.page.get_by_label("Password").fill(PASSWORD)
    alice.page.get_by_role("button", name="Unlock").click()
    expect(carol.composer).to_be_visible(timeout=SLOW)  # the Welcome came
    expect(carol.page.locator(".conv-title")).to_contain_text(name, timeout=SLOW)  # and the name opens
    alice.open_chat(name)
    alice.say("Now with Carol")
    carol.expect_message("Now with Carol")
    bob.expect_message("Now with Carol")
    assert_private(alice.server, alice.typed)
