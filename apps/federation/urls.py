from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.http import require_GET

from apps.federation.instance_key import instance_signing_key
from talkee.api_fields import b64


@require_GET
def server_discovery(request: HttpRequest) -> JsonResponse:
    """Where to reach this instance's federation API and the key peers pin."""
    return JsonResponse(
        {
            "domain": settings.TALKEE_DOMAIN,
            "federation_url": settings.TALKEE_PUBLIC_URL.rstrip("/") + "/s2s/",
            "ed25519_pub": b64(bytes(instance_signing_key().verify_key)),
        }
    )


urlpatterns = [
    path(".well-known/talkee/server", server_discovery, name="well-known-server"),
]
