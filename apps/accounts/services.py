"""Account actions: register, challenge, login, logout, recover, change password, sign out
other devices, delete the account, block, the encrypted profile."""

import hmac
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from blake3 import blake3
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts import federation
from apps.accounts.models import Block, LoginChallenge, Profile, RetiredUsername, Session, User
from apps.accounts.selectors import full_address, user_by_address
from apps.accounts.tokens import new_token, token_hash
from apps.core.errors import Conflict, Forbidden, NotFound, ServiceError
from apps.devices import services as device_services
from apps.devices.models import Device
from apps.devices.realtime import CLOSE_ACCOUNT_DELETED, CLOSE_SIGNED_OUT, kick_devices
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
    if RetiredUsername.objects.filter(address_hash=_address_hash(f"{localpart}@{settings.TALKEE_DOMAIN}")).exists():
        raise Conflict(
            "This username belonged to a deleted account; it is not given out again.", code="username_retired"
        )
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
    interactive: bool = True,
) -> LoginResult:
    """Password + proof that the device holds its Ed25519 key → a session token.
    `interactive=False`: the client signs itself in again with a password it kept, which
    a device signed out from another one may not do (401 `signed_out`)."""
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
            user,
            client_device_id=client_device_id,
            ed25519_pub=ed25519_pub,
            x25519_pub=x25519_pub,
            label=label,
            interactive=interactive,
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


class WrongPassword(ServiceError):
    # 403, not 401: the caller's token is fine, and a client treats 401 as "sign in again".
    status = 403
    code = "wrong_password"


def do_log_out_other_devices(session: Session) -> int:
    """End every session of the user but this one; the other devices' sockets close with
    4002 (signed out). The devices stay: each keeps its keys, its vault and its place in
    the groups, and signs in again when its person types the password. Returns how many
    devices were signed out."""
    with transaction.atomic():
        others = Session.objects.filter(user_id=session.user_id).exclude(device_id=session.device_id)
        device_ids = sorted(set(others.values_list("device_id", flat=True)))
        others.delete()
        Device.objects.filter(pk__in=device_ids).update(signed_out=True)
        transaction.on_commit(lambda: kick_devices(device_ids, code=CLOSE_SIGNED_OUT))
    logger.info("other devices signed out", extra={"count": len(device_ids)})
    return len(device_ids)


def do_change_password(session: Session, current_password: str, new_password: str, *, log_out_others: bool) -> int:
    """A new password for the signed-in user, given the current one (Argon2id as at
    registration). A wrong current password answers 403 `wrong_password` and is not a
    login attempt: no login throttle of any account counts it. With `log_out_others`, the
    other devices are signed out as by `do_log_out_other_devices`; without, their sessions
    go on, and they need the new password at their next sign-in. Returns how many devices
    were signed out."""
    user = User.objects.get(pk=session.user_id)
    if not user.check_password(current_password):
        raise WrongPassword("The current password is not right.")
    if current_password == new_password:
        raise ServiceError("The new password is the same as the current one.", code="same_password")
    check_password(new_password, user)
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        signed_out = do_log_out_other_devices(session) if log_out_others else 0
    logger.info("password changed", extra={"user_id": user.pk})
    return signed_out


def do_set_blocked(user: User, blocked: bool) -> None:
    """Block (no login, sessions ended, sockets closed) or unblock a user."""
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_blocked=blocked)
        if blocked:
            Session.objects.filter(user=user).delete()
    user.is_blocked = blocked
    if blocked:
        kick_devices(list(user.devices.values_list("pk", flat=True)), code=4003)


class ProfileTooLarge(ServiceError):
    status = 413
    code = "profile_too_large"


class StaleProfileVersion(Conflict):
    code = "stale_profile_version"


def check_profile_ciphertext(ciphertext: bytes) -> bytes:
    limit = settings.TALKEE_PROFILE_MAX_BYTES
    if len(ciphertext) > limit:
        raise ProfileTooLarge(
            f"An encrypted profile is at most {limit} bytes; this one is {len(ciphertext)}. Use a smaller picture."
        )
    return ciphertext


