"""Federation figures between two real instances — not a test, not run by CI.

A is this process's database with a live daphne, its s2s listener (127.0.0.2) and the real
Celery worker (solo pool); B is `b.test`: its own daphne and s2s listener on 127.0.0.3 and
PostgreSQL database, tasks inline; the instances talk over mutual TLS — the harness of
tests/federation/test_cross_instance_chats.py.

    DJANGO_SETTINGS_MODULE=talkee.settings.test TALKEE_TEST_DB=test_talkee_bench_fed \\
    REDIS_URL=redis://127.0.0.1:6379/13 CACHE_KEY_PREFIX=benchfed \\
    .venv/bin/pytest -q -s -p no:cacheprovider bench/federation/bench_federation.py

Env: BENCH_MESSAGES (A → B, default 500), BENCH_FORWARDED (B → home A → B, default 200),
BENCH_OUTAGE (messages sent while B is down, default 1000). Prints one JSON line and
appends it to /tmp/talkee-bench/federation.jsonl.
"""

import json
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.utils import timezone

from apps.federation.models import OutboxEnvelope
from apps.federation.tasks import sweep_outbox
from apps.messages.models import Message
from tests.conftest import LiveServer, send
from tests.federation.test_cross_instance_chats import RemoteAccount, start_direct_chat
from tests.federation.test_two_instances import InstanceB, wait_until

pytestmark = [pytest.mark.django_db(transaction=True)]


def on_b(b: InstanceB, chat_id: str) -> int:
    with psycopg.connect(b.dsn) as conn:
        row = conn.execute("SELECT count(*) FROM talkee_messages_message WHERE chat_id = %s", [chat_id]).fetchone()
    return int(row[0]) if row else 0


def test_federation_figures(instance_b: InstanceB, make_account: Any, live_server_daphne: LiveServer) -> None:
    alice = make_account()
    bob = RemoteAccount.register(instance_b, "bob")
    chat_id = start_direct_chat(alice, bob)
    payload = os.urandom(256)
    figures: dict[str, Any] = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "size": len(payload)}

    # 0. baseline: the same send loop into a chat with no other instance in it
    n = int(os.environ.get("BENCH_MESSAGES", "500"))
    carol = make_account()
    local = alice.client.post("/v1/chats", {"kind": "direct", "members": [carol.address]}, format="json").json()
    start = time.monotonic()
    for _ in range(n):
        assert send(alice, local["id"], payload).status_code == 201
    took = time.monotonic() - start
    figures["local"] = {"messages": n, "send_s": round(took, 2), "per_s": round(n / took, 1)}

    # 1. A → B: Alice sends one after another; until every one is stored on B
    start = time.monotonic()
    for _ in range(n):
        assert send(alice, chat_id, payload).status_code == 201
    sent = time.monotonic() - start
    wait_until(lambda: on_b(instance_b, chat_id) >= n, "A → B", timeout=900)
    took = time.monotonic() - start
    figures["a_to_b"] = {
        "messages": n,
        "send_s": round(sent, 2),
        "all_on_b_s": round(took, 2),
        "per_s": round(n / took, 1),
    }

    # 2. B → A → B: Bob's sends on B are forwarded to the home (A), ordered, delivered back
    m = int(os.environ.get("BENCH_FORWARDED", "200"))
    before = on_b(instance_b, chat_id)
    start = time.monotonic()
    for _ in range(m):
        assert bob.send(chat_id, payload)[0] == 202
    sent = time.monotonic() - start
    wait_until(lambda: on_b(instance_b, chat_id) >= before + m, "B → A → B", timeout=900)
    took = time.monotonic() - start
    figures["b_via_home"] = {
        "messages": m,
        "send_s": round(sent, 2),
        "back_on_b_s": round(took, 2),
        "per_s": round(m / took, 1),
    }

    # 3. B down while A keeps sending; B back: time until B holds every one
    k = int(os.environ.get("BENCH_OUTAGE", "1000"))
    before = on_b(instance_b, chat_id)
    instance_b.stop()
    for _ in range(k):
        assert send(alice, chat_id, payload).status_code == 201
    instance_b.start()
    start = time.monotonic()
    OutboxEnvelope.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))  # the backoff passed
    sweep_outbox.delay()  # what beat does every 10 s
    wait_until(lambda: on_b(instance_b, chat_id) >= before + k, "catch-up", timeout=900)
    took = time.monotonic() - start
    figures["catch_up"] = {"messages": k, "catch_up_s": round(took, 2), "per_s": round(k / took, 1)}
    assert on_b(instance_b, chat_id) == Message.objects.filter(chat_id=chat_id).count()

    line = json.dumps(figures)
    print("\n" + line)
    out = Path("/tmp/talkee-bench")
    out.mkdir(parents=True, exist_ok=True)
    with (out / "federation.jsonl").open("a") as f:
        f.write(line + "\n")
