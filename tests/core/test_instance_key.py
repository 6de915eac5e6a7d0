"""The instance's Ed25519 key: made once, mode 0600, never replaced, published for peers."""

import base64
import stat
import threading
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from nacl.signing import SigningKey

from apps.federation.instance_key import KEY_FILE, ensure_instance_key, instance_signing_key


@pytest.fixture
def key_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "var" / "keys"
    instance_signing_key.cache_clear()
    with override_settings(TALKEE_KEY_DIR=directory):
        yield directory
    instance_signing_key.cache_clear()


def run_command() -> str:
    out = StringIO()
    call_command("ensure_instance_key", stdout=out)
    return out.getvalue()


def test_first_run_creates_a_private_key_file(key_dir: Path) -> None:
    assert not key_dir.exists()
    output = run_command()
    path = key_dir / KEY_FILE
    assert "created" in output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_dir.stat().st_mode) & 0o077 == 0, "the key directory is private too"
    seed = path.read_bytes()
    assert len(seed) == 32
    public = base64.b64encode(bytes(SigningKey(seed).verify_key)).decode()
    assert public in output
    assert base64.b64encode(seed).decode() not in output, "the private seed is never printed"


def test_later_runs_keep_the_same_key(key_dir: Path) -> None:
    run_command()
    path = key_dir / KEY_FILE
    first = path.read_bytes()
    first_mtime = path.stat().st_mtime_ns
    instance_signing_key.cache_clear()  # as a restarted process would
    output = run_command()
    assert "kept" in output
    assert path.read_bytes() == first
    assert path.stat().st_mtime_ns == first_mtime
    assert bytes(instance_signing_key()) == first


def test_concurrent_first_starts_make_exactly_one_key(key_dir: Path) -> None:
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        results.append(ensure_instance_key())

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]
    assert len((key_dir / KEY_FILE).read_bytes()) == 32


def test_a_damaged_key_file_is_refused_not_replaced(key_dir: Path) -> None:
    key_dir.mkdir(parents=True)
    path = key_dir / KEY_FILE
    path.write_bytes(b"not a seed")
    with pytest.raises(RuntimeError, match="refusing to replace"):
        run_command()
    assert path.read_bytes() == b"not a seed"


def test_well_known_publishes_the_matching_public_key(key_dir: Path) -> None:
    run_command()
    seed = (key_dir / KEY_FILE).read_bytes()
    response = Client().get("/.well-known/talkee/server")
    assert response.status_code == 200
    body = response.json()
    assert body["ed25519_pub"] == base64.b64encode(bytes(SigningKey(seed).verify_key)).decode()
    assert body["domain"] == "localhost"
    assert body["federation_url"].endswith("/s2s/")
    assert base64.b64encode(seed).decode() not in response.content.decode()


def test_processes_starting_together_all_read_the_one_whole_key(tmp_path: Path) -> None:
    """First boot with daphne and the Celery worker (or several servers) starting at once:
    a process that loses the race must never read a half-written key file."""
    for round_ in range(30):
        directory = tmp_path / f"round{round_}"
        seeds: list[bytes] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(6)

        def start(barrier: threading.Barrier, seeds: list[bytes], errors: list[BaseException]) -> None:
            barrier.wait()
            try:
                seeds.append(bytes(instance_signing_key.__wrapped__()))  # uncached, as a fresh process
            except BaseException as error:
                errors.append(error)

        with override_settings(TALKEE_KEY_DIR=directory):
            threads = [threading.Thread(target=start, args=(barrier, seeds, errors)) for _ in range(6)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert not errors, f"round {round_}: {errors[0]!r}"
        assert len(set(seeds)) == 1 and len(seeds) == 6
        assert not [p.name for p in directory.iterdir() if p.name != KEY_FILE], "no temporary files left"
