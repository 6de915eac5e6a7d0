"""The server-to-server listener: `python -m talkee.server --s2s [--host H] [--port P]`.

uvicorn serving the same ASGI app over TLS 1.3 with a required client certificate
(apps/federation/tls.py builds the context from TALKEE_FEDERATION_TLS_*), so only a
handshake with a certificate the CA bundle verifies reaches the app. A small protocol
subclass puts that verified certificate into every request's scope as the ASGI TLS
extension (`scope["extensions"]["tls"]`), which the /s2s/ views match against
X-Talkee-Origin. Only the federation paths are served here; no WebSockets, no access log.
"""

import asyncio
import json
import os
import ssl
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

FEDERATION_PATHS = ("/s2s/", "/.well-known/talkee/")


class TlsHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus the ASGI TLS extension of the verified connection."""

    tls: dict[str, Any] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        from apps.federation.tls import asgi_tls_extension

        ssl_object = transport.get_extra_info("ssl_object")
        self.tls = asgi_tls_extension(ssl_object) if ssl_object is not None else None

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.tls is not None:
            self.scope["extensions"] = {"tls": {key: value for key, value in self.tls.items()}}


def federation_only(app: Any) -> Any:
    """Anything but the federation API is 404 here (the client API has its own port)."""
    from apps.core.errors import error_body

    body = json.dumps(error_body("not_found", "Only the federation API is served here."))

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and str(scope["path"]).startswith(FEDERATION_PATHS):
            await app(scope, receive, send)
            return
        raw = body.encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
        await send({"type": "http.response.start", "status": 404, "headers": headers})
        await send({"type": "http.response.body", "body": raw})

    return guarded


def run(host: str, port: int | None) -> None:
    import uvicorn

    # The client-facing server process runs the in-process jobs (embedded mode), not this one.
    os.environ.setdefault("TALKEE_INPROCESS_JOBS", "false")
    from django.conf import settings

    from apps.federation.tls import TlsNotConfigured, server_context

    # Peers connect directly (mutual TLS): no front's X-Forwarded-For is trusted here.
    from talkee.asgi import talkee_app

    try:
        context = server_context()
    except (TlsNotConfigured, OSError) as exc:  # OSError: a missing or unreadable PEM file
        raise SystemExit(f"talkee s2s listener: {exc} — see README, Federation") from exc

    def ssl_context_factory(config: uvicorn.Config, default: Any) -> ssl.SSLContext:
        return context

    uvicorn.run(
        federation_only(talkee_app),
        host=host,
        port=port or settings.TALKEE_FEDERATION_PORT,
        loop="uvloop",
        http=TlsHttpToolsProtocol,
        ws="none",
        lifespan="off",
        ssl_context_factory=ssl_context_factory,
        access_log=False,
        log_config=None,
        log_level="warning",
        proxy_headers=False,
    )
