"""Every answer carries the security headers, and production's `check --deploy` is clean."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from tests.conftest import ROOT, LiveServer

EXPECTED = {
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def assert_secure_headers(headers: Any) -> None:
    for name, value in EXPECTED.items():
        assert headers[name] == value, name
    policy = {p.strip().split("=")[0]: p.strip().split("=")[1] for p in headers["Permissions-Policy"].split(",")}
    assert policy["camera"] == "(self)"
    assert policy["microphone"] == "(self)"
    assert policy["display-capture"] == "(self)"  # screen sharing in a call
    assert policy["geolocation"] == "()"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "media-src 'self' blob:" in csp  # decrypted voice messages play from object URLs


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/"),  # the PWA
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/v1/schema"),
        ("get", "/v1/chats"),  # 401, error shape
        ("get", "/v1/nothing-here"),  # 404 replaced by the error shape
        ("post", "/healthz"),  # 405 replaced by the error shape
        ("get", "/.well-known/talkee/server"),
        ("get", "/admin/login/"),
        ("get", "/metrics"),
    ],
)
def test_every_answer_carries_the_headers(method: str, path: str) -> None:
    response = getattr(Client(), method)(path)
    assert_secure_headers(response.headers)


def test_over_the_real_asgi_server(live_server_daphne: LiveServer) -> None:
    import urllib.error
    import urllib.request

    for path in ("/", "/v1/nothing-here"):
        try:
            with urllib.request.urlopen(f"{live_server_daphne.url}{path}", timeout=10) as answer:
                headers = answer.headers
        except urllib.error.HTTPError as error:
            headers = error.headers
        assert_secure_headers(headers)


def test_check_deploy_is_clean_under_production_settings(tmp_path: Path) -> None:
    """`manage.py check --deploy --fail-level WARNING` with a valid production environment."""
    assert (ROOT / "static").is_dir(), "build the PWA first (cd web && npm run build), as for tests/e2e"
    cert, key = tmp_path / "s2s.pem", tmp_path / "s2s.key"
    cert.write_text("certificate")
    key.write_text("key")
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env = {
        **keep,
        "DJANGO_SETTINGS_MODULE": "talkee.settings.prod",
        "SECRET_KEY": os.urandom(32).hex(),
        "TALKEE_DOMAIN": "chat.example.org",
        "TALKEE_VAPID_SUBJECT": "mailto:operator@example.org",
        "TALKEE_FEDERATION_TLS_CERT": str(cert),
        "TALKEE_FEDERATION_TLS_KEY": str(key),
        "TALKEE_VAR_DIR": str(tmp_path / "var"),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
