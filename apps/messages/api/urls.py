from django.urls import path

from apps.messages.api import sync, views

urlpatterns = [
    path("chats/<uuid:chat_id>/messages", views.ChatMessagesView.as_view(), name="chat-messages"),
    path("messages/<int:message_id>", views.MessageView.as_view(), name="message"),
    path("messages/<int:message_id>/burn", views.BurnView.as_view(), name="message-burn"),
    path("messages/<int:message_id>/reactions", views.ReactionsView.as_view(), name="message-reactions"),
    path("reactions/<int:reaction_id>", views.ReactionView.as_view(), name="reaction"),
    path("sync", sync.sync_view, name="sync"),
    path("sync/ack", views.AckView.as_view(), name="sync-ack"),
]
