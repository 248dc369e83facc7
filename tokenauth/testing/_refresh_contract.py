"""The refresh-store contract: sessions, rotation and reuse, the same on every store.

A store that keeps refresh tokens (:class:`~tokenauth.RefreshStore`) runs
:class:`RefreshStoreContract` (or :class:`AsyncRefreshStoreContract`) beside
the token-store contract; both take the same ``store_factory`` (or
``async_store_factory``) fixture, so one test class can subclass both. Beside
checks of each operation, a Hypothesis stateful test drives a front door on
the store through logins, refreshes, reuse of rotated-out tokens, revocations,
purges and the passing of time, and compares every answer with a plain model
of the session families.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from tokenauth._claims import Principal
from tokenauth._drivers import Flow
from tokenauth._errors import DuplicateTokenError
from tokenauth._frontdoor import AsyncTokenAuth, TokenAuth
from tokenauth._http import BasicCredentials
from tokenauth._keys import KeySet
from tokenauth._refresh import FORM_CONTENT_TYPE, RefreshRecord, Sessions
from tokenauth._request import Request
from tokenauth._results import Authenticated, Granted, InvalidGrant, Reason, TokenLimitReached
from tokenauth._store import CAP_METHODS, TokenRecord
from tokenauth.testing._clock import FrozenClock
from tokenauth.testing._contract import (
    AsyncStoreFactory,
    StoreFactory,
    _AsyncRunner,
    _Runner,
    _SyncRunner,
    stateful_settings,
)

__all__ = ["AsyncRefreshStoreContract", "RefreshStoreContract"]

_KEYS = KeySet.generate("HS256")
_SESSIONS = Sessions(3600, 7200, None)
_USERS = ("alice", "bob")
#: The front door of the stateful test: short refresh tokens and sessions, long access tokens.
_REFRESH_TTL = 120
_LIFETIME = 300
_ACCESS_TTL = 3600
#: The front door's default leeway on ``exp``.
_LEEWAY = 5
#: The most live access tokens a user of the stateful test may hold, on a store with caps.
_CAP = 3


def _session_records(
    subject: str = "alice", *, now: int = 0, api_key_id: str | None = None
) -> tuple[str, RefreshRecord]:
    """A new session id and its first refresh record, at ``now`` (default: the real time)."""
    now = now or int(time.time())
    session = _SESSIONS.new_id()
    principal = Principal(subject, "api_key" if api_key_id else "password", api_key_id, ("read",))
    return session, _SESSIONS.first(session, principal, now)[1]


def _access(record: RefreshRecord, now: int = 0) -> TokenRecord:
    now = now or int(time.time())
    return TokenRecord(
        jti=f"{record.session}.{secrets.token_urlsafe(16)}", subject=record.subject,
        issued_at=now, expires_at=now + 3600, method=record.method,
        api_key_id=record.api_key_id, session=record.session,
    )  # fmt: skip


class _Passwords:
    """Accepts the password "pw" for the users of the stateful test: no hashing, fast."""

    def authenticate(self, credentials: BasicCredentials, *, now: int) -> Flow[Principal | Reason]:
        yield from ()  # a flow that needs no I/O
        if credentials.username in _USERS and credentials.password == "pw":
            return Principal(credentials.username, "password", scope=("read",))
        return Reason.BAD_PASSWORD


class _Door:
    """A front door with refresh on, over a runner's store, called the same way sync or async.

    On a store that also caps tokens per subject (:class:`~tokenauth.CappedTokenStore`)
    the door refuses a login past :data:`_CAP` live access tokens, so the
    session families are held to the cap as well.
    """

    def __init__(self, runner: _Runner, clock: FrozenClock) -> None:
        self.runner = runner
        store = runner.store  # type: ignore[attr-defined]
        self.capped = all(callable(getattr(store, name, None)) for name in CAP_METHODS)
        common: dict[str, Any] = {
            "keys": _KEYS, "store": store, "clock": clock,
            "authenticator": _Passwords(), "ttl": _ACCESS_TTL,
            "refresh_ttl": _REFRESH_TTL, "session_lifetime": _LIFETIME,
        }  # fmt: skip
        if self.capped:
            common["max_tokens_per_subject"] = _CAP
        self.auth: TokenAuth | AsyncTokenAuth = (
            AsyncTokenAuth(**common) if isinstance(runner, _AsyncRunner) else TokenAuth(**common)
        )

    def _run(self, value: Any) -> Any:
        if isinstance(self.runner, _AsyncRunner):
            return self.runner.loop.run_until_complete(value)
        return value

    def login(self, user: str) -> Any:
        header = "Basic " + base64.b64encode(f"{user}:pw".encode()).decode()
        return self._run(self.auth.login(Request(authorization=header, secure=True)))

    def refresh(self, token: str) -> Any:
        body = f"grant_type=refresh_token&refresh_token={token}".encode()
        request = Request(secure=True)
        return self._run(self.auth.refresh(request, body=body, content_type=FORM_CONTENT_TYPE))

    def authenticate(self, token: str) -> Any:
        return self._run(self.auth.authenticate(f"Bearer {token}", secure=True))

    def revoke_subject(self, user: str) -> Any:
        return self._run(self.auth.revoke_subject(user))

    def purge(self) -> Any:
        return self._run(self.auth.purge_expired())


@dataclass
class _Family:
    """The model of one login session."""

    user: str
    login_at: int
    ends_at: int
    live: str
    #: Every refresh token of the session the store still holds, with its expiry.
    expiry: dict[str, int] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    #: Each access token of the session, with its ``exp`` (never after the session's end).
    access: list[tuple[str, int]] = field(default_factory=list)
    ended: bool = False


def _family_machine(make_runner: Callable[[], _Runner]) -> type[RuleBasedStateMachine]:
    class FamilyMachine(RuleBasedStateMachine):
        """Logins, refreshes, reuse, revocation and time, against a plain model."""

        def __init__(self) -> None:
            super().__init__()
            self.runner = make_runner()
            self.clock = FrozenClock(int(time.time()))
            self.door = _Door(self.runner, self.clock)
            self.families: list[_Family] = []

        def now(self) -> int:
            return int(self.clock())

        def live_access(self, user: str) -> int:
            """How many of ``user``'s access tokens the store still holds unexpired."""
            now = self.now()
            return sum(
                1
                for family in self.families
                if family.user == user and not family.ended
                for _, expires in family.access
                if expires > now
            )

        @rule(user=st.sampled_from(_USERS))
        def login(self, user: str) -> None:
            full = self.door.capped and self.live_access(user) >= _CAP
            granted = self.door.login(user)
            if full:
                assert isinstance(granted, TokenLimitReached), (
                    f"a login past the cap of {_CAP} live tokens was answered {granted!r}"
                )
                return
            assert isinstance(granted, Granted), granted
            token = granted.refresh_token
            assert token is not None, "a login with refresh on returned no refresh_token"
            now = self.now()
            ends = now + _LIFETIME
            access = [(granted.token, min(now + _ACCESS_TTL, ends))]
            family = _Family(user, now, ends, token, access=access)
            family.expiry[token] = min(now + _REFRESH_TTL, family.ends_at)
            self.families.append(family)

        def _pick(self, data: st.DataObject) -> _Family | None:
            if not self.families:
                return None
            return data.draw(st.sampled_from(self.families))

        @rule(data=st.data())
        def refresh_live(self, data: st.DataObject) -> None:
            family = self._pick(data)
            if family is None:
                return
            token, now = family.live, self.now()
            result = self.door.refresh(token)
            if family.ended or token not in family.expiry:
                assert isinstance(result, InvalidGrant), result
                assert result.reason is Reason.UNKNOWN_REFRESH_TOKEN, result.reason
                return
            if family.expiry[token] <= now:
                assert isinstance(result, InvalidGrant), result
                assert result.reason is Reason.REFRESH_TOKEN_EXPIRED, result.reason
                return
            assert isinstance(result, Granted), result
            assert result.refresh_token is not None
            login_at = result.claims.auth_time or result.claims.iat
            assert login_at == family.login_at, "a refreshed token lost its login time"
            family.used.add(token)
            family.live = result.refresh_token
            family.expiry[family.live] = min(now + _REFRESH_TTL, family.ends_at)
            family.access.append((result.token, min(now + _ACCESS_TTL, family.ends_at)))
            assert result.claims.exp == family.access[-1][1], "an access token outlives its session"

        @rule(data=st.data())
        def reuse(self, data: st.DataObject) -> None:
            family = self._pick(data)
            if family is None or not family.used:
                return
            token = data.draw(st.sampled_from(sorted(family.used)))
            result = self.door.refresh(token)
            assert isinstance(result, InvalidGrant), result
            if family.ended or token not in family.expiry:
                assert result.reason is Reason.UNKNOWN_REFRESH_TOKEN, result.reason
                return
            assert result.reason is Reason.REFRESH_TOKEN_REUSED, result.reason
            family.ended = True

        @rule(seconds=st.integers(0, 100))
        def wait(self, seconds: int) -> None:
            self.clock.advance(seconds)

        @rule(user=st.sampled_from(_USERS))
        def revoke_subject(self, user: str) -> None:
            self.door.revoke_subject(user)
            for family in self.families:
                if family.user == user:
                    family.ended = True

        @rule()
        def purge(self) -> None:
            self.door.purge()
            now = self.now()
            for family in self.families:
                for token, expires in list(family.expiry.items()):
                    if expires <= now:
                        del family.expiry[token]

        @invariant()
        def access_tokens_follow_their_session(self) -> None:
            now = self.now()
            for family in self.families[-3:]:
                for token, expires in family.access[-2:]:
                    if expires <= now <= expires + _LEEWAY:
                        continue  # inside the validator's leeway: either answer is right
                    valid = not family.ended and now < expires
                    result = self.door.authenticate(token)
                    assert isinstance(result, Authenticated) is valid, (
                        f"an access token of an {'ended' if family.ended else 'open'} "
                        f"session was {'refused' if valid else 'accepted'}: {result!r}"
                    )

        def teardown(self) -> None:
            self.runner.close()

    return FamilyMachine


