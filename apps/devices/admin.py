from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from apps.adminpanel.site import EphemeralLogModelAdmin, admin_site, log_admin_action
from apps.devices import services
from apps.devices.models import Device


class DeviceAdmin(EphemeralLogModelAdmin):
    list_display = ["id", "user", "label", "client_device_id", "keypackages_left", "created", "last_seen"]
    search_fields = ["user__username", "label"]
    readonly_fields = ["user", "client_device_id", "label", "created", "last_seen"]
    exclude = ["ed25519_pub", "x25519_pub"]
    actions = ["revoke_devices"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Device]:
        queryset: QuerySet[Device] = super().get_queryset(request)
        return queryset.select_related("user").annotate(kp_count=Count("keypackages"))

    @admin.display(description="KeyPackages", ordering="kp_count")
    def keypackages_left(self, device: Any) -> int:
        return int(device.kp_count)

    @admin.action(description="Revoke selected devices (sessions, KeyPackages, sockets)")
    def revoke_devices(self, request: HttpRequest, queryset: QuerySet[Device]) -> None:
        devices = list(queryset)
        log_admin_action(request, "revoke", devices)
        for device in devices:
            services.do_revoke_device(device)
        self.message_user(request, f"Revoked {len(devices)} device(s).", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting must go through revoke, which also tombstones the key and kicks sockets.
        return False


admin_site.register(Device, DeviceAdmin)
