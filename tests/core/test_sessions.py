"""Per-subject token caps and last-use tracking, as the front doors do them."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenauth import (
    AsyncMemoryStore,
    AsyncTokenAuth,
    Authenticated,
    ConfigurationError,
    EventKind,
    Granted,
    KeySet,
    MemoryStore,
    MemoryUserRegistry,
    Reason,
    SecurityEvent,
    Session,
    StoreError,
    TokenAuth,
    TokenLimitReached,
    TokenRecord,
)
from tokenauth._store import MAX_USER_AGENT_LENGTH, sanitize_user_agent
from tokenauth.testing import FrozenClock
from tokenauth.testing import strategies as ts

KEYS = KeySet.generate("HS256")
NOW = 1_800_000_000
PASSWORD = "correct horse"
HEADER = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()


class CountingStore(MemoryStore):
    """A memory store that counts its last-use writes, and can be made to fail them."""

    __slots__ = ("failing", "touches")

    def __init__(self) -> None:
        super().__init__()
        self.touches: list[tuple[str, int]] = []
        self.failing = False

    def touch(self, record: TokenRecord, at: int) -> None:
        self.touches.append((record.jti, at))
        if self.failing:
            raise StoreError("the store is down")
        super().touch(record, at)


class PlainStore:
    """A user's store from before caps and sessions: the five methods only."""

    def __init__(self) -> None:
        self.inner = MemoryStore()

    def __getattr__(self, name: str) -> Any:
        if name in ("add", "get", "remove", "remove_subject", "list_subject", "purge_expired"):
            return getattr(self.inner, name)
        if name == "close":
            return self.inner.close
        raise AttributeError(name)


def make(store: Any = None, **options: Any) -> tuple[TokenAuth, FrozenClock, list[SecurityEvent]]:
    clock = FrozenClock(NOW)
    users = MemoryUserRegistry()
    events: list[SecurityEvent] = []
    auth = TokenAuth(
        keys=KEYS, store=store if store is not None else MemoryStore(), users=users,
        hasher=ts.fast_hasher(), clock=clock, on_event=events.append, **options,
    )  # fmt: skip
    auth.add_user("alice", PASSWORD)
    return auth, clock, events


def login(auth: TokenAuth, clock: FrozenClock, **fields: Any) -> Any:
    clock.set(clock() + 1)
    return auth.login(HEADER, secure=True, **fields)


def test_refuse_at_the_cap_answers_403_naming_it() -> None:
    auth, clock, events = make(max_tokens_per_subject=2)
    first, second = login(auth, clock), login(auth, clock)
    assert isinstance(first, Granted)
    assert isinstance(second, Granted)
    refused = login(auth, clock)
    assert isinstance(refused, TokenLimitReached)
    assert refused.status == 403
    assert refused.reason is Reason.TOKEN_LIMIT
    assert "WWW-Authenticate" not in dict(refused.headers)
    body = json.loads(refused.body)
    assert body["error"] == "token_limit_reached"
    assert body["max_tokens"] == 2
    assert "Log out" in body["error_description"]
    assert events[-1].kind is EventKind.LOGIN_REFUSED
    assert events[-1].reason is Reason.TOKEN_LIMIT
    # Logging out frees a slot.
    assert auth.logout(first.token).status == 204
    assert isinstance(login(auth, clock), Granted)


def test_expired_tokens_do_not_count() -> None:
    auth, clock, _ = make(max_tokens_per_subject=1, ttl=60)
    assert isinstance(login(auth, clock), Granted)
    assert isinstance(login(auth, clock), TokenLimitReached)
    clock.set(clock() + 60)
    assert isinstance(login(auth, clock), Granted)


def test_evict_oldest_revokes_the_oldest_token() -> None:
    auth, clock, events = make(max_tokens_per_subject=2, cap_policy="evict_oldest")
    tokens = [login(auth, clock).token for _ in range(3)]
    results = [auth.authenticate(f"Bearer {t}", secure=True) for t in tokens]
    assert [type(r).__name__ for r in results] == ["Unauthorized", "Authenticated", "Authenticated"]
    evictions = [e for e in events if e.reason is Reason.EVICTED]
    assert [e.kind for e in evictions] == [EventKind.TOKEN_REVOKED]
    assert len(auth.list_sessions("alice")) == 2


@pytest.mark.parametrize(
    ("options", "missing"),
    [
        ({"max_tokens_per_subject": 3}, "add_capped"),
        ({"track_last_use": True}, "touch, list_sessions"),
    ],
)
def test_a_store_without_the_feature_is_named(options: dict[str, Any], missing: str) -> None:
    with pytest.raises(ConfigurationError, match=missing):
        make(PlainStore(), **options)


