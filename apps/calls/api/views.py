import uuid

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from apps.accounts.authentication import request_session
from apps.calls import group, services
from apps.core.schema import error_response


class TurnThrottle(UserRateThrottle):
    scope = "turn_user"


class TurnCredentialsView(APIView):
    throttle_classes = [TurnThrottle]

    @extend_schema(
        responses={
            200: inline_serializer(
                "TurnCredentials",
                {
                    "urls": serializers.ListField(child=serializers.CharField()),
                    "username": serializers.CharField(required=False),
                    "credential": serializers.CharField(required=False),
                    "ttl": serializers.IntegerField(required=False),
                },
            )
        },
        description="Short-lived credentials for the instance's TURN servers (coturn REST-API scheme); "
        '{"urls": []} when the instance runs none.',
    )
    def get(self, request: Request) -> Response:
        issued = services.issue_turn_credentials()
        if issued is None:
            return Response({"urls": []})
        return Response(
            {"urls": issued.urls, "username": issued.username, "credential": issued.credential, "ttl": issued.ttl}
        )


class GroupCallThrottle(UserRateThrottle):
    scope = "group_call_user"


class GroupCallView(APIView):
    throttle_classes = [GroupCallThrottle]

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "GroupCallTicket",
                {
                    "room": serializers.IntegerField(),
                    "ticket": serializers.CharField(),
                    "expires_in": serializers.IntegerField(),
                    "path": serializers.CharField(),
                },
            ),
            400: error_response("not_a_group (direct chats call peer to peer) / not_home (homed on another instance)"),
            404: error_response("chat_not_found / group_calls_disabled: the operator runs no Janus"),
            503: error_response("sfu_unavailable: the operator's Janus does not answer"),
        },
        description="Join the group chat's call on the instance's Janus SFU: makes sure the chat has a room "
        "(end-to-end encrypted media only) and returns a single-use ticket, valid for `expires_in` seconds, "
        "for one proxied Janus WebSocket at `path` (send the ticket first). Members only (404 otherwise); "
        "404 `group_calls_disabled` when the operator runs no Janus.",
    )
    def post(self, request: Request, chat_id: uuid.UUID) -> Response:
        session = request_session(request)
        issued = group.do_issue_ticket(chat_id, session.user_id, session.device_id)
        return Response(
            {"room": issued.room, "ticket": issued.ticket, "expires_in": issued.expires_in, "path": group.PROXY_PATH}
        )
