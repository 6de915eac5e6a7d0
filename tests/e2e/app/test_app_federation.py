"""alice@A and bob@B chat in the PWA, each in a browser on their own instance.

A is `localhost`: the e2e fixtures' live daphne (app_server, here with A's federation
certificate and peer map), the real Celery worker and A's mutual-TLS s2s listener on
127.0.0.2. B is `b.test`: its own daphne and s2s listener on 127.0.0.3, its own PostgreSQL
database, key and certificate (`InstanceB`), serving the same built PWA; Bob's browser
opens B at its own origin. Alice starts a direct chat with bob@b.test (A is its home);
both write, every message shows once, in the same order on both sides, also after a
reload; both react, edit, delete and burn (Bob's changes go through B to A, which applies
them and sends the result back) and send files; neither database nor any log holds what
they typed."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import expect

from apps.chats.models import Membership
from apps.devices.models import Device
from apps.federation.models import OutboxEnvelope
from apps.messages.models import DeviceInbox, Message, Reaction
from tests.conftest import FEDERATION_B, ROOT, CeleryWorker, LiveServer
from tests.e2e.app.conftest import PASSWORD, SLOW, Person, assert_controls_named, assert_private, make_ghost, on_b, shot
from tests.e2e.crypto.conftest import HarnessError, harness_url  # noqa: F401 (fixture)
from tests.federation.conftest import S2sListener
from tests.support.federation import InstanceB, all_rows, check_privacy, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def group_with_bob_on_b(people: Any, instance_b: InstanceB, name: str, first: str) -> tuple[Person, Person, Person]:
    """Alice and Carol on A, Bob on B; Alice makes a group `name` homed on A with Bob and
    writes `first`, which Bob reads (the sealed name opened on B's side too)."""
    alice = people("alice")
    carol = people("carol")
    bob = on_b(people("bob"), instance_b)
    for person in (alice, carol, bob):
        person.sign_up()
    alice.typed.append(name)
    alice.page.get_by_role("button", name="New group or channel").click()
    alice.page.get_by_label("Name", exact=True).fill(name)
    alice.page.get_by_label("Members (usernames, comma-separated)").fill(f"{bob.name}@{FEDERATION_B}")
    alice.page.get_by_role("button", name="Create", exact=True).click()
    expect(alice.composer).to_be_visible(timeout=SLOW)
    alice.say(first)
    bob.open_chat(name)
    bob.expect_message(first)
    return alice, carol, bob


def texts_in_order(person: Person) -> list[str]:
    return [t for t in person.log.locator("li.msg .text").all_inner_texts() if t in person.typed]


def unlock(person: Person) -> None:
    person.page.reload()
    person.page.get_by_label("Password").fill(PASSWORD)
    person.page.get_by_role("button", name="Unlock").click()
    expect(person.banner()).to_have_text("Connected", timeout=SLOW)


def test_alice_on_a_and_bob_on_b_chat_in_the_pwa(
    people: Any,
    instance_b: InstanceB,
    app_server: LiveServer,
    instance_a_s2s: S2sListener,
    celery_worker_process: Path,
    tmp_path: Path,
) -> None:
    alice = people("alice")
    bob = on_b(people("bob"), instance_b)
    alice.sign_up()
    bob.sign_up()
    bob_address = f"{bob.name}@{FEDERATION_B}"
    alice_address = f"{alice.name}@localhost"

    # Remote addresses that do not work are said in words.
    alice.page.get_by_label("Username to message").fill(f"nobody{bob.name}@{FEDERATION_B}")
    alice.page.get_by_role("button", name="Start chat").click()
    expect(alice.page.get_by_role("alert")).to_contain_text("There is no user with that name", timeout=SLOW)
    alice.page.get_by_label("Username to message").fill("carol@c.test")  # mapped, nobody listening
    alice.page.get_by_role("button", name="Start chat").click()
    expect(alice.page.get_by_role("alert")).to_contain_text("server cannot be reached", timeout=SLOW)

    alice.start_direct(bob_address)
    expect(alice.page.locator(".conv-title")).to_have_text(bob_address)
    alice.say("Hello Bob, this is Alice on A")
    # Bob's chat list names Alice with her server; the Welcome came over from A.
    bob.open_chat(alice_address)
    bob.expect_message("Hello Bob, this is Alice on A")
    bob.say("Hi Alice, Bob here on B")  # forwarded to A, which orders it
    alice.expect_message("Hi Alice, Bob here on B")
    alice.say("Two in a row, first")
    alice.say("Two in a row, second")
    bob.expect_message("Two in a row, second")
    bob.say("Got both")
    bob.say("And one more from B")
    alice.expect_message("And one more from B")
    expected = [
        "Hello Bob, this is Alice on A",
        "Hi Alice, Bob here on B",
        "Two in a row, first",
        "Two in a row, second",
        "Got both",
        "And one more from B",
    ]
    bob.expect_message("And one more from B")
    assert texts_in_order(alice) == expected
    assert texts_in_order(bob) == expected
    # Bob's forwarded messages were ordered by A: they lost the clock and are sent.
    expect(bob.message("And one more from B").get_by_role("img", name="Queued for delivery")).to_have_count(0)

    # Reactions: Bob's goes through B to A (the home), which orders it and sends it back.
    hello = "Hello Bob, this is Alice on A"
    bob.message(hello).get_by_role("button", name="React 👍").click()
    expect(alice.message(hello).get_by_role("button", name="👍 1", exact=True)).to_be_visible(timeout=SLOW)
    alice.message(hello).get_by_role("button", name="React 👍").click()
    expect(bob.message(hello).get_by_role("button", name="👍 2, yours", exact=True)).to_be_visible(timeout=SLOW)
    expect(alice.message(hello).get_by_role("button", name="👍 2, yours", exact=True)).to_be_visible(timeout=SLOW)
    # Bob takes his back (B knows it under its own id; A removes it under A's).
    bob.message(hello).get_by_role("button", name="👍 2, yours", exact=True).click()
    expect(alice.message(hello).get_by_role("button", name="👍 1, yours", exact=True)).to_be_visible(timeout=SLOW)
    expect(bob.message(hello).get_by_role("button", name="👍 1", exact=True)).to_be_visible(timeout=SLOW)

    # Edits: Bob's is forwarded to A; Alice's is made at the home.
    bob.message("Got both").get_by_role("button", name="Edit").click()
    bob.typed.append("Got both, thank you")
    bob.composer.fill("Got both, thank you")
    bob.composer.press("Enter")
    alice.expect_message("Got both, thank you")
    expect(alice.message("Got both, thank you").locator(".edited")).to_be_visible()
    alice.message("Two in a row, first").get_by_role("button", name="Edit").click()
    alice.typed.append("Two in a row, first (fixed)")
    alice.composer.fill("Two in a row, first (fixed)")
    alice.composer.press("Enter")
    bob.expect_message("Two in a row, first (fixed)")
    expect(bob.message("Two in a row, first (fixed)").locator(".edited")).to_be_visible()
    bob.expect_message("Got both, thank you")
    expect(bob.message("Got both, thank you").locator(".edited")).to_be_visible()

    # Deletions, from either side.
    bob.message("And one more from B").get_by_role("button", name="Delete").click()
    expect(alice.log).not_to_contain_text("And one more from B", timeout=SLOW)
    alice.message("Two in a row, second").get_by_role("button", name="Delete").click()
    expect(bob.log).not_to_contain_text("Two in a row, second", timeout=SLOW)
    for person in (alice, bob):
        expect(person.log).not_to_contain_text("And one more from B")
        expect(person.log.locator("li.deleted")).to_have_count(2, timeout=SLOW)

    # Burn after reading: Alice (at the home) sends one, Bob reads it on B, it burns for both.
    alice.page.get_by_label("Burn after reading").check()
    alice.say("Burn this: the locker code is 2718")
    reveal = bob.log.get_by_role("button", name="Show message (burns after reading)")
    expect(reveal).to_be_visible(timeout=SLOW)
    expect(bob.log).not_to_contain_text("the locker code")
    reveal.click()
    bob.expect_message("Burn this: the locker code is 2718")
    shot(bob.page, "21-federated-bob-on-b")
    expect(alice.log).not_to_contain_text("the locker code", timeout=SLOW)
    expect(bob.log).not_to_contain_text("the locker code", timeout=SLOW)  # left on screen a little, then gone
    shot(alice.page, "20-federated-alice-on-a")
    assert_controls_named(bob.page)
    for person in (alice, bob):
        expect(person.log.locator(".change-error")).to_have_count(0)  # the home refused nothing
    expected = [
        "Hello Bob, this is Alice on A",
        "Hi Alice, Bob here on B",
        "Two in a row, first (fixed)",
        "Got both, thank you",
    ]
    assert texts_in_order(alice) == expected
    assert texts_in_order(bob) == expected

    # A reload keeps the history, once and in order, and the chat goes on.
    unlock(alice)
    unlock(bob)
    alice.open_chat(bob_address)
    bob.open_chat(alice_address)
    alice.expect_message("Got both, thank you")
    bob.expect_message("Got both, thank you")
    expect(bob.message("Got both, thank you").locator(".edited")).to_be_visible()
    expect(bob.message(hello).get_by_role("button", name="👍 1", exact=True)).to_be_visible()
    for person in (alice, bob):
        expect(person.log.locator("li.deleted")).to_have_count(3)
    assert texts_in_order(alice) == expected
    assert texts_in_order(bob) == expected
    bob.say("After the reload, from B")
    alice.expect_message("After the reload, from B")
    alice.say("After the reload, from A")
    bob.expect_message("After the reload, from A")
    expected += ["After the reload, from B", "After the reload, from A"]
    assert texts_in_order(alice) == expected
    assert texts_in_order(bob) == expected

    # Files: Bob's stays on B until A (the home) pulls it to order the message; Alice's is
    # stored at A, and B fetches it from there. Each downloads the other's exact bytes.
    contents: list[bytes] = []
    for sender, receiver, name, head in (
        (bob, alice, "site-survey-from-b.csv", b"survey,from,bob\n"),
        (alice, bob, "floor-plan-from-a.bin", b"floor plan from alice\n"),
    ):
        data = head * 50 + os.urandom(1_300_000)  # two server chunks, the 2 MiB bucket
        (tmp_path / name).write_bytes(data)
        sender.typed.append(name)
        contents += [head * 50, data[-4096:]]
        sender.attach(str(tmp_path / name))
        button = receiver.log.get_by_role("button", name=f"Download {name}")
        expect(button).to_be_visible(timeout=SLOW)
        with receiver.page.expect_download() as download_info:
            button.click()
        assert download_info.value.suggested_filename == name
        download_info.value.save_as(tmp_path / f"got-{name}")
        assert (tmp_path / f"got-{name}").read_bytes() == data
        expect(sender.log.get_by_role("button", name=f"Download {name}")).to_be_visible()
    shot(bob.page, "21b-federated-files-bob-on-b")

    # Privacy: A's database, blobs and log; B's database; every process's log.
    typed = alice.typed  # the people factory shares one list
    assert_private(app_server, typed, contents)  # the blob directory is B's too
    b_rows = "\n".join(r for rows in all_rows(instance_b.dsn).values() for r in rows)
    b_log = instance_b.log_path.read_text(errors="replace")
    for text in typed:
        assert text not in b_rows and text.encode().hex() not in b_rows, f"{text!r} in B's database"
        assert text not in b_log, f"{text!r} in B's log"
    chat_ids = {m.chat_id for m in Message.objects.all()}
    assert len(chat_ids) == 1
    ciphertexts = [bytes(c) for c in Message.objects.exclude(ciphertext=None).values_list("ciphertext", flat=True)]
    ciphertexts += [bytes(c) for c in Reaction.objects.exclude(ciphertext=None).values_list("ciphertext", flat=True)]
    check_privacy(
        instance_b,
        [app_server.log_path, instance_a_s2s.log_path, celery_worker_process],
        [alice_address, bob_address],
        ciphertexts,
    )
    assert re.match(r"^http://127\.0\.0\.3:", bob.page.url), "Bob used B's own origin"


def test_a_member_on_b_adds_someone_through_the_home(
    people: Any, instance_b: InstanceB, celery_worker: CeleryWorker
) -> None:
    """A group homed on A; Bob (admin, on B) adds Carol (on A). B forwards the change (202),
    A applies it and sends the new member list; then Bob's device adds Carol's device to the
    MLS group (its commit and Welcome also go through A), and Carol reads and writes.
    Then a change the home refuses: Bob, no longer admin at A but still on B's copy (A's
    news has not left yet), deletes Carol's message; A refuses, and Bob's app brings the
    message back and says why."""
    name = "Across the river"
    alice, carol, bob = group_with_bob_on_b(people, instance_b, name, "Bob, please bring Carol in")
    bob_address = f"{bob.name}@{FEDERATION_B}"

    alice.page.get_by_role("button", name="Members").click()
    alice.page.get_by_label(f"Role of {bob_address}", exact=True).select_option("admin")
    alice.page.get_by_role("button", name=f"Change role of {bob_address}").click()
    bob.page.get_by_role("button", name="Members").click()
    bob.page.get_by_label("Add someone").fill(f"{carol.name}@localhost")  # B's view of A's user
    bob.page.get_by_role("button", name="Add member").click()
    carol.open_chat(name)
    bob.say("Carol is in")
    carol.expect_message("Carol is in")
    alice.expect_message("Carol is in")
    carol.say("Hello both, from A")
    bob.expect_message("Hello both, from A")
    alice.expect_message("Hello both, from A")
    expect(carol.message("Bob, please bring Carol in")).to_have_count(0)  # from before she joined
    shot(bob.page, "22-federated-group-bob-on-b")

    # A's worker (its deliveries to B) stopped: B still has Bob as an admin when he deletes.
    celery_worker.stop()
    try:
        alice.page.get_by_label(f"Role of {bob_address}", exact=True).select_option("member")
        alice.page.get_by_role("button", name=f"Change role of {bob_address}").click()
        wait_until(
            lambda: Membership.objects.get(chat__kind="group", user__username=bob_address).role == "member",
            "Bob demoted at A",
        )
        bob.message("Hello both, from A").get_by_role("button", name="Delete").click()
        expect(bob.log).not_to_contain_text("Hello both, from A")  # folded at once (undo), sent after it (202)
        expect(bob.log.locator("li.deleted")).to_have_count(1, timeout=SLOW)
    finally:
        celery_worker.start()
    refused = bob.message("Hello both, from A").locator(".change-error")
    expect(refused).to_contain_text("The chat's home server refused the deletion", timeout=SLOW)
    expect(refused).to_contain_text(
        "Only the author or the chat's admins can delete this message. The message is back."
    )
    expect(bob.page.get_by_role("alert")).to_contain_text("refused the deletion")
    expect(bob.log.locator("li.deleted")).to_have_count(0)
    expect(bob.message("Hello both, from A").get_by_role("button", name="Delete")).to_have_count(0, timeout=SLOW)
    shot(bob.page, "23-federated-refused-deletion-bob-on-b")
    for person in (alice, carol):
        person.expect_message("Hello both, from A")
        expect(person.log.locator("li.deleted")).to_have_count(0)
    # After a reload Bob's device still has it (the undo was stored).
    unlock(bob)
    bob.open_chat(name)
    bob.expect_message("Hello both, from A")
    assert_private(alice.server, alice.typed)


def _queued_commits(b: InstanceB) -> int:
    """Commits from B's members waiting in B's outbox for the chat's home."""
    with psycopg.connect(b.dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM federation_outboxenvelope WHERE delivered_at IS NULL AND kind = 'message'"
            " AND body->>'op' = 'send' AND body->>'kind' = 'commit'"
        ).fetchone()
    return int(row[0]) if row else 0


def test_a_commit_the_home_refuses_is_made_again(people: Any, instance_b: InstanceB) -> None:
    """A group homed on A with Bob on B. Bob signs in on a second device while B's worker is
    stopped: his first device commits the new device into the group at once, and B can only
    queue that commit (202). Meanwhile Alice adds Carol at A: her commit takes the epoch. When
    B's worker runs again, A refuses Bob's commit (stale_epoch). His app had kept it pending:
    it goes back, applies Alice's commit, commits again, and everyone still reads everyone
    (with the commit confirmed at once, Bob's device stayed in an epoch nobody else has)."""
    name = "Race on the river"
    alice, carol, bob = group_with_bob_on_b(people, instance_b, name, "Before the race")
    # Bob's read receipt is through (in this epoch) before B's worker stops.
    expect(alice.message("Before the race").get_by_role("img", name="Read")).to_be_visible(timeout=SLOW)

    instance_b.worker.stop()
    try:
        bob2 = on_b(people("bob", label="bob-2"), instance_b)
        bob2.sign_in(phrase=bob.words)  # certified: his first device adds only certified devices
        wait_until(lambda: _queued_commits(instance_b) == 1, "Bob's commit of his new device queued on B", 45)
        alice.page.get_by_role("button", name="Members").click()
        alice.page.get_by_label("Add someone").fill(carol.name)
        alice.page.get_by_role("button", name="Add member").click()
        carol.open_chat(name)
        alice.say("Carol is in, Bob's device is not yet")
        carol.expect_message("Carol is in, Bob's device is not yet")
    finally:
        instance_b.worker.start()
    wait_until(
        lambda: OutboxEnvelope.objects.filter(body__op="rejected", body__error__code="stale_epoch").exists(),
        "A refusing Bob's commit",
    )
    alice.say("After the race, from Alice")
    bob.expect_message("After the race, from Alice")
    carol.expect_message("After the race, from Alice")
    bob.say("After the race, from Bob")
    alice.expect_message("After the race, from Bob")
    carol.expect_message("After the race, from Bob")
    # Bob's second device came in with his second commit, and reads what follows.
    bob2.open_chat(name)
    carol.say("Welcome to Bob's second device")
    bob2.expect_message("Welcome to Bob's second device")
    bob.expect_message("Welcome to Bob's second device")
    for person in (alice, carol, bob):
        expect(person.log.get_by_text("A message from before this device joined")).to_have_count(0)
    shot(bob.page, "24-federated-commit-race-bob-on-b")
    assert_private(alice.server, alice.typed)


def test_bobs_instance_cannot_slip_a_ghost_device_into_a_chat_homed_on_a(
    people: Any,
    instance_b: InstanceB,
    harness_url: str,  # noqa: F811 (fixture)
) -> None:
    """The attacker is Bob's own instance (B): with full access to its database it makes a
    device of its own for bob@b.test (real keys, a real MLS KeyPackage) and announces it to A.
    B hands on Bob's identity key and certificates as Bob's client made them, so neither
    Alice's client on A nor Bob's own client adds the ghost: no certificate by Bob's key."""
    alice = people("alice")
    bob = on_b(people("bob"), instance_b)
    alice.sign_up()
    bob.sign_up()
    bob_address = f"{bob.name}@{FEDERATION_B}"
    alice.start_direct(bob_address)
    alice.say("Before the ghost")
    bob.open_chat(f"{alice.name}@localhost")
    bob.expect_message("Before the ghost")
    chat_id = alice.page.url.split("#chat=")[1]
    commits_before = Message.objects.filter(chat_id=chat_id, kind="commit").count()

    ghost = make_ghost(alice.context, harness_url, bob_address)
    ghost_worker, ghost_id, keys = ghost.worker, ghost.device_id, ghost.keys
    package = base64.b64encode(ghost.keypackage).decode()
    inject = [
        "import base64",
        "from django.db import transaction",
        "from apps.accounts.models import User",
        "from apps.devices.models import Device, KeyPackage",
        "from apps.devices.services import notify_device_change",
        "with transaction.atomic():",
        "    ghost = Device.objects.create(",
        f"        user=User.objects.get(username='{bob_address}'), client_device_id='{ghost_id}',",
        f"        ed25519_pub=base64.b64decode('{keys['ed25519Pub']}'),",
        f"        x25519_pub=base64.b64decode('{keys['x25519Pub']}'), label='Firefox on Linux',",
        "    )",
        f"    KeyPackage.objects.create(device=ghost, data=base64.b64decode('{package}'))",
        "    notify_device_change(ghost, 'added')",  # to Bob's devices, and as a device_list envelope to A
    ]
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", "\n".join(inject)], cwd=ROOT, env=instance_b.env, check=True
    )
    wait_until(lambda: Device.objects.filter(client_device_id=ghost_id).exists(), "A mirrored the announced ghost", 60)

    warning = re.compile(r"A device the server announced for bob\S* was not added")
    alice.open_chat(bob_address)
    expect(alice.page.get_by_role("alert", name="Security warnings")).to_contain_text(warning, timeout=90_000)
    assert Message.objects.filter(chat_id=chat_id, kind="commit").count() == commits_before, "nobody committed it"
    alice.say("Only for the real Bob")
    bob.expect_message("Only for the real Bob")
    bob.say("Real Bob here")
    alice.expect_message("Real Bob here")
    # Nothing A delivered for the ghost's mirror opens with the ghost's keys.
    mirror = Device.objects.get(client_device_id=ghost_id)
    assert not DeviceInbox.objects.filter(device=mirror, kind=DeviceInbox.Kind.WELCOME).exists()
    for row in Message.objects.filter(chat_id=chat_id).exclude(ciphertext=None):
        with pytest.raises(HarnessError):
            ghost_worker.receive(chat_id, bytes(row.ciphertext))
    assert ghost_worker.listGroups() == []