def test_a_store_without_the_features_still_works_with_them_off() -> None:
    auth, clock, _ = make(PlainStore())
    granted = login(auth, clock, user_agent="curl/8")
    assert isinstance(auth.authenticate(f"Bearer {granted.token}", secure=True), Authenticated)
    (session,) = auth.list_sessions("alice")
    assert session.jti == granted.claims.jti
    assert (session.client, session.user_agent, session.last_used_at) == (None, None, None)


@pytest.mark.parametrize(
    "options",
    [
        {"max_tokens_per_subject": 0},
        {"max_tokens_per_subject": True},
        {"cap_policy": "oldest"},
        {"track_last_use": True, "last_use_interval": 0},
    ],
)
def test_bad_settings_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        make(**options)


def test_last_use_is_written_once_per_interval() -> None:
    store = CountingStore()
    auth, clock, _ = make(store, track_last_use=True, last_use_interval=60)
    granted = login(auth, clock, client="203.0.113.9", user_agent="app/1.0\r\nX-Evil: 1")
    header = f"Bearer {granted.token}"
    start = int(clock())
    for second in range(150):
        clock.set(start + second)
        assert isinstance(auth.authenticate(header, secure=True), Authenticated)
    jti = granted.claims.jti
    assert store.touches == [(jti, start), (jti, start + 60), (jti, start + 120)]
    (session,) = auth.list_sessions("alice")
    assert session == Session(
        jti, "alice", granted.claims.iat, granted.claims.exp, "password", None,
        "203.0.113.9", "app/1.0 X-Evil: 1", start + 120,
    )  # fmt: skip


def test_a_failed_last_use_write_lets_the_request_through() -> None:
    store = CountingStore()
    auth, clock, _ = make(store, track_last_use=True)
    header = f"Bearer {login(auth, clock).token}"
    store.failing = True
    assert isinstance(auth.authenticate(header, secure=True), Authenticated)
    assert isinstance(auth.authenticate(header, secure=True), Authenticated)
    assert len(store.touches) == 2, "a failed write is tried again on the next request"
    store.failing = False
    auth.authenticate(header, secure=True)
    auth.authenticate(header, secure=True)
    assert len(store.touches) == 3


def test_tracking_off_writes_nothing_and_records_nothing() -> None:
    store = CountingStore()
    auth, clock, _ = make(store)
    granted = login(auth, clock, client="203.0.113.9", user_agent="app/1.0")
    for _ in range(3):
        auth.authenticate(f"Bearer {granted.token}", secure=True)
    assert store.touches == []
    record = store.get(granted.claims.jti)
    assert record is not None
    assert (record.client, record.user_agent) == (None, None)


def test_the_async_front_door_caps_and_tracks_alike() -> None:
    async def scenario() -> None:
        clock = FrozenClock(NOW)
        users = MemoryUserRegistry()
        auth = AsyncTokenAuth(
            keys=KEYS, store=AsyncMemoryStore(), users=users, hasher=ts.fast_hasher(),
            clock=clock, max_tokens_per_subject=1, track_last_use=True,
        )  # fmt: skip
        await auth.add_user("alice", PASSWORD)
        granted = await auth.login(HEADER, secure=True, user_agent="async/1")
        assert isinstance(granted, Granted)
        assert isinstance(await auth.login(HEADER, secure=True), TokenLimitReached)
        for _ in range(3):
            clock.set(clock() + 1)
            result = await auth.authenticate(f"Bearer {granted.token}", secure=True)
            assert isinstance(result, Authenticated)
        (session,) = await auth.list_sessions("alice")
        assert (session.user_agent, session.last_used_at) == ("async/1", NOW + 1)

    asyncio.run(scenario())


@given(st.text(max_size=600))
def test_a_sanitized_user_agent_is_short_printable_and_trimmed(value: str) -> None:
    cleaned = sanitize_user_agent(value)
    if cleaned is None:
        return
    assert 0 < len(cleaned) <= MAX_USER_AGENT_LENGTH
    assert cleaned.isprintable()
    assert cleaned == cleaned.strip()
    assert "  " not in cleaned


def test_concurrent_requests_write_a_due_last_use_once() -> None:
    store = CountingStore()
    auth, clock, _ = make(store, track_last_use=True, last_use_interval=60)
    header = f"Bearer {login(auth, clock).token}"
    auth.authenticate(header, secure=True)
    clock.set(clock() + 60)  # a write is due again, for whichever request comes first
    barrier = threading.Barrier(16)

    def request() -> None:
        barrier.wait()
        for _ in range(20):
            assert isinstance(auth.authenticate(header, secure=True), Authenticated)

    threads = [threading.Thread(target=request) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.touches) == 2, store.touches
