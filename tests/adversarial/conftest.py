"""One small deployment for the adversarial corpus, and a recorder of everything it says.

Every case here names the RFC clause (or the threat) it holds the product to, in
its module docstring and its own; the modules are:

- ``test_rfc8725_jwt``: JWT best current practice (RFC 8725) and RFC 9068 typing.
- ``test_rfc6750_bearer``: bearer-token transport and challenges (RFC 6750).
- ``test_rfc7617_basic``: Basic credentials at login (RFC 7617).
- ``test_transport``: plain HTTP (RFC 6750 section 5.3, RFC 9110 section 4.2.2)
  and forwarding headers (RFC 7239).
- ``test_redaction``: what reaches events, log records and messages.
- ``test_timing``: failed logins cost the same whoever the user is.
- ``test_keys``: key publication and staged rotation (RFC 7517, RFC 9864).
- ``test_files``: files holding secrets or hashes are owner-only.

docs/security.md states the threat model these cases come from.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.core.conftest import Setup, basic
from tokenauth import (
    AsyncTokenAuth,
    Authenticated,
    KeySet,
    MemoryApiKeyRegistry,
    MemoryStore,
    MemoryUserRegistry,
    SecurityEvent,
    TokenAuth,
)
from tokenauth.testing import FrozenClock
from tokenauth.testing import strategies as ts

PEPPER = b"adversarial-pepper-" * 2
KEYS = KeySet.generate("ES256")
PROXY = "10.0.0.1"
__all__ = ["KEYS", "PEPPER", "PROXY", "Deployment", "Recorder", "basic", "deploy"]


class Recorder(logging.Handler):
    """Keeps every record the ``tokenauth`` loggers emit."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Deployment(Setup):
    """The core tests' set-up, with an async front door over the same store and registries."""

    aauth: AsyncTokenAuth | None = None

    def token(self) -> str:
        """Log in as alice over HTTPS and return the token."""
        return self.login_token()

    def valid(self, token: str) -> bool:
        """Whether ``token`` still authenticates over HTTPS."""
        return isinstance(self.auth.authenticate(f"Bearer {token}", secure=True), Authenticated)

    @property
    def async_auth(self) -> AsyncTokenAuth:
        """The async front door."""
        assert self.aauth is not None
        return self.aauth


def deploy() -> Deployment:
    """A fresh deployment (a plain function, so Hypothesis examples can each have one)."""
    clock = FrozenClock(1_800_000_000)
    store, users, api_keys = MemoryStore(), MemoryUserRegistry(), MemoryApiKeyRegistry()
    events: list[SecurityEvent] = []
    options: dict[str, Any] = {
        "keys": KEYS, "store": store, "users": users, "api_keys": api_keys, "pepper": PEPPER,
        "hasher": ts.fast_hasher(), "clock": clock, "on_event": events.append,
        "trusted_proxies": [PROXY],
    }  # fmt: skip
    auth = TokenAuth(**options)
    aauth = AsyncTokenAuth(**options)
    auth.add_user("alice", "correct horse")
    key, record = auth.create_api_key("svc-export", "nightly export")
    return Deployment(auth, store, users, api_keys, clock, events, key, record.key_id, aauth)


@pytest.fixture
def world() -> Deployment:
    """A fresh deployment for one test."""
    return deploy()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """Every record of the ``tokenauth`` loggers during the test."""
    handler = Recorder()
    logger = logging.getLogger("tokenauth")
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
