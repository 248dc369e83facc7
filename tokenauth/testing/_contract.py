"""The store contract: every token store, sync or async, behaves like a plain dict.

A store author subclasses :class:`TokenStoreContract` (or
:class:`AsyncTokenStoreContract`) in a test module and overrides one fixture
that returns a factory of fresh, empty stores. The tests include a Hypothesis
stateful test that runs random sequences of operations against the store and
against a plain model side by side, and the expiry rule that every store follows
(see :data:`~tokenauth.MAX_LEEWAY`): a record is kept until it is removed, or by
a store that forgets expired records by itself until at least ``MAX_LEEWAY``
seconds past its ``expires_at``; so a token inside the front door's leeway is
accepted, and a token met past it is refused as expired and its record removed,
on every store alike.
"""

from __future__ import annotations

import asyncio
import string
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tokenauth._claims import Principal
from tokenauth._clock import Clock
from tokenauth._errors import DuplicateTokenError
from tokenauth._events import EventKind, SecurityEvent
from tokenauth._frontdoor import AsyncTokenAuth, TokenAuth
from tokenauth._jwt import JWTIssuer
from tokenauth._keys import KeySet
from tokenauth._results import Authenticated, Reason, Unauthorized
from tokenauth._store import (
    CAP_METHODS,
    MAX_LEEWAY,
    SESSION_METHODS,
    AsyncTokenStore,
    CapOutcome,
    CapPolicy,
    Session,
    TokenRecord,
    TokenStore,
)
from tokenauth.testing._clock import FrozenClock

__all__ = ["AsyncTokenStoreContract", "TokenStoreContract"]

StoreFactory = Callable[[], TokenStore]
AsyncStoreFactory = Callable[[], Awaitable[AsyncTokenStore]]

_JTI_ALPHABET = string.ascii_letters + string.digits + "-_"
_SUBJECTS = ["alice", "bob", "carol@example.com", "Zoë", "用户", "a" * 255]


class _Runner:
    """Calls store methods the same way whatever the store's flavour."""

    #: The security events of the front doors it made.
    events: list[SecurityEvent]

    def call(self, name: str, *args: Any) -> Any:
        raise NotImplementedError

    def has(self, methods: tuple[str, ...]) -> bool:
        """Whether the store has every one of ``methods`` (an optional protocol)."""
        store = getattr(self, "store", None)
        return all(callable(getattr(store, m, None)) for m in methods)

    def close(self) -> None:
        raise NotImplementedError

    def authenticate(self, store_clock: Clock, leeway: int, header: str) -> Any:
        """What a front door on this store, with this clock and leeway, answers ``header``."""
        raise NotImplementedError

    def purge(self, store_clock: Clock, leeway: int) -> int:
        """What a front door on this store purges, with this clock and leeway."""
        raise NotImplementedError


class _SyncRunner(_Runner):
    def __init__(self, factory: StoreFactory) -> None:
        self.store = factory()
        self.events: list[SecurityEvent] = []

    def call(self, name: str, *args: Any) -> Any:
        return getattr(self.store, name)(*args)

    def _auth(self, clock: Clock, leeway: int) -> TokenAuth:
        return TokenAuth(
            keys=_KEYS, store=self.store, clock=clock, leeway=leeway, on_event=self.events.append
        )

    def authenticate(self, store_clock: Clock, leeway: int, header: str) -> Any:
        return self._auth(store_clock, leeway).authenticate(header, secure=True)

    def purge(self, store_clock: Clock, leeway: int) -> int:
        return self._auth(store_clock, leeway).purge_expired()

    def close(self) -> None:
        self.store.close()


