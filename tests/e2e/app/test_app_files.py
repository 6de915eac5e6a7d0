"""Files: encrypted and padded in the browser, uploaded in chunks, downloaded and
decrypted on the other side with the original name and bytes. The server never
sees the name or the contents."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.app.conftest import PASSWORD, SLOW, assert_private, pair, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

VAULT_ROW_KEYS = """() => new Promise((resolve, reject) => {
  const open = indexedDB.open("talkee-vault");
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const req = open.result.transaction("rows").objectStore("rows").getAllKeys();
    req.onsuccess = () => { resolve(req.result); open.result.close(); };
    req.onerror = () => reject(req.error);
  };
})"""


def test_file_round_trip(people: Any, tmp_path: Path) -> None:
    alice, bob = pair(people)
    name = "quarterly-figures-confidential.csv"
    # Text-like contents plus random bytes (1.5 MiB: two server chunks, the 2 MiB bucket).
    contents = b"region,revenue\nnorth,1234567\n" * 100 + os.urandom(1_500_000)
    source = tmp_path / name
    source.write_bytes(contents)
    alice.typed.append(name)

    # Picked, it waits above the text box (name and size) until sent; Cancel sends nothing.
    alice.page.get_by_label("Attach file").set_input_files(str(source))
    staged = alice.page.get_by_role("group", name="Files to send")
    expect(staged).to_contain_text(name)
    expect(staged).to_contain_text("1.4 MB")
    alice.page.get_by_role("button", name="Cancel: do not send these files").click()
    expect(staged).to_be_hidden()
    expect(alice.page.get_by_role("button", name="Send", exact=True)).to_be_visible()
    # Picked again, with a caption written below it.
    alice.page.get_by_label("Attach file").set_input_files(str(source))
    expect(alice.composer).to_have_attribute("placeholder", "Add a caption")
    alice.composer.fill("Figures for Thursday")
    alice.typed.append("Figures for Thursday")
    shot(alice.page, "12a-file-staged-with-caption")
    alice.composer.press("Enter")
    expect(staged).to_be_hidden()
    expect(alice.log.get_by_role("button", name=f"Download {name}")).to_be_visible(timeout=SLOW)
    expect(bob.log.get_by_text("Figures for Thursday")).to_be_visible(timeout=SLOW)
    assert len(alice.log.get_by_role("button", name=f"Download {name}").all()) == 1  # the cancelled one never went
    expect(bob.log.get_by_role("button", name=f"Download {name}")).to_be_visible(timeout=SLOW)
    shot(bob.page, "12-file-received")

    with bob.page.expect_download() as download_info:
        bob.log.get_by_role("button", name=f"Download {name}").click()
    download = download_info.value
    assert download.suggested_filename == name
    saved = tmp_path / "downloaded"
    download.save_as(saved)
    assert saved.read_bytes() == contents

    # An image shows as a preview, decrypted in the browser.
    image = tmp_path / "holiday-snapshot.png"
    image.write_bytes((Path(__file__).resolve().parents[3] / "web/public/icons/icon-192.png").read_bytes())
    alice.typed.append("holiday-snapshot.png")
    alice.attach(str(image))
    preview = bob.log.get_by_role("img", name="holiday-snapshot.png")
    expect(preview).to_be_visible(timeout=SLOW)
    bob.page.wait_for_function("img => img.complete && img.naturalWidth === 192", arg=preview.element_handle())
    shot(bob.page, "12b-image-preview")

    # Dragged from the desktop and dropped on the conversation: a real drop event with a
    # DataTransfer holding the file (as Chromium builds it for a drag from outside).
    dropped_name = "site-plan-dropped.bin"
    dropped = b"dropped file, private\n" + os.urandom(200_000)
    alice.typed.append(dropped_name)
    transfer = alice.page.evaluate_handle(
        """([b64, name]) => {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const data = new DataTransfer();
          data.items.add(new File([bytes], name, { type: "application/octet-stream" }));
          return data;
        }""",
        [base64.b64encode(dropped).decode(), dropped_name],
    )
    # ...and its first chunk meets a dropped link: the app waits and carries on by itself.
    cut: list[str] = []

    def drop_once(route: Any) -> None:
        if route.request.method == "PUT" and not cut:
            cut.append(route.request.url)
            route.abort("connectionreset")
        else:
            route.continue_()

    alice.page.route("**/v1/blobs/*/chunks/*", drop_once)
    target = alice.page.get_by_role("log", name="Messages")
    target.dispatch_event("dragenter", {"dataTransfer": transfer})
    target.dispatch_event("dragover", {"dataTransfer": transfer})
    expect(alice.page.locator(".conversation.dropping")).to_have_count(1)
    target.dispatch_event("drop", {"dataTransfer": transfer})
    expect(alice.page.locator(".conversation.dropping")).to_have_count(0)
    alice.send_staged()
    expect(alice.page.get_by_role("status", name="Uploads")).to_contain_text("waiting for the connection")
    received = bob.log.get_by_role("button", name=f"Download {dropped_name}")
    expect(received).to_have_count(1, timeout=SLOW)
    with bob.page.expect_download() as download_info:
        received.click()
    assert download_info.value.suggested_filename == dropped_name
    download_info.value.save_as(tmp_path / "dropped")
    assert (tmp_path / "dropped").read_bytes() == dropped
    assert len(cut) == 1
    alice.page.unroute("**/v1/blobs/*/chunks/*")

    # Over 64 MiB is refused in the browser, with a human message.
    big = tmp_path / "too-big.bin"
    with big.open("wb") as f:
        f.truncate(64 * 1024 * 1024 + 1)
    alice.attach(str(big))
    expect(alice.page.get_by_role("alert").filter(has_text="too large")).to_have_text(
        "This file is too large (at most 64 MiB).", timeout=SLOW
    )
    assert_private(alice.server, alice.typed, [b"region,revenue", contents[-4096:], b"dropped file, private"])


def test_upload_resumes_after_a_reload(people: Any, tmp_path: Path) -> None:
    """A multi-chunk upload cut off by a dropped link and then a reload carries on from the
    chunks the server holds, with the same ciphertext; the file's message goes out once."""
    from apps.blobs.models import Blob, BlobAttachment, BlobChunk

    alice, bob = pair(people)
    name = "board-minutes-draft-7.pdf"
    contents = b"%PDF-1.7 board minutes, strictly private\n" + os.urandom(3 * 1024 * 1024)
    source = tmp_path / name
    source.write_bytes(contents)
    alice.typed.append(name)

    # The link drops after four chunks: every later chunk PUT is cut (the app keeps retrying).
    def cut_after_four(route: Any) -> None:
        index = int(route.request.url.rsplit("/", 1)[1])
        if route.request.method == "PUT" and index >= 4:
            route.abort("connectionreset")
        else:
            route.continue_()

    alice.page.route("**/v1/blobs/*/chunks/*", cut_after_four)
    alice.attach(str(source))
    uploads = alice.page.get_by_role("status", name="Uploads")
    expect(uploads).to_contain_text(f"{name}: ", timeout=SLOW)
    expect(uploads).to_contain_text("waiting for the connection", timeout=SLOW)
    shot(alice.page, "18-upload-waiting")
    # The whole encrypted blob waits sealed in the vault (9 rows of 1 MiB) for the rest to go out.
    assert len([k for k in alice.page.evaluate(VAULT_ROW_KEYS) if k.startswith("app/upload/")]) == 9
    blob = Blob.objects.get(chat__memberships__user__username__startswith=f"{bob.name}@")
    assert blob.chunk_count == 9  # 3 MiB → the 8 MiB bucket → 9 server chunks
    assert sorted(BlobChunk.objects.filter(blob=blob).values_list("index", flat=True)) == [0, 1, 2, 3]
    expect(bob.log.get_by_role("button", name=f"Download {name}")).to_have_count(0)

    # The tab reloads (the browser no longer has the file); the link is back.
    alice.page.unroute("**/v1/blobs/*/chunks/*")
    sent_after: list[int] = []

    def record(route: Any) -> None:
        if route.request.method == "PUT":
            sent_after.append(int(route.request.url.rsplit("/", 1)[1]))
        route.continue_()

    alice.page.route("**/v1/blobs/*/chunks/*", record)
    alice.page.reload()
    alice.page.get_by_label("Password").fill(PASSWORD)
    alice.page.get_by_role("button", name="Unlock").click()
    expect(alice.banner()).to_have_text("Connected", timeout=SLOW)
    download = bob.log.get_by_role("button", name=f"Download {name}")
    expect(download).to_have_count(1, timeout=SLOW)
    alice.open_chat(bob.name)
    expect(alice.log.get_by_role("button", name=f"Download {name}")).to_have_count(1, timeout=SLOW)
    expect(alice.page.get_by_role("status", name="Uploads")).to_be_hidden()
    shot(bob.page, "19-upload-resumed-received")

    # Only what the server lacked went out again; one blob, complete, in one message.
    assert sent_after == [4, 5, 6, 7, 8]
    blob.refresh_from_db()
    assert blob.is_complete and blob.size == 8_390_808
    assert Blob.objects.filter(chat_id=blob.chat_id).count() == 1
    assert BlobAttachment.objects.filter(blob=blob).count() == 1
    stored = Path(alice.server.blob_dir) / blob.storage_name  # type: ignore[attr-defined]
    assert stored.stat().st_size == blob.size

    with bob.page.expect_download() as download_info:
        download.click()
    saved = tmp_path / "downloaded"
    download_info.value.save_as(saved)
    assert saved.read_bytes() == contents  # the resumed chunks continue the same secretstream

    # Closed while still encrypting (before anything reached the server): the browser no
    # longer has the file, so after reopening the app says so instead of sending half.
    early_name = "annual-report-too-early.bin"
    early = tmp_path / early_name
    early.write_bytes(os.urandom(40 * 1024 * 1024))
    alice.typed.append(early_name)
    alice.attach(str(early))
    expect(alice.page.get_by_role("status", name="Uploads")).to_contain_text(f"{early_name}: ", timeout=SLOW)
    expect(alice.page.get_by_role("status", name="Uploads")).to_contain_text("encrypting")
    alice.page.reload()
    alice.page.get_by_label("Password").fill(PASSWORD)
    alice.page.get_by_role("button", name="Unlock").click()
    expect(alice.banner()).to_have_text("Connected", timeout=SLOW)
    alice.open_chat(bob.name)
    told = alice.page.get_by_role("status", name="Uploads")
    expect(told).to_contain_text(
        f"{early_name} was not sent: the page closed while it was being encrypted. Attach it again."
    )
    shot(alice.page, "19b-upload-closed-while-encrypting")
    assert Blob.objects.filter(chat_id=blob.chat_id).count() == 1, "no reservation for the unfinished one"
    told.get_by_role("button", name="Dismiss").click()
    expect(told).to_be_hidden()
    expect(bob.log.get_by_role("button", name=f"Download {early_name}")).to_have_count(0)
    # Neither upload left encrypted parts behind in the vault (row keys are readable, values sealed).
    keys = alice.page.evaluate(VAULT_ROW_KEYS)
    assert any(k.startswith("app/msgs/") for k in keys), keys
    assert not [k for k in keys if k.startswith("app/upload/")]
    assert_private(alice.server, alice.typed, [b"board minutes, strictly private", contents[-4096:]])
