"""Pictures and videos (issue 23): a picture is re-encoded in the sender's browser before
it is encrypted — its EXIF (GPS position, camera) and comments are gone, its orientation is
applied, a big one is scaled down — and shows inline on both sides (first the thumbnail the
encrypted message carries, then the decrypted picture), opens full size in a viewer with
zoom; pasted and dropped pictures are sent; a short WebM plays inline on the other side.
The server never learns a file's name or its true size."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.app.conftest import SLOW, assert_private, assert_sizes_private, pair, shot
from tests.support import jpeg

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# A picture drawn in the page: left half red, right half blue (so a rotation shows).
DRAW = """async ([width, height, type]) => {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#dd2222";
  ctx.fillRect(0, 0, width / 2, height);
  ctx.fillStyle = "#2222dd";
  ctx.fillRect(width / 2, 0, width - width / 2, height);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, type, 0.92));
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}"""

# Every value a <progress> takes (its label and value), from now on.
WATCH_BARS = """() => {
  window.talkeeBars = [];
  const note = (p) => window.talkeeBars.push([p.getAttribute("aria-label"), p.value]);
  new MutationObserver((changes) => {
    for (const m of changes) {
      if (m.type === "attributes" && m.target instanceof HTMLProgressElement) note(m.target);
      for (const n of m.addedNodes) {
        if (!(n instanceof Element)) continue;
        if (n instanceof HTMLProgressElement) note(n);
        n.querySelectorAll("progress").forEach(note);
      }
    }
  }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ["value"] });
}"""

# The colour in the middle of the top and of the bottom edge of a loaded <img>.
EDGES = """(img) => {
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const at = (y) => [...ctx.getImageData(Math.floor(canvas.width / 2), y, 1, 1).data].slice(0, 3);
  return [at(4), at(canvas.height - 5)];
}"""


# A pinch on the viewer: two touch pointers 100 px apart, the second moves 100 px further out.
PINCH = """(stage) => {
  const r = stage.getBoundingClientRect();
  const x = r.left + r.width / 2;
  const y = r.top + r.height / 2;
  const send = (type, id, at) => stage.dispatchEvent(new PointerEvent(type, {
    pointerId: id, clientX: at, clientY: y, bubbles: true, pointerType: "touch", isPrimary: id === 11 }));
  send("pointerdown", 11, x - 50);
  send("pointerdown", 12, x + 50);
  send("pointermove", 12, x + 150);
  send("pointerup", 11, x - 50);
  send("pointerup", 12, x + 150);
}"""


def draw(page: Page, width: int, height: int, kind: str = "image/jpeg") -> bytes:
    return base64.b64decode(page.evaluate(DRAW, [width, height, kind]))


def bars(page: Page, label: str) -> list[float]:
    return [value for name, value in page.evaluate("() => window.talkeeBars") if name == label]


def red(rgb: list[int]) -> bool:
    return rgb[0] > 180 and rgb[2] < 80


def blue(rgb: list[int]) -> bool:
    return rgb[2] > 180 and rgb[0] < 80


def loaded(page: Page, image: Any, width: int, height: int) -> None:
    page.wait_for_function(
        "([img, w, h]) => img.complete && img.naturalWidth === w && img.naturalHeight === h",
        arg=[image.element_handle(), width, height],
        timeout=SLOW,
    )


def test_a_picture_loses_its_gps_and_opens_full_size(people: Any, tmp_path: Path) -> None:
    alice, bob = pair(people)
    for person in (alice, bob):
        person.page.evaluate(WATCH_BARS)

    # A 640x480 photo whose EXIF says: camera make, "rotate 90° clockwise", and where it was taken.
    name = "eiffel-tower-holiday-gps.jpg"
    camera = "TalkeeSecretCam"
    comment = b"private-comment: taken at home"
    original = jpeg.with_metadata(
        draw(alice.page, 640, 480), jpeg.gps_exif(camera, 48.858370, 2.294481, orientation=6), comment
    )
    assert [m for m, _ in jpeg.segments(original)][:2] == [0xE1, 0xFE]
    (tmp_path / name).write_bytes(original)
    alice.typed.extend([name, camera])

    # Bob's first download of it is held back: what shows is the thumbnail inside the message.
    held: list[str] = []

    def hold(route: Any) -> None:
        if route.request.method == "GET":
            held.append(route.request.url)
            route.abort("connectionreset")
        else:
            route.continue_()

    bob.page.route("**/v1/blobs/*", hold)
    alice.attach(str(tmp_path / name))
    thumb = bob.log.get_by_role("img", name=name)
    expect(thumb).to_be_visible(timeout=SLOW)
    loaded(bob.page, thumb, 240, 320)  # ≤ 320 px, the right way up (portrait)
    assert held, "the full picture was asked for"
    bob.page.unroute("**/v1/blobs/*")

    # Alice sees her own picture inline too, decrypted full size.
    mine = alice.log.get_by_role("img", name=name)
    loaded(alice.page, mine, 480, 640)
    upload = bars(alice.page, f"Upload progress of {name}")
    assert upload and any(0 < v < 100 for v in upload), upload

    # A click opens it full size: loaded and decrypted now, with its progress bar.
    bob.log.get_by_role("button", name=f"View {name} full size").click()
    viewer = bob.page.get_by_role("dialog", name=f"Picture {name}")
    expect(viewer).to_be_visible()
    full = viewer.get_by_role("img", name=name)
    loaded(bob.page, full, 480, 640)
    assert bars(bob.page, f"Download progress of {name}")[-1] == 100
    top, bottom = bob.page.evaluate(EDGES, full.element_handle())
    assert red(top) and blue(bottom), (top, bottom)  # the EXIF rotation was applied, then dropped
    shot(bob.page, "23a-picture-viewer")
    viewer.get_by_role("button", name="Zoom in").click()
    expect(viewer.get_by_text("150%")).to_be_visible()
    assert "scale(1.5)" in (full.get_attribute("style") or "")
    bob.page.mouse.move(640, 450)
    bob.page.mouse.wheel(0, -300)
    matrix = "(img) => new DOMMatrix(getComputedStyle(img).transform).a"
    zoomed = float(bob.page.evaluate(matrix, full.element_handle()))
    assert zoomed > 1.5
    viewer.get_by_role("button", name="Fit to screen").click()
    expect(viewer.get_by_text("100%")).to_be_visible()
    # Two fingers moving apart (100 px to 200 px) zoom 2x; the keys + and 0 zoom and fit.
    viewer.locator(".viewer-stage").evaluate(PINCH)
    expect(viewer.get_by_text("200%")).to_be_visible()
    bob.page.keyboard.press("0")
    expect(viewer.get_by_text("100%")).to_be_visible()
    bob.page.keyboard.press("+")
    expect(viewer.get_by_text("150%")).to_be_visible()
    bob.page.keyboard.press("0")

    # What Bob's browser decrypted: a JPEG with no EXIF, no GPS, no camera, no comment.
    with bob.page.expect_download() as download_info:
        viewer.get_by_role("button", name=f"Download {name}").click()
    assert download_info.value.suggested_filename == name
    received = Path(download_info.value.path()).read_bytes()
    markers = [m for m, _ in jpeg.segments(received)]
    assert 0xE1 not in markers and 0xFE not in markers, [hex(m) for m in markers]
    assert b"Exif" not in received and camera.encode() not in received and comment not in received
    assert jpeg.dimensions(received) == (480, 640)

    bob.page.keyboard.press("Escape")
    expect(viewer).to_have_count(0)
    expect(bob.log.get_by_role("button", name=f"View {name} full size")).to_be_focused()
    loaded(bob.page, thumb, 480, 640)  # what the viewer decrypted replaced the thumbnail inline
    shot(bob.page, "23b-picture-inline")

    # A 4000x3000 photo is scaled down to 2560 px on its long side, not refused.
    big_name = "panorama-4000x3000.jpg"
    big = draw(alice.page, 4000, 3000)
    (tmp_path / big_name).write_bytes(big)
    alice.typed.append(big_name)
    alice.attach(str(tmp_path / big_name))
    big_inline = bob.log.get_by_role("img", name=big_name)
    loaded(bob.page, big_inline, 2560, 1920)
    with bob.page.expect_download() as download_info:
        bob.log.get_by_role("button", name=f"Download {big_name}").click()
    big_received = Path(download_info.value.path()).read_bytes()
    assert jpeg.dimensions(big_received) == (2560, 1920)
    assert bars(bob.page, f"Download progress of {big_name}")[-1] == 100

    # On a phone: inline, then the viewer.
    bob.page.set_viewport_size({"width": 390, "height": 844})
    bob.log.get_by_role("button", name=f"View {name} full size").scroll_into_view_if_needed()
    shot(bob.page, "23c-picture-inline-phone")
    bob.log.get_by_role("button", name=f"View {name} full size").click()
    loaded(bob.page, bob.page.get_by_role("dialog").get_by_role("img", name=name), 480, 640)
    shot(bob.page, "23d-picture-viewer-phone")
    bob.page.get_by_role("dialog").get_by_role("button", name="Close").click()
    expect(bob.page.get_by_role("dialog")).to_have_count(0)

    assert_private(alice.server, alice.typed, [original[-2048:], received[-2048:], big_received[-2048:], comment])
    assert_sizes_private(alice.server, [len(original), len(received), len(big), len(big_received)])


# A second of WebM from a canvas stream (MediaRecorder), as base64.
RECORD_WEBM = """async () => {
  const canvas = document.createElement("canvas");
  canvas.width = 320;
  canvas.height = 240;
  const ctx = canvas.getContext("2d");
  const stream = canvas.captureStream(25);
  const recorder = new MediaRecorder(stream, { mimeType: "video/webm" });
  const parts = [];
  recorder.ondataavailable = (e) => parts.push(e.data);
  let frame = 0;
  const timer = setInterval(() => {
    ctx.fillStyle = frame % 2 ? "#22aa44" : "#aa2244";
    ctx.fillRect(0, 0, 320, 240);
    ctx.fillStyle = "#fff";
    ctx.fillRect((frame * 8) % 320, 100, 40, 40);
    frame += 1;
  }, 40);
  recorder.start(100);
  await new Promise((r) => setTimeout(r, 1200));
  recorder.stop();
  await new Promise((r) => (recorder.onstop = r));
  clearInterval(timer);
  const bytes = new Uint8Array(await new Blob(parts).arrayBuffer());
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}"""

# A file put into a DataTransfer, as a paste or a drop from outside the page carries it.
TRANSFER = """([b64, name, type]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], name, { type }));
  return data;
}"""


def test_pasted_and_dropped_pictures_and_a_video(people: Any, tmp_path: Path) -> None:
    alice, bob = pair(people)

    # Pasted (a screenshot from the clipboard): a real paste event with the picture in its DataTransfer.
    pasted = draw(alice.page, 300, 200, "image/png")
    pasted_name = "screenshot-pasted-secret.png"
    alice.typed.append(pasted_name)
    transfer = alice.page.evaluate_handle(TRANSFER, [base64.b64encode(pasted).decode(), pasted_name, "image/png"])
    paste = "(box, data) => box.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true }))"
    alice.composer.evaluate(paste, transfer)
    # It waits above the text box with its preview (a local object URL) until sent.
    expect(alice.page.get_by_role("group", name="Files to send").get_by_role("img")).to_have_attribute(
        "src", re.compile("^blob:")
    )
    shot(alice.page, "23h-pasted-picture-staged")
    alice.send_staged()
    image = bob.log.get_by_role("img", name=pasted_name)
    loaded(bob.page, image, 300, 200)
    expect(alice.composer).to_have_value("")  # nothing pasted as text

    # Dropped on the conversation.
    dropped = draw(alice.page, 500, 400)
    dropped_name = "dropped-photo-private.jpg"
    alice.typed.append(dropped_name)
    transfer = alice.page.evaluate_handle(TRANSFER, [base64.b64encode(dropped).decode(), dropped_name, "image/jpeg"])
    target = alice.page.get_by_role("log", name="Messages")
    target.dispatch_event("dragover", {"dataTransfer": transfer})
    target.dispatch_event("drop", {"dataTransfer": transfer})
    alice.send_staged()
    loaded(bob.page, bob.log.get_by_role("img", name=dropped_name), 500, 400)

    # A short WebM plays inline on Bob's side, decrypted into an object URL.
    webm = base64.b64decode(alice.page.evaluate(RECORD_WEBM))
    clip_name = "birthday-clip-private.webm"
    (tmp_path / clip_name).write_bytes(webm)
    alice.typed.append(clip_name)
    alice.attach(str(tmp_path / clip_name))
    video = bob.log.get_by_label(f"Video {clip_name}")
    expect(video).to_be_visible(timeout=SLOW)
    bob.page.wait_for_function("(v) => v.readyState >= 2 && v.src.startsWith('blob:')", arg=video.element_handle())
    assert bob.page.evaluate("(v) => [v.videoWidth, v.videoHeight]", video.element_handle()) == [320, 240]
    bob.page.evaluate("(v) => { v.muted = true; return v.play(); }", video.element_handle())
    bob.page.wait_for_function("(v) => v.currentTime > 0.2", arg=video.element_handle())
    # Its poster is the first frame, made by Alice's browser and carried in the message.
    assert bob.page.evaluate("(v) => v.poster.startsWith('blob:')", video.element_handle())
    video.scroll_into_view_if_needed()
    shot(bob.page, "23e-video-inline")

    # A "JPEG" the browser cannot decode cannot be cleaned: refused with a sentence, not sent as it is.
    broken_name = "not-really-a-photo.jpg"
    (tmp_path / broken_name).write_bytes(b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00GPS-here" + bytes(64))
    alice.typed.append(broken_name)
    alice.attach(str(tmp_path / broken_name))
    expect(alice.page.get_by_role("alert").filter(has_text="could not be read as a picture")).to_have_text(
        f"{broken_name} could not be read as a picture, so its hidden details (such as where it was taken)"
        " cannot be removed. It was not sent."
    )
    expect(alice.log.get_by_text(broken_name)).to_have_count(0)

    assert_private(alice.server, alice.typed, [pasted[-1024:], dropped[-1024:], webm[-1024:]])
    assert_sizes_private(alice.server, [len(pasted), len(dropped), len(webm)])
