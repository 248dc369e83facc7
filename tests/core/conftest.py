from __future__ import annotations

import base64
from dataclasses import dataclass, field

import pytest

from tokenauth import (
    KeySet,
    MemoryApiKeyRegistry,
    MemoryStore,
    MemoryUserRegistry,
    SecurityEvent,
    TokenAuth,
)
from tokenauth.testing import FrozenClock
from tokenauth.testing import strategies as ts

PEPPER = b"pepper-" * 6
KEYS = KeySet.generate("RS256")


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@dataclass
class Setup:
    auth: TokenAuth
    store: MemoryStore
    users: MemoryUserRegistry
    api_keys: MemoryApiKeyRegistry
    clock: FrozenClock
    events: list[SecurityEvent] = field(default_factory=list)
    api_key: str = ""
    api_key_id: str = ""

    def login_token(self, username: str = "alice", password: str = "correct horse") -> str:
        result = self.auth.login(basic(username, password), secure=True)
        assert result.status == 200, result
        return result.token  # type: ignore[union-attr]


@pytest.fixture
def setup() -> Setup:
    clock = FrozenClock(1_800_000_000)
    store, users, api_keys = MemoryStore(), MemoryUserRegistry(), MemoryApiKeyRegistry()
    events: list[SecurityEvent] = []
    auth = TokenAuth(
        keys=KEYS,
        store=store,
        users=users,
        api_keys=api_keys,
        pepper=PEPPER,
        hasher=ts.fast_hasher(),
        clock=clock,
        realm="example",
        on_event=events.append,
        trusted_proxies=["10.0.0.0/8"],
    )
    auth.add_user("alice", "correct horse", scope=("read",))
    key, record = auth.create_api_key("svc-export", "nightly export")
    return Setup(auth, store, users, api_keys, clock, events, key, record.key_id)