def test_display_names_cross_instances(
    people: Any,
    instance_b: InstanceB,
    app_server: LiveServer,
    instance_a_s2s: S2sListener,
    celery_worker_process: Path,
) -> None:
    """Alice on A and Bob on B each set a display name; in their direct chat each sees the
    other's, fetched by their own instance from the other's (sealed: neither instance can
    read it) and opened with the key shared through MLS."""
    alice = people("alice")
    bob = on_b(people("bob"), instance_b)
    alice.sign_up()
    bob.sign_up()
    alice_name, bob_name = "Alice of Avalon Q4", "Bob from Brisbane Q4"
    alice.set_display_name(alice_name)
    bob.set_display_name(bob_name)
    alice.start_direct(f"{bob.name}@{FEDERATION_B}")
    alice.say("Hello across the servers")
    expect(bob.page.get_by_role("button", name=re.compile(rf"^Open chat {re.escape(alice_name)}"))).to_be_visible(
        timeout=SLOW
    )
    bob.open_chat(alice_name)
    bob.expect_message("Hello across the servers")
    bob.say("Hello back from B")
    expect(alice.page.locator(".conv-title")).to_have_text(bob_name, timeout=SLOW)
    alice.expect_message("Hello back from B")
    shot(alice.page, "23g-remote-display-name")
    for secret in (alice_name, bob_name):
        for dsn in (instance_b.dsn,):
            assert secret not in "\n".join(r for rows in all_rows(dsn).values() for r in rows)
    assert_private(alice.server, [alice_name, bob_name, "Hello across the servers", "Hello back from B"])
