"""talkee-cli, the command-line client built from the PWA's own core (web/cli), against a
live daphne: Alice in Chromium and Bob in the terminal talk both ways; the CLI signs in as
a new device of a PWA user with the recovery phrase, or approved from the PWA; its vault
file holds nothing readable."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import LiveServer, free_port
from tests.e2e.app.conftest import SLOW, assert_private, assert_sizes_private, pair
from tests.support.cli import PASSWORD, Cli, Trap, build_cli
from tests.support.dns import FaultyRelay, gateway, unbound
from tests.transport.tunnelclient import ZONE

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module", autouse=True)
def _built_cli() -> None:
    build_cli()


def wait_for_history(cli: Cli, chat: str, text: str, timeout: float = 60.0) -> list[tuple[str, str]]:
    """`history CHAT` until `text` is in it (a new device is added to the chat by a commit
    of another device, a moment after it signed in)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = cli.history(chat) if cli.run("chats").stdout.count(chat) else []
        if any(t == text for _, t in rows) or time.monotonic() > deadline:
            return rows
        time.sleep(1)


def test_cli_and_pwa_talk_both_ways(people: Any, app_server: LiveServer, tmp_path: Path) -> None:
    alice = people("alice")
    alice.sign_up()
    bob = Cli(tmp_path / "bob" / "vault.json", app_server.url)
    bob_name = alice.name.replace("alice", "bob")
    out = bob.run("register", bob_name).stdout
    phrase = re.search(r"Recovery phrase \(write it down\): (.+)", out)
    assert phrase is not None and len(phrase.group(1).split()) == 12
    assert f"Signed up as {bob_name}@localhost." in out

    alice.start_direct(bob_name)
    alice.say("Hi Bob, from the browser")
    rows = wait_for_history(bob, alice.name, "Hi Bob, from the browser")
    assert rows == [(f"{alice.name}@localhost", "Hi Bob, from the browser")]
    chats = bob.run("chats").stdout.splitlines()
    assert len(chats) == 1 and chats[0].endswith(f"\tdirect\t{alice.name}")

    bob.run("send", alice.name, "Hi Alice, from the terminal")
    alice.expect_message("Hi Alice, from the terminal")

    listener = bob.listen()
    alice.say("Are you listening?")
    alice.say("And in order?")
    first = listener.expect("Are you listening?")
    assert first.startswith(f"{alice.name}\t") and f"\t{alice.name}@localhost\t" in first
    listener.expect("And in order?")
    # One process per vault: a second one while `listen` holds it would fork the MLS state.
    busy = bob.run("chats", check=False)
    assert busy.returncode == 3 and "is in use by another talkee-cli" in busy.stderr
    assert listener.seen == [first, listener.seen[-1]], "a message printed twice or out of order"
    assert listener.stop() == 0
    # Sent by its chat's id as well as by the person's name.
    chat_id = chats[0].split("\t")[0]
    bob.run("send", chat_id, "Yes, both")
    alice.expect_message("Yes, both")

    assert bob.history(alice.name) == [
        (f"{alice.name}@localhost", "Hi Bob, from the browser"),
        (f"{bob_name}@localhost", "Hi Alice, from the terminal"),
        (f"{alice.name}@localhost", "Are you listening?"),
        (f"{alice.name}@localhost", "And in order?"),
        (f"{bob_name}@localhost", "Yes, both"),
    ]
    typed = [*alice.typed, "Hi Alice, from the terminal", "Yes, both"]
    assert_private(app_server, typed)

    # The vault file: the browser's sealed rows, owner-only, nothing of what was said.
    assert stat.S_IMODE(bob.vault.stat().st_mode) == 0o600
    raw = bob.vault.read_bytes()
    for text in [*typed, alice.name, phrase.group(1).split()[0] + " " + phrase.group(1).split()[1]]:
        at = raw.find(text.encode())
        assert at < 0, f"{text!r} readable in the vault file: {raw[max(0, at - 120) : at + 60]!r}"
    vault = json.loads(raw)
    assert vault["format"] == "talkee-vault-file-v1" and set(vault["meta"]["header"]) >= {"salt", "wrappedKey", "nonce"}
    assert all(set(row) == {"nonce", "ciphertext"} for row in vault["rows"].values())

    # A wrong password opens nothing and says so.
    wrong = Cli(bob.vault, app_server.url, extra_env={"TALKEE_PASSWORD": "not the password"})
    result = wrong.run("chats", check=False)
    assert result.returncode == 1 and "Wrong password" in result.stderr and result.stdout == ""
    # Without TALKEE_PASSWORD it reads the password from its input.
    env = {k: v for k, v in bob.env().items() if k != "TALKEE_PASSWORD"}
    piped = subprocess.run(
        bob.argv(["chats"]), env=env, input=PASSWORD + "\n", capture_output=True, text=True, timeout=120
    )
    assert piped.returncode == 0 and piped.stdout.splitlines() == chats, piped.stderr
    # Bad input gets a sentence and a usage exit code, not a stack.
    result = bob.run("history", "nobody-such", check=False)
    assert result.returncode == 2 and 'no chat "nobody-such"' in result.stderr


