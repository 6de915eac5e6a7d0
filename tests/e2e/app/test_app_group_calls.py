"""A group call of four through a real Janus SFU on loopback (Debian's janus, started by
this module with a config dir it writes): each browser publishes its fake camera and
microphone, subscribes to the other three, and decrypts their frames with the sender's own
key from the chat's MLS exporter (the room has require_e2ee: Janus forwards frames it
cannot read). When a member is removed from the chat the group's epoch changes, everyone
else's keys change, and the removed member — still subscribed, keeping its old keys —
decrypts nothing new."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Playwright, expect

from tests.conftest import LiveServer, federation_hosts_env, start_daphne, stop
from tests.e2e.app.conftest import SLOW, Person, shot
from tests.e2e.conftest import CHROMIUM_ARGS
from tests.support.calls import MEDIA_ARGS
from tests.support.janus import Janus, mjr_packets, started_janus, vp8_frames

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def janus(tmp_path_factory: Any) -> Iterator[Janus]:
    sfu = started_janus(tmp_path_factory.mktemp("janus-e2e"))
    yield sfu
    sfu.stop()


@pytest.fixture(scope="module")
def app_server(
    django_db_setup: None, tmp_path_factory: Any, built_app: Any, federation_pki: Any, janus: Janus
) -> Iterator[LiveServer]:
    """The app's server of this module: the shared one's settings and this module's Janus."""
    server = start_daphne(
        tmp_path_factory.mktemp("app-daphne-groupcall"),
        name="app-daphne-groupcall",
        extra_env={
            "THROTTLE_LOGIN_IP": "1000/min",
            "THROTTLE_LOGIN_USER": "1000/min",
            "THROTTLE_REGISTER_IP": "1000/min",
            "DJANGO_ALLOW_ASYNC_UNSAFE": "",
            "TALKEE_FEDERATION_HOSTS": federation_hosts_env(),
            **federation_pki.env("localhost"),
            **janus.settings,
            # Carol, removed, keeps her Janus connection here: the test models an ex-member
            # who still gets the ciphertext (the proxy would otherwise drop her).
            "TALKEE_GROUP_CALL_MEMBER_CHECK_SECONDS": "0",
        },
    )
    yield server
    stop(server.process)


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Fake camera and microphone; host candidates as addresses (Janus does not resolve mDNS)."""
    args = [*CHROMIUM_ARGS, *MEDIA_ARGS, "--disable-features=WebRtcHideLocalIpsWithMdns"]
    launched = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=args)
    yield launched
    launched.close()


PANEL = ".group-call:not(.group-invite)"
TILES = """() => [...document.querySelectorAll('.group-call .group-tile[data-leaf]')].map((t) => ({
  leaf: Number(t.dataset.leaf), decoded: Number(t.dataset.framesDecoded || 0),
  decrypted: Number(t.dataset.framesDecrypted || 0), failed: Number(t.dataset.framesFailed || 0),
  name: t.querySelector('figcaption').textContent }))"""


def tiles(person: Person) -> list[dict[str, Any]]:
    return list(person.page.evaluate(TILES))


def wait_tiles(person: Person, count: int, minimum: int, timeout: float = 60) -> list[dict[str, Any]]:
    """`count` tiles, each with at least `minimum` frames decrypted and decoded."""
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        seen = tiles(person)
        if len(seen) == count and all(t["decrypted"] >= minimum and t["decoded"] >= minimum for t in seen):
            return seen
        person.page.wait_for_timeout(500)
    raise AssertionError(f"{person.name}: tiles {seen}")


SPEAKING = """() => [...document.querySelectorAll('.group-call .group-tile[data-leaf][data-speaking="true"]')]
  .map((t) => t.querySelector('figcaption').textContent)"""


def heard_speaking(person: Person, seconds: float = 4) -> set[str]:
    """Whose tiles `person` saw marked as speaking within `seconds`."""
    names: set[str] = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        names.update(person.page.evaluate(SPEAKING))
        person.page.wait_for_timeout(100)
    return names


def by_leaf(seen: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {t["leaf"]: t for t in seen}


# WebCodecs in the page: decode VP8 frames as a receiver without our transform would.
# First a control: a green frame this page encodes itself decodes back to green.
DECODE = """async (frames) => {
  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const decodeAll = async (chunks) => {
    const out = { frames: 0, errors: 0, green: 0 };
    const canvas = new OffscreenCanvas(64, 48);
    const ctx = canvas.getContext('2d');
    const decoder = new VideoDecoder({
      output: (f) => {
        ctx.drawImage(f, 0, 0, 64, 48);
        const px = ctx.getImageData(0, 0, 64, 48).data;
        let g = 0;
        for (let i = 0; i < px.length; i += 4) if (px[i + 1] > 100 && px[i] < 80 && px[i + 2] < 80) g++;
        if (g > 0.5 * 64 * 48) out.green++;
        out.frames++;
        f.close();
      },
      error: () => { out.errors++; },
    });
    decoder.configure({ codec: 'vp8' });
    try {
      for (const c of chunks) decoder.decode(new EncodedVideoChunk(c));
      await decoder.flush();
    } catch (e) { out.errors++; }
    return out;
  };
  // control: our own green frame, encoded here
  const control = [];
  const enc = new VideoEncoder({ output: (c) => { const d = new Uint8Array(c.byteLength); c.copyTo(d);
    control.push({ type: c.type, timestamp: c.timestamp, data: d }); }, error: () => {} });
  enc.configure({ codec: 'vp8', width: 320, height: 240 });
  const canvas = new OffscreenCanvas(320, 240);
  const c2 = canvas.getContext('2d');
  c2.fillStyle = '#00a000';
  c2.fillRect(0, 0, 320, 240);
  const vf = new VideoFrame(canvas, { timestamp: 0 });
  enc.encode(vf, { keyFrame: true });
  vf.close();
  await enc.flush();
  const recorded = frames.map((f, i) => ({ type: f.key ? 'key' : 'delta', timestamp: i * 66666, data: bytes(f.data) }));
  return { control: await decodeAll(control), recorded: await decodeAll(recorded) };
}"""


def assert_janus_records_only_ciphertext(janus: Janus, page_owner: Person) -> None:
    """Janus's own recorder, switched on by the operator (the room's secret), writes what
    the SFU forwards: every video frame is in our end-to-end format, and none decodes as
    the fake camera's green picture (a control frame encoded in the same page does)."""
    import base64

    from django.test import override_settings

    from apps.calls.janus import room_secret

    rooms = janus.admin(
        "message_plugin", plugin="janus.plugin.videoroom", request={"request": "list", "admin_key": janus.admin_secret}
    )["response"]["list"]
    (room,) = [r["room"] for r in rooms]
    with override_settings(TALKEE_JANUS_ADMIN_SECRET=janus.admin_secret):
        secret = room_secret(room)
    toggle = {"request": "enable_recording", "room": room, "secret": secret}
    answer = janus.admin("message_plugin", plugin="janus.plugin.videoroom", request={**toggle, "record": True})
    assert answer["response"].get("videoroom") == "success", answer
    page_owner.page.wait_for_timeout(4000)
    janus.admin("message_plugin", plugin="janus.plugin.videoroom", request={**toggle, "record": False})
    videos = sorted((janus.dir / "recordings").glob("*-video-*.mjr"))
    assert len(videos) == 4, videos  # one per publisher
    frames = [f for path in videos for f in vp8_frames(mjr_packets(path))]
    assert len(frames) > 20, len(frames)
    keys = [f for f in frames if f[0] & 1 == 0]
    assert keys, "no key frame recorded"
    for frame in frames:
        clear = frame[-1]  # our trailer: the clear header's length, then 12 bytes of IV before it
        assert clear == (10 if frame[0] & 1 == 0 else 3), (clear, len(frame))
        assert len(frame) >= clear + 16 + 13
    per_file = vp8_frames(mjr_packets(videos[0]))
    first_key = next(i for i, f in enumerate(per_file) if f[0] & 1 == 0)
    chunk = [{"key": f[0] & 1 == 0, "data": base64.b64encode(f).decode()} for f in per_file[first_key:]]
    result = page_owner.page.evaluate(DECODE, chunk)
    assert result["control"]["frames"] == 1 and result["control"]["green"] == 1, result
    assert result["recorded"]["green"] == 0, result  # the fake camera's picture never comes out


