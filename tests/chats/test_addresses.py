"""An address in a request (a chat's members, a claim, the {address} paths) is checked at
the edge: what is not `user` or `user@<DNS name>` is a 400 and never becomes a lookup at
another instance. The schema fuzzer found `a@á\\x18` answered 500 (http.client refused the
host deep inside federation discovery)."""

from urllib.parse import quote

import pytest

from apps.accounts.models import User
from apps.chats.models import Chat
from tests.conftest import make_chat
from tests.support.api import assert_error_shape

pytestmark = pytest.mark.django_db

NOT_ADDRESSES = [
    "bob@\x18host.example",  # a control character in the domain
    "bob@",  # no domain
    "@chat.example.org",  # no user
    "bob@127.0.0.1",  # an IP literal: the server would connect wherever it points
    "bob@0",  # a single label resolves to 0.0.0.0
    "bob@intranet",  # a single-label host of the local network
    "bob@exa mple.org",
    "bob@-bad-.example.org",
    "bo b",
    "bob@" + "a" * 64 + ".example.org",  # a DNS label is at most 63 characters
]


@pytest.mark.parametrize("address", NOT_ADDRESSES)
def test_a_chat_with_a_member_that_is_no_address_is_a_400(make_account, address: str) -> None:
    alice = make_account()
    users = User.objects.count()
    response = alice.client.post("/v1/chats", {"kind": "group", "members": [address]}, format="json")
    assert assert_error_shape(response, 400)["code"] == "invalid_input"
    assert not Chat.objects.exists()
    assert User.objects.count() == users  # no remote user was made up


@pytest.mark.parametrize("address", NOT_ADDRESSES)
def test_adding_or_claiming_no_address_is_a_400(make_account, address: str) -> None:
    alice = make_account()
    chat = make_chat(alice, "group")
    added = alice.client.post(f"/v1/chats/{chat['id']}/members", {"users": [address]}, format="json")
    assert assert_error_shape(added, 400)["code"] == "invalid_input"
    claimed = alice.client.post("/v1/keypackages/claim", {"users": [address]}, format="json")
    assert assert_error_shape(claimed, 400)["code"] == "invalid_input"


@pytest.mark.parametrize("address", ["bob@127.0.0.1", "bob@0", "bob@intranet", "bob@-bad-.example.org"])
def test_address_paths_refuse_no_address_with_a_400(make_account, address: str) -> None:
    alice = make_account()
    chat = make_chat(alice, "group")
    path = quote(address, safe="@")
    assert_error_shape(alice.client.get(f"/v1/devices/of/{path}"), 400)
    assert_error_shape(alice.client.delete(f"/v1/chats/{chat['id']}/members/{path}"), 400)
    assert_error_shape(
        alice.client.patch(f"/v1/chats/{chat['id']}/members/{path}", {"role": "admin"}, format="json"), 400
    )


def test_local_and_dns_addresses_still_pass_the_edge(make_account) -> None:
    alice, bob = make_account(), make_account()
    for name in (bob.username, bob.address, bob.address.upper()):
        chat = alice.client.post("/v1/chats", {"kind": "direct", "members": [name]}, format="json")
        assert chat.status_code in (200, 201), chat.content
    # a well-formed address of an instance nobody runs is looked up (and not found), not refused
    unknown = alice.client.post("/v1/keypackages/claim", {"users": ["ghost@nowhere.invalid"]}, format="json")
    assert unknown.status_code == 503, unknown.content
    assert unknown.json()["error"]["code"] == "peer_unreachable"
