"""Bad input on every accounts/devices endpoint is a 4xx with the one error shape, never a 500.

Each case sends a body an honest client would never send (a field missing, the wrong JSON
type, an oversized value, bad base64, a key of the wrong length, a broken JSON document,
a non-JSON content type) and checks what the client sees: the status and
`{"error": {"code": str, "message": str, ...}}`.
"""

import copy
import json
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from apps.accounts.models import LoginChallenge, Session, User
from apps.devices.models import Device, KeyPackage
from tests.conftest import PASSWORD, DeviceKeys, b64, fake_keypackage, recovery_proof
from tests.support.api import assert_error_shape

pytestmark = pytest.mark.django_db

Body = dict[str, Any]


# --- valid bodies, one per endpoint; each bad case breaks exactly one thing ------------


class Valid:
    """Fully valid bodies for a real account, so only the broken field can be the cause."""

    def __init__(self, quick_account: Any) -> None:
        self.account = quick_account()

    def register(self) -> Body:
        return {"username": f"u{uuid.uuid4().hex[:10]}", "password": PASSWORD, "recovery_hash": b64(os.urandom(32))}

    def challenge(self) -> Body:
        return {"username": self.account.username}

    def login(self) -> Body:
        nonce = APIClient().post("/v1/auth/challenge", self.challenge(), format="json").json()["nonce"]
        device = DeviceKeys()
        return {
            "username": self.account.username,
            "password": self.account.password,
            "device": device.as_json(),
            "nonce": nonce,
            "signature": device.sign(nonce),
        }

    def recover(self) -> Body:
        proof = recovery_proof(self.account.username, self.account.entropy)
        return {"username": self.account.username, "recovery_proof": b64(proof), "new_password": PASSWORD + "!"}

    def keypackages(self) -> Body:
        return {"keypackages": [b64(fake_keypackage(os.urandom(64)))]}

    def claim(self) -> Body:
        return {"users": [self.account.address]}


ENDPOINTS: dict[str, tuple[str, bool]] = {
    # name: (path, needs a token)
    "register": ("/v1/accounts/register", False),
    "challenge": ("/v1/auth/challenge", False),
    "login": ("/v1/auth/login", False),
    "recover": ("/v1/accounts/recover", False),
    "keypackages": ("/v1/keypackages", True),
    "claim": ("/v1/keypackages/claim", True),
}
SHAPES: dict[str, Body] = {
    # the body shape of each endpoint, to derive the cases from
    "register": {"username": "", "password": "", "recovery_hash": ""},
    "challenge": {"username": ""},
    "login": {
        "username": "",
        "password": "",
        "device": {"client_device_id": "", "ed25519_pub": "", "x25519_pub": "", "label": ""},
        "nonce": "",
        "signature": "",
    },
    "recover": {"username": "", "recovery_proof": "", "new_password": ""},
    "keypackages": {"keypackages": []},
    "claim": {"users": []},
}


@pytest.fixture
def valid(quick_account: Any) -> Valid:
    return Valid(quick_account)


def client_for(endpoint: str, valid: Valid) -> APIClient:
    return valid.account.client if ENDPOINTS[endpoint][1] else APIClient()


def send(endpoint: str, body: Any, valid: Valid) -> Any:
    return client_for(endpoint, valid).post(ENDPOINTS[endpoint][0], body, format="json")


HUGE = "a" * 10_000
NOT_BASE64 = "this is not base64!!"


def _without(path: tuple[str, ...]) -> Callable[[Body], None]:
    def mutate(body: Body) -> None:
        target = body
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


def _set(path: tuple[str, ...], value: Any) -> Callable[[Body], None]:
    def mutate(body: Body) -> None:
        target = body
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = copy.deepcopy(value)

    return mutate


# Every field of every endpoint, and which kinds of nonsense apply to it.
STRING_FIELDS = {
    "register": [("username",), ("password",)],
    "challenge": [("username",)],
    "login": [("username",), ("password",), ("nonce",), ("device", "client_device_id")],
    "recover": [("username",), ("new_password",)],
}
BASE64_FIELDS: dict[str, list[tuple[tuple[str, ...], int]]] = {
    # field, decoded length it must have
    "register": [(("recovery_hash",), 32)],
    "login": [(("signature",), 64), (("device", "ed25519_pub"), 32), (("device", "x25519_pub"), 32)],
    "recover": [(("recovery_proof",), 32)],
}
OVERSIZED = {
    "register": [("username", HUGE), ("password", "p" * 1025)],
    "challenge": [("username", HUGE)],
    "login": [("username", HUGE), ("password", "p" * 1025), ("nonce", HUGE)],
    "recover": [("username", HUGE), ("new_password", "p" * 1025)],
    "claim": [("users", ["bob"] * 1000), ("users", [HUGE])],
    "keypackages": [
        ("keypackages", [b64(fake_keypackage(b"x" * 64))] * 1000),
        ("keypackages", [b64(fake_keypackage(os.urandom(20_000)))]),
    ],
}


