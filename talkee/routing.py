from django.urls import path

from apps.calls.api.consumers import JanusProxyConsumer
from apps.messages.consumers import DeviceSocketConsumer

websocket_urlpatterns = [
    path("v1/ws", DeviceSocketConsumer.as_asgi()),
    path("v1/group-call/ws", JanusProxyConsumer.as_asgi()),
]
