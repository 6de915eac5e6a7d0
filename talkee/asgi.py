"""One ASGI app for HTTP and WebSockets (daphne in `make run`, any ASGI server in production)."""

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "talkee.settings.dev")
django_asgi_app = get_asgi_application()

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

# /static/ (the admin's CSS, Swagger UI from drf-spectacular-sidecar) comes from the app
# itself: `make run` has no other web server, and without this /v1/docs is a blank page.
# A proxy in front may serve collectstatic's output instead; these requests never arrive.
django_asgi_app = ASGIStaticFilesHandler(django_asgi_app)

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from apps.core.eventloop import remember_server_loop  # noqa: E402
from talkee.jobs import start_inprocess_jobs  # noqa: E402
from talkee.routing import websocket_urlpatterns  # noqa: E402

start_inprocess_jobs()

router = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)


async def talkee_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    remember_server_loop()
    await router(scope, receive, send)


def behind_trusted_proxies(app: Any) -> Any:
    """The app as seen through the configured fronts: a request a trusted proxy passes on
    carries the client's address (X-Forwarded-For) and scheme (X-Forwarded-Proto) in its scope."""
    from django.conf import settings

    if not settings.TALKEE_TRUSTED_PROXIES:
        return app
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    return ProxyHeadersMiddleware(app, trusted_hosts=settings.TALKEE_TRUSTED_PROXIES)


application = behind_trusted_proxies(talkee_app)