class _AsyncRunner(_Runner):
    def __init__(self, factory: AsyncStoreFactory) -> None:
        self.loop = asyncio.new_event_loop()
        self.store = self.loop.run_until_complete(factory())
        self.events: list[SecurityEvent] = []

    def call(self, name: str, *args: Any) -> Any:
        return self.loop.run_until_complete(getattr(self.store, name)(*args))

    def _auth(self, clock: Clock, leeway: int) -> AsyncTokenAuth:
        return AsyncTokenAuth(
            keys=_KEYS, store=self.store, clock=clock, leeway=leeway, on_event=self.events.append
        )

    def authenticate(self, store_clock: Clock, leeway: int, header: str) -> Any:
        auth = self._auth(store_clock, leeway)
        return self.loop.run_until_complete(auth.authenticate(header, secure=True))

    def purge(self, store_clock: Clock, leeway: int) -> int:
        return self.loop.run_until_complete(self._auth(store_clock, leeway).purge_expired())

    def close(self) -> None:
        try:
            self.loop.run_until_complete(self.store.aclose())
        finally:
            self.loop.close()


#: A key for the front-door checks of the expiry rule (HS256: cheap to make and use).
_KEYS = KeySet.generate("HS256")
_ISSUER = JWTIssuer(_KEYS, ttl=600)


_USER_AGENTS = st.none() | st.text(
    st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")),
    min_size=1,
    max_size=256,
).filter(str.isprintable)
_CLIENTS = st.none() | st.sampled_from(["203.0.113.7", "2001:db8:1:2::/64", "_hidden"])


def _records(
    now: int, *, expired: bool | None = None, sessions: bool = False
) -> st.SearchStrategy[TokenRecord]:
    """Records that expired long ago, expired within ``MAX_LEEWAY``, or expire later.

    None expires near ``now`` nor near the end of that grace. With ``sessions``,
    some carry a client address and a User-Agent (which a SessionStore keeps).
    """

    @st.composite
    def build(draw: st.DrawFn) -> TokenRecord:
        issued = draw(st.integers(now - 100_000, now - 10_000))
        is_expired = draw(st.booleans()) if expired is None else expired
        if is_expired and draw(st.booleans()):
            # Within the grace: every store still holds it while the test runs.
            expires = draw(st.integers(now - MAX_LEEWAY + 120, now - 60))
        elif is_expired:
            expires = draw(st.integers(issued, now - MAX_LEEWAY - 60))
        else:
            expires = draw(st.integers(now + 3_600, now + 1_000_000))
        by_key = draw(st.booleans())
        return TokenRecord(
            jti=draw(st.text(_JTI_ALPHABET, min_size=1, max_size=64)),
            subject=draw(st.sampled_from(_SUBJECTS)),
            issued_at=issued,
            expires_at=expires,
            method="api_key" if by_key else "password",
            api_key_id=draw(st.text(_JTI_ALPHABET, min_size=1, max_size=64)) if by_key else None,
            client=draw(_CLIENTS) if sessions else None,
            user_agent=draw(_USER_AGENTS) if sessions else None,
        )

    return build()


