from django.apps import AppConfig


class MessagesConfig(AppConfig):
    name = "apps.messages"
    # "messages" is taken by django.contrib.messages.
    label = "talkee_messages"
