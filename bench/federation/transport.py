"""Federation transport figures between two real instances on loopback.

    .venv/bin/python bench/federation/transport.py [--envelopes 5000] [--size 1024]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust); creates and drops the databases
`talkee_bench_fed_a` / `talkee_bench_fed_b`. Makes a throwaway CA (the tests' helper,
tests/federation/pki.py), starts A's and B's s2s listeners (`python -m talkee.server --s2s`,
127.0.0.2 / 127.0.0.3) and B's client port (plain http, for the comparison), and drives A's
delivery from this process with `deliver_to` — what the `deliver_outbox` task runs, batch
after batch, for one destination. Measures envelopes/s over mutual TLS and over plain http,
and the catch-up after B was down while 1,000 envelopes were queued. Prints Markdown.
"""

import argparse
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from tests.federation.pki import Pki, make_pki  # noqa: E402

PG = "postgresql://postgres@127.0.0.1:5432"
A, B = "localhost", "b.test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def recreate(db: str) -> None:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db}"')


def drop(db: str) -> None:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def instance_env(domain: str, db: str, tmp: Path, hosts: str, pki: Pki, host: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "talkee.settings.dev",
        "DEBUG": "false",
        "DATABASE_URL": f"{PG}/{db}",
        "TALKEE_DOMAIN": domain,
        "ALLOWED_HOSTS": f"{host},{domain}",
        "TALKEE_VAR_DIR": str(tmp / domain),
        "TALKEE_FEDERATION_HOSTS": hosts,
        "PYTHONUNBUFFERED": "1",
        # inbox handling is queued (to an in-process broker nobody consumes), not run inline
        # in the request as in the embedded default: this measures the transport
        "CELERY_BROKER_URL": "memory://",
        **pki.env(domain),
    }


class Process:
    def __init__(self, args: list[str], env: dict[str, str], host: str, port: int, log: Path) -> None:
        self.args, self.env, self.host, self.port, self.log = args, env, host, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        started = time.monotonic()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "talkee.server", *self.args, "--host", self.host, "--port", str(self.port)],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = started + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return time.monotonic() - started
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.args} did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--envelopes", type=int, default=5000)
    parser.add_argument("--size", type=int, default=1024, help="ciphertext bytes per envelope (before base64)")
    options = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="talkee-bench-fed-"))
    pki = make_pki(tmp / "pki", "Talkee bench CA", [A, B])
    db_a, db_b = "talkee_bench_fed_a", "talkee_bench_fed_b"
    a_port, b_port, b_http_port = free_port(), free_port(), free_port()
    env_a = instance_env(A, db_a, tmp, f"{B}=127.0.0.3:{b_port}", pki, "127.0.0.2")
    env_b = instance_env(B, db_b, tmp, f"{A}=127.0.0.2:{a_port}", pki, "127.0.0.3")
    for db in (db_a, db_b):
        recreate(db)
    migrations = [
        subprocess.Popen([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env)
        for env in (env_a, env_b)
    ]
    assert all(m.wait() == 0 for m in migrations)
    a_s2s = Process(["--s2s"], env_a, "127.0.0.2", a_port, tmp / "a.log")
    b_s2s = Process(["--s2s"], env_b, "127.0.0.3", b_port, tmp / "b.log")
    b_http = Process([], {**env_b, "TALKEE_FEDERATION_REQUIRE_MTLS": "false"}, "127.0.0.3", b_http_port, tmp / "b.log")
    processes = [a_s2s, b_s2s, b_http]
    try:
        for process in processes:
            process.start()
        rows = run(env_a, b_http_port, options.envelopes, options.size, b_s2s)
    finally:
        for process in processes:
            process.stop()
        for db in (db_a, db_b):
            drop(db)
    print(f"| measured ({options.envelopes} envelopes of {options.size} B ciphertext, 100 per batch) | value |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


def run(env_a: dict[str, str], b_http_port: int, count: int, size: int, b_s2s: Process) -> list[tuple[str, str]]:
    os.environ.pop("REDIS_URL", None)
    os.environ.update(env_a)
    import django

    django.setup()
    import base64

    from django.test import override_settings
    from django.utils import timezone

    from apps.federation.models import OutboxEnvelope
    from apps.federation.services import deliver_to

    def fill(n: int) -> None:
        now = timezone.now()
        OutboxEnvelope.objects.bulk_create(
            [
                OutboxEnvelope(
                    destination=B,
                    txn_id=secrets.token_urlsafe(24),
                    kind="message",
                    body={"ciphertext": base64.b64encode(secrets.token_bytes(size)).decode()},
                    next_attempt_at=now,
                )
                for _ in range(n)
            ],
            batch_size=1000,
        )

    def drain() -> tuple[int, float]:
        started, total = time.monotonic(), 0
        while sent := deliver_to(B):
            total += sent
        return total, time.monotonic() - started

    rows: list[tuple[str, str]] = []
    fill(100)
    _, first = drain()  # first contact: B fetches A's key from A's listener and pins it
    rows.append(("first batch (B discovers and pins A)", f"{first * 1000:.0f} ms"))
    fill(count)
    sent, seconds = drain()
    rows.append(("envelopes/s over mutual TLS", f"{sent / seconds:,.0f} ({sent} in {seconds:.2f} s)"))
    with override_settings(TALKEE_FEDERATION_SCHEME="http", TALKEE_FEDERATION_HOSTS={B: f"127.0.0.3:{b_http_port}"}):
        fill(count)
        sent, seconds = drain()
    rows.append(("envelopes/s over plain http (B's client port, mTLS off)", f"{sent / seconds:,.0f}"))

    b_s2s.stop()
    fill(1000)
    assert deliver_to(B) == 0  # B is down: the batch backs off
    waiting = OutboxEnvelope.objects.filter(delivered_at=None).count()
    restart = b_s2s.start()
    OutboxEnvelope.objects.filter(delivered_at=None).update(next_attempt_at=timezone.now())  # backoff over
    sent, seconds = drain()
    assert sent == waiting == 1000
    rows.append(("B's s2s listener restart (process start to port open)", f"{restart:.2f} s"))
    rows.append(("catch-up of 1,000 envelopes queued during the outage", f"{seconds:.2f} s"))
    return rows


if __name__ == "__main__":
    main()
