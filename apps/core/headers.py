"""Security headers on every response, also the ones ApiErrorMiddleware writes in place of a
view's answer (it is below this middleware): Permissions-Policy (which Django does not send),
Referrer-Policy and Cross-Origin-Opener-Policy (Django's settings, SecurityMiddleware's
values, set here too when it did not see the response)."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        for header, value in (
            ("Permissions-Policy", settings.TALKEE_PERMISSIONS_POLICY),
            ("Referrer-Policy", settings.SECURE_REFERRER_POLICY),
            ("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY),
        ):
            if value:
                response.headers.setdefault(header, value)
        return response