def _machine(
    make_runner: Callable[[], _Runner],
    forgets_expired: bool,
    *,
    capped: bool = False,
    sessions: bool = False,
) -> type[RuleBasedStateMachine]:
    """The stateful test; ``capped`` and ``sessions`` add the optional protocols' rules."""
    now = int(time.time())
    records = _records(now, sessions=sessions)

    class StoreMachine(RuleBasedStateMachine):
        """Random operations on the store and on a dict, compared after each."""

        jtis = Bundle("jtis")

        def __init__(self) -> None:
            super().__init__()
            self.runner = make_runner()
            self.model: dict[str, TokenRecord] = {}
            self.last_used: dict[str, int] = {}

        def forgettable(self, record: TokenRecord) -> bool:
            return forgets_expired and record.expires_at + MAX_LEEWAY <= time.time()

        @initialize()
        def starts_empty(self) -> None:
            for subject in _SUBJECTS:
                assert self.runner.call("list_subject", subject) == []

        def _add(self, record: TokenRecord) -> str:
            existing = self.model.get(record.jti)
            try:
                self.runner.call("add", record)
            except DuplicateTokenError:
                assert existing is not None, "DuplicateTokenError for a jti that is not stored"
                return record.jti
            assert existing is None or self.forgettable(existing), "a duplicate jti was accepted"
            self.model[record.jti] = record
            return record.jti

        @rule(target=jtis, record=records)
        def add(self, record: TokenRecord) -> str:
            return self._add(record)

        @precondition(lambda _: capped)
        @rule(
            target=jtis,
            record=records,
            limit=st.integers(1, 4),
            policy=st.sampled_from(["refuse", "evict_oldest"]),
        )
        def add_capped(self, record: TokenRecord, limit: int, policy: CapPolicy) -> str:
            """A capped add agrees with the model: live counted, oldest evicted, none over."""
            existing = self.model.get(record.jti)
            if existing is not None and self.forgettable(existing):
                return record.jti  # the store may or may not hold it still: no clear answer
            if existing is not None:
                # Refused either way, and nothing changes: as a duplicate, or (at
                # the cap, "refuse") before the jti is even looked at.
                try:
                    refused = self.runner.call("add_capped", record, limit, policy, now)
                except DuplicateTokenError:
                    return record.jti
                assert (refused.added, refused.evicted) == (False, ()), "a duplicate jti was added"
                return record.jti
            live = sorted(
                (
                    r
                    for r in self.model.values()
                    if r.subject == record.subject and r.expires_at > now
                ),
                key=lambda r: (r.issued_at, r.jti),
            )
            outcome = self.runner.call("add_capped", record, limit, policy, now)
            assert isinstance(outcome, CapOutcome), outcome
            excess = len(live) - limit + 1
            if excess > 0 and policy == "refuse":
                assert not outcome.added, "a capped add went past the cap"
                assert outcome.evicted == ()
                return record.jti
            victims = live[: max(0, excess)]
            assert outcome.added
            assert list(outcome.evicted) == victims, (outcome.evicted, victims)
            for victim in victims:
                del self.model[victim.jti]
                self.last_used.pop(victim.jti, None)
            self.model[record.jti] = record
            return record.jti

        @precondition(lambda _: sessions)
        @rule(jti=jtis, ago=st.integers(0, 5_000))
        def touch(self, jti: str, ago: int) -> None:
            """A use is recorded for a stored token; a later time never goes back."""
            record = self.model.get(jti)
            if record is None:
                # An unstored token: nothing is recorded, nothing is created.
                self.runner.call("touch", _record(jti), now - ago)
                assert self.runner.call("get", jti) is None
                return
            self.runner.call("touch", record, now - ago)
            self.last_used[jti] = max(self.last_used.get(jti, now - ago), now - ago)

        @precondition(lambda _: sessions)
        @rule(subject=st.sampled_from(_SUBJECTS))
        def list_sessions(self, subject: str) -> None:
            """Sessions are the subject's records, oldest first, with their last use."""
            listed = self.runner.call("list_sessions", subject)
            assert all(isinstance(s, Session) for s in listed)
            assert [s.issued_at for s in listed] == sorted(s.issued_at for s in listed)
            for session in listed:
                record = self.model.get(session.jti)
                assert record is not None, "list_sessions showed a token that is not stored"
                assert session == Session.of(record, self.last_used.get(session.jti))
            shown = {s.jti for s in listed}
            for jti, record in list(self.model.items()):
                if record.subject == subject and jti not in shown:
                    assert self.forgettable(record), "list_sessions left out a stored record"
                    del self.model[jti]

        @rule(jti=jtis, record=records)
        def add_again(self, jti: str, record: TokenRecord) -> None:
            """Another record under a jti already used: refused while the first is stored."""
            self._add(replace(record, jti=jti))

        @rule(jti=jtis)
        def get(self, jti: str) -> None:
            got = self.runner.call("get", jti)
            expected = self.model.get(jti)
            if expected is not None and got is None and self.forgettable(expected):
                del self.model[jti]
                return
            assert got == expected

        @rule(jti=consumes(jtis))
        def remove(self, jti: str) -> None:
            removed = self.runner.call("remove", jti)
            expected = self.model.pop(jti, None)
            self.last_used.pop(jti, None)
            if expected is not None and self.forgettable(expected):
                assert removed in (True, False)
            else:
                assert removed is (expected is not None)
            assert self.runner.call("get", jti) is None

        @rule(jti=st.text(_JTI_ALPHABET, min_size=1, max_size=60))
        def remove_unknown(self, jti: str) -> None:
            """Removing a jti that was never stored reports False and changes nothing."""
            jti = "never-" + jti[:58]
            assert jti not in self.model
            assert self.runner.call("remove", jti) is False
            assert self.runner.call("get", jti) is None

        @rule(subject=st.sampled_from(_SUBJECTS))
        def remove_subject(self, subject: str) -> None:
            mine = [r for r in self.model.values() if r.subject == subject]
            removed = self.runner.call("remove_subject", subject)
            must = sum(1 for r in mine if not self.forgettable(r))
            assert must <= removed <= len(mine)
            for record in mine:
                del self.model[record.jti]
                self.last_used.pop(record.jti, None)
            assert self.runner.call("list_subject", subject) == []

        @rule(subject=st.sampled_from(_SUBJECTS))
        def list_subject(self, subject: str) -> None:
            listed = self.runner.call("list_subject", subject)
            assert [r.issued_at for r in listed] == sorted(r.issued_at for r in listed)
            assert len({r.jti for r in listed}) == len(listed)
            mine = {r.jti: r for r in self.model.values() if r.subject == subject}
            for record in listed:
                assert mine.get(record.jti) == record
            for jti, record in mine.items():
                if record not in listed:
                    assert self.forgettable(record), "list_subject left out a stored record"
                    del self.model[jti]

        @rule()
        def purge_expired(self) -> None:
            expired = [r for r in self.model.values() if r.expires_at <= now]
            purged = self.runner.call("purge_expired", now)
            if forgets_expired:
                assert 0 <= purged <= len(expired)
            else:
                assert purged == len(expired)
            for record in expired:
                del self.model[record.jti]
                self.last_used.pop(record.jti, None)
                assert self.runner.call("get", record.jti) is None

        def teardown(self) -> None:
            try:
                for jti, record in self.model.items():
                    got = self.runner.call("get", jti)
                    assert got == record or (got is None and self.forgettable(record))
            finally:
                self.runner.close()

    return StoreMachine


