from django.urls import path

from apps.calls.api import views

urlpatterns = [
    path("calls/turn", views.TurnCredentialsView.as_view(), name="calls-turn"),
    path("chats/<uuid:chat_id>/group-call", views.GroupCallView.as_view(), name="group-call"),
]
