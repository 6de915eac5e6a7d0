"""Account actions: register, challenge, login, logout, recover, block."""

import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from blake3 import blake3
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import LoginChallenge, Session, User
from apps.accounts.selectors import full_address
from apps.accounts.tokens import new_token, token_hash
from apps.core.errors import Conflict, Forbidden, ServiceError
from apps.devices import services as device_services
from apps.devices.models import Device
from apps.devices.realtime import kick_devices
from apps.messages import services as message_services

logger = logging.getLogger("talkee.accounts")

USERNAME_RE = re.compile(r"^[a-z0-9._-]{3,32}$")


class WrongCredentials(ServiceError):
    status = 401
    code = "invalid_credentials"


def check_username(localpart: str) -> str:
    if not USERNAME_RE.fullmatch(localpart):
        raise ServiceError(
            "Usernames are 3 to 32 characters: lowercase letters, digits, '.', '_' or '-'.",
            code="invalid_username",
        )
    return localpart


def check_password(password: str, user: User | None = None) -> None:
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        raise ServiceError(" ".join(exc.messages), code="weak_password") from exc


def do_register(localpart: str, password: str, recovery_hash: bytes) -> User:
    """Create a local account; the recovery hash is stored, the mnemonic never seen."""
    check_username(localpart)
    check_password(password)
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                f"{localpart}@{settings.TALKEE_DOMAIN}",
                password,
                domain=settings.TALKEE_DOMAIN,
                recovery_hash=recovery_hash,
            )
    except IntegrityError as exc:
        raise Conflict("This username is taken.", code="username_taken") from exc
    return user


def do_issue_challenge(username: str) -> str:
    """A fresh single-use nonce; issued for any name so it does not reveal who exists."""
    address = full_address(username)
    if len(address) > User._meta.get_field("username").max_length:  # type: ignore[operator]
        # No account can have such a name; refusing it says nothing about who exists.
        raise ServiceError("This username is too long.", code="invalid_username")
    nonce = secrets.token_urlsafe(32)
    LoginChallenge.objects.create(
        nonce=nonce,
        username=address,
        expires_at=timezone.now() + timedelta(seconds=settings.TALKEE_CHALLENGE_TTL_SECONDS),
    )
    return nonce


def _consume_challenge(username: str, nonce: str) -> bool:
    """Delete the nonce whatever happens next, so it can be tried only once."""
    deleted, _ = LoginChallenge.objects.filter(nonce=nonce, username=username, expires_at__gt=timezone.now()).delete()
    return deleted == 1


@dataclass(frozen=True)
class LoginResult:
    token: str
    device: Device
    user: User


def do_login(
    username: str,
    password: str,
    nonce: str,
    signature: bytes,
    client_device_id: str,
    ed25519_pub: bytes,
    x25519_pub: bytes,
    label: str,
) -> LoginResult:
    """Password + proof that the device holds its Ed25519 key → a session token."""
    address = full_address(username)
    if not _consume_challenge(address, nonce):
        raise WrongCredentials(
            "The login challenge is unknown, used or expired; ask for a new one.", code="invalid_challenge"
        )
    user = User.objects.filter(username=address, domain=settings.TALKEE_DOMAIN).first()
    if user is None or not user.check_password(password):
        raise WrongCredentials("Wrong username or password.")
    if user.is_blocked:
        raise Forbidden("This account is blocked by the administrator.", code="account_blocked")
    device_services.check_device_signature(ed25519_pub, nonce.encode(), signature)
    token = new_token()
    with transaction.atomic():
        device = device_services.do_register_device(
            user, client_device_id=client_device_id, ed25519_pub=ed25519_pub, x25519_pub=x25519_pub, label=label
        )
        Session.objects.create(token_hash=token_hash(token), user=user, device=device)
        message_services.do_init_cursor(device.pk)
    return LoginResult(token=token, device=device, user=user)


def do_logout(session: Session) -> None:
    Session.objects.filter(pk=session.pk).delete()


def do_recover(username: str, recovery_proof: bytes, new_password: str) -> None:
    """Reset the password with a proof of the mnemonic; every session is revoked."""
    user = User.objects.filter(username=full_address(username), domain=settings.TALKEE_DOMAIN).first()
    expected = bytes(user.recovery_hash) if user is not None and user.recovery_hash else secrets.token_bytes(32)
    if not hmac.compare_digest(blake3(recovery_proof).digest(), expected) or user is None:
        raise Forbidden("The recovery phrase does not match this account.", code="invalid_recovery_proof")
    check_password(new_password, user)
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        Session.objects.filter(user=user).delete()
    kick_devices(list(user.devices.values_list("pk", flat=True)))


def do_set_blocked(user: User, blocked: bool) -> None:
    """Block (no login, sessions ended, sockets closed) or unblock a user."""
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_blocked=blocked)
        if blocked:
            Session.objects.filter(user=user).delete()
    user.is_blocked = blocked
    if blocked:
        kick_devices(list(user.devices.values_list("pk", flat=True)), code=4003)
