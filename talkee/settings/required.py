"""What production refuses to start without (talkee/settings/prod.py).

Each problem names the setting, so `docker-compose logs migrate` (or the first line a
systemd unit prints) says what to put in docker/.env. The check reads the environment,
not Django settings: it runs while the settings module is being imported.
"""

import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path

# Shorter than this is not a secret anyone should sign sessions with.
SECRET_KEY_MIN_LENGTH = 32

# Settings an empty value in docker/.env means "the default" for (compose passes every
# documented setting through, set or not); the required ones below stay required.
_OPTIONAL_PREFIXES = ("TALKEE_", "THROTTLE_", "CHANNEL_", "CELERY_", "LOG_LEVEL", "ALLOWED_HOSTS")


def drop_empty_optional(environ: MutableMapping[str, str]) -> None:
    """Remove optional settings that are set to "" so the code's defaults apply."""
    for name in [n for n, v in environ.items() if v == "" and n.startswith(_OPTIONAL_PREFIXES)]:
        del environ[name]


def _readable_file(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "")
    if not value:
        return f"{name} is not set"
    path = Path(value)
    if not path.is_file():
        return f"{name}={value}: no such file"
    if not os.access(path, os.R_OK):
        return f"{name}={value}: not readable by this user (uid {os.getuid()})"
    return None


def production_problems(environ: Mapping[str, str]) -> list[str]:
    """Every missing or unusable production setting, one sentence each (empty: all good)."""
    problems: list[str] = []
    secret = environ.get("SECRET_KEY", "")
    if not secret:
        problems.append("SECRET_KEY is not set (a long random string, e.g. `openssl rand -hex 32`)")
    elif len(secret) < SECRET_KEY_MIN_LENGTH:
        problems.append(f"SECRET_KEY is shorter than {SECRET_KEY_MIN_LENGTH} characters")
    domain = environ.get("TALKEE_DOMAIN", "")
    if not domain:
        problems.append("TALKEE_DOMAIN is not set (the instance's public name, e.g. chat.example.org)")
    elif domain in ("localhost", "127.0.0.1") or "/" in domain or ":" in domain:
        problems.append(f"TALKEE_DOMAIN={domain} is not a public host name")
    # Federation is mutual TLS between instances: certificate and key (CA may be the system store).
    for name in ("TALKEE_FEDERATION_TLS_CERT", "TALKEE_FEDERATION_TLS_KEY"):
        if problem := _readable_file(environ, name):
            problems.append(problem)
    if environ.get("TALKEE_FEDERATION_TLS_CA") and (problem := _readable_file(environ, "TALKEE_FEDERATION_TLS_CA")):
        problems.append(problem)
    if environ.get("TALKEE_FEDERATION_SCHEME", "https") != "https":
        problems.append("TALKEE_FEDERATION_SCHEME must be https in production")
    if environ.get("TALKEE_FEDERATION_REQUIRE_MTLS", "true").lower() in ("false", "0", "no", "off"):
        problems.append("TALKEE_FEDERATION_REQUIRE_MTLS must stay on in production")
    if environ.get("TALKEE_TURN_URLS") and not environ.get("TALKEE_TURN_SECRET"):
        problems.append("TALKEE_TURN_URLS is set but TALKEE_TURN_SECRET is not (coturn's static-auth-secret)")
    # Push services reach the operator through the VAPID subject (RFC 8292); it must be real.
    if not environ.get("TALKEE_VAPID_SUBJECT", "").startswith(("mailto:", "https://")):
        problems.append(
            "TALKEE_VAPID_SUBJECT is not a mailto: or https: address (push services contact the operator there)"
        )
    return problems
