"""Files of cross-instance chats: fetched from a chat's home in signed ranged requests, and
pulled by the home from a sender's instance (apps/blobs/api/s2s.py serves them to peers).

The requests run with no transaction open (a 64 MiB file over a slow link must not hold a
row lock or a connection's transaction)."""

import urllib.parse
import uuid
from collections.abc import Iterator

from apps.accounts.models import User
from apps.chats.models import Chat
from apps.federation.remote import signed_pieces

BLOBS_PATH = "/s2s/v1/blobs/"
UPLOADS_PATH = "/s2s/v1/uploads/"


def home_blob_pieces(chat_id: uuid.UUID, blob_id: uuid.UUID, user_id: int, first: int, last: int) -> Iterator[bytes]:
    """Bytes first..last of a file stored at the chat's home, asked for on behalf of a
    local member (the home checks their membership), in signed ranged requests."""
    home = Chat.objects.values_list("home", flat=True).get(pk=chat_id)
    user = User.objects.values_list("username", flat=True).get(pk=user_id)
    path = f"{BLOBS_PATH}{blob_id}?{urllib.parse.urlencode({'user': user}, safe='@')}"
    return signed_pieces(home, path, first, last)


def upload_pieces(origin: str, blob_id: uuid.UUID, size: int) -> Iterator[bytes]:
    """The whole of a file a member uploaded at their own instance (`origin`) for a chat
    homed here, pulled by the home when it orders the message that carries it. Only the
    chat's home may ask (see `upload`); no user is named."""
    return signed_pieces(origin, f"{UPLOADS_PATH}{blob_id}", 0, size - 1)
