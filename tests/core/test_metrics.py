"""/metrics: what an operator's Prometheus scrapes. Several real server processes share one
PROMETHEUS_MULTIPROC_DIR and their counts add up; outsiders are refused; nothing is
labelled by user or chat."""

import asyncio
import base64
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, override_settings
from dnslib import DNSRecord
from prometheus_client.parser import text_string_to_metric_families

from apps.push.vapid import vapid_public_key
from tests.conftest import ROOT, CeleryWorker, LiveServer, json_call, make_chat, server_env, start_daphne, stop
from tests.push.conftest import subscribe
from tests.push.standin import PushServiceStandIn
from tests.support.api import assert_error_shape
from tests.support.sockets import open_socket

# Every label any Talkee metric may carry (`le` is a histogram bucket's bound).
ALLOWED_LABELS = {"via", "kind", "task", "outcome", "peer", "transport", "le"}


Samples = dict[tuple[str, tuple[Any, ...]], float]


def scrape(
    base_url: str, headers: dict[str, str] | None = None
) -> tuple[str, dict[tuple[str, tuple[Any, ...]], float]]:
    request = urllib.request.Request(f"{base_url}/metrics", headers=headers or {})
    with urllib.request.urlopen(request, timeout=15) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/plain")
        text = answer.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return text, samples


