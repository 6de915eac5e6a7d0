from django.apps import AppConfig


class ChatsConfig(AppConfig):
    name = "apps.chats"
    label = "chats"

    def ready(self) -> None:
        from apps.accounts.services import register_deletion_step
        from apps.chats import federation
        from apps.chats.services import do_leave_all_chats

        federation.register()  # its envelope kinds' handlers (apps/federation/registry.py)
        register_deletion_step(do_leave_all_chats)  # a deleted account leaves every chat