def _record(jti: str, subject: str = "alice", *, issued: int = 0, ttl: int = 3600) -> TokenRecord:
    issued = issued or int(time.time())
    return TokenRecord(
        jti=jti, subject=subject, issued_at=issued, expires_at=issued + ttl, method="password"
    )


def _check_cap_race(
    policy: CapPolicy, outcomes: list[CapOutcome], records: list[TokenRecord], now: int
) -> None:
    """After 12 concurrent capped adds (cap 3) to an empty store: never more than 3 live."""
    live = [r for r in records if r.expires_at > now]
    added = sum(o.added for o in outcomes)
    evicted = sum(len(o.evicted) for o in outcomes)
    assert len(live) <= 3, f"{len(live)} live tokens after concurrent capped adds, cap 3"
    if policy == "refuse":
        assert (added, len(live), evicted) == (3, 3, 0)
    else:
        # Every token added is live or was evicted (each eviction reported once).
        # A store may evict more than strictly needed while logins race, or turn
        # a login away when the others never leave it room, but never most of them.
        assert added - evicted == len(live), (added, evicted, len(live))
        assert len(live) >= 1, "concurrent evicting logins left no token at all"
        assert added >= 6, f"only {added} of 12 evicting logins got a token"


def _race_threads(store: Any, policy: CapPolicy) -> None:
    """12 threads add a token of one subject at once, with a cap of 3."""
    now = int(time.time())
    barrier = threading.Barrier(12)
    outcomes: list[CapOutcome] = []
    lock = threading.Lock()

    def login(i: int) -> None:
        record = _record(f"cc-{i}", issued=now + i)
        barrier.wait()
        outcome = store.add_capped(record, 3, policy, now)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=login, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _check_cap_race(policy, outcomes, store.list_subject("alice"), now)


