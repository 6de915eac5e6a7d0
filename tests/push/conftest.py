from collections.abc import Iterator
from typing import Any

import pytest

from apps.push.vapid import vapid_public_key
from tests.federation.conftest import partner  # noqa: F401  (a signed stand-in peer: federated calls)
from tests.push.standin import PushServiceStandIn, Subscriber


@pytest.fixture
def push_service() -> Iterator[PushServiceStandIn]:
    """A push service on loopback that knows this instance's VAPID key (shared with the worker)."""
    service = PushServiceStandIn(vapid_public_key())
    yield service
    service.stop()


def subscribe(account: Any, subscriber: Subscriber) -> None:
    response = account.client.put("/v1/push/subscription", subscriber.as_json(), format="json")
    assert response.status_code == 204, response.content
