"""Reads for chats."""

import uuid

from django.conf import settings
from django.db.models import Count, Prefetch, QuerySet

from apps.chats.models import Chat, Membership


def membership_of(chat_id: uuid.UUID | str, user_id: int) -> Membership | None:
    return Membership.objects.filter(chat_id=chat_id, user_id=user_id).first()


def chat_ids_of(user_id: int) -> list[str]:
    return [str(c) for c in Membership.objects.filter(user_id=user_id).values_list("chat_id", flat=True)]


def socket_chats_of(user_id: int) -> dict[str, tuple[int, int]]:
    """The user's chats → (members, seq at which the user joined), in one query."""
    rows = Membership.objects.filter(user_id=user_id).annotate(size=Count("chat__memberships"))
    return {str(chat_id): (size, joined) for chat_id, size, joined in rows.values_list("chat_id", "size", "joined_seq")}


def chats_of(user_id: int) -> QuerySet[Chat]:
    """The user's chats with their members (and roles) in two queries."""
    members = Prefetch("memberships", queryset=Membership.objects.select_related("user").order_by("joined", "id"))
    return Chat.objects.filter(memberships__user_id=user_id).prefetch_related(members).order_by("-created")


def chat_for_member(chat_id: uuid.UUID | str, user_id: int) -> Chat | None:
    """The chat if the user is in it; non-members learn nothing (not even existence)."""
    return chats_of(user_id).filter(pk=chat_id).first()


def remote_domains(chat_id: uuid.UUID | str) -> set[str]:
    """Instances other than this one with a member in the chat."""
    return set(
        Membership.objects.filter(chat_id=chat_id)
        .exclude(user__domain=settings.TALKEE_DOMAIN)
        .values_list("user__domain", flat=True)
        .distinct()
    )


def peer_domains_of_user(user_id: int) -> set[str]:
    """Instances other than this one sharing a chat with the user."""
    return set(
        Membership.objects.filter(chat__memberships__user_id=user_id)
        .exclude(user__domain=settings.TALKEE_DOMAIN)
        .values_list("user__domain", flat=True)
        .distinct()
    )
