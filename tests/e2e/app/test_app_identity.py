"""Verified identities (issue 20), the attacker being the server: a test acting as the
operator, with full database access, slips a device of its own (real keys, a real MLS
KeyPackage) in for Bob and announces it. Neither Bob's nor Alice's client adds it — it has
no certificate by Bob's identity key — Alice's chat says so, the chat keeps working, and
the ghost can decrypt nothing the server delivered to it."""

from __future__ import annotations

import base64
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3
from django.db import connection, transaction
from nacl.signing import SigningKey
from playwright.sync_api import Browser, Playwright, expect

from apps.accounts.models import User
from apps.chats.models import Chat
from apps.devices import keylog
from apps.devices.models import Device, IdentityKey, KeyLogEntry, KeyPackage
from apps.devices.services import notify_device_change
from apps.messages.models import DeviceInbox, Message
from tests.e2e.app.conftest import (
    ROOT,
    SLOW,
    Person,
    assert_controls_named,
    assert_private,
    make_ghost,
    pair,
    shot,
    watch_csp,
)
from tests.e2e.conftest import CHROMIUM_ARGS
from tests.e2e.crypto.conftest import Harness, HarnessError, harness_url  # noqa: F401  (fixture)
from tests.support.calls import MEDIA_ARGS
from tests.support.certificates import device_certificate
from tests.support.database import dump_database

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WARNING = re.compile(r"A device the server announced for bob\S* was not added")


def test_the_operator_cannot_slip_a_ghost_device_into_a_chat(people: Any, harness_url: str) -> None:  # noqa: F811
    alice, bob = pair(people)
    chat = Chat.objects.get(memberships__user__username__startswith=alice.name + "@")
    bob_user = User.objects.get(username__startswith=bob.name + "@")
    # Sign-up made Bob's identity key on his device and certified it; the server holds only public halves.
    assert IdentityKey.objects.filter(user=bob_user).exists()
    assert Device.objects.get(user=bob_user).certificate is not None

    # The operator's ghost: its own device keys and a genuine KeyPackage for `bob@…:<ghost id>`.
    ghost_made = make_ghost(alice.context, harness_url, bob_user.username)
    ghost_worker, ghost_id, keys, ghost_package = (
        ghost_made.worker,
        ghost_made.device_id,
        ghost_made.keys,
        ghost_made.keypackage,
    )
    commits_before = Message.objects.filter(chat=chat, kind="commit").count()

    def inject() -> None:
        """The operator's writes (in a thread of their own: the channel layer is async)."""
        with transaction.atomic():
            ghost = Device.objects.create(
                user=bob_user,
                client_device_id=ghost_id,
                ed25519_pub=base64.b64decode(keys["ed25519Pub"]),
                x25519_pub=base64.b64decode(keys["x25519Pub"]),
                label="Firefox on Linux",
            )
            KeyPackage.objects.create(device=ghost, data=ghost_package)
            notify_device_change(ghost, "added")
        connection.close()

    operator = threading.Thread(target=inject)
    operator.start()
    operator.join()
    ghost = Device.objects.get(client_device_id=ghost_id)

    # Bob's device (its sibling) refuses first; after the siblings' turns Alice's device tries and refuses too.
    alice.open_chat(bob.name)
    expect(alice.page.get_by_role("alert", name="Security warnings")).to_contain_text(WARNING, timeout=90_000)
    bob.open_chat(alice.name)
    expect(bob.page.get_by_role("alert", name="Security warnings")).to_contain_text(WARNING, timeout=SLOW)
    assert Message.objects.filter(chat=chat, kind="commit").count() == commits_before, "nobody committed the ghost"
    # Nor is it counted as a device of Bob's: no "added a device" line, one device in the member list.
    expect(alice.log.locator("li.notice", has_text="added a device")).to_have_count(0)
    alice.page.get_by_role("button", name="Members").click()
    expect(alice.page.get_by_label(f"Devices of {bob.name}")).to_have_text(re.compile(r"^1 device · added "))
    alice.page.get_by_role("button", name="Close members").click()

    # The chat goes on between the real devices.
    alice.say("Only for the real Bob")
    bob.expect_message("Only for the real Bob")
    bob.say("Real Bob here")
    alice.expect_message("Real Bob here")

    # Everything the server would deliver to the ghost: its inbox, and every ciphertext of the chat.
    delivered = list(DeviceInbox.objects.filter(device=ghost))
    assert not [e for e in delivered if e.kind == DeviceInbox.Kind.WELCOME], "no Welcome was made for the ghost"
    for entry in delivered:
        if entry.payload is not None:
            with pytest.raises(HarnessError):
                ghost_worker.joinFromWelcome(bytes(entry.payload))
    rows = list(Message.objects.filter(chat=chat).exclude(ciphertext=None))
    assert rows
    for row in rows:
        with pytest.raises(HarnessError):
            ghost_worker.receive(str(chat.id), bytes(row.ciphertext))
    assert ghost_worker.listGroups() == []

    # Privacy: the phrase the identity keys come from is nowhere on the server (database, log, blobs),
    # nor the identity private key — recomputed here from the phrase as web/src/identity/userKey.ts
    # does; the public half the server holds is the one from the phrase.
    assert_private(alice.server, [" ".join(bob.words), " ".join(alice.words)])

    dump = dump_database()
    for person in (alice, bob):
        seed = identity_seed(person.name, person.words)
        held = IdentityKey.objects.get(user__username__startswith=person.name + "@")
        assert bytes(held.public_key) == bytes(SigningKey(seed).verify_key)
        assert seed not in dump and seed.hex().encode() not in dump
        assert base64.b64encode(seed) not in dump


