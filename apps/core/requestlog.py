"""One log line per HTTP request: method, route pattern, status and time — never the path's
values (chat, device, blob ids), the user, the query string or a header.

The line carries the request id (django-guid's contextvar, added by the logging filter in
settings.LOGGING), which also travels to the Celery tasks the request enqueues and to the
peers it calls (apps/federation/discovery.call), so one id follows a message through web,
worker and the receiving instance's s2s listener."""

import logging
import time
from collections.abc import Awaitable, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

log = logging.getLogger("talkee.request")

# Probes hit these every few seconds: their lines are debug-level noise.
_QUIET_ROUTES = {"healthz", "readyz", "metrics"}


def route_of(request: HttpRequest) -> str:
    match = request.resolver_match
    return "-" if match is None or not match.route else match.route


def _emit(request: HttpRequest, response: HttpResponseBase, started: float) -> None:
    route = route_of(request)
    level = logging.DEBUG if route.strip("/") in _QUIET_ROUTES else logging.INFO
    if log.isEnabledFor(level):
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        log.log(
            level,
            "%s %s %s",
            request.method,
            route,
            response.status_code,
            extra={"method": request.method, "route": route, "status": response.status_code, "ms": elapsed},
        )


class RequestLogMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self.__acall__(request)
        started = time.perf_counter()
        response = self.get_response(request)
        assert isinstance(response, HttpResponseBase)
        _emit(request, response, started)
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        response = await self.get_response(request)  # type: ignore[misc]
        assert isinstance(response, HttpResponseBase)
        _emit(request, response, started)
        return response
