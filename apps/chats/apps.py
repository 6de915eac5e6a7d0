from django.apps import AppConfig


class ChatsConfig(AppConfig):
    name = "apps.chats"
    label = "chats"

    def ready(self) -> None:
        from apps.chats import federation

        federation.register()  # its envelope kinds' handlers (apps/federation/registry.py)
