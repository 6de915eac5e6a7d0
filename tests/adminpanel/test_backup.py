"""`manage.py backup` and `manage.py restore`, run as an operator runs them (subprocesses).

End to end on the production shape: this run's instance (`localhost`: PostgreSQL, Redis, a
live daphne, its s2s listener and a real Celery worker) federates with instance B, its users
chat and send a file; it is backed up while uploads keep arriving, restored into a new
database, blob directory and key directory, and started again with its own worker. The
existing device logs in and reads the same history, downloads the same bytes, and B — which
pinned the original key — accepts what the restored instance sends.

Faults: an unreachable database and a full disk leave no archive; a damaged, truncated or
foreign archive and a database that holds accounts are refused before anything changes.
"""

import hashlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import psycopg
import pytest
from blake3 import blake3
from django.conf import settings
from nacl.signing import SigningKey

from apps.blobs.services import purge_orphan_files
from apps.blobs.sizes import encrypted_size
from apps.blobs.storage import delete_files_now, save_stream, stored_names
from apps.core.deletion_fence import deletions_held
from tests.blobs.liveclient import LiveClient
from tests.conftest import (
    ROOT,
    Account,
    CeleryWorker,
    LiveServer,
    b64,
    federation_hosts_env,
    json_call,
    make_chat,
    send,
    server_env,
    start_daphne,
    stop,
    use_blob_dir,
)
from tests.federation.conftest import S2sListener, instance_a_s2s  # noqa: F401 (fixture)
from tests.federation.pki import Pki
from tests.support.database import empty_database
from tests.support.federation import (
    InstanceB,
    RemoteAccount,
    chat_history,
    instance_b,  # noqa: F401 (fixture)
    start_direct_chat,
    wait_until,
)

pytestmark = pytest.mark.django_db(transaction=True)

FILE_SIZE = encrypted_size(2 * 1024 * 1024)  # three upload chunks, the last short
SMALL_FILE = encrypted_size(32 * 1024)


