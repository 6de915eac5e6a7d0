"""Fixtures for the instance-wide tests: a ready account without two Argon2 rounds per test."""

import functools
import os
from typing import Any

import pytest
from blake3 import blake3
from django.conf import settings
from django.contrib.auth.hashers import make_password
from rest_framework.test import APIClient

from apps.accounts.models import Session, User
from apps.accounts.tokens import new_token, token_hash
from apps.devices.models import Device
from tests.conftest import PASSWORD, Account, DeviceKeys, recovery_proof


@functools.cache
def _password_hash() -> str:
    # One real Argon2id hash per run, reused: hundreds of parametrized cases each need an
    # account, and hashing twice per case (register + login) would dominate the run.
    return make_password(PASSWORD)


@pytest.fixture
def quick_account(db: None) -> Any:
    """Rows as register + login leave them (real Argon2id hash, BLAKE3 token hash), built directly."""

    def _make(username: str = "alice") -> Account:
        entropy = os.urandom(16)
        user = User.objects.create(
            username=f"{username}@{settings.TALKEE_DOMAIN}",
            domain=settings.TALKEE_DOMAIN,
            password=_password_hash(),
            recovery_hash=blake3(recovery_proof(username, entropy)).digest(),
        )
        keys = DeviceKeys()
        device = Device.objects.create(
            user=user,
            client_device_id=keys.client_device_id,
            ed25519_pub=bytes(keys.signing.verify_key),
            x25519_pub=bytes(keys.box.public_key),
            label=keys.label,
        )
        token = new_token()
        Session.objects.create(token_hash=token_hash(token), user=user, device=device)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return Account(username, PASSWORD, entropy, client, keys, token=token, device_id=device.pk)

    return _make
