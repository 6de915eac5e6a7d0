"""`GET /v1/sync?cursor=&timeout=`: the long-poll fallback for clients whose WebSocket is
blocked. Same rows, same frames, same order as the socket's replay; waits on the
channel layer (no polling loop against the database) until something arrives."""

import logging
from typing import TYPE_CHECKING

from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse

from apps.accounts.selectors import session_for_token
from apps.core.errors import error_body
from apps.messages.sync import sync_page

if TYPE_CHECKING:
    from apps.accounts.models import Session

logger = logging.getLogger("talkee.sync")
MAX_TIMEOUT = 60.0


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)


async def _session(request: HttpRequest) -> "Session | None":
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    return await sync_to_async(session_for_token)(token.strip())


async def sync_view(request: HttpRequest) -> JsonResponse:
    if request.method != "GET":
        response = _error(405, "method_not_allowed", "Use GET.")
        response["Allow"] = "GET"
        return response
    session = await _session(request)
    if session is None:
        response = _error(401, "unauthenticated", "Authentication credentials were not provided or are invalid.")
        response["WWW-Authenticate"] = 'Bearer realm="talkee"'
        return response
    try:
        cursor = int(request.GET.get("cursor", "0"))
        timeout = min(float(request.GET.get("timeout", "25")), MAX_TIMEOUT)
        if cursor < 0 or timeout < 0:
            raise ValueError
    except ValueError:
        return _error(400, "invalid_input", "cursor must be a non-negative integer and timeout a number of seconds.")
    return JsonResponse(await sync_page(session, cursor, timeout))
