"""Server-to-server endpoints of the transport (discovery, the envelope inbox) and the two
helpers every app's own /s2s/ views use (`verified_peer`, `refusal`). Every request is
verified before anything else happens."""

import json
import logging

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from apps.core.b64 import b64
from apps.core.errors import ServiceError, error_body
from apps.core.ratelimit import over_rate
from apps.federation import registry, services
from apps.federation.instance_key import instance_signing_key
from apps.federation.signing import VerifiedRequest, verify_request

logger = logging.getLogger("talkee.federation")


@require_GET
def server_discovery(request: HttpRequest) -> JsonResponse:
    """Where to reach this instance's federation API and the key peers pin."""
    return JsonResponse(
        {
            "domain": settings.TALKEE_DOMAIN,
            "federation_url": settings.TALKEE_FEDERATION_URL,
            "ed25519_pub": b64(bytes(instance_signing_key().verify_key)),
            # Fields other apps add: the DNS tunnel's key, zone and DoH URL (apps/transport).
            **registry.discovery_fields(),
        }
    )


def refusal(exc: ServiceError) -> JsonResponse:
    return JsonResponse(error_body(exc.code, exc.message), status=exc.status)


def verified_peer(request: HttpRequest) -> VerifiedRequest:
    """The verified origin of a signed peer request (within its rate), or a ServiceError."""
    verified = verify_request(request)
    if over_rate("s2s", verified.origin, settings.TALKEE_FEDERATION_PEER_RATE):
        raise ServiceError("Too many requests from your instance; slow down.", code="rate_limited", status=429)
    return verified


@csrf_exempt
@require_http_methods(["POST"])
def envelopes(request: HttpRequest) -> JsonResponse:
    """verify → store in the inbox (once per (origin, txn_id)) → 202 → handled by a task."""
    if len(request.body) > settings.TALKEE_FEDERATION_MAX_BODY_BYTES:
        return JsonResponse(error_body("payload_too_large", "The batch is too large."), status=413)
    try:
        verified = verified_peer(request)
        try:
            document = json.loads(request.body)
        except ValueError as exc:
            raise ServiceError("The body is not JSON.", code="malformed_json") from exc
        stored = services.do_receive_envelopes(verified.origin, services.check_envelopes(document))
    except ServiceError as exc:
        return refusal(exc)
    return JsonResponse({"accepted": len(stored)}, status=202)
