"""AsyncTokenAuth: the same decisions as TokenAuth, off-loop hashing, async stores."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Literal

import argon2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenauth import (
    AsyncMemoryStore,
    AsyncTokenAuth,
    Authenticated,
    ConfigurationError,
    Granted,
    MemoryApiKeyRegistry,
    MemoryStore,
    MemoryUserRegistry,
    Principal,
    Reason,
    TokenAuth,
    Unauthorized,
)
from tokenauth.testing import FrozenClock
from tokenauth.testing import strategies as ts

from .conftest import KEYS, PEPPER, basic

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class SpyHasher(argon2.PasswordHasher):
    """A cheap hasher that records which threads verify, and can be made slow."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.threads: list[int] = []
        self.delay = 0.0
        self.running = 0
        self.peak = 0
        self.lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        with self.lock:
            self.threads.append(threading.get_ident())
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            time.sleep(self.delay)
            return super().verify(hash, password)
        finally:
            with self.lock:
                self.running -= 1


def make_pair(
    hasher: argon2.PasswordHasher | None = None, *, hash_slots: int | None = None
) -> tuple[TokenAuth, AsyncTokenAuth, FrozenClock]:
    """A sync and an async front door over the same users, keys and clock, separate stores."""
    clock = FrozenClock(1_800_000_000)
    users, api_keys = MemoryUserRegistry(), MemoryApiKeyRegistry()
    sync = TokenAuth(
        keys=KEYS, store=MemoryStore(), users=users, api_keys=api_keys, pepper=PEPPER,
        clock=clock, hasher=ts.fast_hasher(),
    )  # fmt: skip
    asynchronous = AsyncTokenAuth(
        keys=KEYS, store=AsyncMemoryStore(), users=users, api_keys=api_keys, pepper=PEPPER,
        clock=clock, hasher=hasher or ts.fast_hasher(), max_concurrent_hashes=hash_slots,
    )  # fmt: skip
    sync.add_user("alice", "pw")
    return sync, asynchronous, clock


async def test_async_login_validate_expire() -> None:
    """The async door logs in, validates, and removes an expired token."""
    _, auth, clock = make_pair()
    granted = await auth.login(basic("alice", "pw"), secure=True)
    assert isinstance(granted, Granted)
    ok = await auth.authenticate(f"Bearer {granted.token}", secure=True)
    assert isinstance(ok, Authenticated)
    clock.advance(4000)
    expired = await auth.authenticate(f"Bearer {granted.token}", secure=True)
    assert isinstance(expired, Unauthorized)
    assert expired.reason is Reason.EXPIRED
    assert len(auth.store.sync) == 0


async def test_fifty_concurrent_async_validations_of_one_expired_token() -> None:
    """50 concurrent tasks on one expired token: all 401, one removal."""
    _, auth, clock = make_pair()
    granted = await auth.login(basic("alice", "pw"), secure=True)
    assert isinstance(granted, Granted)
    removals: list[object] = []
    auth.on_event = lambda e: (
        removals.append(e) if e.kind.value == "token_expired_removed" else None
    )
    clock.advance(4000)
    results = await asyncio.gather(
        *(auth.authenticate(f"Bearer {granted.token}", secure=True) for _ in range(50))
    )
    assert all(isinstance(r, Unauthorized) for r in results)
    assert len(removals) == 1


async def test_password_hashing_runs_off_the_event_loop() -> None:
    """argon2 runs in a worker thread: the event loop thread never does it."""
    spy = SpyHasher()
    _, auth, _ = make_pair(spy)
    await auth.login(basic("alice", "pw"), secure=True)
    await auth.login(basic("nobody", "pw"), secure=True)
    assert len(spy.threads) == 2
    assert threading.get_ident() not in spy.threads


async def test_hashing_is_capped_and_validation_not_starved() -> None:
    """A flood of slow logins neither blocks the loop nor runs more hashes than the cap."""
    spy = SpyHasher()
    _, auth, _ = make_pair(spy, hash_slots=3)
    token = await auth.login(basic("alice", "pw"), secure=True)
    assert isinstance(token, Granted)
    spy.delay = 0.05
    flood = [asyncio.create_task(auth.login(basic("alice", "pw"), secure=True)) for _ in range(12)]
    await asyncio.sleep(0.01)
    check = await auth.authenticate(f"Bearer {token.token}", secure=True)
    # Validation did not queue behind the hashes: most logins are still waiting.
    finished_logins = sum(task.done() for task in flood)
    await asyncio.gather(*flood)
    assert isinstance(check, Authenticated)
    assert finished_logins < len(flood)
    assert 1 < spy.peak <= 3


def test_default_hash_cap_keeps_argon2_threads_within_the_cores() -> None:
    """By default, hashes at once times argon2's lanes stays within the core count."""
    import os

    for hasher, lanes in ((ts.fast_hasher(), 1), (argon2.PasswordHasher(), 4)):
        _, auth, _ = make_pair(hasher)
        assert auth.max_concurrent_hashes == max(1, (os.cpu_count() or 1) // lanes)


def test_sync_door_refuses_async_stores() -> None:
    """An async store given to the sync door is a clear configuration error."""
    auth = TokenAuth(keys=KEYS, store=AsyncMemoryStore())  # type: ignore[arg-type]
    token = auth.issuer.issue(Principal("a", "password"), now=int(time.time()))
    with pytest.raises(ConfigurationError, match="AsyncTokenAuth"):
        auth.authenticate(f"Bearer {token.token}", secure=True)


_requests = st.lists(
    st.tuples(
        st.sampled_from(["login", "login_bad", "auth", "auth_garbage", "advance", "logout"]),
        st.booleans(),
    ),
    max_size=12,
)


@settings(max_examples=30, deadline=None)
@given(_requests)
def test_sync_and_async_agree(steps: list[tuple[str, bool]]) -> None:
    """Any sequence of requests gets the same status from both doors."""
    sync, asynchronous, clock = make_pair()

    async def run() -> None:
        sync_token: str | None = None
        async_token: str | None = None
        for action, secure in steps:
            if action == "advance":
                clock.advance(1800)
                continue
            if action in ("login", "login_bad"):
                password = "pw" if action == "login" else "nope"
                a = sync.login(basic("alice", password), secure=secure)
                b = await asynchronous.login(basic("alice", password), secure=secure)
                assert a.status == b.status
                if isinstance(a, Granted) and isinstance(b, Granted):
                    sync_token, async_token = a.token, b.token
            elif action == "logout" and sync_token and async_token:
                assert (
                    sync.logout(sync_token).status
                    == (await asynchronous.logout(async_token)).status
                )
            else:
                garbage = action == "auth_garbage"
                x = sync.authenticate(f"Bearer {'x.y.z' if garbage else sync_token}", secure=secure)
                y = await asynchronous.authenticate(
                    f"Bearer {'x.y.z' if garbage else async_token}", secure=secure
                )
                assert (x.status if hasattr(x, "status") else 200) == (
                    y.status if hasattr(y, "status") else 200
                )

    asyncio.run(run())
