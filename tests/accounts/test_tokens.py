import base64

import pytest

from apps.accounts.models import Session
from apps.accounts.tokens import token_hash
from tests.support.database import dump_database

pytestmark = pytest.mark.django_db


def test_raw_token_appears_nowhere_in_the_database(make_account) -> None:
    alice = make_account()
    raw = alice.token.encode()
    dump = dump_database()
    assert raw not in dump
    decoded = base64.urlsafe_b64decode(alice.token + "=" * (-len(alice.token) % 4))
    assert len(decoded) == 32
    assert decoded not in dump
    assert decoded.hex().encode() not in dump
    session = Session.objects.get(device_id=alice.device_id)
    assert bytes(session.token_hash) == token_hash(alice.token)


def test_password_and_recovery_entropy_appear_nowhere(make_account) -> None:
    alice = make_account()
    dump = dump_database()
    assert alice.password.encode() not in dump
    assert alice.entropy not in dump
    assert alice.entropy.hex().encode() not in dump
