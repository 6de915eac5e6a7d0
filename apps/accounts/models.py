"""Users (`localpart@domain`, local or remote), session tokens, login challenges and
encrypted profiles."""

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models


class UserManager(BaseUserManager["User"]):
    def create_user(self, username: str, password: str | None = None, **extra: Any) -> "User":
        user = self.model(username=username, **extra)
        if password is None:
            user.set_unusable_password()
        else:
            user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, username: str, password: str | None = None, **extra: Any) -> "User":
        from django.conf import settings

        if "@" not in username:
            username = f"{username}@{settings.TALKEE_DOMAIN}"
        extra.setdefault("domain", username.split("@", 1)[1])
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(username, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person: `localpart@domain`. Remote users (domain ≠ ours) have no password."""

    username = models.CharField(max_length=300, unique=True, help_text="localpart@domain")
    domain = models.CharField(max_length=253, db_index=True)
    recovery_hash = models.BinaryField(max_length=32, null=True, editable=False)
    is_staff = models.BooleanField(default=False)
    is_blocked = models.BooleanField(default=False, help_text="Blocked users cannot log in.")
    date_joined = models.DateTimeField(auto_now_add=True)

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    USERNAME_FIELD = "username"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        db_table = "accounts_user"

    def __str__(self) -> str:
        return self.username

    @property
    def localpart(self) -> str:
        return self.username.split("@", 1)[0]


class Session(models.Model):
    """A device's login. Only BLAKE3(token) is stored; the token itself is shown once."""

    token_hash = models.BinaryField(max_length=32, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sessions")
    device = models.ForeignKey("devices.Device", on_delete=models.CASCADE, related_name="sessions")
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"session {self.pk} of device {self.device_id}"


class LoginChallenge(models.Model):
    """A single-use nonce the device must sign with its Ed25519 key to log in."""

    nonce = models.CharField(max_length=64, unique=True)
    username = models.CharField(max_length=300)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"challenge for {self.username}"


class Profile(models.Model):
    """A user's display name (and picture), sealed by their client under a profile key the
    server never sees; it reaches their chats' members through MLS. Only the ciphertext and
    a version number that each change must raise are kept here — no time of change."""

    account = models.OneToOneField(User, on_delete=models.CASCADE, related_name="profile", primary_key=True)
    version = models.PositiveBigIntegerField()
    ciphertext = models.BinaryField()

    def __str__(self) -> str:
        return f"profile of user {self.account_id} (version {self.version})"


class RetiredUsername(models.Model):
    """The address of a deleted account, never given out again: whoever took it would
    inherit the trust others placed in it (their contact names, pinned identity keys and
    chats that still show it). Only BLAKE3 of the address is kept."""

    address_hash = models.BinaryField(max_length=32, unique=True)
    retired_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"retired username {bytes(self.address_hash).hex()[:12]}"


class Block(models.Model):
    """`blocker` blocked `blocked`: the server refuses the blocked user's direct chats and
    invitations to the blocker, and drops their messages in a direct chat between them.
    Read only by the blocker."""

    blocker = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocks")
    blocked = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["blocker", "blocked"], name="block_unique")]

    def __str__(self) -> str:
        return f"{self.blocker_id} blocks {self.blocked_id}"
