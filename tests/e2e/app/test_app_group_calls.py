"""A group call of three through a real Janus SFU on loopback (Debian's janus, started by
this module with a config dir it writes): each browser publishes its fake camera and
microphone, subscribes to the other two, and decrypts their frames with the sender's own
key from the chat's MLS exporter (the room has require_e2ee: Janus forwards frames it
cannot read). When a member is removed from the chat the group's epoch changes, everyone
else's keys change, and the removed member — still subscribed, keeping its old keys —
decrypts nothing new."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Playwright, expect

from tests.conftest import LiveServer, federation_hosts_env, start_daphne, stop
from tests.e2e.app.conftest import SLOW, Person, shot
from tests.e2e.conftest import CHROMIUM_ARGS
from tests.support.calls import MEDIA_ARGS
from tests.support.janus import Janus, started_janus

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


def by_leaf(seen: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {t["leaf"]: t for t in seen}


def test_three_people_decode_each_other_through_janus_and_a_removed_one_decrypts_nothing_new(
    people: Any, app_server: LiveServer, janus: Janus
) -> None:
    alice, bob = people("alice"), people("bob")
    carol = people("carol", viewport={"width": 390, "height": 844})  # the phone layout
    for person in (alice, bob, carol):
        person.context.grant_permissions(["camera", "microphone"], origin=app_server.url)
        person.sign_up()
    name = "Call club"
    alice.typed.append(name)
    alice.create_group(name, [bob, carol])
    alice.say("call?")
    for member in (bob, carol):
        member.open_chat(name)
        member.expect_message("call?")

    for person in (alice, bob, carol):
        person.page.locator(".conv-header").get_by_role("button", name="Group call").click()
        expect(person.page.locator(".group-call .group-state")).not_to_have_text("Joining…", timeout=SLOW)
    for person in (alice, bob, carol):
        seen = wait_tiles(person, 2, 10)
        names = sorted(t["name"] for t in seen)
        others = sorted(p.name for p in (alice, bob, carol) if p is not person)
        assert names == others, (person.name, names)
        assert int(person.page.locator(".group-call").get_attribute("data-frames-encrypted") or 0) > 20
    shot(alice.page, "group-call-01-alice")
    shot(carol.page, "group-call-01-carol-phone")
    # Each keeps decoding: the counts grow.
    before = {p.name: by_leaf(tiles(p)) for p in (alice, bob, carol)}
    alice.page.wait_for_timeout(2000)
    for person in (alice, bob, carol):
        for leaf, now in by_leaf(tiles(person)).items():
            assert now["decrypted"] > before[person.name][leaf]["decrypted"], (person.name, leaf)
            assert now["decoded"] > before[person.name][leaf]["decoded"], (person.name, leaf)

    # Alice removes Carol. Carol stays subscribed in Janus with her old keys.
    epoch = alice.page.locator(".group-call").get_attribute("data-epoch")
    carol_leaf = {p.name: [t["leaf"] for t in tiles(p) if t["name"] == carol.name] for p in (alice, bob)}
    assert all(len(leaves) == 1 for leaves in carol_leaf.values()), carol_leaf
    alice.page.get_by_role("button", name="Members").dispatch_event("click")
    alice.page.get_by_role("button", name=f"Remove {carol.name}").dispatch_event("click")
    for person in (alice, bob):
        expect(person.page.locator(".group-call")).not_to_have_attribute("data-epoch", epoch or "", timeout=SLOW)
    # Past the keyring's overlap (3 s), then measure.
    alice.page.wait_for_timeout(4000)
    carol_before = by_leaf(tiles(carol))
    ab_before = {p.name: by_leaf(tiles(p)) for p in (alice, bob)}
    alice.page.wait_for_timeout(3000)
    carol_after = by_leaf(tiles(carol))
    for leaf, tile in carol_after.items():
        assert tile["decrypted"] == carol_before[leaf]["decrypted"], ("carol decrypted new frames", leaf, tile)
        assert tile["failed"] > carol_before[leaf]["failed"], ("carol received nothing to fail on", leaf, tile)
    for person in (alice, bob):
        current = by_leaf(tiles(person))
        (removed,) = carol_leaf[person.name]
        (other,) = [leaf for leaf in current if leaf != removed]
        assert current[other]["decrypted"] > ab_before[person.name][other]["decrypted"], (person.name, current)
        assert current[other]["decoded"] > ab_before[person.name][other]["decoded"], (person.name, current)
        # Carol's frames (her old key) no longer open for them either, once the overlap is over.
        assert current[removed]["decrypted"] == ab_before[person.name][removed]["decrypted"], (person.name, current)
    shot(carol.page, "group-call-02-carol-removed")