def value(samples: dict[tuple[str, tuple[Any, ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def doh_query(base_url: str) -> None:
    wire = DNSRecord.question(f"q{uuid.uuid4().hex[:8]}.example.org", "TXT").pack()
    encoded = base64.urlsafe_b64encode(wire).rstrip(b"=").decode()
    request = urllib.request.Request(
        f"{base_url}/dns-query?dns={encoded}", headers={"Accept": "application/dns-message"}
    )
    with urllib.request.urlopen(request, timeout=15) as answer:
        assert answer.status == 200


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two web processes of one instance, sharing a fresh multiprocess directory."""
    directory = tmp_path / "prometheus"
    directory.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(directory)}
    first = start_daphne(tmp_path, name="web-a", extra_env=env)
    second = start_daphne(tmp_path, name="web-b", extra_env=env)
    yield first, second
    stop(first.process)
    stop(second.process)


@pytest.mark.django_db(transaction=True)
def test_two_server_processes_add_up_and_label_no_user_or_chat(
    two_servers: tuple[LiveServer, LiveServer], make_account: Any
) -> None:
    first, second = two_servers
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "direct", bob)
    _, before = scrape(first.url)

    # A message through each process, a sync on one, a long poll on the other, a DoH query each.
    for server, account in ((first, alice), (second, bob)):
        status, _ = json_call(
            server.url,
            "POST",
            f"/v1/chats/{chat['id']}/messages",
            {
                "client_message_id": uuid.uuid4().hex,
                "kind": "application",
                "epoch": 0,
                "ciphertext": base64.b64encode(os.urandom(64)).decode(),
            },
            token=account.token,
        )
        assert status == 201
        doh_query(server.url)
    assert json_call(first.url, "GET", "/v1/sync?cursor=0&timeout=0", token=alice.token)[0] == 200
    assert json_call(second.url, "GET", "/v1/sync?cursor=999999&timeout=1", token=bob.token)[0] == 200

    async def with_sockets() -> tuple[dict[Any, float], dict[Any, float]]:
        one = await open_socket(first.ws_url, alice.token)
        two = await open_socket(second.ws_url, bob.token)
        _, during = await asyncio.to_thread(scrape, second.url)
        await one.close()
        await two.close()
        await asyncio.sleep(0.5)
        _, after_close = await asyncio.to_thread(scrape, first.url)
        return during, after_close

    during, after_close = asyncio.run(with_sockets())
    assert value(during, "talkee_sockets_open") == value(before, "talkee_sockets_open") + 2
    assert value(after_close, "talkee_sockets_open") == value(before, "talkee_sockets_open")

    # Whichever process answers the scrape, it reports both.
    for server in (first, second):
        text, samples = scrape(server.url)

        def delta(name: str, samples: Samples = samples, **labels: str) -> float:
            return value(samples, name, **labels) - value(before, name, **labels)

        assert delta("talkee_messages_accepted_total", via="http") == 2
        assert delta("talkee_dns_tunnel_queries_total", transport="tcp_or_doh") == 2
        assert delta("talkee_sync_requests_total", kind="sync") == 1
        assert delta("talkee_sync_requests_total", kind="long_poll") == 1
        # Each accepted message's live events went out through the channel layer, timed.
        assert delta("talkee_fanout_seconds_count") >= 2
        assert value(samples, "talkee_blob_bytes_stored") >= 0

        labels = {label for (_, pairs) in samples for label, _ in pairs}
        assert labels <= ALLOWED_LABELS, labels - ALLOWED_LABELS
        for secret in (alice.username, bob.username, chat["id"], alice.token, bob.token):
            assert secret not in text


@pytest.fixture
def outsider() -> Client:
    return Client(REMOTE_ADDR="93.184.216.34")


@pytest.mark.django_db
def test_outside_the_internal_network_without_a_token_is_401(outsider: Client) -> None:
    response = outsider.get("/metrics")
    assert_error_shape(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
def test_through_the_front_counts_as_outside(outsider: Client) -> None:
    """The front's own address is private; the X-Forwarded-For it adds says the client is not."""
    proxied = Client(REMOTE_ADDR="172.18.0.5")
    assert proxied.get("/metrics").status_code == 200
    assert_error_shape(proxied.get("/metrics", HTTP_X_FORWARDED_FOR="198.51.100.4"), 401)
    assert_error_shape(Client().get("/metrics", HTTP_X_FORWARDED_FOR="127.0.0.1"), 401)


@pytest.mark.django_db
def test_wrong_token_is_403_and_the_right_one_opens(outsider: Client) -> None:
    with override_settings(TALKEE_METRICS_TOKEN="s3cret-metrics-token-for-tests"):
        assert_error_shape(outsider.get("/metrics", HTTP_AUTHORIZATION="Bearer nope"), 403)
        opened = outsider.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token-for-tests")
        assert opened.status_code == 200
        assert b"talkee_messages_accepted_total" in opened.content
    # No token configured: no bearer opens it.
    assert_error_shape(outsider.get("/metrics", HTTP_AUTHORIZATION="Bearer "), 403)


@pytest.mark.django_db
def test_loopback_scrape_reads_the_database_gauges() -> None:
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert b"talkee_blob_bytes_stored" in response.content
    assert b"talkee_celery_task_runs_total" in response.content or b"talkee_celery_task" in response.content


def test_post_is_refused_in_the_error_shape() -> None:
    assert_error_shape(Client().post("/metrics"), 405)


@pytest.fixture
def worker_and_web(tmp_path: Path) -> Iterator[tuple[dict[str, str], LiveServer]]:
    """A real Celery worker (its own broker keys) and a web process sharing one multiprocess
    directory; the environment to queue tasks for that worker with `celery call`."""
    directory = tmp_path / "prometheus"
    directory.mkdir()
    env = server_env(
        {"PROMETHEUS_MULTIPROC_DIR": str(directory), "CELERY_BROKER_KEYPREFIX": f"metrics-{uuid.uuid4().hex[:8]}:"}
    )
    worker = CeleryWorker(tmp_path / "worker.log", env)
    worker.start()
    web = start_daphne(tmp_path, name="web", extra_env={"PROMETHEUS_MULTIPROC_DIR": str(directory)})
    try:
        yield env, web
    finally:
        stop(web.process)
        worker.stop()


def celery_call(env: dict[str, str], task: str, args: str) -> None:
    call = [sys.executable, "-m", "celery", "-A", "talkee", "call", task, "--args", args]
    subprocess.run(call, cwd=ROOT, env=env, check=True, capture_output=True, timeout=60)


def scrape_until(web: LiveServer, done: Any, timeout: float = 60) -> Samples:
    deadline = time.monotonic() + timeout
    while True:
        _, samples = scrape(web.url)
        if done(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.5)


@pytest.mark.django_db(transaction=True)
def test_a_celery_workers_task_runs_failures_and_latency_reach_the_web_scrape(
    worker_and_web: tuple[dict[str, str], LiveServer],
) -> None:
    env, web = worker_and_web
    purge = "apps.accounts.tasks.purge_expired_challenges"
    inbox = "apps.federation.tasks.handle_inbox"
    for task, args in ((purge, "[]"), (purge, "[]"), (inbox, '[["not-an-id"]]')):
        celery_call(env, task, args)

    def done(samples: Samples) -> bool:
        return (
            value(samples, "talkee_celery_task_runs_total", task=purge, outcome="success") == 2
            and value(samples, "talkee_celery_task_runs_total", task=inbox, outcome="failure") == 1
        )

    samples = scrape_until(web, done)
    assert done(samples), samples
    assert value(samples, "talkee_celery_task_seconds_count", task=purge) == 2


@pytest.mark.django_db(transaction=True)
def test_push_sends_reach_the_web_scrape_by_outcome(
    worker_and_web: tuple[dict[str, str], LiveServer], make_account: Any
) -> None:
    """The worker posts to a push service (an RFC 8291 receiver on loopback): one push is
    taken (sent), one subscription is gone (410); the scrape counts each, with no label
    naming the device."""
    env, web = worker_and_web
    service = PushServiceStandIn(vapid_public_key())
    try:
        bob, carol = make_account(), make_account()
        bob_phone, carol_phone = service.subscribe(), service.subscribe(410)
        subscribe(bob, bob_phone)
        subscribe(carol, carol_phone)
        for account in (bob, carol):
            celery_call(env, "apps.push.tasks.push_to_device", f'[{account.device_id}, "message", null, 1]')

        def done(samples: Samples) -> bool:
            return all(value(samples, "talkee_push_sends_total", outcome=o) == 1 for o in ("sent", "gone"))

        samples = scrape_until(web, done)
        assert done(samples), samples
        assert value(samples, "talkee_push_sends_total", outcome="failed") == 0
        assert len(service.pushes_for(bob_phone)) == 1
    finally:
        service.stop()


@pytest.mark.django_db
def test_alert_rules_and_dashboard_name_only_metrics_talkee_exports() -> None:
    """docker/monitoring/ stays in step with apps/core/metrics.py: no rule watches a name that never comes."""
    import json
    import re

    import yaml

    exported = Client().get("/metrics").content.decode()
    # Every family is declared (HELP) even before its first labelled sample.
    suffix = r"_(total|bucket|count|sum)$"
    families = {re.sub(suffix, "", n) for n in re.findall(r"^# HELP (talkee_\w+) ", exported, re.MULTILINE)}
    monitoring = ROOT / "docker" / "monitoring"
    rules = yaml.safe_load((monitoring / "alerts.yml").read_text())
    expressions = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((monitoring / "grafana-dashboard.json").read_text())
    expressions += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {name for expr in expressions for name in re.findall(r"\btalkee_\w+", expr)}
    assert used, expressions
    base = {re.sub(suffix, "", name) for name in used}
    assert base <= families, base - families
    assert "alerts.yml" in (monitoring / "prometheus.yml").read_text()