def _cases() -> list[Any]:
    cases: list[Any] = []

    def add(endpoint: str, label: str, mutate: Callable[[Body], None]) -> None:
        cases.append(pytest.param(endpoint, mutate, id=f"{endpoint}-{label}"))

    for endpoint, body in SHAPES.items():
        for key in body:
            add(endpoint, f"missing-{key}", _without((key,)))
            add(endpoint, f"{key}-null", _set((key,), None))
            add(endpoint, f"{key}-object", _set((key,), {"a": 1}))
            add(endpoint, f"{key}-true", _set((key,), True))
            if isinstance(body[key], dict):
                add(endpoint, f"{key}-list-for-object", _set((key,), [1, 2]))
                add(endpoint, f"{key}-string-for-object", _set((key,), "x"))
                for inner in body[key]:
                    if inner != "label":
                        add(endpoint, f"missing-{key}.{inner}", _without((key, inner)))
                    add(endpoint, f"{key}.{inner}-null", _set((key, inner), None))
                    add(endpoint, f"{key}.{inner}-list", _set((key, inner), ["x"]))
                add(endpoint, "device.label-oversized", _set((key, "label"), HUGE))
            elif isinstance(body[key], list):
                add(endpoint, f"{key}-string-for-list", _set((key,), "x"))
                add(endpoint, f"{key}-empty-list", _set((key,), []))
                add(endpoint, f"{key}-number-items", _set((key,), [1, 2]))
                add(endpoint, f"{key}-null-items", _set((key,), [None]))
                add(endpoint, f"{key}-nested-lists", _set((key,), [["x"]]))
            else:
                add(endpoint, f"{key}-list-for-string", _set((key,), ["x"]))
        for path in STRING_FIELDS.get(endpoint, []):
            name = ".".join(path)
            add(endpoint, f"{name}-number-for-string", _set(path, 12345))
            add(endpoint, f"{name}-float-for-string", _set(path, 1.5))
            add(endpoint, f"{name}-nul-byte", _set(path, "alice\x00"))
        for path, length in BASE64_FIELDS.get(endpoint, []):
            name = ".".join(path)
            add(endpoint, f"{name}-bad-base64", _set(path, NOT_BASE64))
            add(endpoint, f"{name}-urlsafe-base64", _set(path, b64(b"\xfb" * length).replace("+", "-")))
            add(endpoint, f"{name}-unpadded", _set(path, b64(b"\x01" * (length + 1)).rstrip("=")))
            add(endpoint, f"{name}-too-short", _set(path, b64(b"\x01" * (length - 1))))
            add(endpoint, f"{name}-too-long", _set(path, b64(b"\x01" * (length + 1))))
            add(endpoint, f"{name}-empty", _set(path, ""))
            add(endpoint, f"{name}-huge", _set(path, "A" * 100_000))
            add(endpoint, f"{name}-number", _set(path, 12345))
            add(endpoint, f"{name}-non-ascii", _set(path, "é" * 44))
        for key, value in OVERSIZED.get(endpoint, []):
            size = len(value) if isinstance(value, str) else f"{len(value)}x{len(value[0])}"
            add(endpoint, f"{key}-oversized-{size}", _set((key,), value))
    add("keypackages", "not-a-keypackage", _set(("keypackages",), [b64(b"garbage that is no KeyPackage")]))
    add("keypackages", "bad-base64-item", _set(("keypackages",), [NOT_BASE64]))
    add("keypackages", "header-only", _set(("keypackages",), [b64(fake_keypackage(b""))]))
    add("claim", "empty-username", _set(("users",), [""]))
    add("login", "device-uuid-garbage", _set(("device", "client_device_id"), "not-a-uuid"))
    add("login", "device-uuid-negative-int", _set(("device", "client_device_id"), -1))
    add("login", "ed25519-not-a-point", _set(("device", "ed25519_pub"), b64(b"\x02" + b"\xff" * 31)))
    add("login", "x25519-all-zero", _set(("device", "x25519_pub"), b64(bytes(32))))
    return cases