def identity_seed(localpart: str, words: list[str]) -> bytes:
    """BLAKE3("talkee-identity-key-v1" || 0 || localpart || 0 || BIP-39 entropy) (web/src/identity/userKey.ts)."""
    source = (ROOT / "web/node_modules/@scure/bip39/wordlists/english.js").read_text()
    wordlist = source.split("`")[1].split()
    assert len(wordlist) == 2048
    bits = "".join(format(wordlist.index(w), "011b") for w in words)
    entropy = int(bits[:128], 2).to_bytes(16, "big")
    return blake3(b"talkee-identity-key-v1\x00" + localpart.encode() + b"\x00" + entropy).digest()


def certificate_for(identity: SigningKey, device: Device) -> bytes:
    """The canonical certificate bytes (web/src/identity/certificate.ts), made with `identity`."""
    return device_certificate(
        identity,
        device.user.username,
        str(device.client_device_id),
        bytes(device.ed25519_pub),
        bytes(device.x25519_pub),
    )


def safety_number(person: Any) -> str:
    person.page.get_by_role("button", name="Members").click()
    number = person.page.get_by_label(re.compile("^Your safety number with"))
    expect(number).to_have_text(re.compile(r"^(\d{5} ){11}\d{5}$"), timeout=SLOW)
    return str(number.inner_text())


def test_safety_numbers_match_and_verify(people: Any) -> None:
    alice, bob = pair(people)
    alice.open_chat(bob.name)
    ours, theirs = safety_number(alice), safety_number(bob)
    assert ours == theirs, "both sides see the same 60 digits"
    alice.page.get_by_label(re.compile("safety number$")).fill(theirs)
    alice.page.get_by_role("button", name="Compare").click()
    expect(alice.page.get_by_role("status", name="Verification")).to_have_text("Verified")
    expect(alice.page.get_by_label("Safety number verified")).to_have_text("✓ Verified")


def test_an_identity_key_swapped_before_first_contact_shows_in_the_safety_number(people: Any) -> None:
    """The operator replaces Bob's identity key (and re-signs his device's certificate with
    its own key) before Alice ever talks to him. Alice's client pins the operator's key — it
    cannot know better — but the safety numbers differ, and comparing them marks the chat unsafe."""
    alice, bob = people("alice"), people("bob")
    alice.sign_up()
    bob.sign_up()
    bob_device = Device.objects.select_related("user").get(user__username__startswith=bob.name + "@")
    operator_key = SigningKey.generate()
    IdentityKey.objects.filter(user=bob_device.user).update(public_key=bytes(operator_key.verify_key))
    Device.objects.filter(pk=bob_device.pk).update(certificate=certificate_for(operator_key, bob_device))

    alice.start_direct(bob.name)
    alice.say("Hello, is it really you?")
    bob.open_chat(alice.name)
    bob.expect_message("Hello, is it really you?")
    ours, theirs = safety_number(alice), safety_number(bob)
    assert ours != theirs
    alice.page.get_by_label(re.compile("safety number$")).fill(theirs)
    alice.page.get_by_role("button", name="Compare").click()
    expect(alice.page.get_by_role("status", name="Verification")).to_have_text(re.compile("^Unsafe"))
    expect(alice.page.get_by_label("Safety number did not match")).to_have_text("⚠ Unsafe")


