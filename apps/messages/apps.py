from django.apps import AppConfig


class MessagesConfig(AppConfig):
    name = "apps.messages"
    # "messages" is taken by django.contrib.messages.
    label = "talkee_messages"

    def ready(self) -> None:
        from apps.messages import federation

        federation.register()  # its envelope kinds' handlers (apps/federation/registry.py)
