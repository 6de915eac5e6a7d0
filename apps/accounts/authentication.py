"""`Authorization: Bearer <token>` for the API; the same lookup serves the WebSocket."""

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from apps.accounts.models import Session, User
from apps.accounts.selectors import session_for_token


class BearerTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[User, Session] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise AuthenticationFailed("Malformed Authorization header.")
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise AuthenticationFailed("Malformed token.") from exc
        session = session_for_token(token)
        if session is None:
            raise AuthenticationFailed("Invalid or expired token.")
        # Imported here: apps.devices.services' own imports load DRF's settings, which load this module.
        from apps.devices.services import do_touch_device

        session.device.last_seen = do_touch_device(session.device.pk, session.device.last_seen)
        return session.user, session

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="talkee"'


def request_session(request: Request) -> Session:
    """The authenticated session of a request that passed IsAuthenticated."""
    session = request.auth
    if not isinstance(session, Session):
        raise AuthenticationFailed("Authentication is required.")
    return session