def swap_identity_key(person: Any) -> SigningKey:
    """The operator replaces `person`'s identity key and re-signs their device's certificate with its own."""
    device = Device.objects.select_related("user").get(user__username__startswith=person.name + "@")
    operator_key = SigningKey.generate()
    IdentityKey.objects.filter(user=device.user).update(public_key=bytes(operator_key.verify_key))
    Device.objects.filter(pk=device.pk).update(certificate=certificate_for(operator_key, device))
    return operator_key


def test_a_changed_identity_key_shows_in_the_timeline_and_holds_sends_in_a_verified_chat(people: Any) -> None:
    """Alice verified Bob; then the operator swaps Bob's identity key. Alice's chat says so in the
    timeline, the verified badge goes, and her next message waits for "Send anyway"."""
    alice, bob = pair(people)
    alice.open_chat(bob.name)
    ours, theirs = safety_number(alice), safety_number(bob)
    assert ours == theirs
    alice.page.get_by_label(re.compile("safety number$")).fill(theirs)
    alice.page.get_by_role("button", name="Compare").click()
    expect(alice.page.get_by_label("Safety number verified")).to_have_text("✓ Verified")
    # The member list shows each person's certified devices and their age.
    expect(alice.page.get_by_label(f"Devices of {bob.name}")).to_have_text(re.compile(r"^1 device · added "))
    alice.page.get_by_role("button", name="Close members").click()

    swap_identity_key(bob)
    # Alice's client looks at Bob's keys when the chat is opened (at most every 10 s per person).
    alice.page.wait_for_timeout(10_500)
    alice.open_chat(bob.name)
    notice = alice.log.locator("li.notice", has_text=f"{bob.name}'s safety number changed")
    expect(notice).to_have_count(1, timeout=SLOW)
    expect(alice.page.get_by_label("Safety number verified")).to_be_hidden()
    # The operator swapped the key behind its own key log's back: Alice's client sees that too.
    warnings = alice.page.get_by_role("alert", name="Security warnings")
    expect(warnings).to_contain_text(f"The server hands out keys for {bob.name}", timeout=SLOW)
    expect(warnings).to_contain_text("that its key log does not show")
    shot(alice.page, "20a-safety-number-changed-desktop")

    alice.say("Are you still you?")
    prompt = alice.page.get_by_role("alertdialog", name="Safety number changed")
    expect(prompt).to_contain_text(f"{bob.name}'s safety number changed — send anyway?")
    expect(alice.message("Are you still you?")).to_have_count(0)
    assert_controls_named(alice.page)
    shot(alice.page, "20b-send-anyway-prompt-desktop")
    alice.page.set_viewport_size({"width": 390, "height": 844})
    shot(alice.page, "20c-send-anyway-prompt-phone")
    alice.page.set_viewport_size({"width": 1280, "height": 800})

    # "Verify again": the panel shows the number with the key the server now lists — the
    # operator's — so it no longer matches Bob's, and the chat is marked unsafe. The message
    # is back in the composer, still unsent.
    prompt.get_by_role("button", name="Verify again").click()
    number = alice.page.get_by_label(re.compile("^Your safety number with"))
    expect(number).not_to_have_text(theirs, timeout=SLOW)
    expect(alice.composer).to_have_value("Are you still you?")
    alice.page.get_by_label(re.compile("safety number$")).fill(theirs)
    alice.page.get_by_role("button", name="Compare").click()
    expect(alice.page.get_by_role("status", name="Verification")).to_have_text(re.compile("^Unsafe"))
    alice.composer.press("Enter")
    expect(prompt).to_be_visible()
    prompt.get_by_role("button", name="Send anyway").click()
    alice.expect_message("Are you still you?")
    expect(prompt).to_be_hidden()
    bob.expect_message("Are you still you?")
    # Acknowledged: the next message goes without asking.
    alice.say("Carry on")
    alice.expect_message("Carry on")
    expect(prompt).to_be_hidden()


