"""Restarts lose nothing: while a person sends, Redis and then PostgreSQL restart under the
instance, and every message arrives on the other person's socket exactly once, in order.

The production shape on loopback, with services of the test's own (the shared ones are not
restarted under other tests, tests/support/services.py): a PostgreSQL cluster (initdb,
pg_ctl) and a Redis with an append-only file like the compose stack's, a real daphne and a
real Celery worker against them. The sender retries a refused send with the same client_message_id, as the PWA's outbox
does; the receiver reconnects with its cursor, as the PWA does."""

import asyncio
import os
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3

from apps.push.vapid import vapid_public_key
from tests.conftest import PASSWORD, DeviceKeys, LiveServer, b64, json_call, recovery_proof
from tests.messages.wsclient import SocketDevice
from tests.push.standin import PushServiceStandIn
from tests.support.services import OwnInstance, own_instance

pytestmark = [pytest.mark.slow]

MESSAGES = 60  # at least this many; the sender goes on until both restarts are over
MOST_MESSAGES = 2000  # a bound on that loop
OUTAGE_SECONDS = 3.0


@pytest.fixture(scope="module")
def instance(tmp_path_factory: Any) -> Iterator[OwnInstance]:
    with own_instance(Path(tmp_path_factory.mktemp("restarts")), "restarts") as running:
        yield running


@dataclass
class Person:
    server: LiveServer
    username: str
    token: str = ""

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return json_call(self.server.url, method, path, body, self.token, timeout=15)


def register(server: LiveServer, name: str) -> Person:
    person = Person(server, f"{name}{uuid.uuid4().hex[:6]}")
    proof = recovery_proof(person.username, os.urandom(16))
    body = {"username": person.username, "password": PASSWORD, "recovery_hash": b64(blake3(proof).digest())}
    assert person.call("POST", "/v1/accounts/register", body)[0] == 201
    status, challenge = person.call("POST", "/v1/auth/challenge", {"username": person.username})
    assert status == 200, challenge
    device = DeviceKeys()
    login = {
        "username": person.username,
        "password": PASSWORD,
        "device": device.as_json(),
        "nonce": challenge["nonce"],
        "signature": device.sign(challenge["nonce"]),
    }
    status, answer = person.call("POST", "/v1/auth/login", login)
    assert status == 200, answer
    person.token = answer["token"]
    return person


@dataclass
class Sender:
    """Sends messages one after the other — at least MESSAGES, and on until `restarted` is set
    (so a quick machine does not finish before the outages) — a refused or failed send is tried
    again with the same client_message_id until the server acknowledges it (the outbox's rule)."""

    alice: Person
    chat_id: str
    acknowledged: list[tuple[str, int]] = field(default_factory=list)  # (ciphertext b64, seq)
    refused: int = 0
    failure: str = ""
    finished: threading.Event = field(default_factory=threading.Event)
    restarted: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        try:
            for n in range(MOST_MESSAGES):
                if n >= MESSAGES and self.restarted.is_set():
                    break
                ciphertext = b64(f"message {n} ".encode() + os.urandom(24))
                body = {
                    "client_message_id": uuid.uuid4().hex,
                    "kind": "application",
                    "epoch": 0,
                    "ciphertext": ciphertext,
                }
                deadline = time.monotonic() + 90
                while True:
                    try:
                        status, answer = self.alice.call("POST", f"/v1/chats/{self.chat_id}/messages", body)
                    except (OSError, urllib.error.URLError):
                        status, answer = 0, None
                    if status in (200, 201):
                        self.acknowledged.append((ciphertext, int(answer["seq"])))
                        break
                    # Refused while a service is down: 503 in the error shape, or no answer at all.
                    assert status == 0 or (status, answer["error"]["code"]) == (503, "unavailable"), (status, answer)
                    self.refused += 1
                    assert time.monotonic() < deadline, f"message {n} was never acknowledged"
                    time.sleep(0.25)
                time.sleep(0.05)
        except BaseException as exc:  # reported by the test thread
            self.failure = repr(exc)
        finally:
            self.finished.set()