def do_set_profile(user: User, version: int, ciphertext: bytes) -> Profile:
    """Replace the user's encrypted profile. `version` must be higher than the stored one
    (409 `stale_profile_version` names the current one), so a replayed or out-of-order
    upload never takes an older profile back."""
    check_profile_ciphertext(ciphertext)

    def stale(current: int) -> StaleProfileVersion:
        return StaleProfileVersion(f"The profile is already at version {current}; send a higher version.")

    with transaction.atomic():
        # Conditional update: two devices racing each get a clear answer, never a lost write.
        updated = Profile.objects.filter(account=user, version__lt=version).update(
            version=version, ciphertext=ciphertext
        )
        if updated == 0:
            current = Profile.objects.filter(account=user).values_list("version", flat=True).first()
            if current is not None:
                raise stale(current)
            try:
                with transaction.atomic():
                    Profile.objects.create(account=user, version=version, ciphertext=ciphertext)
            except IntegrityError as exc:
                raise stale(Profile.objects.get(account=user).version) from exc
    return Profile(account=user, version=version, ciphertext=ciphertext)


def _address_hash(address: str) -> bytes:
    return blake3(address.encode()).digest()


# What other apps do before an account's rows go (registered in their AppConfig.ready,
# run inside `do_delete_account`'s transaction): apps.chats takes the user out of every chat.
_deletion_steps: list[Callable[[User], None]] = []


def register_deletion_step(step: Callable[[User], None]) -> None:
    if step not in _deletion_steps:
        _deletion_steps.append(step)


def do_delete_account(session: Session, password: str) -> None:
    """Delete the signed-in user's account, given the password (403 `wrong_password`, no
    login attempt of anyone). The registered steps run first (the user leaves every chat);
    then the user row goes and with it (ON DELETE CASCADE) the sessions, devices, KeyPackages,
    push subscriptions, device-stream rows and cursors, identity key, key log, blocks and
    upload allowance. Messages the user sent stay: they were never linked to a sender on the
    server. The address is retired (`RetiredUsername`) so nobody registers it again, and
    every socket of the account closes with 4004 after commit."""
    user = User.objects.get(pk=session.user_id)
    if not user.check_password(password):
        raise WrongPassword("The password is not right.")
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        device_ids = list(user.devices.values_list("pk", flat=True))
        for step in _deletion_steps:
            step(user)
        for blocked in User.objects.filter(pk__in=Block.objects.filter(blocker=user).values("blocked_id")):
            federation.share_block(user, blocked, on=False)  # their instances drop the mirrored blocks
        RetiredUsername.objects.get_or_create(address_hash=_address_hash(user.username))
        user.delete()
        transaction.on_commit(lambda: kick_devices(device_ids, code=CLOSE_ACCOUNT_DELETED))
    logger.info("account deleted", extra={"devices": len(device_ids)})


def _blockable(user: User, address: str) -> User:
    target = user_by_address(full_address(address))
    if target is None:
        raise NotFound(f"No such user: {address[:100]}.", code="user_not_found")
    if target.pk == user.pk:
        raise ServiceError("You cannot block yourself.", code="cannot_block_self")
    return target


def do_block_user(user: User, address: str) -> Block:
    """`user` blocks someone: from now on the server refuses their new direct chat with
    `user`, their invitations of `user` to a group and their messages in a direct chat
    with `user` (403 `not_accepted`); `user`'s clients hide what they write in shared
    groups (the server cannot tell who wrote a group message). Blocking twice is one block.
    Nobody else is told — but for a user of another instance, that instance (which must refuse
    the same things there; apps/accounts/federation.py)."""
    target = _blockable(user, address)
    with transaction.atomic():
        block, created = Block.objects.get_or_create(blocker=user, blocked=target)
        if created:
            federation.share_block(user, target, on=True)
    return block


def do_unblock_user(user: User, address: str) -> None:
    """Lift a block (none: nothing happens)."""
    target = _blockable(user, address)
    with transaction.atomic():
        deleted, _ = Block.objects.filter(blocker=user, blocked=target).delete()
        if deleted:
            federation.share_block(user, target, on=False)