def _row_counts() -> tuple[int, int, int, int]:
    return User.objects.count(), Session.objects.count(), Device.objects.count(), KeyPackage.objects.count()


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_the_valid_bodies_are_accepted(endpoint: str, valid: Valid) -> None:
    """The baseline every bad case starts from: without the one broken field, it succeeds."""
    response = send(endpoint, getattr(valid, endpoint)(), valid)
    assert response.status_code in (200, 201, 204), response.content


@pytest.mark.parametrize(("endpoint", "mutate"), _cases())
def test_bad_field_is_a_400_with_the_error_shape(endpoint: str, mutate: Callable[[Body], None], valid: Valid) -> None:
    body = getattr(valid, endpoint)()
    mutate(body)
    before = _row_counts()
    response = send(endpoint, body, valid)
    error = assert_error_shape(response, 400)
    assert error["code"] not in ("server_error", "error")
    assert _row_counts() == before, "a refused request changed the database"


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"{", id="truncated"),
        pytest.param(b'{"username": "alice",}', id="trailing-comma"),
        pytest.param(b"{'username': 'alice'}", id="single-quotes"),
        pytest.param(b'{"username": NaN}', id="nan"),
        pytest.param(b'{"username": Infinity}', id="infinity"),
        pytest.param(b"\xff\xfe\x00garbage", id="not-utf8"),
        pytest.param(b'{"username": "\\ud800"}', id="lone-surrogate"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deeply-nested"),
        pytest.param(b'{"a": ' * 50_000 + b"1" + b"}" * 50_000, id="deeply-nested-objects"),
        pytest.param(b'{"username": 1' + b"0" * 5000 + b"}", id="huge-integer"),
        pytest.param(b"", id="empty"),
        pytest.param(b"null", id="null"),
        pytest.param(b"[]", id="list"),
        pytest.param(b'"alice"', id="string"),
        pytest.param(b"12", id="number"),
    ],
)
def test_malformed_json_document_is_a_400(endpoint: str, raw: bytes, valid: Valid) -> None:
    client = client_for(endpoint, valid)
    before = _row_counts()
    response = client.generic("POST", ENDPOINTS[endpoint][0], raw, content_type="application/json")
    error = assert_error_shape(response, 400)
    assert error["code"] not in ("server_error", "error")
    assert _row_counts() == before


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        ("text/plain", b'{"username": "alice"}'),
        ("application/x-www-form-urlencoded", b"username=alice&password=x"),
        ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--xyz--"),
        ("application/xml", b"<username>alice</username>"),
    ],
)
def test_non_json_content_type_is_a_415(endpoint: str, content_type: str, raw: bytes, valid: Valid) -> None:
    client = client_for(endpoint, valid)
    response = client.generic("POST", ENDPOINTS[endpoint][0], raw, content_type=content_type)
    error = assert_error_shape(response, 415)
    assert error["code"] == "unsupported_media_type"


# --- endpoints without a body: logout, device list, device revoke ----------------------

AUTHENTICATED_CALLS = [
    ("POST", "/v1/auth/logout"),
    ("GET", "/v1/devices"),
    ("DELETE", "/v1/devices/1"),
    ("POST", "/v1/keypackages"),
    ("POST", "/v1/keypackages/claim"),
    ("GET", "/v1/calls/turn"),
]


@pytest.mark.parametrize(("method", "path"), AUTHENTICATED_CALLS)
@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no-header"),
        pytest.param("Bearer", id="bearer-without-token"),
        pytest.param("Bearer a b", id="three-parts"),
        pytest.param("Bearer " + "A" * 43, id="unknown-token"),
        pytest.param("Bearer " + "A" * 10_000, id="huge-token"),
        pytest.param("Bearer caf\u00e9", id="non-ascii-token"),
        pytest.param("Bearer \x00", id="nul-token"),
        pytest.param("Basic YWxpY2U6cHc=", id="basic-auth"),
        pytest.param("Token abc", id="other-scheme"),
    ],
)
def test_missing_or_bad_token_is_a_401_with_www_authenticate(method: str, path: str, authorization: Any) -> None:
    client = APIClient()
    if authorization is not None:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    response = client.generic(method, path, json.dumps({}), content_type="application/json")
    error = assert_error_shape(response, 401)
    assert error["code"] == "unauthenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_logout_ignores_a_body_and_kills_the_token(quick_account: Any) -> None:
    alice = quick_account()
    response = alice.client.generic("POST", "/v1/auth/logout", b"{not json", content_type="application/json")
    assert response.status_code == 204
    assert_error_shape(alice.client.get("/v1/devices"), 401)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        pytest.param("/v1/devices/0", 404, id="zero"),
        pytest.param("/v1/devices/999999999", 404, id="unknown"),
        pytest.param("/v1/devices/99999999999999999999999999", 404, id="beyond-bigint"),
        pytest.param("/v1/devices/-1", 404, id="negative"),
        pytest.param("/v1/devices/abc", 404, id="not-a-number"),
        pytest.param("/v1/devices/1.5", 404, id="float"),
        pytest.param("/v1/devices/%00", 404, id="nul"),
    ],
)
def test_revoking_a_device_that_is_not_yours_is_a_404(quick_account: Any, path: str, status: int) -> None:
    alice = quick_account()
    response = alice.client.delete(path)
    assert_error_shape(response, status)
    assert Device.objects.filter(pk=alice.device_id).exists()
    assert alice.client.get("/v1/devices").status_code == 200


