"""Profiles (issue 23): a display name Alice sets reaches Bob through a key shared inside
MLS and shows in his chat list, conversation header and member list (with her address
beside it); her picture arrives re-encoded without its metadata; a new name replaces the
old; the server holds the profile only as ciphertext. A group
renamed by Alice shows its new name and a notice on Bob's side."""

from __future__ import annotations

import base64
import re
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import Profile
from tests.e2e.app.conftest import SLOW, assert_controls_named, assert_private, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
# Metadata the picture carries (a text chunk, as a camera's location would be): never passed on.
PICTURE_MARKER = "GPSLatitude 52.5200 N talkee-marker"


def png_with_metadata(width: int, height: int) -> bytes:
    """A PNG (a colour gradient) with a tEXt chunk holding PICTURE_MARKER."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in (x * 255 // width, y * 255 // height, 160))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"tEXt", b"Comment\x00" + PICTURE_MARKER.encode())
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def title(page: Page) -> Any:
    return page.locator("h2.conv-title")


def open_members(page: Page) -> None:
    button = page.get_by_role("button", name="Members", exact=True)
    if button.get_attribute("aria-expanded") != "true":
        button.click()


def test_display_name_reaches_the_other_side_and_a_group_rename_is_told(people: Any, tmp_path: Path) -> None:
    alice = people("alice")
    bob = people("bob", viewport=PHONE)
    alice.sign_up()
    bob.sign_up()
    alice.start_direct(bob.name)
    alice.say("Hello from Alice")
    bob.open_chat(alice.name)
    bob.expect_message("Hello from Alice")
    expect(title(bob.page)).to_have_text(alice.name)

    first = "Alice Wonderland Q7"
    alice.set_display_name(first, "23f-settings-profile-desktop")
    # Bob's header (the chat is open on his phone), then his chat list.
    expect(title(bob.page)).to_have_text(first, timeout=SLOW)
    shot(bob.page, "23a-display-name-header-phone")
    open_members(bob.page)
    members = bob.page.get_by_role("list", name="Members of this chat")
    # The name Alice chose, with her address beside it: a copied name is told apart.
    expect(members.locator("li").filter(has_text=first)).to_contain_text(f"{alice.name}@")
    shot(bob.page, "23b-members-with-address-phone")
    bob.page.get_by_role("button", name="Close members").click()
    # The safety number still names the address, never the display name.
    bob.page.get_by_role("button", name="Back to chats").click()
    expect(bob.page.get_by_role("button", name=re.compile(rf"^Open chat {re.escape(first)}"))).to_be_visible()
    shot(bob.page, "23c-display-name-chat-list-phone")

    # A picture: re-encoded on Alice's device (256 px at most, JPEG, no metadata), sealed in
    # her profile, shown in Bob's chat list.
    source = tmp_path / "holiday.png"
    source.write_bytes(png_with_metadata(600, 300))
    alice.page.get_by_role("button", name="Settings").click()
    alice.page.get_by_label(re.compile("^Picture")).set_input_files(str(source))
    expect(alice.page.get_by_role("status", name="Profile")).to_have_text("Your picture was saved.", timeout=SLOW)
    expect(alice.page.get_by_role("img", name="Your picture")).to_be_visible()
    alice.page.get_by_role("button", name="Close settings").click()
    row = bob.page.locator(
        "li.chat-row", has=bob.page.get_by_role("button", name=re.compile(rf"^Open chat {re.escape(first)}"))
    )
    picture = row.locator(".avatar img")
    expect(picture).to_have_attribute("src", re.compile(r"^data:image/jpeg;base64,"), timeout=SLOW)
    shot(bob.page, "23g-picture-chat-list-phone")
    size = picture.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert size == [256, 128]
    src = picture.get_attribute("src") or ""
    shown = base64.b64decode(src.split(",", 1)[1])
    assert shown.startswith(b"\xff\xd8") and PICTURE_MARKER.encode() not in shown
    assert b"Exif" not in shown and b"tEXt" not in shown
    bob.open_chat(first)
    expect(bob.page.locator("img.conv-picture")).to_have_attribute("src", src)
    shot(bob.page, "23h-picture-header-phone")
    bob.page.get_by_role("button", name="Back to chats").click()

    second = "Alice Pleasance Z3"
    alice.set_display_name(second)
    expect(bob.page.get_by_role("button", name=re.compile(rf"^Open chat {re.escape(second)}"))).to_be_visible(
        timeout=SLOW
    )
    expect(bob.page.get_by_role("button", name=re.compile(rf"^Open chat {re.escape(first)}"))).to_have_count(0)
    bob.open_chat(second)
    expect(title(bob.page)).to_have_text(second)

    # The server has a profile for Alice, at version 3 (name, picture, name), and nothing of either name.
    profile = Profile.objects.get(account__username__startswith=f"{alice.name}@")
    assert profile.version == 3
    assert first.encode() not in bytes(profile.ciphertext) and second.encode() not in bytes(profile.ciphertext)

    # A group: Alice renames it; Bob sees the new name and who renamed it to what.
    group, renamed = "Tea Party Room", "Mad Hatters Table"
    alice.typed.extend([group, renamed])
    alice.create_group(group, [bob])
    expect(title(alice.page)).to_contain_text(group, timeout=SLOW)
    alice.say("Welcome to the party")
    bob.page.get_by_role("button", name="Back to chats").click()
    bob.open_chat(group)
    bob.expect_message("Welcome to the party")

    open_members(alice.page)
    alice.page.get_by_label("Name of the group").fill(renamed)
    alice.page.get_by_role("button", name="Rename group").click()
    notice = "renamed the group to “Mad Hatters Table”"
    expect(alice.log.get_by_text(f"You {notice}")).to_be_visible(timeout=SLOW)
    expect(title(alice.page)).to_contain_text(renamed)
    assert_controls_named(alice.page)
    shot(alice.page, "23d-group-renamed-desktop")

    expect(title(bob.page)).to_contain_text(renamed, timeout=SLOW)
    expect(bob.log.get_by_text(f"{second} {notice}")).to_be_visible(timeout=SLOW)
    shot(bob.page, "23e-group-renamed-phone")
    bob.page.get_by_role("button", name="Back to chats").click()
    expect(bob.page.get_by_role("button", name=re.compile(rf"^Open chat .*{re.escape(renamed)}"))).to_be_visible()
    assert_controls_named(bob.page)

    # Every table, the blobs and the server log: no name, no picture in the clear.
    assert_private(alice.server, [*alice.typed, PICTURE_MARKER], [shown, source.read_bytes()])


def test_a_name_set_before_the_chat_reaches_whoever_it_is_started_with(people: Any) -> None:
    """The key goes to a chat made after the profile: with the commit that brings Bob in."""
    alice = people("alice")
    bob = people("bob")
    alice.sign_up()
    bob.sign_up()
    name = "Alice Early K5"
    alice.set_display_name(name)
    alice.start_direct(bob.name)
    alice.say("Hi, it is me")
    expect(bob.page.get_by_role("button", name=re.compile(rf"^Open chat {re.escape(name)}"))).to_be_visible(
        timeout=SLOW
    )
    bob.open_chat(name)
    bob.expect_message("Hi, it is me")
    expect(title(bob.page)).to_have_text(name)
    assert_private(alice.server, alice.typed)