class _RefreshContractBase:
    #: How many random sequences the session-family test runs, and their length.
    family_examples: ClassVar[int] = 25
    family_steps: ClassVar[int] = 25

    def _check_start_and_get(self, runner: _Runner) -> None:
        try:
            _, record = _session_records()
            assert runner.call("get_refresh", record.digest) is None
            runner.call("start_session", record)
            assert runner.call("get_refresh", record.digest) == record
            with pytest.raises(DuplicateTokenError):
                runner.call("start_session", replace(record, subject="bob"))
            assert runner.call("get_refresh", record.digest) == record
            assert runner.call("get_refresh", "0" * 64) is None
        finally:
            runner.close()

    def _check_rotation(self, runner: _Runner) -> None:
        try:
            now = int(time.time())
            _, first = _session_records(now=now - 10)
            runner.call("start_session", first)
            runner.call("add", _access(first, now - 10))
            _, second = _SESSIONS.successor(first, now)
            access = _access(first, now)
            assert runner.call("rotate_refresh", first.digest, second, access, now) is True
            assert runner.call("get_refresh", first.digest) == replace(first, used=True)
            assert runner.call("get_refresh", second.digest) == second
            assert runner.call("get", access.jti) == access
            # Used once: every later attempt changes nothing.
            _, third = _SESSIONS.successor(first, now)
            again = _access(first, now)
            assert runner.call("rotate_refresh", first.digest, third, again, now) is False
            assert runner.call("get_refresh", third.digest) is None
            assert runner.call("get", again.jti) is None
            # Expired (expires_at <= now): not traded.
            late = second.expires_at
            assert runner.call("rotate_refresh", second.digest, third, again, late) is False
            assert runner.call("get_refresh", second.digest) == second
            # Unknown: not traded.
            assert runner.call("rotate_refresh", "f" * 64, third, again, now) is False
        finally:
            runner.close()

    def _check_revoke_session(self, runner: _Runner) -> None:
        try:
            now = int(time.time())
            session, first = _session_records(now=now)
            _, other = _session_records(now=now)
            runner.call("start_session", first)
            runner.call("start_session", other)
            login_access = _access(first, now)
            other_access = _access(other, now)
            runner.call("add", login_access)
            runner.call("add", other_access)
            _, second = _SESSIONS.successor(first, now)
            refreshed = _access(first, now)
            assert runner.call("rotate_refresh", first.digest, second, refreshed, now)
            assert runner.call("revoke_session", session) >= 2
            for digest in (first.digest, second.digest):
                assert runner.call("get_refresh", digest) is None
            for jti in (login_access.jti, refreshed.jti):
                assert runner.call("get", jti) is None, "an access token outlived its session"
            assert runner.call("get_refresh", other.digest) == other
            assert runner.call("get", other_access.jti) == other_access
            # An ended session cannot be refreshed, even by a token that was live.
            _, third = _SESSIONS.successor(second, now)
            assert runner.call("rotate_refresh", second.digest, third, _access(first), now) is False
            assert runner.call("revoke_session", session) == 0
        finally:
            runner.close()

    def _check_revoke_sessions(self, runner: _Runner) -> None:
        try:
            now = int(time.time())
            records = [
                _session_records("alice", now=now)[1],
                _session_records("alice", now=now)[1],
                _session_records("alice", now=now, api_key_id="key1")[1],
                _session_records("alice", now=now, api_key_id="key2")[1],
                _session_records("bob", now=now)[1],
            ]
            accesses = [_access(r, now) for r in records]
            for record, access in zip(records, accesses, strict=True):
                runner.call("start_session", record)
                runner.call("add", access)
            assert runner.call("revoke_sessions", "alice", "key1") == 1
            assert runner.call("get_refresh", records[2].digest) is None
            assert runner.call("get", accesses[2].jti) is None
            assert runner.call("get_refresh", records[3].digest) == records[3]
            assert runner.call("revoke_sessions", "alice") == 3
            for record, access in zip(records[:4], accesses[:4], strict=True):
                assert runner.call("get_refresh", record.digest) is None
                assert runner.call("get", access.jti) is None
            assert runner.call("get_refresh", records[4].digest) == records[4]
            assert runner.call("get", accesses[4].jti) == accesses[4]
            assert runner.call("revoke_sessions", "nobody") == 0
        finally:
            runner.close()

    def _check_purge(self, runner: _Runner) -> None:
        try:
            now = int(time.time())
            _, old = _session_records(now=now - 5000)
            _, edge = _session_records(now=now - _SESSIONS.refresh_ttl)
            _, fresh = _session_records(now=now)
            for record in (old, edge, fresh):
                runner.call("start_session", record)
            assert runner.call("purge_refresh", now) == 2
            assert runner.call("get_refresh", old.digest) is None
            assert runner.call("get_refresh", edge.digest) is None, (
                "purge_refresh(now) kept a token whose expires_at == now"
            )
            assert runner.call("get_refresh", fresh.digest) == fresh
            assert runner.call("purge_refresh", now) == 0
        finally:
            runner.close()

    def _check_families(self, make_runner: Callable[[], _Runner]) -> None:
        settings = stateful_settings(self.family_examples, self.family_steps)
        run_state_machine_as_test(_family_machine(make_runner), settings=settings)


