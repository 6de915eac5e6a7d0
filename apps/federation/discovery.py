"""Finding a peer: domain → base URL (a static map from settings for tests and private
networks, else https://<domain>) and its published key at /.well-known/talkee/server."""

import base64
import binascii
import json
import urllib.error
import urllib.request

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DiscoveryError(Exception):
    pass


def base_url(domain: str) -> str:
    """Only http(s) URLs are ever built, so urlopen below cannot be steered elsewhere."""
    scheme = settings.TALKEE_FEDERATION_SCHEME
    if scheme not in ("http", "https"):
        raise ImproperlyConfigured("TALKEE_FEDERATION_SCHEME must be https (or http on a private network)")
    host = settings.TALKEE_FEDERATION_HOSTS.get(domain, domain)
    return f"{scheme}://{host}"


def open_url(request: urllib.request.Request, timeout: float) -> tuple[int, bytes]:
    """One outgoing federation HTTP call (the place TLS client settings go)."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme from settings
            return int(response.status), response.read(settings.TALKEE_FEDERATION_MAX_BODY_BYTES + 1)
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read(64 * 1024)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise DiscoveryError(str(getattr(exc, "reason", exc))) from exc


def fetch_server_key(domain: str) -> bytes:
    request = urllib.request.Request(base_url(domain) + "/.well-known/talkee/server")  # noqa: S310 - http(s) only
    status, raw = open_url(request, timeout=10)
    if status != 200:
        raise DiscoveryError(f"discovery answered {status}")
    try:
        document = json.loads(raw)
        if document.get("domain") != domain:
            raise DiscoveryError("the instance calls itself by another name")
        key = base64.b64decode(document["ed25519_pub"], validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise DiscoveryError("malformed discovery document") from exc
    if len(key) != 32:
        raise DiscoveryError("malformed key")
    return key
