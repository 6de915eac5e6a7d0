"""Contract test: schemathesis generates requests for every operation of the published
schema (/v1/schema, fetched from a real daphne) and sends them logged in; every answer must
be documented for its operation (status, content type, body shape) and none may be a 5xx.

Each operation is fuzzed with data that matches the schema (positive) and data that breaks
it (negative), a bounded number of examples each (TALKEE_SCHEMA_EXAMPLES, default 12), so a
client generated from the schema knows every answer it can get, errors included.
"""

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import Account, LiveServer, make_chat, send

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

SMALL_BLOB = 32_809  # the smallest padded bucket (README, POST /v1/blobs)
EXAMPLES = int(os.environ.get("TALKEE_SCHEMA_EXAMPLES", "12"))
# Only operations whose label ("POST /v1/chats") contains this (to dig into one).
ONLY = os.environ.get("TALKEE_SCHEMA_ONLY", "")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Operations that would end the test's own session halfway; each has its own tests.
EXCLUDED = {
    ("POST", "/v1/auth/logout"): "kills the token every later request uses (tests/accounts)",
    ("DELETE", "/v1/devices/{device_id}"): "could revoke the test's own device (tests/devices)",
}
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)


def _shorten_long_poll(case: Any) -> None:
    """GET /v1/sync waits up to `timeout` seconds (≤ 60, 25 when not given) when nothing is
    new: a wait is cut to 0.2 s so the run stays short; what is not a number is sent as
    generated."""
    if case.path != "/v1/sync":
        return
    case.query = dict(case.query or {})
    try:
        wait = float(case.query.get("timeout", 25))
    except (TypeError, ValueError):
        return
    if not wait <= 0.2:
        case.query["timeout"] = 0.2


def _fuzz(
    operation: Any,
    mode: Any,
    base_url: str,
    token: str,
    path_parameters: dict[str, Any],
    examples: int = EXAMPLES,
) -> list[str]:
    """Run one operation's examples; every failed check is recorded, none stops the run
    (hypothesis would spend the time budget shrinking instead of covering operations).
    An empty token sends none."""
    found: list[str] = []
    http = requests.Session()
    known = {k: v for k, v in path_parameters.items() if k in operation.path_parameters}
    strategies = [operation.as_strategy(generation_mode=mode)]
    if known:
        # Some examples address objects that exist (the test's chat, message, file, Bob),
        # so the fuzzer gets past the 404 into each view's own checks.
        strategies.append(operation.as_strategy(generation_mode=mode, path_parameters=known))

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def run(case: Any) -> None:
        _shorten_long_poll(case)
        if not token and case.headers:
            case.headers.pop("Authorization", None)  # the generator makes one up from the security scheme
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            response = case.call(base_url=base_url, session=http, headers=headers, timeout=30)
        except requests.RequestException as exc:
            found.append(f"{case.method} {case.formatted_path} → no answer: {type(exc).__name__}")
            return
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (FailureGroup, Failure) as failure:
            failures = failure.exceptions if isinstance(failure, FailureGroup) else (failure,)
            for one in failures:
                found.append(
                    f"{case.method} {case.formatted_path} → {response.status_code}: {one.title}"
                    f" | body {response.text[:200]!r}"
                )

    run()
    return found


def test_every_answer_of_every_operation_is_documented(
    make_account: Any, live_server_daphne: LiveServer, shared_blob_dir: Path
) -> None:
    alice: Account = make_account()
    bob: Account = make_account()
    chat = make_chat(alice, "group", bob)
    schema = schemathesis.openapi.from_url(f"{live_server_daphne.url}/v1/schema?format=json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30, [op.label for op in operations]
    message = send(alice, chat["id"]).json()
    # a complete one-chunk file, so downloads (and their Range header) get past 404 and 409
    blob = alice.client.post("/v1/blobs", {"chat_id": chat["id"], "size": SMALL_BLOB}, format="json").json()
    stored = alice.client.put(
        f"/v1/blobs/{blob['id']}/chunks/0", os.urandom(SMALL_BLOB), content_type="application/octet-stream"
    )
    assert stored.status_code == 201, stored.content
    assert alice.client.post(f"/v1/blobs/{blob['id']}/complete").status_code == 200
    known = {
        "chat_id": chat["id"],
        "address": bob.address,
        "device_id": alice.device_id,
        "message_id": message["id"],
        "blob_id": blob["id"],
        "index": 0,
    }
    failures: dict[str, list[str]] = defaultdict(list)
    for operation in operations:
        if (operation.method.upper(), operation.path) in EXCLUDED or ONLY not in operation.label:
            continue
        for mode in MODES:
            for failure in _fuzz(operation, mode, live_server_daphne.url, alice.token, known):
                failures[operation.label].append(f"[{mode.value}] {failure}")
        # What a client without a session (or with a dead one) gets must be documented too.
        for token, who in (("", "no token"), ("not-a-token", "bad token")):
            positive = schemathesis.GenerationMode.POSITIVE
            for failure in _fuzz(operation, positive, live_server_daphne.url, token, known, examples=3):
                failures[operation.label].append(f"[{who}] {failure}")
    report = "\n".join(f"{label}:\n  " + "\n  ".join(sorted(set(lines))[:5]) for label, lines in failures.items())
    crashes = [line[-3000:] for line in live_server_daphne.log().splitlines() if '"unhandled error"' in line]
    assert not failures, f"{sum(len(v) for v in failures.values())} undocumented answers\n{report}\n" + "\n".join(
        crashes[:3]
    )
