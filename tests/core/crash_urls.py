"""A test-only URLconf: the real routes plus views that crash, to see what a client gets."""

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

SECRET_DETAIL = "crash-detail-that-must-stay-on-the-server-7f3a"


def crashing_view(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(SECRET_DETAIL)


def database_gone_view(request: HttpRequest, item: int) -> HttpResponse:
    raise OperationalError(SECRET_DETAIL)  # what a query raises while PostgreSQL restarts


class CrashingApiView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    def get(self, request: Request) -> Response:
        raise RuntimeError(SECRET_DETAIL)

    def post(self, request: Request) -> Response:
        request.data  # noqa: B018  (parse the body first, as a real view would)
        raise KeyError(SECRET_DETAIL)


urlpatterns = [
    path("v1/test-crash", crashing_view),
    path("v1/test-db-gone/<int:item>", database_gone_view),
    path("v1/test-crash-drf", CrashingApiView.as_view()),
    path("", include("talkee.urls")),
]
