"""What this app tells the apps above it (push notifications), sent after commit.

Receivers must return quickly: they run in the thread that served the send. They get
ids only — never ciphertext, and no sender for a message ordered elsewhere (sealed sender).
"""

from django.db import transaction
from django.dispatch import Signal

# A new message is stored in a chat: kwargs chat_id (str), user_id (the local sender, or
# None for a message ordered by the chat's home instance), kind (the message kind), wake
# (addresses the sender's client says the message mentions, or None; never stored).
message_stored = Signal()

# Rows addressed to devices were stored that concern them (an MLS Welcome, or someone else
# added them to a chat or removed them from one): kwargs pairs, a list of (device_id,
# chat_id as str).
device_events_stored = Signal()

# A member relayed a call signal to a chat: kwargs chat_id (str), user_id (the local
# member who sent it, or None for a signal from a member on another instance).
call_signalled = Signal()


def send_message_stored_on_commit(
    chat_id: object, user_id: int | None, kind: str, wake: list[str] | None = None
) -> None:
    """Announce a stored message once the surrounding transaction commits (at once without one)."""
    transaction.on_commit(
        lambda: message_stored.send(
            sender=message_stored, chat_id=str(chat_id), user_id=user_id, kind=kind, wake=wake or None
        )
    )


def send_device_events_on_commit(pairs: list[tuple[int, str]]) -> None:
    """Announce device-addressed rows once the surrounding transaction commits."""
    transaction.on_commit(lambda: device_events_stored.send(sender=device_events_stored, pairs=pairs))


def send_call_signalled_on_commit(chat_id: object, user_id: int | None) -> None:
    """Announce a call signal once the surrounding transaction commits (a federated one is
    handled in the inbox's transaction)."""
    transaction.on_commit(lambda: call_signalled.send(sender=call_signalled, chat_id=str(chat_id), user_id=user_id))
