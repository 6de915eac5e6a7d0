"""`/dns-query`: DNS over HTTPS (RFC 8484) for the tunnel zone, GET `?dns=` (base64url,
no padding) or POST `application/dns-message`. A browser cannot send raw DNS; it posts
here, or to a public DoH resolver that forwards the zone to `manage.py dns_gateway`."""

import base64
import binascii

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from apps.core.errors import error_body
from apps.core.ratelimit import aover_rate, retry_after
from apps.transport.gateway import MAX_QUERY_BYTES, answer

CONTENT_TYPE = "application/dns-message"


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)


@csrf_exempt
async def dns_query(request: HttpRequest) -> HttpResponse:
    rate = settings.TALKEE_TUNNEL_DOH_RATE
    if await aover_rate("doh", request.META.get("REMOTE_ADDR", ""), rate):
        response = _error(429, "rate_limited", "Too many DNS queries from your address; slow down.")
        response["Retry-After"] = str(retry_after(rate))
        return response
    if request.method == "GET":
        encoded = request.GET.get("dns", "")
        if not encoded or len(encoded) > MAX_QUERY_BYTES * 2:
            return _error(400, "invalid_input", "dns must be a base64url DNS message.")
        try:
            wire = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError):
            return _error(400, "invalid_input", "dns must be a base64url DNS message.")
    elif request.method == "POST":
        if request.content_type != CONTENT_TYPE:
            return _error(415, "unsupported_media_type", f"Send {CONTENT_TYPE}.")
        wire = request.body
        if len(wire) > MAX_QUERY_BYTES:
            return _error(413, "payload_too_large", "A DNS message here is at most 4096 bytes.")
    else:
        response = _error(405, "method_not_allowed", "Use GET or POST.")
        response["Allow"] = "GET, POST"
        return response
    packed = await answer(wire, udp=False)
    if packed is None:
        return _error(400, "invalid_input", "Not a DNS query.")
    return HttpResponse(packed, content_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})