#: Rounds of the rotation-against-revocation race.
_RACES = 20


def _race_sync(store: Any) -> None:
    """One rotation and one end of its session, released at once from two threads."""
    now = int(time.time())
    session, record = _session_records(now=now)
    store.start_session(record)
    (successor, access), *_ = _rotation_race(record, now)
    barrier = threading.Barrier(2)

    def run(call: Callable[..., Any], *args: Any) -> None:
        barrier.wait()
        call(*args)

    threads = [
        threading.Thread(target=run, args=(store.rotate_refresh, record.digest, successor,
                                          access, now)),
        threading.Thread(target=run, args=(store.revoke_session, session)),
    ]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _check_gone(store.get_refresh(successor.digest), store.get(access.jti))


def _check_gone(refresh: RefreshRecord | None, access: TokenRecord | None) -> None:
    assert refresh is None, "a rotation racing the session's end left its refresh token"
    assert access is None, "a rotation racing the session's end left its access token"


def _rotation_race(record: RefreshRecord, now: int) -> list[tuple[RefreshRecord, TokenRecord]]:
    return [(_SESSIONS.successor(record, now)[1], _access(record, now)) for _ in range(16)]


class RefreshStoreContract(_RefreshContractBase):
    """The refresh contract for a synchronous store (:class:`~tokenauth.RefreshStore`).

    Subclass it with :class:`~tokenauth.testing.TokenStoreContract`: it uses the
    same ``store_factory`` fixture.
    """

    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        """Override: return (or yield) a callable that makes a fresh, empty store."""
        raise NotImplementedError("override the store_factory fixture")

    def test_refresh_start_and_get(self, store_factory: StoreFactory) -> None:
        """A session's first refresh token is stored once and read back by its digest."""
        self._check_start_and_get(_SyncRunner(store_factory))

    def test_refresh_rotation(self, store_factory: StoreFactory) -> None:
        """A refresh token is traded once, never when expired, and its successor is stored."""
        self._check_rotation(_SyncRunner(store_factory))

    def test_refresh_revoke_session(self, store_factory: StoreFactory) -> None:
        """Ending a session removes every refresh and access token of it, and nothing else."""
        self._check_revoke_session(_SyncRunner(store_factory))

    def test_refresh_revoke_sessions(self, store_factory: StoreFactory) -> None:
        """A subject's sessions end together, or only those of one API key."""
        self._check_revoke_sessions(_SyncRunner(store_factory))

    def test_refresh_purge(self, store_factory: StoreFactory) -> None:
        """Purging removes refresh tokens with expires_at <= now."""
        self._check_purge(_SyncRunner(store_factory))

    def test_refresh_concurrent_rotation_has_one_winner(self, store_factory: StoreFactory) -> None:
        """Of many threads trading one refresh token at once, exactly one succeeds."""
        store: Any = store_factory()
        try:
            now = int(time.time())
            _, record = _session_records(now=now)
            store.start_session(record)
            attempts = _rotation_race(record, now)
            barrier = threading.Barrier(len(attempts))
            results: list[bool] = []
            lock = threading.Lock()

            def rotate(successor: RefreshRecord, access: TokenRecord) -> None:
                barrier.wait()
                won = store.rotate_refresh(record.digest, successor, access, now)
                with lock:
                    results.append(won)

            threads = [threading.Thread(target=rotate, args=a) for a in attempts]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert sorted(results) == [False] * (len(attempts) - 1) + [True]
            stored = [s for s, a in attempts if store.get_refresh(s.digest) is not None]
            assert len(stored) == 1, "a losing rotation stored its successor"
        finally:
            store.close()

    def test_refresh_revocation_racing_a_rotation_leaves_nothing(
        self, store_factory: StoreFactory
    ) -> None:
        """A session's end racing its rotation: afterwards no token of the session is left."""
        store: Any = store_factory()
        try:
            for _ in range(_RACES):
                _race_sync(store)
        finally:
            store.close()

    def test_refresh_session_families(self, store_factory: StoreFactory) -> None:
        """Logins, refreshes, reuse, revocation and expiry agree with a plain model."""
        self._check_families(lambda: _SyncRunner(store_factory))


