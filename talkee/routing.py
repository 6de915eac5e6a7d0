from django.urls import path

from apps.messages.consumers import DeviceSocketConsumer

websocket_urlpatterns = [
    path("v1/ws", DeviceSocketConsumer.as_asgi()),
]
