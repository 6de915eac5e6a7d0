from typing import Any

from django.apps import AppConfig
from django.conf import settings


def _discovery_fields() -> dict[str, Any]:
    """The DNS tunnel's part of /.well-known/talkee/server: the key its frames are sealed to,
    its zone and its DoH URL."""
    from apps.core.b64 import b64
    from apps.transport.sealing import tunnel_public_key

    return {
        "tunnel_x25519_pub": b64(tunnel_public_key()),
        "tunnel_zone": settings.TALKEE_TUNNEL_ZONE,
        "tunnel_doh_url": settings.TALKEE_TUNNEL_DOH_URL or None,
    }


class TransportConfig(AppConfig):
    name = "apps.transport"

    def ready(self) -> None:
        from apps.federation.registry import register_discovery_fields

        register_discovery_fields(_discovery_fields)
