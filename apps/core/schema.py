"""The published schema documents every answer an operation can give, errors included.

`ApiAutoSchema` (REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]) adds to each operation the error
answers that the shared machinery produces, each in the one error shape (`Error`):

- 400 for an operation that reads a request body or query parameters (validation, bad JSON);
- 401 for an operation behind the bearer token (none, unknown or expired);
- 404 for a path with parameters (no such object, or not yours);
- 413 and 415 for an operation with a request body (ApiErrorMiddleware's size cap, the parser);
- 429 for a throttled view.

What only a view knows (a 409 from its service, a 403 for non-admins, a 416 for a range) it
declares itself with `extend_schema(responses={409: error_response("...")})`; an error answer
declared without a body gets the error shape too.
"""

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny

GENERIC_ERRORS = {
    400: "invalid_input / malformed_json: the request does not match this operation.",
    401: "unauthenticated: no valid bearer token.",
    404: "not_found: no such object, or not yours to see.",
    413: "payload_too_large: the request body is too large.",
    415: "unsupported_media_type: send the documented Content-Type.",
    429: "rate_limited: too many requests; Retry-After says when to try again.",
}

# Headers that come with some error answers, for clients that act on them.
ERROR_HEADERS = {
    401: {
        "WWW-Authenticate": {
            "schema": {"type": "string"},
            "description": 'Bearer realm="talkee" when the bearer token is missing or not valid.',
        }
    },
    429: {
        "Retry-After": {
            "schema": {"type": "integer", "minimum": 0},
            "description": "Seconds to wait before trying again.",
        }
    },
}


class ErrorDetailSerializer(serializers.Serializer[Any]):
    code = serializers.CharField(help_text="snake_case, stable: what clients branch on")
    message = serializers.CharField(help_text="A sentence for people.")
    # The answer's key is `fields`; DRF's metaclass takes declared fields out of the class
    # body, so this does not replace Serializer.fields at run time (mypy cannot know).
    fields = serializers.JSONField(required=False, help_text="Per-field details of invalid input.")  # type: ignore[assignment]


class ErrorSerializer(serializers.Serializer[Any]):
    """Every error answer of the API: {"error": {"code", "message"}}."""

    error = ErrorDetailSerializer()


def error_response(description: str) -> OpenApiResponse:
    """An error answer in the API's error shape, for `extend_schema(responses=...)`."""
    return OpenApiResponse(response=ErrorSerializer, description=description)


class ApiAutoSchema(AutoSchema):
    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation: dict[str, Any] | None = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        responses = operation["responses"]
        error_ref = self.resolve_serializer(ErrorSerializer, "response").ref
        for status in sorted(self._generic_errors(operation)):
            responses.setdefault(str(status), {"description": GENERIC_ERRORS[status]})
        for status, response in responses.items():
            if int(status) >= 400 and not response.get("content"):
                response["content"] = {"application/json": {"schema": error_ref}}
            if int(status) in ERROR_HEADERS and "headers" not in response:
                response["headers"] = ERROR_HEADERS[int(status)]
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _generic_errors(self, operation: dict[str, Any]) -> set[int]:
        parameters = operation.get("parameters", [])
        statuses: set[int] = set()
        if "requestBody" in operation:
            statuses |= {400, 413, 415}
        if any(p["in"] == "query" for p in parameters):
            statuses.add(400)
        if any(p["in"] == "path" for p in parameters):
            statuses.add(404)
        if self._needs_token():
            statuses.add(401)
        if self.view.get_throttles():
            statuses.add(429)
        return statuses

    def _needs_token(self) -> bool:
        """A view with an authentication class refuses a bad token even where anyone may
        call it; one that lets anyone in and reads no token never answers 401."""
        if self.view.get_authenticators():
            return True
        return not all(isinstance(p, AllowAny) for p in self.view.get_permissions())