CAMERA = (640, 480)

# Bob's QR code drawn into a camera-sized grey frame, as luma bytes (base64): the Y plane of a Y4M frame.
LUMA_OF_QR = """(img) => {
  const [w, h] = [WIDTH, HEIGHT];
  const canvas = document.createElement('canvas');
  canvas.width = w; canvas.height = h;
  const g = canvas.getContext('2d');
  g.fillStyle = '#fff'; g.fillRect(0, 0, w, h);
  g.drawImage(img, (w - img.naturalWidth) / 2, (h - img.naturalHeight) / 2);
  const px = g.getImageData(0, 0, w, h).data;
  let out = '';
  for (let i = 0; i < px.length; i += 4) {
    out += String.fromCharCode(Math.round(0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2]));
  }
  return btoa(out);
}""".replace("WIDTH", str(CAMERA[0])).replace("HEIGHT", str(CAMERA[1]))


def write_y4m(path: Path, luma: bytes) -> None:
    """One 4:2:0 frame (grey: chroma at 128); Chromium's fake camera plays it in a loop."""
    width, height = CAMERA
    assert len(luma) == width * height
    header = f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n".encode()
    path.write_bytes(header + b"FRAME\n" + luma + bytes([128]) * (width * height // 2))


@pytest.fixture
def camera_file(tmp_path: Path) -> Path:
    """The fake camera's file: blank until the test draws Bob's QR code into it."""
    path = tmp_path / "camera.y4m"
    write_y4m(path, bytes([255]) * (CAMERA[0] * CAMERA[1]))
    return path


@pytest.fixture
def camera_browser(playwright: Playwright, camera_file: Path) -> Iterator[Browser]:
    """Alice's browser: its camera plays `camera_file`."""
    launched = playwright.chromium.launch(
        executable_path="/usr/bin/chromium",
        args=[*CHROMIUM_ARGS, *MEDIA_ARGS, f"--use-file-for-fake-video-capture={camera_file}"],
    )
    yield launched
    launched.close()


def test_alice_verifies_bob_by_scanning_his_qr_code_with_the_camera(
    people: Any, camera_browser: Browser, camera_file: Path
) -> None:
    """Bob's members panel draws the safety number's QR code; Alice's camera (Chromium's fake
    camera playing a frame made from Bob's screen) reads it and the chat is marked verified."""
    bob = people("bob")
    context = camera_browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(SLOW)
    violations: list[str] = []
    watch_csp(page, violations, "alice")
    alice = Person(f"alice{uuid.uuid4().hex[:5]}", context, page, bob.server, bob.typed)
    try:
        alice.sign_up()
        bob.sign_up()
        alice.start_direct(bob.name)
        alice.say("Scan me")
        bob.open_chat(alice.name)
        bob.expect_message("Scan me")

        number = safety_number(bob)
        qr = bob.page.get_by_role("img", name=re.compile(f"^QR code of your safety number with {alice.name}"))
        expect(qr).to_be_visible()
        assert number in str(qr.get_attribute("alt")), "the QR code's text alternative is the number"
        assert str(qr.get_attribute("src")).startswith("data:image/png;base64,")
        assert_controls_named(bob.page)
        shot(bob.page, "20d-safety-qr-desktop")
        bob.page.set_viewport_size({"width": 390, "height": 844})
        shot(bob.page, "20e-safety-qr-phone")
        bob.page.set_viewport_size({"width": 1280, "height": 800})
        write_y4m(camera_file, base64.b64decode(qr.evaluate(LUMA_OF_QR)))

        alice.open_chat(bob.name)
        alice.page.get_by_role("button", name="Members").click()
        expect(alice.page.get_by_label(re.compile("^Your safety number with"))).to_have_text(number, timeout=SLOW)
        expect(alice.page.get_by_role("status", name="Verification")).to_have_text("Not verified")
        alice.page.get_by_role("button", name=f"Scan {bob.name}'s code").click()
        # The match marks the chat verified (the panel is drawn again with it).
        expect(alice.page.get_by_role("status", name="Verification")).to_have_text("Verified", timeout=SLOW)
        expect(alice.page.get_by_label("Safety number verified")).to_have_text("✓ Verified")
        expect(alice.page.get_by_label("Camera", exact=True)).to_have_count(0)  # the scanner is gone, its camera off
        assert not violations, violations
    finally:
        context.close()


def test_bobs_device_changes_show_in_alices_timeline_and_member_list(people: Any) -> None:
    """Bob signs in on a second browser with his recovery phrase (a certified device), later
    revokes it: Alice's chat with him says "Bob added a device", then "Bob removed a device",
    and her member list counts his devices."""
    alice, bob = pair(people)
    alice.open_chat(bob.name)
    bob2 = people("bob", label="bob-2")
    bob2.sign_in(phrase=bob.words)
    added = alice.log.locator("li.notice", has_text=f"{bob.name} added a device")
    expect(added).to_have_count(1, timeout=45_000)
    alice.page.get_by_role("button", name="Members").click()
    expect(alice.page.get_by_label(f"Devices of {bob.name}")).to_have_text("2 devices · newest added just now")
    shot(alice.page, "20f-device-added-desktop")
    alice.page.get_by_role("button", name="Close members").click()

    second = Device.objects.filter(user__username__startswith=bob.name + "@").order_by("pk").last()
    assert second is not None
    bob.page.get_by_role("button", name="Settings").click()
    bob.page.once("dialog", lambda dialog: dialog.accept())
    bob.page.get_by_role("button", name=re.compile(rf"^Revoke .*#{second.pk}$")).click()
    removed = alice.log.locator("li.notice", has_text=f"{bob.name} removed a device")
    expect(removed).to_have_count(1, timeout=45_000)
    expect(added).to_have_count(1)  # each change said once


def test_a_new_device_joins_only_when_an_existing_device_approves_it(people: Any) -> None:
    """Bob signs in on a second browser without his recovery phrase: it is not in his chat
    with Alice and says it waits for approval, with a code. His first device says a new
    device wants to join, shows the same code (from the keys the server lists) and approves
    it; then the new device is added to the chat, reads what follows, and holds Bob's
    identity key (it shows the safety number with Alice)."""
    alice, bob = pair(people)
    alice.say("Before the new device")
    bob.expect_message("Before the new device")
    bob2 = people("bob", label="bob-2")
    bob2.sign_in()
    waiting = bob2.page.get_by_role("status", name="Device approval")
    expect(waiting).to_contain_text("This device is waiting for approval", timeout=SLOW)
    waiting.get_by_role("button", name="Review").click()
    new_code = bob2.page.get_by_label("Approval code of this device").inner_text(timeout=SLOW)
    assert re.fullmatch(r"\d{4}( \d{4}){4}", new_code), new_code
    shot(bob2.page, "20g-waiting-for-approval")
    phone = Device.objects.filter(user__username__startswith=bob.name + "@").order_by("pk").last()
    assert phone is not None and phone.certificate is None

    notice = bob.page.get_by_role("status", name="Device approval")
    expect(notice).to_have_text(re.compile("A new device wants to join your account"), timeout=SLOW)
    # Unapproved, it is in no chat: nobody's client adds a device without a certificate.
    alice.say("While it waits")
    bob.expect_message("While it waits")
    assert "While it waits" not in bob2.page.content()
    notice.get_by_role("button", name="Review").click()
    expect(bob.page.get_by_label(re.compile(rf"^Approval code of .*#{phone.pk}$"))).to_have_text(new_code, timeout=SLOW)
    shot(bob.page, "20g-approve-device")
    bob.page.get_by_role("button", name=re.compile(rf"^Approve .*#{phone.pk}$")).click()
    expect(notice).to_be_hidden(timeout=SLOW)
    bob.page.get_by_role("button", name="Close settings").click()

    expect(bob2.page.get_by_role("status", name="Device approval")).to_be_hidden(timeout=SLOW)
    bob2.page.get_by_role("button", name="Close settings").click()
    bob2.open_chat(alice.name)
    alice.say("After the approval")
    bob2.expect_message("After the approval")
    bob2.say("Hello from the new device")
    alice.expect_message("Hello from the new device")
    phone.refresh_from_db()
    assert phone.certificate is not None
    # The approving device sealed Bob's identity key to it: the safety numbers agree.
    assert safety_number(bob2) == safety_number(bob)


def test_an_identity_key_the_operator_logs_for_bob_alarms_bobs_own_client(people: Any) -> None:
    """The operator swaps Bob's identity key the careful way, appending it to his key log so
    that Alice's client finds the log consistent. Bob's own client reads his log too: the
    identity key in it is not his, and every chat of his says so."""
    alice, bob = pair(people)
    bob.open_chat(alice.name)
    bob_user = User.objects.get(username__startswith=bob.name + "@")
    operator_key = SigningKey.generate()

    def logged_swap() -> None:
        with transaction.atomic():
            IdentityKey.objects.filter(user=bob_user).update(public_key=bytes(operator_key.verify_key))
            keylog.append(bob_user, KeyLogEntry.Kind.IDENTITY, bytes(operator_key.verify_key))
            device = Device.objects.get(user=bob_user)
            cert = certificate_for(operator_key, device)
            Device.objects.filter(pk=device.pk).update(certificate=cert)
            keylog.append(bob_user, KeyLogEntry.Kind.CERTIFIED, cert)
        connection.close()

    operator = threading.Thread(target=logged_swap)
    operator.start()
    operator.join()
    bob.page.wait_for_timeout(10_500)  # a user's keys are looked at most every 10 s
    bob.open_chat(alice.name)
    expect(bob.page.get_by_role("alert", name="Security warnings")).to_contain_text(
        "Your account's key log shows an identity key that is not yours", timeout=SLOW
    )
    shot(bob.page, "20h-own-key-log-alarm")


def test_bob_approves_his_new_device_by_scanning_its_qr_code(
    people: Any, camera_browser: Browser, camera_file: Path
) -> None:
    """The waiting device draws a QR code of its id and keys; Bob's first device (its camera
    plays a frame made from the new device's screen) scans it, finds the keys the server lists
    and approves the device."""
    bob2 = people("bob", label="bob-2")
    context = camera_browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(SLOW)
    violations: list[str] = []
    watch_csp(page, violations, "bob")
    bob = Person(bob2.name, context, page, bob2.server, bob2.typed)
    try:
        bob.sign_up()
        bob2.sign_in()
        waiting = bob2.page.get_by_role("status", name="Device approval")
        expect(waiting).to_contain_text("This device is waiting for approval", timeout=SLOW)
        waiting.get_by_role("button", name="Review").click()
        qr = bob2.page.get_by_role("img", name=re.compile("^QR code of this device for approval"))
        expect(qr).to_be_visible()
        assert str(qr.get_attribute("src")).startswith("data:image/png;base64,")
        code = bob2.page.get_by_label("Approval code of this device").inner_text()
        assert code in str(qr.get_attribute("alt")), "the QR code's text alternative is the code"
        bob2.page.set_viewport_size({"width": 390, "height": 844})
        shot(bob2.page, "20i-approval-qr-phone")
        write_y4m(camera_file, base64.b64decode(qr.evaluate(LUMA_OF_QR)))
        phone = Device.objects.filter(user__username__startswith=bob.name + "@").order_by("pk").last()
        assert phone is not None and phone.certificate is None

        notice = bob.page.get_by_role("status", name="Device approval")
        expect(notice).to_have_text(re.compile("A new device wants to join your account"), timeout=SLOW)
        notice.get_by_role("button", name="Review").click()
        bob.page.get_by_role("button", name=re.compile(rf"^Scan the QR code of .*#{phone.pk}$")).click()
        expect(notice).to_be_hidden(timeout=SLOW)
        expect(waiting).to_be_hidden(timeout=SLOW)
        phone.refresh_from_db()
        assert phone.certificate is not None
        expect(bob.page.get_by_label("Camera", exact=True)).to_have_count(0)  # the scanner is gone, its camera off
        assert not violations, violations
    finally:
        context.close()