class AsyncRefreshStoreContract(_RefreshContractBase):
    """The refresh contract for an asynchronous store (:class:`~tokenauth.AsyncRefreshStore`).

    Subclass it with :class:`~tokenauth.testing.AsyncTokenStoreContract`: it uses
    the same ``async_store_factory`` fixture.
    """

    @pytest.fixture
    def async_store_factory(self) -> AsyncStoreFactory:
        """Override: return (or yield) an async callable that makes a fresh, empty store."""
        raise NotImplementedError("override the async_store_factory fixture")

    def test_refresh_start_and_get(self, async_store_factory: AsyncStoreFactory) -> None:
        """A session's first refresh token is stored once and read back by its digest."""
        self._check_start_and_get(_AsyncRunner(async_store_factory))

    def test_refresh_rotation(self, async_store_factory: AsyncStoreFactory) -> None:
        """A refresh token is traded once, never when expired, and its successor is stored."""
        self._check_rotation(_AsyncRunner(async_store_factory))

    def test_refresh_revoke_session(self, async_store_factory: AsyncStoreFactory) -> None:
        """Ending a session removes every refresh and access token of it, and nothing else."""
        self._check_revoke_session(_AsyncRunner(async_store_factory))

    def test_refresh_revoke_sessions(self, async_store_factory: AsyncStoreFactory) -> None:
        """A subject's sessions end together, or only those of one API key."""
        self._check_revoke_sessions(_AsyncRunner(async_store_factory))

    def test_refresh_purge(self, async_store_factory: AsyncStoreFactory) -> None:
        """Purging removes refresh tokens with expires_at <= now."""
        self._check_purge(_AsyncRunner(async_store_factory))

    def test_refresh_concurrent_rotation_has_one_winner(
        self, async_store_factory: AsyncStoreFactory
    ) -> None:
        """Of many tasks trading one refresh token at once, exactly one succeeds."""

        async def race() -> list[bool]:
            store: Any = await async_store_factory()
            try:
                now = int(time.time())
                _, record = _session_records(now=now)
                await store.start_session(record)
                attempts = _rotation_race(record, now)
                return list(
                    await asyncio.gather(
                        *(store.rotate_refresh(record.digest, s, a, now) for s, a in attempts)
                    )
                )
            finally:
                await store.aclose()

        assert sorted(asyncio.run(race())) == [False] * 15 + [True]

    def test_refresh_revocation_racing_a_rotation_leaves_nothing(
        self, async_store_factory: AsyncStoreFactory
    ) -> None:
        """A session's end racing its rotation: afterwards no token of the session is left."""

        async def race() -> None:
            store: Any = await async_store_factory()
            try:
                for _ in range(_RACES):
                    now = int(time.time())
                    session, record = _session_records(now=now)
                    await store.start_session(record)
                    (successor, access), *_ = _rotation_race(record, now)
                    await asyncio.gather(
                        store.rotate_refresh(record.digest, successor, access, now),
                        store.revoke_session(session),
                    )
                    _check_gone(
                        await store.get_refresh(successor.digest), await store.get(access.jti)
                    )
            finally:
                await store.aclose()

        asyncio.run(race())

    def test_refresh_session_families(self, async_store_factory: AsyncStoreFactory) -> None:
        """Logins, refreshes, reuse, revocation and expiry agree with a plain model."""
        self._check_families(lambda: _AsyncRunner(async_store_factory))
