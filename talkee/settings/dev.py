"""`make run`: the embedded default unless DATABASE_URL / REDIS_URL are set."""

from talkee.settings.base import *  # noqa: F403
from talkee.settings.base import VAR_DIR, env

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default="") or "dev-only-insecure-key-" + str(VAR_DIR)

# The embedded SQLite database and the instance key live here.
VAR_DIR.mkdir(parents=True, exist_ok=True)
