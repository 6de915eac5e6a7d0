"""`GET /v1/sync?cursor=&timeout=`: the long-poll fallback for clients whose WebSocket is
blocked. Same rows, same frames, same order as the socket's replay; waits on the
channel layer (no polling loop against the database) until something arrives."""

import logging
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse

from apps.accounts.selectors import session_for_token
from apps.core.errors import error_body
from apps.messages.sync import sync_page

if TYPE_CHECKING:
    from apps.accounts.models import Session

logger = logging.getLogger("talkee.sync")
MAX_TIMEOUT = 60.0
MAX_CURSOR = 2**63 - 1  # a stream position is a bigint


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
        if not 0 <= cursor <= MAX_CURSOR or not timeout >= 0:  # `not >=` also refuses NaN
            raise ValueError
    except ValueError:
        return _error(400, "invalid_input", "cursor must be a non-negative integer and timeout a number of seconds.")
    return JsonResponse(await sync_page(session, cursor, timeout))


def _error_answer(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


# A plain async view (it waits on the channel layer), so drf-spectacular cannot see it;
# `document_sync` (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]) adds it to /v1/schema.
SYNC_OPERATION: dict[str, Any] = {
    "operationId": "sync_retrieve",
    "description": "The long-poll fallback for clients whose WebSocket is blocked: the frames after "
    "`cursor` (the same rows, frames and order as the socket's replay), waiting up to `timeout` "
    "seconds (at most 60; more is taken as 60) when there are none.",
    "tags": ["sync"],
    "parameters": [
        {
            "in": "query",
            "name": "cursor",
            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_CURSOR, "default": 0},
            "description": "The last stream position this device has seen.",
        },
        {
            "in": "query",
            "name": "timeout",
            "schema": {"type": "number", "minimum": 0, "default": 25},
            "description": "Seconds to wait when nothing is new; 0 answers at once.",
        },
    ],
    "security": [{"bearerToken": []}],
    "responses": {
        "200": {
            "description": "The frames after the cursor and the cursor to ask with next.",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "events": {"type": "array", "items": {"type": "object", "additionalProperties": {}}},
                            "cursor": {"type": "integer"},
                            "more": {"type": "boolean"},
                        },
                        "required": ["events", "cursor", "more"],
                    }
                }
            },
        },
        "400": _error_answer("invalid_input: cursor is not a non-negative integer, or timeout not a number"),
        "401": {
            **_error_answer("unauthenticated: no valid bearer token."),
            "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": 'Bearer realm="talkee"'}},
        },
    },
}


def document_sync(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: `GET /v1/sync` in the published schema."""
    result.setdefault("paths", {})["/v1/sync"] = {"get": SYNC_OPERATION}
    result["paths"] = dict(sorted(result["paths"].items()))
    return result
