"""PostgreSQL and Redis of a test's own, and a whole instance on them (daphne + a Celery
worker): for tests that stop and start the services under a running instance, which the
shared services must never be for other tests."""

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, CeleryWorker, LiveServer, _wait_for_port, free_port, start_daphne, stop


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        pytest.fail(f"PostgreSQL's {name} is not installed (package postgresql)")
    return found[-1]


class OwnPostgres:
    """A PostgreSQL cluster of the test's own, on a free loopback port, trust auth."""

    def __init__(self) -> None:
        # Outside pytest's tmp tree: PostgreSQL runs as `postgres`, who may not enter root's.
        self.home = Path(tempfile.mkdtemp(prefix="talkee-own-pg-"))
        self.dir = self.home / "data"
        self.socket_dir = self.home / "sock"
        self.port = free_port()
        for path in (self.home, self.dir, self.socket_dir):
            path.mkdir(exist_ok=True)
            shutil.chown(path, "postgres", "postgres")
        self._as_postgres(_pg_bin("initdb"), "-D", str(self.dir), "-A", "trust", "-U", "postgres", "--no-sync")

    def _as_postgres(self, *args: str) -> None:
        done = subprocess.run(["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True)
        assert done.returncode == 0, f"{args[0]}: {done.stdout}{done.stderr}"

    def remove(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            _pg_bin("pg_ctl"), "-D", str(self.dir), "-o", options, "-l", str(self.dir / "log"), "-w", "start"
        )

    def stop(self) -> None:
        pg_ctl = [_pg_bin("pg_ctl"), "-D", str(self.dir), "status"]
        status = subprocess.run(["runuser", "-u", "postgres", "--", *pg_ctl], capture_output=True)
        if status.returncode == 0:  # 3: not running (a failed test may have left it so)
            self._as_postgres(_pg_bin("pg_ctl"), "-D", str(self.dir), "-m", "fast", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/talkee"

    def dump(self) -> bytes:
        """Every row of the instance's database, as an attacker with a copy reads it."""
        done = subprocess.run(
            [_pg_bin("pg_dump"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "--data-only", "talkee"],
            capture_output=True,
            check=True,
        )
        return done.stdout


class OwnRedis:
    """A Redis of the test's own that keeps an append-only file, as docker/compose.yaml's does."""

    def __init__(self, tmp: Path) -> None:
        self.dir = tmp / "redis"
        self.dir.mkdir()
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir)]
        args += ["--appendonly", "yes", "--save", ""]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for_port(self.port, self.process)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@dataclass
class OwnInstance:
    postgres: OwnPostgres
    redis: OwnRedis
    server: LiveServer
    worker: CeleryWorker

    def assert_private(self, texts: list[str]) -> None:
        """None of `texts` in the database (as text, or hex inside bytea) or the logs."""
        assert texts, "the scan needs the typed texts"
        dump = self.postgres.dump()
        logs = self.server.log().encode() + self.worker.log_path.read_bytes()
        for text in texts:
            needle = text.encode()
            assert needle not in dump and needle.hex().encode() not in dump, f"plaintext {text!r} in the database"
            assert needle not in logs, f"plaintext {text!r} in the server's or the worker's log"


@contextmanager
def own_instance(tmp: Path, name: str, extra_env: dict[str, str] | None = None) -> Iterator[OwnInstance]:
    """The production shape on loopback: daphne and a Celery worker on a PostgreSQL and a
    Redis of their own (migrated), all stopped and removed afterwards."""
    postgres, redis = OwnPostgres(), OwnRedis(tmp)
    postgres.start()
    redis.start()
    try:
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(postgres.port), "-U", "postgres", "-c", "CREATE DATABASE talkee"],
            check=True,
            capture_output=True,
        )
        env = {
            "DJANGO_SETTINGS_MODULE": "talkee.settings.test",
            "DATABASE_URL": postgres.url,
            "REDIS_URL": redis.url,
            "CELERY_BROKER_URL": redis.url,
            "CACHE_KEY_PREFIX": name,
            # Sockets check their live layer every second (20 s in production) so tests are short.
            "TALKEE_WS_LAYER_CHECK_SECONDS": "1",
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        full_env = {**os.environ, **env}
        # What `make run` and the compose file's migrate step do before anything serves.
        for command in (["migrate", "--noinput"], ["ensure_instance_key"], ["ensure_vapid_key"]):
            subprocess.run(
                [sys.executable, "manage.py", *command], cwd=ROOT, env=full_env, check=True, capture_output=True
            )
        server = start_daphne(tmp, name, env)
        worker = CeleryWorker(tmp / f"{name}-worker.log", full_env)
        try:
            worker.start()
            yield OwnInstance(postgres, redis, server, worker)
        finally:
            worker.stop()
            stop(server.process)
    finally:
        redis.stop()
        postgres.stop()
        postgres.remove()
