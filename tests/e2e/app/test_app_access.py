"""When the server ends a device's session and will not let it sign in again (the
administrator blocked the account, or the device was revoked), the app says so in
words — it does not spin — keeps what was written, and comes back once allowed."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection
from playwright.sync_api import expect

from apps.accounts import services as account_services
from apps.accounts.models import User
from apps.devices import services as device_services
from apps.devices.models import Device
from tests.e2e.app.conftest import SLOW, assert_controls_named, assert_private, pair, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def admin_action(action: Callable[..., None], *args: Any) -> None:
    """Runs an admin service off this thread: Playwright's sync API keeps an event loop
    here, and the services close sockets through async_to_sync."""

    def run() -> None:
        try:
            action(*args)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(run).result()


def test_blocked_account_and_revoked_device_are_explained(people: Any) -> None:
    alice, bob = pair(people)
    user = User.objects.get(username__startswith=f"{alice.name}@")

    # The admin panel's block action (same service): sessions end, sockets close 4003,
    # the app's attempt to sign in again is refused.
    admin_action(account_services.do_set_blocked, user, True)
    expect(alice.banner()).to_have_text("Your account is blocked", timeout=SLOW)
    notice = alice.page.get_by_role("alert").filter(has_text="Your account is blocked")
    expect(notice).to_contain_text("The administrator of")
    expect(notice).to_contain_text("blocked this account")
    expect(notice.get_by_role("button", name="Try again")).to_be_visible()
    expect(notice.get_by_role("button", name="Sign out of this browser")).to_be_visible()
    assert_controls_named(alice.page)

    # What she writes meanwhile waits in the outbox; nothing is lost.
    alice.say("Written while blocked")
    expect(alice.message("Written while blocked").get_by_role("img", name="Queued for delivery")).to_be_visible()
    shot(alice.page, "22-account-blocked")
    bob.page.wait_for_timeout(1000)
    expect(bob.log).not_to_contain_text("Written while blocked")

    # Still blocked: trying again says so again (no silent spinner).
    retry = notice.get_by_role("button", name="Try again")
    retry.click()  # disabled while it tries; a fresh, enabled one comes with the answer
    expect(retry).to_be_enabled(timeout=SLOW)
    expect(alice.banner()).to_have_text("Your account is blocked")

    # Unblocked: trying again signs this device back in and the queued message goes out once.
    admin_action(account_services.do_set_blocked, user, False)
    alice.page.get_by_role("button", name="Try again").click()
    expect(alice.banner()).to_have_text("Connected", timeout=SLOW)
    expect(alice.page.get_by_role("alert").filter(has_text="blocked")).to_have_count(0)
    bob.expect_message("Written while blocked")
    expect(alice.message("Written while blocked").get_by_role("img", name="Queued for delivery")).to_have_count(
        0, timeout=SLOW
    )

    # Bob's browser is revoked (the admin panel's revoke action): it wipes itself at once and
    # is back at sign-in, told why (no "Try again": a revoked device never comes back).
    device = Device.objects.get(user__username__startswith=f"{bob.name}@")
    admin_action(device_services.do_revoke_device, device)
    note = bob.page.get_by_role("status").filter(has_text="This device was revoked")
    expect(note).to_be_visible(timeout=SLOW)
    expect(note).to_contain_text("by the administrator")
    expect(bob.page.locator("form").get_by_role("button", name="Sign in")).to_be_visible()
    expect(bob.page.get_by_role("button", name="Try again")).to_have_count(0)
    shot(bob.page, "23-device-revoked")
    assert_private(alice.server, alice.typed)
