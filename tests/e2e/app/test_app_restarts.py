"""Restarts lose nothing, as a person sees it in the PWA (issue 18). On an instance of its
own (daphne, a Celery worker, PostgreSQL and Redis of its own: tests/support/services.py),
PostgreSQL and then Redis restart while Alice writes. What the server refused meanwhile
(503) waits in her outbox with the queued mark — never "Not sent" — and goes out by itself
once the service is back; Bob gets every message exactly once, in the order written."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.app.conftest import SLOW, Person, shot
from tests.support.services import OwnInstance, own_instance

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SERVER_ENV = {
    "THROTTLE_LOGIN_IP": "1000/min",
    "THROTTLE_LOGIN_USER": "1000/min",
    "THROTTLE_REGISTER_IP": "1000/min",
    "DJANGO_ALLOW_ASYNC_UNSAFE": "",
}


@pytest.fixture
def instance(app_server: Any, tmp_path: Path) -> Iterator[OwnInstance]:
    """`app_server` first: it builds the app, which this instance serves too."""
    with own_instance(tmp_path, "pwa-restarts", SERVER_ENV) as running:
        yield running


def queued(person: Person, text: str) -> Any:
    return person.message(text).get_by_role("img", name="Queued for delivery")


def texts_of(person: Person) -> list[str]:
    return list(person.log.locator("li.msg .text").all_inner_texts())


def test_messages_written_while_postgres_and_redis_restart_arrive_once_in_order(
    people: Any, instance: OwnInstance
) -> None:
    alice, bob = people("alice"), people("bob")
    alice.server = bob.server = instance.server
    alice.sign_up()
    bob.sign_up()
    alice.start_direct(bob.name)
    alice.say("Before any restart")
    bob.open_chat(alice.name)
    bob.expect_message("Before any restart")

    # PostgreSQL goes away: the server refuses sends with 503; they wait in Alice's outbox.
    instance.postgres.stop()
    during_pg = ["While the database restarts, one", "While the database restarts, two"]
    for text in during_pg:
        alice.say(text)
    for text in during_pg:
        expect(queued(alice, text)).to_be_visible(timeout=SLOW)
    alice.page.wait_for_timeout(3000)  # the outbox's retries meet the same refusal
    for text in during_pg:
        expect(queued(alice, text)).to_be_visible()
        expect(alice.message(text).get_by_role("img", name="Not sent")).to_have_count(0)
    shot(alice.page, "45-database-restarting-queued")
    instance.postgres.start()
    for text in during_pg:
        expect(queued(alice, text)).to_have_count(0, timeout=60_000)
        bob.expect_message(text)

    # Redis goes away: sends are stored, the live path is down; Bob catches up from his cursor.
    instance.redis.stop()
    alice.say("While Redis restarts")
    alice.page.wait_for_timeout(2000)
    instance.redis.start()
    expect(queued(alice, "While Redis restarts")).to_have_count(0, timeout=60_000)
    bob.expect_message("While Redis restarts")
    alice.say("After both restarts")
    bob.expect_message("After both restarts")

    bob.page.wait_for_timeout(1500)
    written = ["Before any restart", *during_pg, "While Redis restarts", "After both restarts"]
    assert [t for t in texts_of(bob) if t in written] == written, "Bob's timeline is not each message once, in order"
    assert [t for t in texts_of(alice) if t in written] == written
    shot(bob.page, "46-after-restarts-each-once")
    instance.assert_private(alice.typed)