def test_cli_signs_in_as_a_new_device_with_the_recovery_phrase(
    people: Any, app_server: LiveServer, tmp_path: Path
) -> None:
    """Bob made his account in the browser; the CLI becomes his second device, certified
    with the phrase: his first device adds it to the chat with Alice, and it talks there."""
    alice, bob = pair(people)
    cli = Cli(tmp_path / "vault.json", app_server.url)
    out = cli.run("login", bob.name, "--phrase", phrase=" ".join(bob.words)).stdout
    assert f"Signed in as {bob.name}@localhost; this device is certified." in out
    alice.say("Now also to the terminal")
    bob.expect_message("Now also to the terminal")
    rows = wait_for_history(cli, alice.name, "Now also to the terminal")
    assert (f"{alice.name}@localhost", "Now also to the terminal") in rows
    cli.run("send", alice.name, "Typed on Bob's terminal")
    alice.expect_message("Typed on Bob's terminal")
    # His browser shows it as his own (another device of his).
    bob.expect_message("Typed on Bob's terminal")
    assert_private(app_server, [*alice.typed, *bob.typed, "Typed on Bob's terminal"])


def test_cli_device_waits_until_the_pwa_approves_it(people: Any, app_server: LiveServer, tmp_path: Path) -> None:
    """Without the phrase the CLI shows its approval code and waits; Bob's browser shows
    the same code and approves; then the CLI is in the chat."""
    from apps.devices.models import Device

    alice, bob = pair(people)
    cli = Cli(tmp_path / "vault.json", app_server.url)
    login = subprocess.Popen(
        cli.argv(["login", bob.name]), env=cli.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert login.stderr is not None
        line = login.stderr.readline()
        code = re.search(r"its code is (\d{4}( \d{4}){4})$", line.strip())
        assert code is not None, line
        device = Device.objects.filter(user__username__startswith=bob.name + "@").order_by("pk").last()
        assert device is not None and device.certificate is None
        notice = bob.page.get_by_role("status", name="Device approval")
        expect(notice).to_have_text(re.compile("A new device wants to join your account"), timeout=SLOW)
        notice.get_by_role("button", name="Review").click()
        shown = bob.page.get_by_label(re.compile(rf"^Approval code of .*#{device.pk}$"))
        expect(shown).to_have_text(code.group(1), timeout=SLOW)
        bob.page.get_by_role("button", name=re.compile(rf"^Approve .*#{device.pk}$")).click()
        out, err = login.communicate(timeout=120)
        assert login.returncode == 0, err
        assert "this device is certified" in out
    finally:
        if login.poll() is None:
            login.kill()
    device.refresh_from_db()
    assert device.certificate is not None
    alice.say("After the CLI was approved")
    rows = wait_for_history(cli, alice.name, "After the CLI was approved")
    assert (f"{alice.name}@localhost", "After the CLI was approved") in rows


def test_cli_talks_to_the_pwa_through_a_recursive_resolver_only(
    people: Any, app_server: LiveServer, tmp_path: Path
) -> None:
    """Bob's CLI is given Debian's unbound (a stub zone delegating the tunnel zone to the
    gateway) and, as its server, a port that only counts connections: the chat with Alice
    in Chromium goes both ways and is listened to, all in plain DNS queries (UDP, TCP when
    truncated) — and nothing ever connects to the server port. (Joining a chat takes HTTPS
    once: the chat's record comes from /v1/chats, which the tunnel does not carry.)"""
    alice = people("alice")
    alice.sign_up()
    bob_name = alice.name.replace("alice", "bob")
    https = Cli(tmp_path / "bob.json", app_server.url)
    https.run("register", bob_name)  # signing in takes HTTPS; the tunnel's zone and key are remembered
    trap = Trap()
    try:
        with gateway(tmp_path) as running, unbound(tmp_path, ZONE, running.port, caps_for_id=True) as resolver:
            bob = Cli(https.vault, trap.url, dns=f"127.0.0.1:{resolver.port}")
            alice.start_direct(bob_name)
            alice.say("Hello over HTTPS")
            assert wait_for_history(https, alice.name, "Hello over HTTPS")
            alice.say("Bob, can you hear me through DNS?")
            rows = wait_for_history(bob, alice.name, "Bob, can you hear me through DNS?")
            assert rows[-1] == (f"{alice.name}@localhost", "Bob, can you hear me through DNS?")
            bob.run("send", alice.name, "Loud and clear, over the resolver")
            alice.expect_message("Loud and clear, over the resolver")
            listener = bob.listen()
            alice.say("One")
            alice.say("Two")
            listener.expect("One")
            listener.expect("Two")
            assert [line.rsplit("\t", 1)[1] for line in listener.seen] == ["One", "Two"]
            assert listener.stop() == 0
            # A lossy path to the resolver: a tenth of its UDP answers lost (sent again), a
            # fifth truncated (asked again over TCP); still once each, in order.
            with FaultyRelay(resolver.port, drop=0.1, truncate=0.2) as relay:
                lossy = Cli(https.vault, trap.url, dns=f"127.0.0.1:{relay.port}")
                alice.say("Through a lossy path")
                wait_for_history(lossy, alice.name, "Through a lossy path")
                lossy.run("send", alice.name, "Back through the lossy path")
                alice.expect_message("Back through the lossy path")
                assert relay.counts["truncated"] > 0 and relay.counts["tcp"] > 0, relay.counts
            assert [text for _, text in bob.history(alice.name)] == [
                "Hello over HTTPS",
                "Bob, can you hear me through DNS?",
                "Loud and clear, over the resolver",
                "One",
                "Two",
                "Through a lossy path",
                "Back through the lossy path",
            ]
            assert trap.connections == 0, "the CLI connected to the server port with --dns"
            # Without --dns it tries the socket and HTTPS first (a closed port: refused),
            # then goes to the resolver by itself.
            auto = Cli(https.vault, f"http://127.0.0.1:{free_port()}", fallback=f"127.0.0.1:{resolver.port}")
            auto.run("send", alice.name, "HTTPS failed, DNS took over")
            alice.expect_message("HTTPS failed, DNS took over")
            assert running.process.poll() is None and resolver.process.poll() is None, resolver.log()
    finally:
        trap.close()
    # Given nothing else, it cannot sign in (that takes HTTPS) and says so.
    result = Cli(tmp_path / "other.json", trap.url, dns="127.0.0.1:9").run("login", "carol", check=False)
    assert result.returncode == 2 and "needs the server over HTTPS" in result.stderr
    sent = ["Loud and clear, over the resolver", "Back through the lossy path", "HTTPS failed, DNS took over"]
    assert_private(app_server, [*alice.typed, *sent])


def test_files_between_the_cli_and_the_pwa(people: Any, app_server: LiveServer, tmp_path: Path) -> None:
    """Bob's CLI sends a file Alice downloads in Chromium, and saves the one she attaches:
    the same bytes at each end; the server holds neither content, name nor true size."""
    alice = people("alice")
    alice.sign_up()
    bob_name = alice.name.replace("alice", "bob")
    bob = Cli(tmp_path / "bob.json", app_server.url)
    bob.run("register", bob_name)
    alice.start_direct(bob_name)
    alice.say("Send me the figures")
    wait_for_history(bob, alice.name, "Send me the figures")

    name = "figures-from-the-terminal.csv"
    contents = b"region,revenue\nnorth,1234567\n" * 100 + os.urandom(1_500_000)
    (tmp_path / name).write_bytes(contents)
    bob.run("send-file", alice.name, str(tmp_path / name))
    download = alice.log.get_by_role("button", name=f"Download {name}")
    expect(download).to_be_visible(timeout=SLOW)
    with alice.page.expect_download() as download_info:
        download.click()
    assert download_info.value.suggested_filename == name
    download_info.value.save_as(tmp_path / "alice-got")
    assert (tmp_path / "alice-got").read_bytes() == contents

    back = tmp_path / "notes-from-the-browser.txt"
    back_contents = b"the browser's notes\n" * 2000 + os.urandom(70_000)
    back.write_bytes(back_contents)
    alice.attach(str(back))
    expect(alice.log.get_by_role("button", name=f"Download {back.name}")).to_be_visible(timeout=SLOW)
    rows = wait_for_history(bob, alice.name, f"[file {back.name}, {len(back_contents)} bytes]")
    assert (f"{bob_name}@localhost", f"[file {name}, {len(contents)} bytes]") in rows
    saved = tmp_path / "bob-got"
    bob.run("save-file", alice.name, back.name, str(saved))
    assert saved.read_bytes() == back_contents
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    # It never overwrites a file; with --dns it says files take HTTPS.
    again = bob.run("save-file", alice.name, back.name, str(saved), check=False)
    assert again.returncode == 2 and "exists" in again.stderr
    over_dns = Cli(bob.vault, app_server.url, dns="127.0.0.1:9").run("send-file", alice.name, str(back), check=False)
    assert over_dns.returncode == 2 and "needs the server over HTTPS" in over_dns.stderr

    assert_private(app_server, [*alice.typed, name, back.name], [contents[-4096:], back_contents[-4096:]])
    assert_sizes_private(app_server, [len(contents), len(back_contents)])
