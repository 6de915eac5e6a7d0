"""The federation tests' fixtures (real instances on loopback, mutual TLS), for the bench."""

from tests.conftest import *  # noqa: F403
from tests.federation.conftest import instance_a_s2s  # noqa: F401
from tests.federation.test_cross_instance_chats import instance_b  # noqa: F401
