"""Login and registration throttles: per client address and per target username."""

from typing import Any

from blake3 import blake3
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle

from apps.accounts.selectors import full_address


class LoginIPThrottle(SimpleRateThrottle):
    scope = "login_ip"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginUsernameThrottle(SimpleRateThrottle):
    """Slows online guessing against one account even from many addresses."""

    scope = "login_user"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        username = request.data.get("username") if isinstance(request.data, dict) else None
        if not isinstance(username, str) or not username:
            return None
        # Hashed: any JSON string (even a lone surrogate, which no cache key may hold)
        # gives a short valid key, and the cache never holds the names being tried.
        address = full_address(username).encode("utf-8", "surrogatepass")
        return self.cache_format % {"scope": self.scope, "ident": blake3(address).hexdigest()}


class RegisterIPThrottle(LoginIPThrottle):
    scope = "register_ip"


class PasswordChangeThrottle(UserRateThrottle):
    """Slows guessing the current password with a stolen token; per account, apart from
    the login throttles (a wrong current password is no failed login of anyone)."""

    scope = "password_user"