def test_device_list_ignores_query_garbage(quick_account: Any) -> None:
    alice = quick_account()
    response = alice.client.get("/v1/devices?limit=-1&cursor=%00&x=" + "y" * 5000)
    assert response.status_code == 200
    assert [d["id"] for d in response.json()] == [alice.device_id]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/accounts/register"),
        ("PUT", "/v1/auth/login"),
        ("GET", "/v1/auth/challenge"),
        ("GET", "/v1/auth/logout"),
        ("PATCH", "/v1/accounts/recover"),
        ("POST", "/v1/devices"),
        ("PUT", "/v1/devices/1"),
        ("GET", "/v1/keypackages"),
        ("DELETE", "/v1/keypackages/claim"),
        ("POST", "/healthz"),
        ("POST", "/.well-known/talkee/server"),
    ],
)
def test_wrong_method_is_a_405_with_allow(quick_account: Any, method: str, path: str) -> None:
    alice = quick_account()
    response = alice.client.generic(method, path, b"{}", content_type="application/json")
    error = assert_error_shape(response, 405)
    assert error["code"] == "method_not_allowed"
    allowed = {m.strip() for m in response["Allow"].split(",")}
    assert method not in allowed
    assert allowed & {"GET", "POST", "DELETE"}


@pytest.mark.parametrize(
    "path",
    ["/v1/", "/v1/nope", "/v1/accounts/register/", "/v1/devices/1/extra", "/s2s/v1/nothing", "/.well-known/nope"],
)
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_unknown_api_url_is_a_404_json(method: str, path: str) -> None:
    response = Client().generic(method, path, b"{}", content_type="application/json")
    error = assert_error_shape(response, 404)
    assert error["code"] == "not_found"


def test_challenge_for_the_longest_accepted_username_is_not_a_crash() -> None:
    """The challenge stores `name@domain`; the name alone may already fill the column. The
    longest name an account can have gets its nonce; one character more is refused in words
    (the same for every name, so it says nothing about who exists), and nothing is stored."""
    longest = User._meta.get_field("username").max_length - len(f"@{settings.TALKEE_DOMAIN}")  # type: ignore[operator]
    fits = APIClient().post("/v1/auth/challenge", {"username": "a" * longest}, format="json")
    assert fits.status_code == 200, fits.content
    assert list(LoginChallenge.objects.values_list("nonce", "username")) == [
        (fits.json()["nonce"], f"{'a' * longest}@{settings.TALKEE_DOMAIN}")
    ]

    for name in ("a" * (longest + 1), "a" * 300):
        refused = APIClient().post("/v1/auth/challenge", {"username": name}, format="json")
        error = assert_error_shape(refused, 400)
        assert error["code"] == "invalid_username" and "too long" in error["message"], error
    assert LoginChallenge.objects.count() == 1


@pytest.mark.parametrize(
    ("endpoint", "field"),
    [("keypackages", "keypackages"), ("claim", "users")],
)
def test_a_huge_list_of_junk_is_refused_cheaply(endpoint: str, field: str, valid: Valid) -> None:
    """A 3 MB list is refused by its length, not after judging (and reporting on) each item."""
    raw = json.dumps({field: [1] * 1_000_000})
    client = client_for(endpoint, valid)
    started = time.monotonic()
    response = client.generic("POST", ENDPOINTS[endpoint][0], raw, content_type="application/json")
    elapsed = time.monotonic() - started
    error = assert_error_shape(response, 400)
    assert "no more than" in error["message"]
    assert len(response.content) < 2_000
    assert elapsed < 3.0
