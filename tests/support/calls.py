"""Helpers for browser tests of calls: fake media devices and the call panel's counters."""

import time

from tests.e2e.app.conftest import Person

MEDIA_ARGS = [
    # a test pattern and a beep instead of a camera and microphone; three cameras (switching;
    # the second's Y16 frames reach no encoder); getDisplayMedia gives a fake 1280x720 screen
    "--use-fake-device-for-media-stream=device-count=3",
    "--use-fake-ui-for-media-stream",  # no permission prompt
    "--autoplay-policy=no-user-gesture-required",
]


def panel_number(person: Person, name: str) -> int:
    value = person.page.locator(".call-panel").get_attribute(f"data-{name}")
    return int(value or 0)


def wait_growing(person: Person, name: str, minimum: int = 1, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    value = 0
    while time.monotonic() < deadline:
        value = panel_number(person, name)
        if value >= minimum:
            return value
        person.page.wait_for_timeout(300)
    seen = person.page.eval_on_selector(".call-panel", "p => JSON.stringify(p.dataset)")
    raise AssertionError(f"{person.name}: {name} stayed at {value} (wanted ≥ {minimum}); panel {seen}")
