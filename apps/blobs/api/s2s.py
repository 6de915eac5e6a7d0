"""The signed server-to-server views of files (`/s2s/v1/blobs/`, `/s2s/v1/uploads/`): a peer
fetching a range for its members, and a chat's home pulling a file a member here uploaded.
Each request is verified by federation's `verified_peer` before anything else happens."""

import uuid

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.urls import path
from django.views.decorators.http import require_GET

from apps.accounts.selectors import full_address
from apps.blobs import selectors
from apps.blobs.api.views import blob_response
from apps.core.errors import NotFound, ServiceError
from apps.federation.remote import domain_of
from apps.federation.views import refusal, verified_peer


@require_GET
def blob(request: HttpRequest, blob_id: uuid.UUID) -> HttpResponseBase:
    """A range of a file stored here (the chat's home) for a member on the asking instance:
    the instance speaks only for its own users, and the member list here decides."""
    try:
        verified = verified_peer(request)
        address = full_address(request.GET.get("user", ""))
        if domain_of(address) != verified.origin:
            raise ServiceError("An instance asks only for its own users.", code="not_your_user", status=403)
        found = selectors.blob_for_member_of_home_chat(blob_id, address)
        if found is None:
            raise NotFound("No such blob.", code="blob_not_found")
        return blob_response(request, found)
    except ServiceError as exc:
        return refusal(exc)


@require_GET
def upload(request: HttpRequest, blob_id: uuid.UUID) -> HttpResponseBase:
    """A range of a file a member here uploaded for a chat homed at the asking instance:
    the home pulls it when it orders the message that carries it (and then stores it
    like its own members' files). Nobody but the chat's home may ask."""
    try:
        verified = verified_peer(request)
        found = selectors.upload_for_home(blob_id, verified.origin)
        if found is None:
            raise NotFound("No such blob.", code="blob_not_found")
        return blob_response(request, found)
    except ServiceError as exc:
        return refusal(exc)


urlpatterns = [
    path("s2s/v1/blobs/<uuid:blob_id>", blob, name="s2s-blob"),
    path("s2s/v1/uploads/<uuid:blob_id>", upload, name="s2s-upload"),
]
