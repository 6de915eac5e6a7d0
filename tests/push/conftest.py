from typing import Any

from tests.federation.conftest import partner  # noqa: F401  (a signed stand-in peer: federated calls)
from tests.push.standin import Subscriber


def subscribe(account: Any, subscriber: Subscriber) -> None:
    response = account.client.put("/v1/push/subscription", subscriber.as_json(), format="json")
    assert response.status_code == 204, response.content
