"""Production: every secret from the environment, HTTPS assumed behind the proxy."""

from django.core.exceptions import ImproperlyConfigured

from talkee.settings.base import *  # noqa: F403
from talkee.settings.base import env

DEBUG = False
SECRET_KEY = env.str("SECRET_KEY")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True

# Push services reach the operator through the VAPID subject; production needs a real one.
TALKEE_VAPID_SUBJECT = env.str("TALKEE_VAPID_SUBJECT")
if not TALKEE_VAPID_SUBJECT.startswith(("mailto:", "https://")):
    raise ImproperlyConfigured("TALKEE_VAPID_SUBJECT must be a mailto: or https: URL.")
