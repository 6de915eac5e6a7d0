"""Two compose projects of docker/compose.yaml federate: two instances (a.test, b.test), each with
its own test CA; their s2s listeners verify each other by mutual TLS. A user on A adds a user on
B to a group and they exchange messages both ways, each seeing the same ordered conversation.

The projects share one Docker network where each s2s listener answers to its domain
(tests/deploy/compose.federation.yaml), in place of public DNS; `TALKEE_FEDERATION_HOSTS` says
where each domain's listener is, as a private network would."""

import base64
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.deploy.client import Device, register
from tests.deploy.dockerstack import DEPLOY, Stack, ensure_engine, ensure_images, run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]


@pytest.fixture(scope="module")
def two_stacks(tmp_path_factory: Any) -> Iterator[tuple[Stack, Stack]]:
    ensure_engine()
    tmp = tmp_path_factory.mktemp("federation")
    images = ensure_images(tmp)
    network = f"talkeetest-fed-{uuid.uuid4().hex[:8]}"
    hosts = "a.test=a.test:8448,b.test=b.test:8448"
    extra = {"TALKEE_TEST_FEDERATION_NETWORK": network, "TALKEE_FEDERATION_HOSTS": hosts}
    files = [DEPLOY / "compose.federation.yaml"]
    a = Stack(tmp / "a", images, domain="a.test", extra_files=files, extra_env=extra)
    b = Stack(tmp / "b", images, domain="b.test", extra_files=files, extra_env=extra)
    a.trust(b.ca_file)
    b.trust(a.ca_file)
    run(["docker", "network", "create", network])
    try:
        with ThreadPoolExecutor(2) as pool:  # both projects start side by side
            for started in [pool.submit(a.up), pool.submit(b.up)]:
                started.result()
        yield a, b
    finally:
        a.down("-v", "-t", "5")
        b.down("-v", "-t", "5")
        run(["docker", "network", "rm", network], check=False)


def eventually(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.5)


def history(stack: Stack, device: Device, chat: str) -> list[tuple[int, bytes]]:
    messages = stack.call("GET", f"/v1/chats/{chat}/messages?limit=50", token=device.token)["messages"]
    return [(m["seq"], base64.b64decode(m["ciphertext"])) for m in messages]


def send(stack: Stack, device: Device, chat: str, text: bytes) -> Any:
    body = {"client_message_id": uuid.uuid4().hex, "kind": "application", "epoch": 0, "ciphertext": b64(text)}
    return stack.call("POST", f"/v1/chats/{chat}/messages", body, device.token)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_a_user_on_a_adds_a_user_on_b_to_a_group_and_they_write_both_ways(two_stacks: tuple[Stack, Stack]) -> None:
    a, b = two_stacks
    alice, bob = register(a, "alice"), register(b, "bob")
    bob_address = f"{bob.username}@b.test"
    chat = a.call("POST", "/v1/chats", {"kind": "group", "members": [bob_address]}, alice.token)["id"]

    def bobs_copy() -> Any:
        return next((c for c in b.call("GET", "/v1/chats", token=bob.token) if c["id"] == chat), None)

    on_b = eventually(bobs_copy, "the group reaches B")
    assert on_b["kind"] == "group" and on_b["home"] == "a.test"
    assert {m["user"] for m in on_b["members"]} == {f"{alice.username}@a.test", bob_address}

    assert send(a, alice, chat, b"from alice on A")["seq"] == 1
    assert send(b, bob, chat, b"from bob on B") == {"id": None, "seq": None, "forwarded": True}
    expected = [(1, b"from alice on A"), (2, b"from bob on B")]
    eventually(lambda: history(a, alice, chat) == expected, "both messages on A, in order")
    eventually(lambda: history(b, bob, chat) == expected, "both messages on B, in order")

    # Nothing went around mutual TLS: each side's s2s listener logged no refusal.
    for stack in (a, b):
        assert "mtls_required" not in stack.logs("s2s")
