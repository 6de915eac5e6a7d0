from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.accounts import services
from apps.accounts.models import User
from apps.adminpanel.site import EphemeralLogModelAdmin, admin_site, log_admin_action


class UserAdmin(EphemeralLogModelAdmin):
    list_display = ["username", "domain", "is_blocked", "is_staff", "date_joined"]
    list_filter = ["is_blocked", "is_staff", "domain"]
    search_fields = ["username"]
    fields = ["username", "domain", "is_blocked", "is_staff", "is_superuser", "date_joined", "last_login"]
    readonly_fields = ["username", "domain", "is_blocked", "date_joined", "last_login"]
    actions = ["block_users", "unblock_users"]

    @admin.action(description="Block selected users (ends their sessions and sockets)")
    def block_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        users = list(queryset)
        for user in users:
            services.do_set_blocked(user, True)
        log_admin_action(request, "block", users)
        self.message_user(request, f"Blocked {len(users)} user(s).", messages.SUCCESS)

    @admin.action(description="Unblock selected users")
    def unblock_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        users = list(queryset)
        for user in users:
            services.do_set_blocked(user, False)
        log_admin_action(request, "unblock", users)
        self.message_user(request, f"Unblocked {len(users)} user(s).", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


admin_site.register(User, UserAdmin)