def stateful_settings(max_examples: int, steps: int) -> settings:
    """Hypothesis settings for a contract's stateful test: no deadline, slow services allowed."""
    return settings(
        max_examples=max_examples,
        stateful_step_count=steps,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


class _ContractBase:
    #: True for stores that may drop a record by themselves once it has expired
    #: (Redis does, through native key expiry). Such stores are held to "at most"
    #: where a store that keeps expired records until asked is held to "exactly".
    forgets_expired: ClassVar[bool] = False
    #: How many random operation sequences the stateful test runs.
    max_examples: ClassVar[int] = 40
    #: How many operations each sequence has at most.
    steps: ClassVar[int] = 30

    def _settings(self) -> settings:
        return stateful_settings(self.max_examples, self.steps)

    def _runner(self) -> _Runner:
        raise NotImplementedError

    def _check_basics(self, runner: _Runner) -> None:
        try:
            record = _record("contract-basic-1")
            runner.call("add", record)
            assert runner.call("get", record.jti) == record
            with pytest.raises(DuplicateTokenError):
                runner.call("add", _record("contract-basic-1", "bob"))
            assert runner.call("get", record.jti) == record, "a refused add changed the record"
            assert runner.call("list_subject", "bob") == []
            assert runner.call("remove", record.jti) is True
            assert runner.call("remove", record.jti) is False
            assert runner.call("get", record.jti) is None
        finally:
            runner.close()

    def _check_subjects(self, runner: _Runner) -> None:
        try:
            now = int(time.time())
            for i in range(5):
                runner.call("add", _record(f"s-a-{i}", "alice", issued=now - 10 + i))
            runner.call("add", _record("s-b-0", "bob"))
            listed = runner.call("list_subject", "alice")
            assert [r.jti for r in listed] == [f"s-a-{i}" for i in range(5)]
            assert runner.call("remove_subject", "alice") == 5
            assert runner.call("list_subject", "alice") == []
            assert runner.call("get", "s-b-0") is not None
            assert runner.call("remove_subject", "nobody") == 0
        finally:
            runner.close()

    def _check_purge(self, runner: _Runner) -> None:
        try:
            now = int(time.time())
            old = _record("p-old", issued=now - 7200, ttl=3600)
            fresh = _record("p-fresh", issued=now, ttl=3600)
            # Expires exactly at the purge time: "expires_at <= now" removes it (a
            # store that compares with "<" keeps it, and fails here).
            edge = _record("p-edge", issued=now - 3600, ttl=3600)
            for record in (old, fresh, edge):
                runner.call("add", record)
            purged = runner.call("purge_expired", now)
            assert purged == 2 or (self.forgets_expired and 0 <= purged <= 2), purged
            assert runner.call("get", "p-edge") is None, (
                "purge_expired(now) kept a record whose expires_at == now: it removes "
                "every record with expires_at <= now"
            )
            assert runner.call("get", "p-old") is None
            assert runner.call("get", "p-fresh") == fresh
            assert runner.call("purge_expired", now) == 0
        finally:
            runner.close()

    def _check_grace(self, runner: _Runner) -> None:
        try:
            now = int(time.time())
            just = _record("g-just", issued=now - 3600, ttl=3600 - 2)
            late = _record("g-late", "bob", issued=now - 3600, ttl=3600 - (MAX_LEEWAY - 60))
            for record in (just, late):
                runner.call("add", record)
                assert runner.call("get", record.jti) == record, (
                    f"a record {now - record.expires_at} s past its expiry was forgotten: a "
                    f"store keeps records at least MAX_LEEWAY ({MAX_LEEWAY} s) past expires_at"
                )
            assert runner.call("list_subject", "bob") == [late]
            assert runner.call("remove", just.jti) is True
            assert runner.call("remove_subject", "bob") == 1
        finally:
            runner.close()

    def _optional(self, runner: _Runner, methods: tuple[str, ...], protocol: str) -> None:
        if not runner.has(methods):
            runner.close()
            pytest.skip(f"the store is no {protocol} (it has no {', '.join(methods)})")

    def _check_optional_machine(self, make_runner: Callable[[], _Runner]) -> None:
        runner = make_runner()
        capped, sessions = runner.has(CAP_METHODS), runner.has(SESSION_METHODS)
        runner.close()
        if not (capped or sessions):
            pytest.skip("the store has neither optional protocol")
        machine = _machine(make_runner, self.forgets_expired, capped=capped, sessions=sessions)
        fewer = stateful_settings(max(1, self.max_examples // 2), self.steps)
        run_state_machine_as_test(machine, settings=fewer)

    def _check_caps(self, runner: _Runner) -> None:
        self._optional(runner, CAP_METHODS, "CappedTokenStore")
        try:
            now = int(time.time())
            for i in range(3):
                runner.call("add", _record(f"c-{i}", issued=now - 100 + i))
            runner.call("add", _record("c-old", issued=now - 5000, ttl=4000))  # expired
            runner.call("add", _record("c-bob", "bob"))
            refused = runner.call("add_capped", _record("c-new", issued=now), 3, "refuse", now)
            assert refused == CapOutcome(False, (), 3), refused
            assert runner.call("get", "c-new") is None, "a refused capped add stored its record"
            added = runner.call("add_capped", _record("c-4", issued=now), 4, "refuse", now)
            assert added == CapOutcome(True, (), 3), "an expired token counted toward the cap"
            with pytest.raises(DuplicateTokenError):
                runner.call("add_capped", _record("c-4", "bob"), 9, "refuse", now)
            evicting = runner.call(
                "add_capped", _record("c-5", issued=now + 1), 2, "evict_oldest", now
            )
            assert (evicting.added, evicting.live) == (True, 4), evicting
            assert [r.jti for r in evicting.evicted] == ["c-0", "c-1", "c-2"]
            alive = [r.jti for r in runner.call("list_subject", "alice") if r.expires_at > now]
            assert alive == ["c-4", "c-5"]
            assert runner.call("get", "c-bob") is not None, "another subject's token was evicted"
        finally:
            runner.close()

    def _check_sessions(self, runner: _Runner) -> None:
        self._optional(runner, SESSION_METHODS, "SessionStore")
        try:
            now = int(time.time())
            ua = "Mozilla/5.0 (X11; Linux) Zoë 用户 " + "x" * 200
            seen = replace(_record("u-1", issued=now - 10), client="203.0.113.7", user_agent=ua)
            plain = _record("u-2", issued=now - 5)
            runner.call("add", seen)
            runner.call("add", plain)
            assert runner.call("get", "u-1") == seen, "the client or User-Agent was not kept"
            assert runner.call("list_sessions", "alice") == [Session.of(seen), Session.of(plain)]
            runner.call("touch", seen, now - 3)
            runner.call("touch", seen, now - 8)  # an older use never moves it back
            runner.call("touch", _record("u-gone"), now)  # not stored: nothing happens
            assert runner.call("get", "u-gone") is None
            assert runner.call("list_sessions", "alice") == [
                Session.of(seen, now - 3),
                Session.of(plain),
            ]
            assert runner.call("get", "u-1") == seen, "a touch changed the record"
            assert runner.call("remove", "u-1") is True
            runner.call("add", seen)  # the same jti again: a new token, never used yet
            assert runner.call("list_sessions", "alice")[0] == Session.of(seen)
        finally:
            runner.close()

    def _check_expiry_rule(self, runner: _Runner) -> None:
        try:
            leeway = 5
            real = int(time.time())
            # A token that expired 2 s ago by the real clock (the one a store like
            # Redis expires records by), checked by front doors with their own clocks.
            clock = FrozenClock(real - 600)
            issued = _ISSUER.issue(Principal("alice", "password"), now=real - 602)
            runner.call("add", issued.record)
            header = f"Bearer {issued.token}"
            clock.set(real)
            inside = runner.authenticate(clock, leeway, header)
            assert isinstance(inside, Authenticated), (
                f"a token 2 s past exp, inside the {leeway} s leeway, was refused ({inside!r})"
            )
            assert runner.purge(clock, leeway) == 0, "a purge removed a token inside its leeway"
            clock.set(real - 2 + leeway)
            past = runner.authenticate(clock, leeway, header)
            assert isinstance(past, Unauthorized), past
            assert past.reason is Reason.EXPIRED, f"refused as {past.reason}, not as expired"
            assert runner.call("get", issued.record.jti) is None, "the expired record was kept"
            removed = [e for e in runner.events if e.kind is EventKind.TOKEN_EXPIRED_REMOVED]
            assert [e.jti for e in removed] == [issued.record.jti]
        finally:
            runner.close()


class TokenStoreContract(_ContractBase):
    """The contract for a synchronous :class:`~tokenauth.TokenStore`.

    Subclass it in a test module (the class name must start with ``Test``) and
    override :meth:`store_factory` to return a callable that makes a fresh,
    empty store each time it is called; clean up after the fixture's ``yield``.
    """

    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        """Override: return (or yield) a callable that makes a fresh, empty store."""
        raise NotImplementedError("override the store_factory fixture")

    def test_add_get_remove(self, store_factory: StoreFactory) -> None:
        """A record can be added once, read back, and removed exactly once."""
        self._check_basics(_SyncRunner(store_factory))

    def test_subject_index(self, store_factory: StoreFactory) -> None:
        """Records are listed per subject, oldest first, and removed per subject."""
        self._check_subjects(_SyncRunner(store_factory))

    def test_purge_expired(self, store_factory: StoreFactory) -> None:
        """Purging removes expired records and keeps live ones."""
        self._check_purge(_SyncRunner(store_factory))

    def test_keeps_records_within_the_grace(self, store_factory: StoreFactory) -> None:
        """A record stays readable, listed and removable until MAX_LEEWAY past its expiry."""
        self._check_grace(_SyncRunner(store_factory))

    def test_expiry_rule(self, store_factory: StoreFactory) -> None:
        """Inside the leeway a token is accepted; past it, refused as expired and removed."""
        self._check_expiry_rule(_SyncRunner(store_factory))

    def test_concurrent_removal_has_one_winner(self, store_factory: StoreFactory) -> None:
        """Of many threads removing one record at once, exactly one is told it removed it."""
        store = store_factory()
        try:
            store.add(_record("race"))
            barrier = threading.Barrier(16)
            results: list[bool] = []
            lock = threading.Lock()

            def remove() -> None:
                barrier.wait()
                removed = store.remove("race")
                with lock:
                    results.append(removed)

            threads = [threading.Thread(target=remove) for _ in range(16)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert sorted(results) == [False] * 15 + [True]
        finally:
            store.close()

    def test_behaves_like_a_dict(self, store_factory: StoreFactory) -> None:
        """Random sequences of operations agree with a plain in-memory model."""
        machine = _machine(lambda: _SyncRunner(store_factory), self.forgets_expired)
        run_state_machine_as_test(machine, settings=self._settings())

    def test_capped_add(self, store_factory: StoreFactory) -> None:
        """A capped add refuses or evicts the oldest; expired tokens do not count."""
        self._check_caps(_SyncRunner(store_factory))

    def test_sessions(self, store_factory: StoreFactory) -> None:
        """Last uses are kept per token, never move back, and are listed with the records."""
        self._check_sessions(_SyncRunner(store_factory))

    def test_concurrent_capped_adds_stay_within_the_cap(self, store_factory: StoreFactory) -> None:
        """Many threads logging one subject in at once never leave more live tokens than the cap."""
        policies: tuple[CapPolicy, ...] = ("refuse", "evict_oldest")
        for policy in policies:
            runner = _SyncRunner(store_factory)
            self._optional(runner, CAP_METHODS, "CappedTokenStore")
            try:
                _race_threads(runner.store, policy)
            finally:
                runner.close()

    def test_sessions_behave_like_a_dict(self, store_factory: StoreFactory) -> None:
        """Random sequences with capped adds, touches and session lists agree with the model."""
        self._check_optional_machine(lambda: _SyncRunner(store_factory))


class AsyncTokenStoreContract(_ContractBase):
    """The contract for an :class:`~tokenauth.AsyncTokenStore`.

    Override :meth:`async_store_factory` to return an async callable that makes a
    fresh, empty store; it is awaited inside the event loop the test uses.
    """

    @pytest.fixture
    def async_store_factory(self) -> AsyncStoreFactory:
        """Override: return (or yield) an async callable that makes a fresh, empty store."""
        raise NotImplementedError("override the async_store_factory fixture")

    def test_add_get_remove(self, async_store_factory: AsyncStoreFactory) -> None:
        """A record can be added once, read back, and removed exactly once."""
        self._check_basics(_AsyncRunner(async_store_factory))

    def test_subject_index(self, async_store_factory: AsyncStoreFactory) -> None:
        """Records are listed per subject, oldest first, and removed per subject."""
        self._check_subjects(_AsyncRunner(async_store_factory))

    def test_purge_expired(self, async_store_factory: AsyncStoreFactory) -> None:
        """Purging removes expired records and keeps live ones."""
        self._check_purge(_AsyncRunner(async_store_factory))

    def test_keeps_records_within_the_grace(self, async_store_factory: AsyncStoreFactory) -> None:
        """A record stays readable, listed and removable until MAX_LEEWAY past its expiry."""
        self._check_grace(_AsyncRunner(async_store_factory))

    def test_expiry_rule(self, async_store_factory: AsyncStoreFactory) -> None:
        """Inside the leeway a token is accepted; past it, refused as expired and removed."""
        self._check_expiry_rule(_AsyncRunner(async_store_factory))

    def test_concurrent_removal_has_one_winner(
        self, async_store_factory: AsyncStoreFactory
    ) -> None:
        """Of many tasks removing one record at once, exactly one is told it removed it."""

        async def race() -> list[bool]:
            store = await async_store_factory()
            try:
                await store.add(_record("race"))
                return list(await asyncio.gather(*(store.remove("race") for _ in range(16))))
            finally:
                await store.aclose()

        assert sorted(asyncio.run(race())) == [False] * 15 + [True]

    def test_behaves_like_a_dict(self, async_store_factory: AsyncStoreFactory) -> None:
        """Random sequences of operations agree with a plain in-memory model."""
        machine = _machine(lambda: _AsyncRunner(async_store_factory), self.forgets_expired)
        run_state_machine_as_test(machine, settings=self._settings())

    def test_capped_add(self, async_store_factory: AsyncStoreFactory) -> None:
        """A capped add refuses or evicts the oldest; expired tokens do not count."""
        self._check_caps(_AsyncRunner(async_store_factory))

    def test_sessions(self, async_store_factory: AsyncStoreFactory) -> None:
        """Last uses are kept per token, never move back, and are listed with the records."""
        self._check_sessions(_AsyncRunner(async_store_factory))

    def test_concurrent_capped_adds_stay_within_the_cap(
        self, async_store_factory: AsyncStoreFactory
    ) -> None:
        """Many tasks logging one subject in at once never leave more live tokens than the cap."""

        async def race(policy: CapPolicy) -> None:
            store: Any = await async_store_factory()
            try:
                if not callable(getattr(store, "add_capped", None)):
                    pytest.skip("the store is no AsyncCappedTokenStore (it has no add_capped)")
                now = int(time.time())
                outcomes = await asyncio.gather(
                    *(
                        store.add_capped(_record(f"cc-{i}", issued=now + i), 3, policy, now)
                        for i in range(12)
                    )
                )
                _check_cap_race(policy, list(outcomes), await store.list_subject("alice"), now)
            finally:
                await store.aclose()

        policies: tuple[CapPolicy, ...] = ("refuse", "evict_oldest")
        for policy in policies:
            asyncio.run(race(policy))

    def test_sessions_behave_like_a_dict(self, async_store_factory: AsyncStoreFactory) -> None:
        """Random sequences with capped adds, touches and session lists agree with the model."""
        self._check_optional_machine(lambda: _AsyncRunner(async_store_factory))
