"""The OpenAPI schema at /v1/schema matches API.md's accounts-and-devices contract, and the
Swagger UI at /v1/docs works from this instance alone (no CDN)."""

import re
import urllib.request
from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

# API.md, "Accounts and devices": path → {method: success status}
CONTRACT = {
    "/v1/accounts/register": {"post": "201"},
    "/v1/auth/challenge": {"post": "200"},
    "/v1/auth/login": {"post": "200"},
    "/v1/auth/logout": {"post": "204"},
    "/v1/accounts/recover": {"post": "204"},
    "/v1/devices": {"get": "200"},
    "/v1/devices/{id}": {"delete": "204"},
    "/v1/keypackages": {"post": "201"},
    "/v1/keypackages/claim": {"post": "200"},
}
ANONYMOUS = {"/v1/accounts/register", "/v1/auth/challenge", "/v1/auth/login", "/v1/accounts/recover"}
REQUEST_FIELDS = {
    ("/v1/accounts/register", "post"): {"username", "password", "recovery_hash"},
    ("/v1/auth/challenge", "post"): {"username"},
    ("/v1/auth/login", "post"): {"username", "password", "device", "nonce", "signature"},
    ("/v1/accounts/recover", "post"): {"username", "recovery_proof", "new_password"},
    ("/v1/keypackages", "post"): {"keypackages"},
    ("/v1/keypackages/claim", "post"): {"users"},
}
# Optional additions to the contract, each documented in the README's API table.
OPTIONAL_FIELDS = {
    ("/v1/keypackages/claim", "post"): {"device_ids"},
    # false: a re-login with a kept password, refused for a device signed out from another one
    ("/v1/auth/login", "post"): {"interactive"},
}
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def _normalise(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{id}", path)


@pytest.fixture(scope="module")
def schema(django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        response = Client().get("/v1/schema?format=json")
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json") or response[
        "Content-Type"
    ].startswith("application/json")
    return dict(response.json())


def _operations(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {_normalise(path): item for path, item in schema["paths"].items()}


def test_json_is_also_served_by_accept_header() -> None:
    response = Client().get("/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")


@pytest.mark.parametrize(("path", "methods"), CONTRACT.items())
def test_every_contract_path_is_in_the_schema_with_its_methods(
    schema: dict[str, Any], path: str, methods: dict[str, str]
) -> None:
    operations = _operations(schema)
    assert path in operations, sorted(operations)
    listed = {m for m in operations[path] if m in HTTP_METHODS}
    assert listed == set(methods), f"{path}: schema says {listed}, API.md says {set(methods)}"
    for method, status in methods.items():
        assert status in operations[path][method]["responses"], (path, method, operations[path][method]["responses"])


@pytest.mark.parametrize(("path", "methods"), CONTRACT.items())
def test_who_may_call_matches_the_contract(schema: dict[str, Any], path: str, methods: dict[str, str]) -> None:
    for method in methods:
        security = _operations(schema)[path][method].get("security", schema.get("security", []))
        names = {name for requirement in security for name in requirement}
        if path in ANONYMOUS:
            assert "bearerToken" not in names, (path, security)
        else:
            assert names == {"bearerToken"}, (path, security)


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = schema["components"]["schemas"][name]
    return node


@pytest.mark.parametrize(("path", "method"), REQUEST_FIELDS)
def test_request_bodies_require_the_contract_fields(schema: dict[str, Any], path: str, method: str) -> None:
    body = _operations(schema)[path][method]["requestBody"]["content"]["application/json"]["schema"]
    resolved = _resolve(schema, body)
    optional = OPTIONAL_FIELDS.get((path, method), set())
    assert set(resolved["properties"]) == REQUEST_FIELDS[(path, method)] | optional
    assert set(resolved.get("required", [])) == REQUEST_FIELDS[(path, method)]


def test_login_device_and_binary_fields_are_described(schema: dict[str, Any]) -> None:
    login = _operations(schema)["/v1/auth/login"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    resolved = _resolve(schema, login)
    device = _resolve(schema, resolved["properties"]["device"])
    assert {"client_device_id", "ed25519_pub", "x25519_pub"} <= set(device["required"])
    assert device["properties"]["ed25519_pub"]["format"] == "byte"
    assert device["properties"]["client_device_id"]["format"] == "uuid"
    assert resolved["properties"]["signature"]["format"] == "byte"


def test_docs_page_uses_no_cdn() -> None:
    response = Client().get("/v1/docs")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "swagger-ui" in html.lower()
    for cdn in ("cdn.jsdelivr", "unpkg.com", "cdnjs", "googleapis", "//cdn"):
        assert cdn not in html, cdn
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets
    assert all(not a.startswith(("http://", "https://", "//")) for a in assets), assets


def test_docs_assets_are_served_by_the_instance(live_server_daphne: Any) -> None:
    """What a browser does: fetch /v1/docs from the server `make run` starts, then its assets."""
    with urllib.request.urlopen(f"{live_server_daphne.url}/v1/docs", timeout=10) as answer:
        html = answer.read().decode()
    assets = [a for a in re.findall(r'(?:src|href)="([^"]+)"', html) if a.startswith("/")]
    assert any(a.endswith(".js") for a in assets), assets
    for asset in assets:
        with urllib.request.urlopen(f"{live_server_daphne.url}{asset}", timeout=10) as answer:
            assert answer.status == 200, asset
            assert len(answer.read()) > 100, asset


def test_admin_styles_are_served_by_the_instance(live_server_daphne: Any) -> None:
    with urllib.request.urlopen(f"{live_server_daphne.url}/admin/login/", timeout=10) as answer:
        html = answer.read().decode()
    sheets = [a for a in re.findall(r'href="([^"]+\.css)"', html) if a.startswith("/static/")]
    assert sheets, html[:500]
    for sheet in sheets:
        with urllib.request.urlopen(f"{live_server_daphne.url}{sheet}", timeout=10) as answer:
            assert answer.status == 200, sheet


# Every answer is documented (issue 18): errors in the one shared shape, the generic ones
# wherever the machinery can produce them; tests/core/test_schema_conformance.py checks the
# running server against the same schema.
THROTTLED = {
    ("/v1/accounts/register", "post"),
    ("/v1/accounts/recover", "post"),
    ("/v1/auth/challenge", "post"),
    ("/v1/auth/login", "post"),
    ("/v1/keypackages/claim", "post"),
    ("/v1/calls/turn", "get"),
    ("/v1/chats/{id}/group-call", "post"),
    ("/v1/accounts/me/password", "post"),  # its own per-user limit, not the login's
    ("/v1/accounts/me/delete", "post"),  # shares the password change's per-user limit
}


def _all_operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def test_every_error_answer_has_the_error_shape(schema: dict[str, Any]) -> None:
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    detail = _resolve(schema, error["properties"]["error"])
    assert set(detail["required"]) == {"code", "message"}
    for path, method, operation in _all_operations(schema):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                content = response.get("content", {})
                assert content == {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}, (
                    path,
                    method,
                    status,
                )


def test_generic_errors_are_documented_where_they_can_happen(schema: dict[str, Any]) -> None:
    for path, method, operation in _all_operations(schema):
        statuses = set(operation["responses"])
        security = {name for requirement in operation.get("security", []) for name in requirement}
        where = (path, method, sorted(statuses))
        if security:
            assert security == {"bearerToken"}, where
            assert "401" in statuses, where
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= statuses, where
        if any(p["in"] == "query" for p in operation.get("parameters", [])):
            assert "400" in statuses, where
        if "{" in path:
            assert "404" in statuses, where
        assert ("429" in statuses) == ((_normalise(path), method) in THROTTLED), where
        assert not any(s.startswith("5") and s not in ("502", "503") for s in statuses), where


def test_the_bearer_scheme_is_declared(schema: dict[str, Any]) -> None:
    assert schema["components"]["securitySchemes"]["bearerToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "Session token from /v1/auth/login",
    }


def test_errors_only_a_view_knows_are_documented(schema: dict[str, Any]) -> None:
    operations = _operations(schema)
    assert "409" in operations["/v1/chats/{id}/messages"]["post"]["responses"]  # stale epoch
    assert "403" in operations["/v1/chats/{id}/messages"]["post"]["responses"]  # read-only channel
    assert "416" in operations["/v1/blobs/{id}"]["get"]["responses"]
    assert "409" in operations["/v1/accounts/register"]["post"]["responses"]  # username taken
    assert "401" in operations["/v1/auth/login"]["post"]["responses"]  # wrong password, anyone may call
    assert {"400", "503"} <= set(operations["/v1/chats/{id}/group-call"]["post"]["responses"])  # no Janus


def test_the_long_poll_is_in_the_schema(schema: dict[str, Any]) -> None:
    """GET /v1/sync is a plain async view; a postprocessing hook documents it."""
    operation = schema["paths"]["/v1/sync"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"cursor", "timeout"}
    assert operation["security"] == [{"bearerToken": []}]
    assert set(operation["responses"]) == {"200", "400", "401"}
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["required"] == [
        "events",
        "cursor",
        "more",
    ]


def test_the_encrypted_profile_is_in_the_schema(schema: dict[str, Any]) -> None:
    """PUT /v1/accounts/me/profile and GET /v1/accounts/{user}/profile, every answer documented."""
    own = schema["paths"]["/v1/accounts/me/profile"]
    put = own["put"]
    assert put["security"] == [{"bearerToken": []}]
    assert set(put["responses"]) == {"200", "400", "401", "409", "413", "415"}
    body = put["requestBody"]["content"]["application/json"]["schema"]
    fields = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    assert set(fields["properties"]) == {"version", "ciphertext"}
    assert set(fields["required"]) == {"version", "ciphertext"}
    assert fields["properties"]["ciphertext"]["format"] == "byte"
    assert set(own["get"]["responses"]) == {"200", "401", "404"}
    other = schema["paths"]["/v1/accounts/{user}/profile"]["get"]
    assert other["security"] == [{"bearerToken": []}]
    assert set(other["responses"]) == {"200", "401", "404", "502", "503"}  # 502/503: another instance's user
    answer = other["responses"]["200"]["content"]["application/json"]["schema"]
    assert set(schema["components"]["schemas"][answer["$ref"].rsplit("/", 1)[1]]["properties"]) == {
        "user",
        "version",
        "ciphertext",
    }
