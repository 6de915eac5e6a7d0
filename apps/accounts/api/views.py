"""Thin views: parse, call one service, answer."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts import services
from apps.accounts.api import serializers as s
from apps.accounts.api.throttles import LoginIPThrottle, LoginUsernameThrottle, RegisterIPThrottle
from apps.accounts.authentication import request_session
from apps.core.api_fields import validated


class RegisterView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_classes = [RegisterIPThrottle]

    @extend_schema(request=s.RegisterSerializer, responses={201: s.RegisterAnswerSerializer})
    def post(self, request: Request) -> Response:
        data = validated(s.RegisterSerializer, request.data)
        user = services.do_register(data["username"], data["password"], data["recovery_hash"])
        return Response({"user": user.username}, status=status.HTTP_201_CREATED)


class ChallengeView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_classes = [LoginIPThrottle]

    @extend_schema(request=s.ChallengeSerializer, responses={200: s.ChallengeAnswerSerializer})
    def post(self, request: Request) -> Response:
        data = validated(s.ChallengeSerializer, request.data)
        return Response({"nonce": services.do_issue_challenge(data["username"])})


class LoginView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_classes = [LoginIPThrottle, LoginUsernameThrottle]

    @extend_schema(request=s.LoginSerializer, responses={200: s.LoginAnswerSerializer})
    def post(self, request: Request) -> Response:
        data = validated(s.LoginSerializer, request.data)
        device = data["device"]
        result = services.do_login(
            data["username"],
            data["password"],
            data["nonce"],
            data["signature"],
            client_device_id=str(device["client_device_id"]),
            ed25519_pub=device["ed25519_pub"],
            x25519_pub=device["x25519_pub"],
            label=device.get("label", ""),
        )
        return Response({"token": result.token, "device_id": result.device.pk, "user": result.user.username})


class LogoutView(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        services.do_logout(request_session(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class RecoverView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_classes = [LoginIPThrottle, LoginUsernameThrottle]

    @extend_schema(request=s.RecoverSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        data = validated(s.RecoverSerializer, request.data)
        services.do_recover(data["username"], data["recovery_proof"], data["new_password"])
        return Response(status=status.HTTP_204_NO_CONTENT)
