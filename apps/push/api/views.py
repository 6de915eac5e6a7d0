"""Web Push endpoints. Thin: validate, call one service, answer."""

import uuid
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.authentication import request_session
from apps.core.api_fields import validated
from apps.core.schema import error_response
from apps.push import selectors, services
from apps.push.api import serializers as s
from apps.push.vapid import vapid_public_key

DISABLED = error_response("push_disabled: the instance has no VAPID subject")
INVALID = error_response("invalid_input / invalid_endpoint")
UNAUTHENTICATED = error_response("no valid token")


class VapidView(APIView):
    @extend_schema(responses={200: s.VapidSerializer, 401: UNAUTHENTICATED, 404: DISABLED})
    def get(self, request: Request) -> Response:
        services.check_push_enabled()
        return Response({"public_key": vapid_public_key()})


class SubscriptionView(APIView):
    @extend_schema(
        request=s.SubscriptionSerializer,
        responses={204: None, 400: INVALID, 401: UNAUTHENTICATED, 404: DISABLED},
        description="Store this device's push subscription (replaces an earlier one). The endpoint must be "
        "https and resolve to public addresses only.",
    )
    def put(self, request: Request) -> Response:
        data = validated(s.SubscriptionSerializer, request.data)
        keys = data["keys"]
        services.do_subscribe(request_session(request).device_id, data["endpoint"], keys["p256dh"], keys["auth"])
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={204: None, 401: UNAUTHENTICATED})
    def delete(self, request: Request) -> Response:
        services.do_unsubscribe(request_session(request).device_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MuteListView(APIView):
    @extend_schema(responses={200: s.MuteOutSerializer(many=True), 401: UNAUTHENTICATED})
    def get(self, request: Request) -> Response:
        mutes = selectors.mutes_of(request_session(request).device_id)
        return Response(s.MuteOutSerializer([_mute(m.chat_id, m.until) for m in mutes], many=True).data)


def _mute(chat_id: Any, until: Any) -> dict[str, Any]:
    return {"chat_id": chat_id, "until": until}


class MuteView(APIView):
    @extend_schema(
        request=s.MuteSerializer,
        responses={200: s.MuteOutSerializer, 400: INVALID, 401: UNAUTHENTICATED, 404: error_response("chat_not_found")},
        description="Mute a chat on this device (no pushes for its messages; calls still ring unless the "
        "device chose otherwise in /v1/push/preferences).",
    )
    def put(self, request: Request, chat_id: uuid.UUID) -> Response:
        data = validated(s.MuteSerializer, request.data)
        session = request_session(request)
        mute = services.do_mute_chat(session.device_id, session.user_id, chat_id, data.get("until"))
        return Response(s.MuteOutSerializer(_mute(mute.chat_id, mute.until)).data)

    @extend_schema(responses={204: None, 401: UNAUTHENTICATED})
    def delete(self, request: Request, chat_id: uuid.UUID) -> Response:
        services.do_unmute_chat(request_session(request).device_id, chat_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PreferencesView(APIView):
    @extend_schema(responses={200: s.PreferencesSerializer, 401: UNAUTHENTICATED})
    def get(self, request: Request) -> Response:
        return Response(s.PreferencesSerializer(selectors.preferences(request_session(request).device_id)).data)

    @extend_schema(
        request=s.PreferencesChangeSerializer,
        responses={200: s.PreferencesSerializer, 400: INVALID, 401: UNAUTHENTICATED},
        description="This device's push choices: whether calls ring, and whether a mention of its user "
        "wakes it, in chats it muted. Give one or both; the answer is both.",
    )
    def put(self, request: Request) -> Response:
        data = validated(s.PreferencesChangeSerializer, request.data)
        chosen = services.do_set_preferences(request_session(request).device_id, data)
        return Response(s.PreferencesSerializer(chosen).data)
