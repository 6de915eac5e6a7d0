"""One error shape for every API answer: {"error": {"code": ..., "message": ...}}.

DRF exceptions go through `api_exception_handler`; everything else that reaches an
API path (unknown URL, wrong method outside DRF, oversized body, an unexpected crash)
is turned into the same shape by `ApiErrorMiddleware`, so an API client never sees an
HTML page or a traceback.
"""

import logging
import traceback
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseUnavailable
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_default_handler

from apps.core.logging import API_PREFIXES
from apps.core.queue import QUEUE_ERRORS
from apps.core.requestlog import route_of

# PostgreSQL, Redis or the broker gone for a moment (a restart): 503, not a crash; the code
# and message also answer a socket frame that met the same (apps/messages/consumers.py).
UNAVAILABLE = ("unavailable", "The server is briefly unable to answer; try again in a moment.")
DEPENDENCY_ERRORS = (DatabaseUnavailable, DatabaseInterfaceError, *QUEUE_ERRORS)

logger = logging.getLogger("talkee.errors")


class ServiceError(Exception):
    """A refusal from a service (`check_*` / `do_*`), carried to the client as is."""

    status = 400
    code = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    body.update(extra)
    return {"error": body}


def _first_message(detail: Any, path: str = "") -> str:
    """Flatten DRF's nested validation detail into one readable sentence."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = key if key != "non_field_errors" else ""
            return _first_message(value, f"{path}.{name}" if path and name else (name or path))
    if isinstance(detail, list) and detail:
        return _first_message(detail[0], path)
    text = str(detail)
    return f"{path}: {text}" if path else text


def describe_validation_error(detail: Any) -> str:
    """One readable sentence for a serializer's errors (used where no DRF view answers)."""
    return _first_message(detail)


_DRF_CODES: dict[type[drf_exceptions.APIException], str] = {
    drf_exceptions.ParseError: "malformed_json",
    drf_exceptions.NotAuthenticated: "unauthenticated",
    drf_exceptions.AuthenticationFailed: "unauthenticated",
    drf_exceptions.PermissionDenied: "forbidden",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.NotAcceptable: "not_acceptable",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.Throttled: "rate_limited",
}


def _raised_while_parsing(exc: BaseException) -> bool:
    return any(
        frame.f_globals.get("__name__") == "rest_framework.parsers" for frame, _ in traceback.walk_tb(exc.__traceback__)
    )


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, RecursionError) and _raised_while_parsing(exc):
        # json gives up on a deeply nested document with RecursionError, which DRF's
        # JSONParser lets through (it catches only ValueError): bad input, not a crash.
        return Response(error_body("malformed_json", "The JSON document is nested too deeply."), status=400)
    if isinstance(exc, ServiceError):
        return Response(error_body(exc.code, exc.message), status=exc.status)
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body("payload_too_large", "The request body is too large."), status=413)
    response = drf_default_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.ValidationError):
        response.data = error_body("invalid_input", _first_message(exc.detail), fields=exc.detail)
        return response
    if isinstance(exc, Http404):
        code = "not_found"
    elif isinstance(exc, PermissionDenied):
        code = "forbidden"
    else:
        code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
    message = _first_message(getattr(exc, "detail", str(exc)))
    response.data = error_body(code, message)
    return response


_STATUS_CODES = {
    400: ("bad_request", "The request could not be understood."),
    401: ("unauthenticated", "Authentication is required."),
    403: ("forbidden", "You are not allowed to do this."),
    404: ("not_found", "There is nothing here."),
    405: ("method_not_allowed", "This method is not allowed here."),
    413: ("payload_too_large", "The request body is too large."),
    500: ("server_error", "Something went wrong on the server."),
    503: UNAVAILABLE,
}


def _is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES)


class ApiErrorMiddleware:
    """Gives API paths the JSON error shape whatever produced the error."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _is_api_path(request.path):
            length = request.META.get("CONTENT_LENGTH") or "0"
            if length.isdigit() and int(length) > settings.TALKEE_MAX_REQUEST_BYTES:
                return JsonResponse(error_body(*_STATUS_CODES[413]), status=413)
        response = self.get_response(request)
        if (
            _is_api_path(request.path)
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            code, message = _STATUS_CODES.get(response.status_code, ("error", "The request failed."))
            replacement = JsonResponse(error_body(code, message), status=response.status_code)
            for header in ("Allow", "Retry-After"):
                if header in response:
                    replacement[header] = response[header]
            return replacement
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not _is_api_path(request.path):
            return None
        if isinstance(exception, Http404):
            return JsonResponse(error_body(*_STATUS_CODES[404]), status=404)
        if isinstance(exception, RequestDataTooBig):
            return JsonResponse(error_body(*_STATUS_CODES[413]), status=413)
        # Log the type and the route (never the path's ids, never the request body).
        where = {"route": route_of(request), "method": request.method, "error_type": type(exception).__name__}
        if isinstance(exception, DEPENDENCY_ERRORS):
            # PostgreSQL or Redis restarting: the client tries again (its outbox does).
            logger.warning("a service the server needs is unavailable", extra=where)
            response = JsonResponse(error_body(*_STATUS_CODES[503]), status=503)
            response["Retry-After"] = "2"
            return response
        logger.error("unhandled error", extra=where, exc_info=exception)
        return JsonResponse(error_body(*_STATUS_CODES[500]), status=500)
