"""Message endpoints. Thin: validate, call one service, answer."""

import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers as fields
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.authentication import request_session
from apps.chats.selectors import membership_of
from apps.core import metrics
from apps.core.api_fields import validated
from apps.core.errors import NotFound
from apps.core.schema import error_response
from apps.messages import selectors, services
from apps.messages.api import serializers
from apps.messages.frames import message_object
from apps.messages.models import Message

# What adding a reaction answers: 201 with its id, 202 (`forwarded`, id null) when it went to the chat's home.
REACTION_ADDED = inline_serializer(
    "ReactionAdded",
    {
        "id": fields.IntegerField(allow_null=True),
        "message_id": fields.IntegerField(),
        "forwarded": fields.BooleanField(required=False),
    },
)


# What only these views know; the generic errors (400, 401, 404, 413, 415) come from
# apps.core.schema.ApiAutoSchema.
NOT_ALLOWED = error_response(
    "channel_read_only / wrong_edit_secret / not allowed for this member / "
    "not_accepted: the other person in this direct chat blocked the caller"
)
GONE = error_response("message_deleted / not_editable: the message cannot change any more")


class ChatMessagesView(APIView):
    @extend_schema(
        request=serializers.SendSerializer,
        responses={
            201: serializers.SentSerializer,
            200: serializers.SentSerializer,
            202: serializers.SentSerializer,
            403: error_response(
                "channel_read_only / not_accepted: the other person in this direct chat blocked the sender"
            ),
            409: error_response("stale_epoch: a commit for an epoch the chat has left"),
            413: error_response("message_too_large / payload_too_large"),
        },
    )
    def post(self, request: Request, chat_id: uuid.UUID) -> Response:
        data = validated(serializers.SendSerializer, request.data)
        sent = services.do_send_message(request_session(request).user_id, chat_id, **data)
        metrics.MESSAGES_ACCEPTED.labels(via="http").inc(int(sent.created or sent.forwarded))
        if sent.forwarded:
            # Accepted (durably queued) for the chat's home instance, which orders it.
            return Response({"id": None, "seq": None, "forwarded": True}, status=status.HTTP_202_ACCEPTED)
        return Response(
            {"id": sent.id, "seq": sent.seq}, status=status.HTTP_201_CREATED if sent.created else status.HTTP_200_OK
        )

    @extend_schema(
        parameters=[serializers.HistoryQuerySerializer],
        responses={200: inline_serializer("HistoryPage", {"messages": fields.ListField(child=fields.DictField())})},
    )
    def get(self, request: Request, chat_id: uuid.UUID) -> Response:
        query = validated(serializers.HistoryQuerySerializer, request.query_params)
        membership = membership_of(chat_id, request_session(request).user_id)
        if membership is None:
            raise NotFound("No such chat.", code="chat_not_found")
        page = selectors.history(
            chat_id, membership.joined_seq, query["after_seq"], query["limit"], query["before_seq"]
        )
        return Response({"messages": page})


def _changed(message: Message) -> Response:
    """The message as it is now; 202 with `forwarded` when the change went to the chat's
    home instance (the new state then arrives as an `event`, like a local change)."""
    if services.is_forwarded(message):
        return Response({**message_object(message), "forwarded": True}, status=status.HTTP_202_ACCEPTED)
    return Response(message_object(message))


class MessageView(APIView):
    @extend_schema(
        request=serializers.EditSerializer,
        responses={200: OpenApiTypes.OBJECT, 202: OpenApiTypes.OBJECT, 403: NOT_ALLOWED, 409: GONE},
    )
    def patch(self, request: Request, message_id: int) -> Response:
        data = validated(serializers.EditSerializer, request.data)
        message = services.do_edit_message(
            request_session(request).user_id, message_id, data["edit_secret"], data["ciphertext"]
        )
        return _changed(message)

    @extend_schema(
        request=serializers.DeleteSerializer,
        responses={200: OpenApiTypes.OBJECT, 202: OpenApiTypes.OBJECT, 403: NOT_ALLOWED, 409: GONE},
    )
    def delete(self, request: Request, message_id: int) -> Response:
        data = validated(serializers.DeleteSerializer, request.data or {})
        message = services.do_delete_message(request_session(request).user_id, message_id, data.get("edit_secret"))
        return _changed(message)


class BurnView(APIView):
    @extend_schema(
        request=None,
        responses={
            200: OpenApiTypes.OBJECT,
            202: OpenApiTypes.OBJECT,
            400: error_response("not_burn_on_read: this message is not burn-on-read"),
            409: GONE,
        },
    )
    def post(self, request: Request, message_id: int) -> Response:
        message = services.do_burn_message(request_session(request).user_id, message_id)
        return _changed(message)


class ReactionsView(APIView):
    @extend_schema(
        request=serializers.ReactionSerializer,
        responses={
            (201, "application/json"): REACTION_ADDED,
            (202, "application/json"): REACTION_ADDED,
            403: error_response("not_accepted: the other person in this direct chat blocked the caller"),
            409: GONE,
        },
    )
    def post(self, request: Request, message_id: int) -> Response:
        data = validated(serializers.ReactionSerializer, request.data)
        reaction = services.do_add_reaction(
            request_session(request).user_id, message_id, data["ciphertext"], data["remove_hash"]
        )
        if reaction is None:
            return Response({"id": None, "message_id": message_id, "forwarded": True}, status=status.HTTP_202_ACCEPTED)
        return Response({"id": reaction.id, "message_id": message_id}, status=status.HTTP_201_CREATED)


class ReactionView(APIView):
    @extend_schema(request=serializers.RemoveReactionSerializer, responses={204: None, 202: None, 403: NOT_ALLOWED})
    def delete(self, request: Request, reaction_id: int) -> Response:
        data = validated(serializers.RemoveReactionSerializer, request.data or {})
        reaction = services.do_remove_reaction(request_session(request).user_id, reaction_id, data.get("remove_secret"))
        if reaction.home_id is not None and reaction.deleted_at is None:
            # queued for the chat's home, which removes it everywhere (a `reaction` frame)
            return Response({"forwarded": True}, status=status.HTTP_202_ACCEPTED)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AckView(APIView):
    @extend_schema(
        request=serializers.AckSerializer,
        responses={200: inline_serializer("Acked", {"cursor": fields.IntegerField()})},
    )
    def post(self, request: Request) -> Response:
        data = validated(serializers.AckSerializer, request.data)
        cursor = services.do_ack(request_session(request).device_id, data["cursor"])
        return Response({"cursor": cursor})
