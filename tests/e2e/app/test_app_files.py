"""Files: encrypted and padded in the browser, uploaded in chunks, downloaded and
decrypted on the other side with the original name and bytes. The server never
sees the name or the contents."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.app.conftest import SLOW, assert_private, pair, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_file_round_trip(people: Any, tmp_path: Path) -> None:
    alice, bob = pair(people)
    name = "quarterly-figures-confidential.csv"
    # Text-like contents plus random bytes (1.5 MiB: two server chunks, the 2 MiB bucket).
    contents = b"region,revenue\nnorth,1234567\n" * 100 + os.urandom(1_500_000)
    source = tmp_path / name
    source.write_bytes(contents)
    alice.typed.append(name)

    alice.page.get_by_label("Attach file").set_input_files(str(source))
    expect(alice.log.get_by_role("button", name=f"Download {name}")).to_be_visible(timeout=SLOW)
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
    alice.page.get_by_label("Attach file").set_input_files(str(image))
    preview = bob.log.get_by_role("img", name="holiday-snapshot.png")
    expect(preview).to_be_visible(timeout=SLOW)
    bob.page.wait_for_function("img => img.complete && img.naturalWidth === 192", arg=preview.element_handle())
    shot(bob.page, "12b-image-preview")

    # Over 64 MiB is refused in the browser, with a human message.
    big = tmp_path / "too-big.bin"
    with big.open("wb") as f:
        f.truncate(64 * 1024 * 1024 + 1)
    alice.page.get_by_label("Attach file").set_input_files(str(big))
    expect(alice.page.get_by_role("alert").filter(has_text="too large")).to_have_text(
        "This file is too large (at most 64 MiB).", timeout=SLOW
    )
    assert_private(alice.server, alice.typed, [b"region,revenue", contents[-4096:]])
