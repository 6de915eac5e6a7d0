from django.urls import path

from apps.chats.api import views

urlpatterns = [
    path("chats", views.ChatListView.as_view(), name="chats"),
    path("chats/<uuid:chat_id>", views.ChatDetailView.as_view(), name="chat-detail"),
    path("chats/<uuid:chat_id>/members", views.ChatMembersView.as_view(), name="chat-members"),
    path("chats/<uuid:chat_id>/members/<str:address>", views.ChatMemberView.as_view(), name="chat-member"),
    path("chats/<uuid:chat_id>/name", views.ChatNameView.as_view(), name="chat-name"),
    path("chats/<uuid:chat_id>/favourite", views.ChatFavouriteView.as_view(), name="chat-favourite"),
]
