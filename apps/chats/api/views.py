"""Chat endpoints: thin views over apps.chats.services."""

import uuid
from typing import TYPE_CHECKING

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.authentication import request_session
from apps.accounts.selectors import full_address, user_by_address
from apps.chats import selectors, services
from apps.chats.api import serializers
from apps.chats.models import Chat
from apps.core.api_fields import check_address, validated
from apps.core.errors import NotFound
from apps.core.schema import error_response

if TYPE_CHECKING:
    from apps.accounts.models import User


def chat_or_404(request: Request, chat_id: uuid.UUID) -> Chat:
    chat = selectors.chat_for_member(chat_id, request_session(request).user_id)
    if chat is None:
        raise NotFound("No such chat.", code="chat_not_found")
    return chat


# What only these views know; the generic errors (400, 401, 404, 413, 415) come from
# apps.core.schema.ApiAutoSchema.
NOT_ADMIN = error_response("not_chat_admin / cannot_remove_owner: only the chat's owners and admins may do this")
NO_USER = error_response("user_not_found: an address names nobody")
PEER_DOWN = error_response("peer_unreachable: another instance named in the request cannot be reached now")
PEER_WRONG = error_response("invalid_peer_answer: another instance answered nonsense")
LAST_OWNER = error_response("last_owner: the chat needs an owner; hand over ownership first")


def user_or_404(address: str) -> "User":
    user = user_by_address(full_address(check_address(address)))
    if user is None:
        raise NotFound(f"No such user: {address}.", code="user_not_found")
    return user


def changed(chat: Chat) -> int:
    """A change in a chat homed on another instance is forwarded there and answered 202:
    the new state arrives as a `chat` device event."""
    return status.HTTP_202_ACCEPTED if chat.home else status.HTTP_200_OK


def render_chat(request: Request, chat_id: uuid.UUID, status_code: int = 200) -> Response:
    chat = chat_or_404(request, chat_id)
    data = serializers.ChatSerializer(chat, context={"user_id": request_session(request).user_id}).data
    return Response(data, status=status_code)


class ChatListView(APIView):
    @extend_schema(responses={200: serializers.ChatSerializer(many=True)})
    def get(self, request: Request) -> Response:
        user_id = request_session(request).user_id
        chats = selectors.chats_of(user_id)
        return Response(serializers.ChatSerializer(chats, many=True, context={"user_id": user_id}).data)

    @extend_schema(
        request=serializers.ChatCreateSerializer,
        responses={
            201: serializers.ChatSerializer,
            200: serializers.ChatSerializer,
            403: error_response("not_accepted: the other person (a group: someone in it) blocked the creator"),
            404: NO_USER,
            409: error_response("chat_exists: a chat with this id exists already"),
            502: PEER_WRONG,
            503: PEER_DOWN,
        },
    )
    def post(self, request: Request) -> Response:
        data = validated(serializers.ChatCreateSerializer, request.data)
        chat, created = services.do_create_chat(
            request_session(request).user,
            data["kind"],
            [full_address(m) for m in data["members"]],
            chat_id=data.get("id"),
            encrypted_name=data.get("encrypted_name"),
            mls_group_id=data.get("mls_group_id"),
            ttl_seconds=data.get("ttl_seconds"),
        )
        return render_chat(request, chat.id, status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ChatDetailView(APIView):
    @extend_schema(responses={200: serializers.ChatSerializer})
    def get(self, request: Request, chat_id: uuid.UUID) -> Response:
        return render_chat(request, chat_id)

    @extend_schema(
        request=serializers.TimerSerializer,
        responses={200: serializers.ChatSerializer, 202: serializers.ChatSerializer, 403: NOT_ADMIN},
    )
    def patch(self, request: Request, chat_id: uuid.UUID) -> Response:
        """The chat's self-destruct default (`ttl_seconds`) for messages sent from now on."""
        chat = chat_or_404(request, chat_id)
        data = validated(serializers.TimerSerializer, request.data)
        services.do_set_timer(request_session(request).user, chat, data["ttl_seconds"])
        return render_chat(request, chat_id, changed(chat))


class ChatMembersView(APIView):
    @extend_schema(
        request=serializers.AddMembersSerializer,
        responses={
            200: serializers.ChatSerializer,
            202: serializers.ChatSerializer,
            403: error_response("not_chat_admin / not_accepted: someone to add blocked the one adding"),
            502: PEER_WRONG,
            503: PEER_DOWN,
        },
    )
    def post(self, request: Request, chat_id: uuid.UUID) -> Response:
        chat = chat_or_404(request, chat_id)
        data = validated(serializers.AddMembersSerializer, request.data)
        services.do_add_members(
            request_session(request).user, chat, [full_address(u) for u in data["users"]], data["role"]
        )
        return render_chat(request, chat_id, changed(chat))


class ChatMemberView(APIView):
    @extend_schema(
        request=None,
        responses={
            204: None,
            202: None,
            400: error_response("invalid_input: not a user address / direct_chat: nobody leaves a direct chat"),
            403: NOT_ADMIN,
            409: LAST_OWNER,
        },
    )
    def delete(self, request: Request, chat_id: uuid.UUID, address: str) -> Response:
        chat = chat_or_404(request, chat_id)
        services.do_remove_member(request_session(request).user, chat, user_or_404(address))
        return Response(status=status.HTTP_202_ACCEPTED if chat.home else status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=serializers.RoleSerializer,
        responses={200: serializers.ChatSerializer, 202: serializers.ChatSerializer, 403: NOT_ADMIN, 409: LAST_OWNER},
    )
    def patch(self, request: Request, chat_id: uuid.UUID, address: str) -> Response:
        chat = chat_or_404(request, chat_id)
        data = validated(serializers.RoleSerializer, request.data)
        services.do_change_role(request_session(request).user, chat, user_or_404(address), data["role"])
        return render_chat(request, chat_id, changed(chat))


class ChatNameView(APIView):
    @extend_schema(
        request=serializers.NameSerializer,
        responses={200: serializers.ChatSerializer, 202: serializers.ChatSerializer, 403: NOT_ADMIN},
    )
    def put(self, request: Request, chat_id: uuid.UUID) -> Response:
        chat = chat_or_404(request, chat_id)
        data = validated(serializers.NameSerializer, request.data)
        services.do_set_name(request_session(request).user, chat, data["encrypted_name"], data["epoch"])
        return render_chat(request, chat_id, changed(chat))


class ChatFavouriteView(APIView):
    @extend_schema(request=None, responses={204: None})
    def put(self, request: Request, chat_id: uuid.UUID) -> Response:
        services.do_set_favourite(request_session(request).user, chat_or_404(request, chat_id), True)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, chat_id: uuid.UUID) -> Response:
        services.do_set_favourite(request_session(request).user, chat_or_404(request, chat_id), False)
        return Response(status=status.HTTP_204_NO_CONTENT)