def manage(*arguments: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def assert_clean_failure(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    """Non-zero, one clear line on stderr naming the cause, no traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    message = result.stderr.strip().splitlines()[-1]
    for words in expected:
        assert words.lower() in message.lower(), message


def looks_complete(directory: Path) -> list[str]:
    """Names an operator would take for an archive: anything not hidden."""
    return sorted(p.name for p in directory.iterdir() if not p.name.startswith("."))


@pytest.fixture
def restored_dirs(tmp_path: Path) -> dict[str, str]:
    """Where a restored instance keeps its blobs and keys (nothing there yet)."""
    return {"TALKEE_BLOB_DIR": str(tmp_path / "restored-blobs"), "TALKEE_KEY_DIR": str(tmp_path / "restored-keys")}


# --- end to end -----------------------------------------------------------------------


def stored_blobs(dsn: str) -> list[tuple[str, int]]:
    """(storage name, length) of every file the database names: whole blobs and parts."""
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT storage_name, size FROM blobs_blob WHERE storage_name <> ''"
            " UNION ALL SELECT storage_name, length FROM blobs_blobchunk"
        ).fetchall()


class Uploads(threading.Thread):
    """Keeps uploading files through the live server until stopped (while the backup runs)."""

    def __init__(self, client: LiveClient, chat_id: str) -> None:
        super().__init__(daemon=True)
        self.client, self.chat_id = client, chat_id
        self.stopping = threading.Event()
        self.done = 0

    def run(self) -> None:
        while not self.stopping.is_set():
            self.client.upload(self.chat_id, os.urandom(SMALL_FILE))
            self.done += 1


@pytest.mark.slow
def test_a_restored_instance_serves_its_users_their_history_files_and_peers(
    make_account: Any,
    live_server_daphne: LiveServer,
    instance_b: InstanceB,  # noqa: F811 (the fixture imported above)
    federation_pki: Pki,
    restored_dirs: dict[str, str],
    tmp_path: Path,
) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group", bob)
    data = os.urandom(FILE_SIZE)
    blob_id = LiveClient(live_server_daphne.url, alice.token).upload(chat["id"], data)
    for n in range(5):
        assert send(alice, chat["id"], f"sealed {n}".encode()).status_code == 201
    assert send(alice, chat["id"], b"sealed file", blob_ids=[blob_id]).status_code == 201
    carol = RemoteAccount.register(instance_b, "carol")
    direct = start_direct_chat(alice, carol)
    assert instance_b.pinned() == ["localhost"], "B pinned this instance's key"
    history = bob.client.get(f"/v1/chats/{chat['id']}/messages?limit=50").json()
    stream = bob.client.get("/v1/sync", {"cursor": 0, "timeout": 0}).json()
    # The key directory the live processes use: the instance key (made when A first signed)
    # and the VAPID key, as `make run` and the compose `migrate` step leave them.
    assert manage("ensure_vapid_key", env=server_env()).returncode == 0
    original_keys = {p.name: p.read_bytes() for p in Path(settings.TALKEE_KEY_DIR).iterdir()}
    assert set(original_keys) == {"instance_ed25519", "vapid_p256.pem"}
    original_key = original_keys["instance_ed25519"]

    uploads = Uploads(LiveClient(live_server_daphne.url, alice.token), chat["id"])
    uploads.start()
    backups = tmp_path / "backups"
    backups.mkdir()
    try:
        made = manage("backup", str(backups), env=server_env())
    finally:
        uploads.stopping.set()
        uploads.join(timeout=60)
    assert made.returncode == 0, made.stderr
    assert uploads.done > 0, "files were uploaded while the backup ran"
    [archive] = list(backups.iterdir())
    assert archive.name.startswith("talkee-backup-") and archive.suffix == ".tar"
    assert archive.stat().st_mode & 0o077 == 0, "the archive holds private keys: the operator's only"
    assert str(archive) in made.stdout

    with empty_database("restored") as restored_url:
        restored_env = {**restored_dirs, "DATABASE_URL": restored_url}
        done = manage("restore", str(archive), env=server_env(restored_env))
        assert done.returncode == 0, done.stderr
        assert manage("migrate", "--noinput", env=server_env(restored_env)).returncode == 0
        blob_root = Path(restored_dirs["TALKEE_BLOB_DIR"])
        # Every file the snapshot names is there, whole (the uploads during the backup too, if
        # their rows made it into the snapshot); the extra files written after it are harmless.
        named = stored_blobs(restored_url.replace("postgres://", "postgresql://"))
        assert named
        for storage_name, length in named:
            assert (blob_root / storage_name).stat().st_size == length
        keys = Path(restored_dirs["TALKEE_KEY_DIR"])
        assert {p.name: p.read_bytes() for p in keys.iterdir()} == original_keys
        assert [p.stat().st_mode & 0o777 for p in keys.iterdir()] == [0o600, 0o600]
        assert keys.stat().st_mode & 0o777 == 0o700

        # The restored instance, with its own worker (broker, cache and channel layer keys
        # apart from the original's on the shared Redis).
        restored_env.update(
            CACHE_KEY_PREFIX="backup-restored",
            CELERY_BROKER_KEYPREFIX="backup-restored-broker:",
            CHANNEL_LAYER_PREFIX="backup-restored-asgi",
            TALKEE_FEDERATION_HOSTS=federation_hosts_env(),
            **federation_pki.env("localhost"),
        )
        worker = CeleryWorker(tmp_path / "restored-worker.log", server_env(restored_env))
        worker.start()
        restored = start_daphne(tmp_path, "restored", restored_env)
        try:
            check_the_restored_instance(restored, alice, bob, chat["id"], blob_id, data, history, stream)
            status, well_known = json_call(restored.url, "GET", "/.well-known/talkee/server")
            assert status == 200
            assert well_known["ed25519_pub"] == b64(bytes(SigningKey(original_key).verify_key))
            # B checks what the restored instance sends against the key it pinned: accepted.
            sent = json_call(
                restored.url,
                "POST",
                f"/v1/chats/{direct}/messages",
                {"client_message_id": "after-restore", "kind": "application", "epoch": 0, "ciphertext": b64(b"x")},
                alice.token,
            )
            assert sent[0] == 201, sent
            wait_until(lambda: sent[1]["seq"] in chat_history(carol, direct), "the message on B")
            assert instance_b.pinned() == ["localhost"]
        finally:
            stop(restored.process)
            worker.stop()


def check_the_restored_instance(
    restored: LiveServer,
    alice: Account,
    bob: Account,
    chat_id: str,
    blob_id: str,
    data: bytes,
    history: dict[str, Any],
    stream: dict[str, Any],
) -> None:
    # The session the device had still works; and the device signs in again as itself.
    status, chats = json_call(restored.url, "GET", "/v1/chats", token=bob.token)
    assert status == 200 and chat_id in [c["id"] for c in chats], chats
    client = LiveClient(restored.url, "")
    nonce = client.post_json("/v1/auth/challenge", {"username": bob.username}).json()["nonce"]
    signed_in = client.post_json(
        "/v1/auth/login",
        {
            "username": bob.username,
            "password": bob.password,
            "device": bob.device.as_json(),
            "nonce": nonce,
            "signature": bob.device.sign(nonce),
        },
    )
    assert signed_in.status == 200, signed_in.body
    assert signed_in.json()["device_id"] == bob.device_id, "the existing device, not a new one"
    token = signed_in.json()["token"]
    # The same history and the same stream of events, and the file's bytes.
    status, restored_history = json_call(restored.url, "GET", f"/v1/chats/{chat_id}/messages?limit=50", token=token)
    assert (status, restored_history) == (200, history)
    status, restored_stream = json_call(restored.url, "GET", "/v1/sync?cursor=0&timeout=0", token=token)
    assert status == 200
    assert restored_stream["events"] == stream["events"]
    assert LiveClient(restored.url, token).download_digest(blob_id) == (200, blake3(data).digest(), len(data))


# --- faults ---------------------------------------------------------------------------


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port nothing listens on (bound without listen, so nobody else takes it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def test_an_unreachable_database_is_a_clear_failure_and_leaves_nothing(tmp_path: Path, closed_port: int) -> None:
    target = tmp_path / "backups"
    target.mkdir()
    env = server_env({"DATABASE_URL": f"postgres://postgres:s3cretpass@127.0.0.1:{closed_port}/talkee"})
    result = manage("backup", str(target), env=env)
    assert_clean_failure(result, "Backup failed", "no archive was written", "connection refused")
    assert "s3cretpass" not in result.stderr + result.stdout
    assert list(target.iterdir()) == [], "not even a temporary file"


def test_a_backup_stopped_midway_leaves_nothing_and_stops_pg_dump(tmp_path: Path) -> None:
    """SIGTERM (docker stop, systemd, Ctrl-C alike) while pg_dump is at work: a table it must
    read is locked, so it waits, deterministically, until the backup is told to stop."""
    target = tmp_path / "backups"
    target.mkdir()
    dsn = server_env()["DATABASE_URL"].replace("postgres://", "postgresql://")
    with psycopg.connect(dsn) as locker:
        locker.execute("LOCK TABLE django_migrations IN ACCESS EXCLUSIVE MODE")
        backup = subprocess.Popen(
            [sys.executable, "manage.py", "backup", str(target)],
            cwd=ROOT,
            env=server_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        waiting = "SELECT 1 FROM pg_stat_activity WHERE application_name = 'pg_dump' AND wait_event_type = 'Lock'"
        with psycopg.connect(dsn, autocommit=True) as watcher:
            wait_until(lambda: watcher.execute(waiting).fetchone() is not None, "pg_dump waiting for the lock")
        assert [p.name for p in target.iterdir() if p.name.startswith(".")], "its temporary files exist"
        assert pg_dumps_into(target), "pg_dump runs, writing into the target directory"
        backup.terminate()
        _, stderr = backup.communicate(timeout=30)
        # still under the lock: a pg_dump left running would still be waiting for it
        assert pg_dumps_into(target) == [], "pg_dump was stopped too"
    assert backup.returncode != 0
    assert "Traceback" not in stderr
    assert "backup interrupted by signal 15; no archive was written" in stderr.strip().splitlines()[-1]
    assert list(target.iterdir()) == []


def pg_dumps_into(directory: Path) -> list[int]:
    """pg_dump processes whose output file is below `directory`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0") if entry.name.isdigit() else []
        except OSError:
            continue
        if command and command[0].endswith(b"pg_dump") and any(str(directory).encode() in a for a in command):
            found.append(int(entry.name))
    return found


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB file system (tmpfs), smaller than any backup."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


@pytest.mark.parametrize("fills_up", ["database snapshot", "blob files"])
def test_a_full_disk_is_a_clear_failure_and_leaves_nothing(
    small_disk: Path, tmp_path: Path, fills_up: str, restored_dirs: dict[str, str]
) -> None:
    env = server_env()
    if fills_up == "blob files":
        # An empty database's snapshot fits; a 1 MiB blob does not.
        with empty_database("small") as url:
            env = server_env({"DATABASE_URL": url, "TALKEE_BLOB_DIR": str(tmp_path / "blobs")})
            (tmp_path / "blobs" / "ab").mkdir(parents=True)
            (tmp_path / "blobs" / "ab" / "ab01").write_bytes(os.urandom(1024 * 1024))
            result = manage("backup", str(small_disk / "nightly.tar"), env=env)
    else:
        result = manage("backup", str(small_disk / "nightly.tar"), env=env)
    assert_clean_failure(result, "Backup failed", "no archive was written", "no space left")
    assert list(small_disk.iterdir()) == [], "the partial files are gone"


def make_archive(tmp_path: Path) -> Path:
    """A real backup of this run's database and keys, with a blob store of one file."""
    blobs = tmp_path / "blobs" / "cd"
    blobs.mkdir(parents=True)
    (blobs / "cd02").write_bytes(os.urandom(40_000))
    keys = tmp_path / "keys"
    made = manage("ensure_instance_key", env=server_env({"TALKEE_KEY_DIR": str(keys)}))
    assert made.returncode == 0, made.stderr
    env = server_env({"TALKEE_BLOB_DIR": str(blobs.parent), "TALKEE_KEY_DIR": str(keys)})
    made = manage("backup", str(tmp_path / "good.tar"), env=env)
    assert made.returncode == 0, made.stderr
    return tmp_path / "good.tar"


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return make_archive(tmp_path)


def members(path: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(path) as tar:
        return tar.getmembers()


def test_restore_refuses_a_damaged_truncated_or_foreign_archive_and_changes_nothing(
    archive: Path, tmp_path: Path, restored_dirs: dict[str, str]
) -> None:
    names = [m.name for m in members(archive)]
    assert names[0] == "database.pgdump" and names[-1] == "manifest.json"
    assert {"keys/instance_ed25519", "blobs/cd/cd02"} <= set(names)

    flipped = tmp_path / "flipped.tar"
    data = bytearray(archive.read_bytes())
    database_member = members(archive)[0]
    data[database_member.offset_data + 100] ^= 0xFF  # one bit of the snapshot
    flipped.write_bytes(bytes(data))
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(archive.read_bytes()[: database_member.offset_data + database_member.size + 1024])
    not_tar = tmp_path / "notes.tar"
    not_tar.write_bytes(b"this is not an archive" * 100)
    cases = {
        flipped: "do not match their checksum",
        truncated: "",  # cut inside the archive: damaged or no manifest, either names it
        not_tar: "not a Talkee backup",
    }
    with empty_database("refused") as url:
        env = server_env({**restored_dirs, "DATABASE_URL": url})
        for bad, words in cases.items():
            result = manage("restore", str(bad), env=env)
            assert_clean_failure(result, "Restore failed", words)
        result = manage("restore", str(archive), env={**env, "TALKEE_DOMAIN": "elsewhere.example"})
        assert_clean_failure(result, "Restore failed", "the archive is of the instance localhost")
        # nothing was touched: no table, no blob, no key
        with psycopg.connect(url.replace("postgres://", "postgresql://")) as conn:
            tables = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
            assert tables.fetchone() == (0,)
    assert not Path(restored_dirs["TALKEE_BLOB_DIR"]).exists()
    assert not Path(restored_dirs["TALKEE_KEY_DIR"]).exists()


def test_restore_replaces_a_database_with_accounts_only_with_force(
    make_account: Any, restored_dirs: dict[str, str], tmp_path: Path
) -> None:
    make_account()  # the archive's database has an account (this run's database may have none)
    archive = make_archive(tmp_path)
    with empty_database("used") as url:
        env = server_env({**restored_dirs, "DATABASE_URL": url})
        # A fresh instance that started once (compose's `migrate` step ran, a key was made):
        # fine, its tables and key are replaced.
        assert manage("migrate", "--noinput", env=env).returncode == 0
        assert manage("ensure_instance_key", env=env).returncode == 0
        done = manage("restore", str(archive), env=env)
        assert done.returncode == 0, done.stderr
        restored_key = Path(restored_dirs["TALKEE_KEY_DIR"]) / "instance_ed25519"
        assert restored_key.read_bytes() == (archive.parent / "keys" / "instance_ed25519").read_bytes()
        assert manage("migrate", "--noinput", "--check", env=env).returncode == 0, "nothing left to migrate"
        again = manage("restore", str(archive), env=env)
        assert_clean_failure(again, "Restore failed", "already holds accounts", "--force")
        forced = manage("restore", "--force", str(archive), env=env)
        assert forced.returncode == 0, forced.stderr
    # the manifest's checksums are of the members as they were written
    with tarfile.open(archive) as tar:
        manifest = tar.extractfile("manifest.json")
        assert manifest is not None
        listed = json.loads(manifest.read())["members"]
        body = tar.extractfile("blobs/cd/cd02")
        assert body is not None
        assert listed["blobs/cd/cd02"]["sha256"] == hashlib.sha256(body.read()).hexdigest()
    assert (Path(restored_dirs["TALKEE_BLOB_DIR"]) / "cd" / "cd02").read_bytes() == (
        archive.parent / "blobs" / "cd" / "cd02"
    ).read_bytes()


# --- the embedded default -------------------------------------------------------------


def test_the_embedded_sqlite_instance_backs_up_and_restores(tmp_path: Path) -> None:
    """`make run`'s shape (SQLite in var/, no Redis): the same two commands."""

    def instance(name: str) -> dict[str, str]:
        var = tmp_path / name
        var.mkdir()
        return server_env(
            {
                "DATABASE_URL": f"sqlite:///{var / 'talkee.sqlite3'}",
                "REDIS_URL": "",
                "TALKEE_VAR_DIR": str(var),
                "TALKEE_BLOB_DIR": str(var / "blobs"),
                "TALKEE_KEY_DIR": str(var / "keys"),
                "DJANGO_SUPERUSER_PASSWORD": "operator password 7b41",
            }
        )

    original, restored = instance("original"), instance("restored")
    for step in (["migrate", "--noinput"], ["ensure_instance_key"], ["ensure_vapid_key"]):
        assert manage(*step, env=original).returncode == 0
    made = manage("createsuperuser", "--noinput", "--username", "operator", env=original)
    assert made.returncode == 0, made.stderr
    (tmp_path / "original" / "blobs" / "ef").mkdir(parents=True)
    (tmp_path / "original" / "blobs" / "ef" / "ef03").write_bytes(b"ciphertext" * 1000)
    made = manage("backup", str(tmp_path / "embedded.tar"), env=original)
    assert made.returncode == 0, made.stderr
    assert members(tmp_path / "embedded.tar")[0].name == "database.sqlite3"

    done = manage("restore", str(tmp_path / "embedded.tar"), env=restored)
    assert done.returncode == 0, done.stderr
    with closing(sqlite3.connect(tmp_path / "restored" / "talkee.sqlite3")) as conn:
        assert conn.execute("SELECT username FROM accounts_user").fetchall() == [("operator@localhost",)]
    assert (tmp_path / "restored" / "blobs" / "ef" / "ef03").read_bytes() == b"ciphertext" * 1000
    for key in ("instance_ed25519", "vapid_p256.pem"):
        restored_key = tmp_path / "restored" / "keys" / key
        assert restored_key.read_bytes() == (tmp_path / "original" / "keys" / key).read_bytes()
    again = manage("restore", str(tmp_path / "embedded.tar"), env=restored)
    assert_clean_failure(again, "Restore failed", "already holds accounts")
    # a PostgreSQL instance does not take a SQLite archive (nor the other way round)
    with empty_database("engine") as url:
        other = manage("restore", str(tmp_path / "embedded.tar"), env=server_env({"DATABASE_URL": url}))
        assert_clean_failure(other, "Restore failed", "holds a sqlite database")


# --- deletions wait for the copy --------------------------------------------------------


def test_no_blob_file_is_deleted_while_a_backup_holds_the_fence(settings: Any, tmp_path: Path) -> None:
    """What the backup's snapshot names stays until its copy is done; the files a deletion
    left then go with the orphan purge (the fence file itself is never taken for a blob)."""
    use_blob_dir(settings, tmp_path)
    name, _, _ = save_stream(BytesIO(b"sealed" * 100), 600)
    with deletions_held(tmp_path):
        delete_files_now([name])  # the commit dropping its row came after the snapshot
        assert (tmp_path / name).exists()
    assert sorted(stored_names()) == [name], "the fence is not a stored file"
    old = time.time() - 2 * 24 * 3600
    os.utime(tmp_path / name, (old, old))
    assert purge_orphan_files(timedelta(hours=24)) == 1
    assert not (tmp_path / name).exists()
    assert (tmp_path / ".backup-fence").exists()
