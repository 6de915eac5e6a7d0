"""The signed server-to-server view of profiles (`/s2s/v1/profiles?user=`): a peer whose
members share a chat with a local user fetches that user's sealed profile (it cannot open
it; the members' clients can, with the key the user shared through MLS). Each request is
verified by federation's `verified_peer` first."""

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.http import require_GET

from apps.accounts.selectors import full_address, profile_of
from apps.core.b64 import b64
from apps.core.errors import ServiceError
from apps.federation.views import refusal, verified_peer


@require_GET
def profile(request: HttpRequest) -> JsonResponse:
    try:
        verified_peer(request)
        address = full_address(request.GET.get("user", ""))
        if not address.endswith("@" + settings.TALKEE_DOMAIN):
            raise ServiceError("That user does not live here.", code="not_local", status=404)
        found = profile_of(address)
        if found is None:
            raise ServiceError("This user has no profile.", code="not_found", status=404)
    except ServiceError as exc:
        return refusal(exc)
    return JsonResponse({"user": address, "version": found.version, "ciphertext": b64(bytes(found.ciphertext))})


urlpatterns = [path("s2s/v1/profiles", profile, name="s2s-profiles")]
