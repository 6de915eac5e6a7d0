from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from apps.calls import services


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
