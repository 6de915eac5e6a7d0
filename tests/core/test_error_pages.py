"""What an API client sees when something goes wrong outside a validation error: an
unknown URL, a wrong method, a missing token, an oversized body, a crash. Always the
one JSON error shape, never an HTML page or a traceback, whatever DEBUG says."""

import json
import logging
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client, override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from tests.conftest import b64
from tests.core.crash_urls import SECRET_DETAIL
from tests.support.api import assert_error_shape

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/test-crash"), ("GET", "/v1/test-crash-drf"), ("POST", "/v1/test-crash-drf")],
)
def test_a_crash_is_a_500_json_without_a_traceback(
    debug: bool, method: str, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret_body = json.dumps({"password": "hunter2-in-the-body-9c1e"})
    with override_settings(ROOT_URLCONF="tests.core.crash_urls", DEBUG=debug), caplog.at_level(logging.ERROR):
        response = Client(raise_request_exception=False).generic(
            method, path, secret_body, content_type="application/json"
        )
    error = assert_error_shape(response, 500)
    assert error["code"] == "server_error"
    text = response.content.decode()
    for leak in (SECRET_DETAIL, "Traceback", "RuntimeError", "KeyError", "crash_urls", ".py", "<html"):
        assert leak not in text, leak
    # The operator gets the type and where; the request body (maybe a password) is never logged.
    records = [r for r in caplog.records if r.name == "talkee.errors"]
    assert len(records) == 1
    assert records[0].route == path.lstrip("/")  # type: ignore[attr-defined]
    assert records[0].error_type in ("RuntimeError", "KeyError")  # type: ignore[attr-defined]
    assert "hunter2-in-the-body-9c1e" not in caplog.text


def test_a_database_that_is_briefly_gone_is_a_503_to_retry_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    with override_settings(ROOT_URLCONF="tests.core.crash_urls"), caplog.at_level(logging.WARNING):
        response = Client().get("/v1/test-db-gone/4242")
    error = assert_error_shape(response, 503)
    assert error["code"] == "unavailable"
    assert response["Retry-After"] == "2"
    assert SECRET_DETAIL not in response.content.decode()
    records = [r for r in caplog.records if r.name == "talkee.errors"]
    assert [(r.levelname, r.route, r.error_type) for r in records] == [  # type: ignore[attr-defined]
        ("WARNING", "v1/test-db-gone/<int:item>", "OperationalError")
    ]
    assert "4242" not in caplog.text and "Traceback" not in caplog.text


@pytest.mark.parametrize("debug", [False, True])
def test_unknown_url_and_wrong_method_stay_json_with_debug_on_or_off(debug: bool) -> None:
    with override_settings(DEBUG=debug):
        missing = Client().get("/v1/no-such-thing")
        wrong = Client().get("/v1/auth/login")
        health_post = Client().post("/healthz")
    assert assert_error_shape(missing, 404)["code"] == "not_found"
    assert assert_error_shape(wrong, 405)["code"] == "method_not_allowed"
    assert wrong["Allow"] == "POST, OPTIONS"
    assert assert_error_shape(health_post, 405)["code"] == "method_not_allowed"
    assert health_post["Allow"] == "GET, HEAD"


def test_a_non_api_url_keeps_its_html_404() -> None:
    """The JSON shape is for API clients; the PWA and the admin keep Django's pages."""
    response = Client().get("/admin/no-such-page/")
    assert response.status_code in (302, 404)
    assert not response["Content-Type"].startswith("application/json")


def test_unauthenticated_is_a_401_with_www_authenticate() -> None:
    response = APIClient().get("/v1/devices")
    error = assert_error_shape(response, 401)
    assert error["code"] == "unauthenticated"
    assert response["WWW-Authenticate"] == 'Bearer realm="talkee"'


@pytest.mark.parametrize(
    "path", ["/v1/accounts/register", "/v1/auth/login", "/v1/keypackages", "/v1/keypackages/claim", "/v1/nope"]
)
def test_a_body_over_the_limit_is_a_413_json(path: str) -> None:
    with override_settings(TALKEE_MAX_REQUEST_BYTES=1000):
        at_limit = Client().post(path, "x" * 1000, content_type="application/json")
        over = Client().post(path, "x" * 1001, content_type="application/json")
    assert at_limit.status_code != 413
    error = assert_error_shape(over, 413)
    assert error["code"] == "payload_too_large"


def test_the_default_limit_refuses_a_body_just_over_23_mib(quick_account: Any) -> None:
    alice = quick_account()
    body = json.dumps({"keypackages": ["A" * (23 * 1024 * 1024)]})
    response = alice.client.generic("POST", "/v1/keypackages", body, content_type="application/json")
    assert assert_error_shape(response, 413)["code"] == "payload_too_large"


def test_djangos_own_body_limit_is_a_413_json_too() -> None:
    """If Django's DATA_UPLOAD_MAX_MEMORY_SIZE is the lower limit, the answer is the same."""
    with override_settings(TALKEE_MAX_REQUEST_BYTES=10**6, DATA_UPLOAD_MAX_MEMORY_SIZE=500):
        response = APIClient().generic(
            "POST", "/v1/auth/challenge", json.dumps({"username": "a" * 600}), content_type="application/json"
        )
    assert assert_error_shape(response, 413)["code"] == "payload_too_large"


# --- fuzz: whatever JSON arrives, the answer is never a 500 -------------------------------

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_value = st.recursive(
    json_leaf,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
field = (
    json_value
    | st.text(max_size=1100)
    | st.binary(max_size=70).map(b64)
    | st.sampled_from(["alice", "alice@localhost", "", "a" * 300, "\x00", "\ud800", "é", "AAAA===="])
)
device = st.fixed_dictionaries(
    {},
    optional={
        "client_device_id": field | st.uuids().map(str),
        "ed25519_pub": field,
        "x25519_pub": field,
        "label": field,
    },
)
BODIES = {
    "/v1/accounts/register": st.fixed_dictionaries(
        {}, optional={"username": field, "password": field, "recovery_hash": field}
    ),
    "/v1/auth/challenge": st.fixed_dictionaries({}, optional={"username": field}),
    "/v1/auth/login": st.fixed_dictionaries(
        {},
        optional={"username": field, "password": field, "device": device | field, "nonce": field, "signature": field},
    ),
    "/v1/accounts/recover": st.fixed_dictionaries(
        {}, optional={"username": field, "recovery_proof": field, "new_password": field}
    ),
}


def _check(response: Any) -> None:
    assert response.status_code < 500, response.content[:300]
    if response.status_code >= 400:
        assert_error_shape(response, response.status_code)


@pytest.mark.parametrize("path", list(BODIES))
def test_fuzzed_json_bodies_never_crash(path: str) -> None:
    @settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=BODIES[path] | json_value)
    def run(body: Any) -> None:
        cache.clear()  # throttles would otherwise answer 429 before the body is judged
        raw = json.dumps(body, allow_nan=False)
        _check(APIClient().generic("POST", path, raw, content_type="application/json"))

    run()


@pytest.mark.parametrize("path", list(BODIES))
def test_fuzzed_raw_bytes_never_crash(path: str) -> None:
    @settings(max_examples=50, deadline=None)
    @given(raw=st.binary(max_size=300))
    def run(raw: bytes) -> None:
        cache.clear()
        _check(APIClient().generic("POST", path, raw, content_type="application/json"))

    run()
