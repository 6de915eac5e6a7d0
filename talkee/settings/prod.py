"""Production: every secret from the environment, HTTPS assumed behind the TLS front.

Refuses to start (ImproperlyConfigured, naming each missing setting) without SECRET_KEY,
TALKEE_DOMAIN and the federation's TLS certificate and key: see talkee/settings/required.py
and the README, "Self-hosting in production".
"""

import os

from django.core.exceptions import ImproperlyConfigured

from talkee.settings.required import drop_empty_optional, production_problems

drop_empty_optional(os.environ)
if problems := production_problems(os.environ):
    raise ImproperlyConfigured(
        f"Talkee (talkee.settings.prod) will not start: {'; '.join(problems)}. See README, Self-hosting in production."
    )

from talkee.settings.base import *  # noqa: E402, F403
from talkee.settings.base import TALKEE_DOMAIN, TALKEE_TURN_SECRET, TALKEE_TURN_URLS, env  # noqa: E402

DEBUG = False
SECRET_KEY = env.str("SECRET_KEY")
# Peers and browsers name the instance by its domain; nothing else is served.
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[TALKEE_DOMAIN])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[f"https://{TALKEE_DOMAIN}"])
TALKEE_PUBLIC_URL = env.str("TALKEE_PUBLIC_URL", default=f"https://{TALKEE_DOMAIN}")
# The front (Caddy or Traefik) terminates TLS and says so; HSTS is its header too.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
# The front sends HSTS too (docker/Caddyfile, the same value); a web process reached some
# other way says it itself. Preload is left to the operator (hstspreload.org is a
# commitment for the whole domain), hence W021 silenced.
SECURE_HSTS_SECONDS = 63072000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SILENCED_SYSTEM_CHECKS = ["security.W021"]
# Plain HTTP that did not come through the front (which redirects itself) is sent to HTTPS,
# except the probes the instance's own network makes over plain HTTP (compose health check,
# Prometheus): paths without the leading slash.
SECURE_SSL_REDIRECT = True
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
# The instance's own coturn (docker/turnserver.conf) on the instance's name, unless told otherwise.
if TALKEE_TURN_SECRET and not TALKEE_TURN_URLS:
    TALKEE_TURN_URLS = [
        f"turn:{TALKEE_DOMAIN}:3478?transport=udp",
        f"turn:{TALKEE_DOMAIN}:3478?transport=tcp",
        f"turns:{TALKEE_DOMAIN}:5349?transport=tcp",
    ]
# The socket at the public name (wss://), now that TALKEE_PUBLIC_URL is the production one.
CONTENT_SECURITY_POLICY["DIRECTIVES"]["connect-src"] = [  # noqa: F405
    "'self'",
    TALKEE_PUBLIC_URL.replace("https://", "wss://", 1).rstrip("/"),
]
