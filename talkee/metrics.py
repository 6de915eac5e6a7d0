"""`GET /metrics`: the instance's Prometheus metrics (apps/core/metrics.py), for the internal
network or a bearer token only (README, Operations)."""

import hmac
import ipaddress
from collections.abc import Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from apps.blobs.selectors import stored_bytes
from apps.core import metrics
from apps.core.errors import error_body
from apps.federation.selectors import outbox_by_peer

# A request that came through the TLS front (Caddy, Traefik) carries one of these; its
# REMOTE_ADDR is the front's private address, which says nothing about the client.
_PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


class DatabaseGauges(Collector):
    """Read at scrape time from the database, once (not per process)."""

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "talkee_federation_outbox_pending", "Envelopes waiting for delivery, by peer instance.", labels=["peer"]
        )
        failing = GaugeMetricFamily(
            "talkee_federation_outbox_failing",
            "Waiting envelopes that failed at least once, by peer instance.",
            labels=["peer"],
        )
        for peer, (pending, failed) in sorted(outbox_by_peer().items()):
            depth.add_metric([peer], pending)
            failing.add_metric([peer], failed)
        yield depth
        yield failing
        yield GaugeMetricFamily(
            "talkee_blob_bytes_stored", "Bytes of encrypted files stored (bucket sizes).", value=stored_bytes()
        )


def _internal(request: HttpRequest) -> bool:
    if any(request.META.get(header) for header in _PROXY_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def _bearer(request: HttpRequest) -> str | None:
    scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    token = _bearer(request)
    expected = settings.TALKEE_METRICS_TOKEN
    allowed = bool(expected and token and hmac.compare_digest(token.encode(), expected.encode()))
    if not allowed and not _internal(request):
        if token is None:
            response = JsonResponse(
                error_body("unauthenticated", "Metrics need a bearer token from outside the internal network."),
                status=401,
            )
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        return JsonResponse(error_body("forbidden", "This token does not open the metrics."), status=403)
    return HttpResponse(metrics.exposition(DatabaseGauges()), content_type=CONTENT_TYPE_LATEST)
