"""talkee.settings.prod refuses to start without SECRET_KEY, TALKEE_DOMAIN and the federation's
TLS files, naming each missing setting; with them it starts with production values."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

SHOW = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.ALLOWED_HOSTS, s.TALKEE_TURN_URLS, s.DEBUG, s.CSRF_TRUSTED_ORIGINS, s.TALKEE_TUNNEL_ZONE)"
)


def start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return subprocess.run(
        [sys.executable, "-c", SHOW],
        cwd=ROOT,
        env={**keep, "DJANGO_SETTINGS_MODULE": "talkee.settings.prod", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def good(tmp_path: Path) -> dict[str, str]:
    cert, key = tmp_path / "s2s.pem", tmp_path / "s2s.key"
    cert.write_text("certificate")
    key.write_text("key")
    return {
        "SECRET_KEY": "k" * 50,
        "TALKEE_DOMAIN": "chat.example.org",
        "TALKEE_VAPID_SUBJECT": "mailto:operator@example.org",
        "TALKEE_FEDERATION_TLS_CERT": str(cert),
        "TALKEE_FEDERATION_TLS_KEY": str(key),
        "TALKEE_VAR_DIR": str(tmp_path / "var"),
    }


def test_all_settings_given_it_starts_with_production_values(good: dict[str, str]) -> None:
    # Empty optional settings (compose passes every documented one) mean the defaults.
    result = start({**good, "TALKEE_TURN_SECRET": "s", "TALKEE_TURN_URLS": "", "TALKEE_TUNNEL_ZONE": ""})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[0] == (
        "['chat.example.org'] ['turn:chat.example.org:3478?transport=udp', "
        "'turn:chat.example.org:3478?transport=tcp', 'turns:chat.example.org:5349?transport=tcp'] "
        "False ['https://chat.example.org'] t.chat.example.org"
    )


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"SECRET_KEY": None}, "SECRET_KEY is not set"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY is shorter than 32"),
        ({"TALKEE_DOMAIN": None}, "TALKEE_DOMAIN is not set"),
        ({"TALKEE_DOMAIN": "localhost"}, "TALKEE_DOMAIN=localhost is not a public host name"),
        ({"TALKEE_FEDERATION_TLS_CERT": None}, "TALKEE_FEDERATION_TLS_CERT is not set"),
        ({"TALKEE_FEDERATION_TLS_KEY": "/nowhere/s2s.key"}, "TALKEE_FEDERATION_TLS_KEY=/nowhere/s2s.key: no such file"),
        ({"TALKEE_FEDERATION_TLS_CA": "/nowhere/ca.pem"}, "TALKEE_FEDERATION_TLS_CA=/nowhere/ca.pem: no such file"),
        ({"TALKEE_FEDERATION_REQUIRE_MTLS": "false"}, "TALKEE_FEDERATION_REQUIRE_MTLS must stay on"),
        ({"TALKEE_FEDERATION_SCHEME": "http"}, "TALKEE_FEDERATION_SCHEME must be https"),
        ({"TALKEE_TURN_URLS": "turn:x:3478"}, "TALKEE_TURN_URLS is set but TALKEE_TURN_SECRET is not"),
        ({"TALKEE_VAPID_SUBJECT": None}, "TALKEE_VAPID_SUBJECT is not a mailto: or https: address"),
        ({"TALKEE_VAPID_SUBJECT": "operator"}, "TALKEE_VAPID_SUBJECT is not a mailto: or https: address"),
    ],
)
def test_a_missing_or_unsafe_setting_stops_it_and_is_named(
    good: dict[str, str], change: dict[str, str | None], named: str
) -> None:
    env = {**good}
    for name, value in change.items():
        if value is None:
            env.pop(name)
        else:
            env[name] = value
    result = start(env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and named in result.stderr, result.stderr[-600:]


def test_everything_missing_names_every_setting_at_once() -> None:
    result = start({})
    assert result.returncode != 0
    for name in ("SECRET_KEY", "TALKEE_DOMAIN", "TALKEE_FEDERATION_TLS_CERT", "TALKEE_FEDERATION_TLS_KEY"):
        assert name in result.stderr