def test_four_people_decode_each_other_through_janus_and_a_removed_one_decrypts_nothing_new(
    people: Any, app_server: LiveServer, janus: Janus
) -> None:
    alice, bob, dave = people("alice"), people("bob"), people("dave")
    carol = people("carol", viewport={"width": 390, "height": 844})  # the phone layout
    everyone = (alice, bob, carol, dave)
    for person in everyone:
        person.context.grant_permissions(["camera", "microphone"], origin=app_server.url)
        person.sign_up()
    name = "Call club"
    alice.typed.append(name)
    alice.create_group(name, [bob, carol, dave])
    alice.say("call?")
    for member in (bob, carol, dave):
        member.open_chat(name)
        member.expect_message("call?")

    # Alice starts the call; the others hear of it through a sealed call signal and join.
    alice.page.locator(".conv-header").get_by_role("button", name="Group call").click()
    expect(alice.page.locator(".group-call .group-state")).to_have_text("Waiting for others", timeout=SLOW)
    for i, person in enumerate((bob, carol, dave)):
        invitation = person.page.get_by_role("dialog", name="Group call invitation")
        # Later ones may hear of someone who joined while their invitation showed: the latest joiner is named.
        callers = "(" + "|".join(p.name for p in everyone[: i + 1]) + ")"
        expect(invitation).to_contain_text(re.compile(f"^{callers} is in a group call in {name}"), timeout=SLOW)
        if person is carol:
            shot(carol.page, "group-call-00-carol-invited-phone")
        invitation.get_by_role("button", name="Join").click()
        expect(person.page.locator(".group-call[data-phase]")).to_have_attribute("data-phase", "live", timeout=SLOW)
    expect(alice.page.locator(".group-notice")).to_have_text(f"{dave.name} joined", timeout=SLOW)
    for person in everyone:
        seen = wait_tiles(person, 3, 10, timeout=90)
        names = sorted(t["name"] for t in seen)
        others = sorted(p.name for p in everyone if p is not person)
        assert names == others, (person.name, names)
        assert int(person.page.locator(PANEL).get_attribute("data-frames-encrypted") or 0) > 20
    shot(alice.page, "group-call-01-alice")
    shot(carol.page, "group-call-01-carol-phone")
    # Each keeps decoding: the counts grow.
    before = {p.name: by_leaf(tiles(p)) for p in everyone}
    alice.page.wait_for_timeout(2000)
    for person in everyone:
        for leaf, now in by_leaf(tiles(person)).items():
            assert now["decrypted"] > before[person.name][leaf]["decrypted"], (person.name, leaf)
            assert now["decoded"] > before[person.name][leaf]["decoded"], (person.name, leaf)

    # Who speaks shows on the tiles (the fake microphones beep): in Alice's view each of the
    # others lights up; once Bob mutes, his tile stays dark while the others still light up.
    assert heard_speaking(alice) == {bob.name, carol.name, dave.name}
    bob.page.locator(PANEL).get_by_role("button", name="Mute").click()
    alice.page.wait_for_timeout(1000)
    assert heard_speaking(alice) == {carol.name, dave.name}
    shot(alice.page, "group-call-02-alice-speaking")
    bob.page.locator(PANEL).get_by_role("button", name="Unmute").click()

    assert_janus_records_only_ciphertext(janus, alice)

    # Alice removes Carol. Carol stays subscribed in Janus with her old keys.
    epoch = alice.page.locator(PANEL).get_attribute("data-epoch")
    stay = (alice, bob, dave)
    carol_leaf = {p.name: [t["leaf"] for t in tiles(p) if t["name"] == carol.name] for p in stay}
    assert all(len(leaves) == 1 for leaves in carol_leaf.values()), carol_leaf
    alice.page.get_by_role("button", name="Members").dispatch_event("click")
    alice.page.get_by_role("button", name=f"Remove {carol.name}").dispatch_event("click")
    for person in stay:
        expect(person.page.locator(PANEL)).not_to_have_attribute("data-epoch", epoch or "", timeout=SLOW)
    # Past the keyring's overlap (3 s), then measure.
    alice.page.wait_for_timeout(4000)
    carol_before = by_leaf(tiles(carol))
    ab_before = {p.name: by_leaf(tiles(p)) for p in stay}
    alice.page.wait_for_timeout(3000)
    carol_after = by_leaf(tiles(carol))
    for leaf, tile in carol_after.items():
        assert tile["decrypted"] == carol_before[leaf]["decrypted"], ("carol decrypted new frames", leaf, tile)
        assert tile["failed"] > carol_before[leaf]["failed"], ("carol received nothing to fail on", leaf, tile)
    for person in stay:
        current = by_leaf(tiles(person))
        (removed,) = carol_leaf[person.name]
        others = [leaf for leaf in current if leaf != removed]
        assert len(others) == 2, current
        for other in others:
            assert current[other]["decrypted"] > ab_before[person.name][other]["decrypted"], (person.name, current)
            assert current[other]["decoded"] > ab_before[person.name][other]["decoded"], (person.name, current)
        # Carol's frames (her old key) no longer open for them either, once the overlap is over.
        assert current[removed]["decrypted"] == ab_before[person.name][removed]["decrypted"], (person.name, current)
    shot(carol.page, "group-call-02-carol-removed")

    # Bob hangs up: Alice is told, and his tile goes (Janus reports the publisher leaving).
    bob.page.get_by_role("dialog", name="Group call", exact=True).get_by_role("button", name="Hang up").click()
    expect(alice.page.locator(".group-notice")).to_have_text(f"{bob.name} left", timeout=SLOW)
    expect(alice.page.locator(".group-tile figcaption", has_text=bob.name)).to_have_count(0, timeout=SLOW)
    expect(bob.page.locator(".group-call[data-phase]")).to_have_attribute("data-phase", "ended")
