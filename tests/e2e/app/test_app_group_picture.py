"""A group's picture (issue 23): an owner picks one in the members panel; it is drawn afresh
on her device (no EXIF, no GPS) and sealed with the group's name, so the server holds
ciphertext only. Every member sees it in the chat list and the header and reads who changed
it; someone added later (a new epoch, the name sealed again) sees it too; removed, it goes
for everyone."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from apps.chats.models import Chat
from tests.e2e.app.conftest import SLOW, Person, assert_private, shot
from tests.support import jpeg
from tests.support.database import dump_database

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CAMERA = "GroupPictureCam"
COMMENT = b"group-picture-comment: taken at the lake"
# A 400x300 JPEG drawn by the page's canvas: red above, blue below.
CANVAS_JPEG = """() => {
  const c = document.createElement('canvas'); c.width = 400; c.height = 300;
  const g = c.getContext('2d');
  g.fillStyle = '#c0392b'; g.fillRect(0, 0, 400, 150); g.fillStyle = '#2980b9'; g.fillRect(0, 150, 400, 150);
  return c.toDataURL('image/jpeg', 0.9).split(',')[1];
}"""


def row_picture(person: Person, title: str) -> Any:
    button = person.page.get_by_role("button", name=re.compile(rf"^Open chat .*{re.escape(title)}"))
    return person.page.locator("li.chat-row", has=button).locator(".avatar img")


def open_members(person: Person) -> None:
    button = person.page.get_by_role("button", name="Members", exact=True)
    if button.get_attribute("aria-expanded") != "true":
        button.click()


def test_a_groups_picture_reaches_every_member_sealed(people: Any, tmp_path: Path) -> None:
    alice, bob, carol = people("alice"), people("bob"), people("carol")
    for person in (alice, bob, carol):
        person.sign_up()
    name = "Lake walkers"
    alice.typed.append(name)
    alice.create_group(name, [bob])
    expect(alice.page.locator(".conv-title")).to_contain_text(name, timeout=SLOW)
    alice.say("Pictures soon")
    bob.open_chat(name)
    bob.expect_message("Pictures soon")

    raw = base64.b64decode(alice.page.evaluate(CANVAS_JPEG))
    source = tmp_path / "lake-gps.jpg"
    source.write_bytes(jpeg.with_metadata(raw, jpeg.gps_exif(CAMERA, 46.2044, 6.1432), COMMENT))
    alice.typed.append(CAMERA)

    open_members(alice)
    alice.page.get_by_label("Picture of the group").set_input_files(str(source))
    expect(alice.page.get_by_role("img", name="Picture of the group")).to_be_visible(timeout=SLOW)
    shot(alice.page, "23p-group-picture-members")

    # Bob: the notice, the picture in his chat list and header — a JPEG of at most 128 px, no metadata.
    expect(bob.log.locator("li.notice", has_text=f"{alice.name} changed the group's picture")).to_have_count(
        1, timeout=SLOW
    )
    picture = row_picture(bob, name)
    expect(picture).to_have_attribute("src", re.compile(r"^data:image/jpeg;base64,"), timeout=SLOW)
    src = picture.get_attribute("src") or ""
    shown = base64.b64decode(src.split(",", 1)[1])
    assert jpeg.dimensions(shown) == (128, 96)
    assert [m for m, _ in jpeg.segments(shown)].count(0xE1) == 0, "EXIF in the picture"
    assert CAMERA.encode() not in shown and COMMENT not in shown
    expect(bob.page.locator("img.conv-picture")).to_have_attribute("src", src)
    shot(bob.page, "23q-group-picture-bob")

    # Carol, added later (a commit: a new epoch, the name and picture sealed again), sees it too.
    alice.page.get_by_label("Add someone").fill(carol.name)
    alice.page.get_by_role("button", name="Add member").click()
    expect(row_picture(carol, name)).to_have_attribute("src", src, timeout=SLOW)

    # Only ciphertext on the server: the sealed name is not the picture, nothing of it in any row or the log.
    chat = Chat.objects.get(memberships__user__username__startswith=alice.name + "@", kind="group")
    sealed = bytes(chat.encrypted_name or b"")
    assert len(sealed) > len(shown) and shown[:64] not in sealed
    dump = dump_database()
    for piece in (src.split(",", 1)[1][:80].encode(), shown[200:264], CAMERA.encode(), COMMENT):
        assert piece not in dump, piece[:40]
    assert_private(alice.server, [name, CAMERA, src.split(",", 1)[1][:80]])

    # Removed: gone for everyone, and said so.
    alice.page.get_by_role("button", name="Remove picture").click()
    for person in (bob, carol):
        expect(row_picture(person, name)).to_have_count(0, timeout=SLOW)
    expect(bob.log.locator("li.notice", has_text=f"{alice.name} removed the group's picture")).to_have_count(1)