def readiness(server: LiveServer) -> int:
    try:
        with urllib.request.urlopen(f"{server.url}/readyz", timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (TimeoutError, urllib.error.URLError):
        return 0  # no answer within 10 s (a probe that timed out): not a 503 yet, ask again


def wait_for(predicate: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


async def receive_everything(bob: Person, connected: threading.Event, done: Any) -> SocketDevice:
    """Bob's device: connected once, acknowledging what it received, reconnecting with its own
    cursor whenever the socket drops (a restart), until `done(device)` (or 90 s pass without
    a new frame)."""
    device = SocketDevice(bob.server.url.replace("http://", "ws://"), bob.token)
    await device.connect()
    connected.set()
    last_progress, seen = time.monotonic(), 0
    while not done(device):
        if len(device.frames) != seen:
            seen, last_progress = len(device.frames), time.monotonic()
        assert time.monotonic() - last_progress < 90, f"nothing new for 90 s after {seen} frames"
        try:
            if device.socket is None:
                await device.connect(wait_synced=False)
            frame = await device.recv(timeout=2)
            if frame["type"] == "event":
                await device.ack()  # as the PWA does once it processed a frame
        except TimeoutError:
            continue
        except Exception:  # the socket dropped or could not open (a restart): come back with our cursor
            device.socket = None
            await asyncio.sleep(0.5)
    return device


def test_messages_survive_a_redis_restart_and_a_postgres_restart_exactly_once_in_order(instance: OwnInstance) -> None:
    alice, bob = register(instance.server, "alice"), register(instance.server, "bob")
    status, chat = alice.call("POST", "/v1/chats", {"kind": "direct", "members": [f"{bob.username}@localhost"]})
    assert status == 201, chat
    chat_id = str(chat["id"])

    sender = Sender(alice, chat_id)
    thread = threading.Thread(target=sender.run, daemon=True)
    result: dict[str, SocketDevice] = {}
    connected = threading.Event()

    def everything_arrived(device: SocketDevice) -> bool:
        arrived = sum(1 for f in device.frames if f["type"] == "event" and f["chat_id"] == chat_id)
        return sender.finished.is_set() and arrived >= len(sender.acknowledged)

    problems: list[str] = []

    def receive() -> None:
        try:
            result["bob"] = asyncio.run(receive_everything(bob, connected, everything_arrived))
        except BaseException as exc:  # reported by the test thread
            problems.append(repr(exc))

    receiver = threading.Thread(target=receive, daemon=True)
    receiver.start()
    assert connected.wait(30), "Bob's device did not connect"
    thread.start()

    wait_for(lambda: len(sender.acknowledged) >= 10, "the first messages before any restart")
    instance.redis.stop()
    wait_for(lambda: readiness(instance.server) == 503, "/readyz answering 503 without Redis", 30)
    time.sleep(OUTAGE_SECONDS)
    instance.redis.start()
    wait_for(lambda: readiness(instance.server) == 200, "/readyz back at 200 with Redis", 60)

    mark = len(sender.acknowledged)
    wait_for(lambda: len(sender.acknowledged) >= mark + 10, "sending again after Redis came back")
    instance.postgres.stop()
    wait_for(lambda: readiness(instance.server) == 503, "/readyz answering 503 without PostgreSQL", 30)
    time.sleep(OUTAGE_SECONDS)
    instance.postgres.start()
    wait_for(lambda: readiness(instance.server) == 200, "/readyz back at 200 with PostgreSQL", 60)
    sender.restarted.set()

    thread.join(timeout=240)
    assert not thread.is_alive(), "the sender did not finish"
    assert not sender.failure, sender.failure
    assert MESSAGES <= len(sender.acknowledged) < MOST_MESSAGES, len(sender.acknowledged)
    receiver.join(timeout=180)
    assert not receiver.is_alive(), "Bob's device did not receive everything"
    assert not problems, problems
    events = [f["message"] for f in result["bob"].frames if f["type"] == "event" and f["chat_id"] == chat_id]
    received = [(e["ciphertext"], int(e["seq"])) for e in events]
    # Exactly once each, in the order the server acknowledged them, which is the order sent.
    # Exactly once each; frames lost live while a service was down come when the device
    # acknowledges past them, so they may arrive late: the chat's seq orders the timeline.
    assert len(received) == len(set(received)), "a message arrived twice"
    assert sorted(received, key=lambda r: r[1]) == sender.acknowledged
    seqs = [seq for _, seq in sender.acknowledged]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "the server acknowledged a gap in the chat's order"
    assert sender.refused > 0, "no send was refused: the restarts did not happen under load"
    # The outages were expected trouble, not crashes: no traceback in the server's log.
    assert "Traceback" not in "\n".join(
        line for line in instance.server.log().splitlines() if "channels_redis" not in line
    ), "the server logged a crash during the restarts"


def test_a_task_queued_before_a_redis_restart_runs_when_a_worker_comes(instance: OwnInstance) -> None:
    """Work the web process handed to Celery (here: the push to an offline phone) is in
    Redis, not in a process: it survives Redis restarting while no worker is there to take
    it, and the next worker runs it."""
    service = PushServiceStandIn(vapid_public_key())
    try:
        alice, bob = register(instance.server, "alice"), register(instance.server, "bob")
        bob_phone = service.subscribe()
        assert bob.call("PUT", "/v1/push/subscription", bob_phone.as_json())[0] == 204
        status, chat = alice.call("POST", "/v1/chats", {"kind": "direct", "members": [f"{bob.username}@localhost"]})
        assert status == 201, chat
        instance.worker.stop()
        try:
            body = {"client_message_id": uuid.uuid4().hex, "kind": "application", "epoch": 0, "ciphertext": b64(b"x")}
            assert alice.call("POST", f"/v1/chats/{chat['id']}/messages", body)[0] == 201
            time.sleep(1)  # the push is queued (after the send's commit), nobody takes it
            assert service.pushes_for(bob_phone) == []
            instance.redis.stop()
            instance.redis.start()
            wait_for(lambda: readiness(instance.server) == 200, "/readyz back at 200 with Redis", 60)
        finally:
            instance.worker.start()
        pushes = service.wait_for(bob_phone, timeout=60)
        assert len(pushes) == 1 and service.refused == []
    finally:
        service.stop()
