"""The instance's Prometheus metrics, one definition each; the apps count with one-liners.

Nothing here is labelled by user, device, chat or message: labels are a fixed, small set
(how a message came in, which kind of sync, a Celery task's name, a peer instance's domain).

Multiprocess: with PROMETHEUS_MULTIPROC_DIR set (before the first import of
prometheus_client — the environment, never a setting), every process writes its values
to files in that directory and `/metrics` adds them up, so several web processes, Celery
workers and the DNS gateway sharing the directory report one instance. Without it
(the embedded default) the values live in the process that serves `/metrics`.
"""

import os
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as _multiprocess
from prometheus_client.registry import REGISTRY, Collector

SOCKETS_OPEN = Gauge(
    "talkee_sockets_open", "Client WebSockets open now (authenticated or not).", multiprocess_mode="livesum"
)
MESSAGES_ACCEPTED = Counter(
    "talkee_messages_accepted", "Messages the server accepted and stored, by how they came in.", ["via"]
)
FANOUT_SECONDS = Histogram(
    "talkee_fanout_seconds",
    "Time to hand one committed change's live events to the channel layer (all its groups).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
SYNC_REQUESTS = Counter("talkee_sync_requests", "Sync requests answered, by kind (sync, long_poll).", ["kind"])
FEDERATION_DELIVERY_FAILURES = Counter(
    "talkee_federation_delivery_failures", "Outbox batches a peer did not accept, by peer instance.", ["peer"]
)
TASK_RUNS = Counter("talkee_celery_task_runs", "Celery task runs, by task and outcome.", ["task", "outcome"])
TASK_SECONDS = Histogram(
    "talkee_celery_task_seconds",
    "Celery task run time, by task.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0),
)
DNS_QUERIES = Counter("talkee_dns_tunnel_queries", "DNS tunnel queries answered, by transport.", ["transport"])
PUSH_SENDS = Counter(
    "talkee_push_sends",
    "Web Push posts to push services, by outcome (sent, gone, retry, failed, dropped).",
    ["outcome"],
)
PUSH_OUTCOMES = ("sent", "gone", "retry", "failed", "dropped")

# Known label values, shown as 0 before the first event so alert rules and dashboards see them.
for _via in ("socket", "http", "dns", "federation"):
    MESSAGES_ACCEPTED.labels(via=_via)
for _kind in ("sync", "long_poll"):
    SYNC_REQUESTS.labels(kind=_kind)
for _transport in ("udp", "tcp_or_doh"):
    DNS_QUERIES.labels(transport=_transport)
for _outcome in PUSH_OUTCOMES:
    PUSH_SENDS.labels(outcome=_outcome)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition(*collectors: Collector) -> bytes:
    """The text format: every process's values (multiprocess) or this one's, plus `collectors`
    (gauges read at scrape time, e.g. from the database)."""
    extra = CollectorRegistry()
    for collector in collectors:
        extra.register(collector)
    if multiprocess_dir():
        processes = CollectorRegistry()
        _multiprocess.MultiProcessCollector(processes)  # type: ignore[no-untyped-call]
        return generate_latest(processes) + generate_latest(extra)
    return generate_latest(REGISTRY) + generate_latest(extra)


# --- Celery: runs, failures and latency from the worker's signals ---------------------------

_started: dict[str, float] = {}


def _task_prerun(task_id: str | None = None, **_: Any) -> None:
    if task_id:
        _started[task_id] = time.monotonic()


def _task_postrun(task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any) -> None:
    name = getattr(task, "name", None) or "unknown"
    began = _started.pop(task_id or "", None)
    if began is not None:
        TASK_SECONDS.labels(task=name).observe(time.monotonic() - began)
    TASK_RUNS.labels(task=name, outcome="success" if state == "SUCCESS" else (state or "unknown").lower()).inc()


def connect_celery_signals() -> None:
    """Count every task run in this process (worker or inline) by its outcome."""
    from celery import signals

    signals.task_prerun.connect(_task_prerun, weak=False)
    signals.task_postrun.connect(_task_postrun, weak=False)
