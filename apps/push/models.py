"""Web Push subscriptions (one per device) and per-device chat mutes.

A subscription is what the browser's push service handed the device: an endpoint URL and
the keys the payload is encrypted to (RFC 8291). A mute says only "device D muted chat C"
(until a time, or for good); it lets the server skip a push nobody wants. A preference
says whether calls still ring on the device in chats it muted (they do unless it says no),
and whether a mention of its user still wakes it there (it does unless it says no).
"""

from django.db import models


class PushSubscription(models.Model):
    device = models.OneToOneField(
        "devices.Device", on_delete=models.CASCADE, primary_key=True, related_name="push_subscription"
    )
    endpoint = models.CharField(max_length=1024)
    p256dh = models.BinaryField(max_length=65)  # the device's P-256 public key (uncompressed point)
    auth = models.BinaryField(max_length=16)  # the shared authentication secret
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"push subscription of device {self.device_id}"


class ChatMute(models.Model):
    device = models.ForeignKey("devices.Device", on_delete=models.CASCADE, related_name="+")
    chat = models.ForeignKey("chats.Chat", on_delete=models.CASCADE, related_name="+")
    until = models.DateTimeField(null=True)  # null: muted until unmuted

    class Meta:
        constraints = [models.UniqueConstraint(fields=["device", "chat"], name="chat_mute_unique_per_device")]

    def __str__(self) -> str:
        return f"mute of chat {self.chat_id} on device {self.device_id}"


class PushPreference(models.Model):
    device = models.OneToOneField(
        "devices.Device", on_delete=models.CASCADE, primary_key=True, related_name="push_preference"
    )
    calls_when_muted = models.BooleanField(default=True)  # calls ring in muted chats
    mentions_when_muted = models.BooleanField(default=True)  # a mention of me wakes me in muted chats

    def __str__(self) -> str:
        return f"push preference of device {self.device_id}"
