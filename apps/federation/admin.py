from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.adminpanel.site import EphemeralLogModelAdmin, admin_site, log_admin_action
from apps.federation import discovery
from apps.federation.models import Peer


class PeerAdmin(EphemeralLogModelAdmin):
    list_display = ["domain", "blocked", "pinned_at"]
    readonly_fields = ["domain", "pinned_at", "blocked"]
    exclude = ["ed25519_pub"]
    actions = ["repin_keys", "block_peers", "unblock_peers"]

    @admin.action(description="Re-pin: trust the key each selected peer publishes now")
    def repin_keys(self, request: HttpRequest, queryset: QuerySet[Peer]) -> None:
        for peer in queryset:
            try:
                key = discovery.fetch_server_key(peer.domain)
            except discovery.DiscoveryError as exc:
                self.message_user(request, f"{peer.domain}: {exc}", messages.ERROR)
                continue
            Peer.objects.filter(pk=peer.pk).update(ed25519_pub=key)
            log_admin_action(request, "repin", [peer])
            self.message_user(request, f"{peer.domain}: key re-pinned.", messages.SUCCESS)

    @admin.action(description="Block selected peers")
    def block_peers(self, request: HttpRequest, queryset: QuerySet[Peer]) -> None:
        peers = list(queryset)
        queryset.update(blocked=True)
        log_admin_action(request, "block_peer", peers)

    @admin.action(description="Unblock selected peers")
    def unblock_peers(self, request: HttpRequest, queryset: QuerySet[Peer]) -> None:
        peers = list(queryset)
        queryset.update(blocked=False)
        log_admin_action(request, "unblock_peer", peers)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


admin_site.register(Peer, PeerAdmin)
