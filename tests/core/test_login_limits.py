"""Login throttling (429) and load shedding (503) as the front doors answer them."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from typing import Any, Literal

import argon2

from tokenauth import (
    AsyncMemoryStore,
    AsyncTokenAuth,
    Authenticated,
    EventKind,
    Granted,
    KeySet,
    Limit,
    LoginThrottle,
    MemoryApiKeyRegistry,
    MemoryCounters,
    MemoryStore,
    MemoryUserRegistry,
    Overloaded,
    Reason,
    Request,
    SecurityEvent,
    StoreError,
    StoreUnavailable,
    TokenAuth,
    TooManyRequests,
    Unauthorized,
    Window,
)
from tokenauth.testing import FrozenClock
from tokenauth.testing import strategies as ts

KEYS = KeySet.generate("ES256")
PEPPER = b"pepper-" * 6
NOW = 1_800_000_000


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class CountingHasher(argon2.PasswordHasher):
    """The tests' fast hasher, counting the passwords it verifies."""

    def __init__(self) -> None:
        fast = ts.fast_hasher()
        super().__init__(
            time_cost=fast.time_cost, memory_cost=fast.memory_cost, parallelism=fast.parallelism
        )
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verified += 1
        return super().verify(hash, password)


THREE_A_MINUTE = Limit(3, 60)
FIVE_A_MINUTE = Limit(5, 60)


def make_auth(
    *, per_account: Limit | None = THREE_A_MINUTE, per_client: Limit | None = FIVE_A_MINUTE
) -> tuple[TokenAuth, CountingHasher, list[SecurityEvent], FrozenClock]:
    hasher, clock = CountingHasher(), FrozenClock(NOW)
    events: list[SecurityEvent] = []
    auth = TokenAuth(
        keys=KEYS, store=MemoryStore(), users=MemoryUserRegistry(),
        api_keys=MemoryApiKeyRegistry(), pepper=PEPPER, hasher=hasher, clock=clock,
        on_event=events.append, trusted_proxies=["10.0.0.0/8"],
        throttle=LoginThrottle(MemoryCounters(), per_account=per_account, per_client=per_client),
    )  # fmt: skip
    auth.add_user("alice", "correct horse")
    return auth, hasher, events, clock


def login(auth: TokenAuth, user: str, password: str, client: str = "203.0.113.7") -> Any:
    return auth.login(Request(authorization=basic(user, password), secure=True, client=client))


def test_the_limit_th_failure_then_429_without_hashing() -> None:
    """Three wrong passwords, then 429 with Retry-After, and the fourth costs no argon2 work."""
    auth, hasher, events, clock = make_auth()
    for _ in range(3):
        assert isinstance(login(auth, "alice", "wrong"), Unauthorized)
    hashed = hasher.verified
    clock.advance(20)
    throttled = login(auth, "alice", "correct horse")
    assert isinstance(throttled, TooManyRequests)
    assert throttled.status == 429
    assert dict(throttled.headers)["Retry-After"] == "40"
    assert hasher.verified == hashed, "a throttled login hashed a password"
    assert events[-1].kind is EventKind.LOGIN_REFUSED
    assert events[-1].reason is Reason.LOGIN_THROTTLED
    clock.advance(40)
    assert isinstance(login(auth, "alice", "correct horse"), Granted)


def test_unknown_accounts_are_answered_the_same() -> None:
    """A made-up username is counted and refused exactly like a real one (no enumeration)."""
    auth, hasher, _, _ = make_auth()
    for _ in range(3):
        login(auth, "alice", "wrong", client="198.51.100.1")
        login(auth, "mallory", "wrong", client="198.51.100.2")
    real = login(auth, "alice", "wrong", client="198.51.100.1")
    made_up = login(auth, "mallory", "wrong", client="198.51.100.2")
    assert isinstance(real, TooManyRequests)
    assert (real.status, real.headers, real.body) == (made_up.status, made_up.headers, made_up.body)
    assert hasher.verified == 6  # one hash per counted failure, known or not


def test_a_good_login_resets_the_account() -> None:
    """Two failures, a success, and the account has its full allowance again."""
    auth, _, _, _ = make_auth(per_client=None)
    login(auth, "alice", "wrong")
    login(auth, "alice", "wrong")
    assert isinstance(login(auth, "alice", "correct horse"), Granted)
    for _ in range(2):
        assert isinstance(login(auth, "alice", "wrong"), Unauthorized)
    assert isinstance(login(auth, "alice", "correct horse"), Granted)


def test_one_address_spraying_many_accounts_is_throttled() -> None:
    """Failures across usernames add up per client; another client is not affected."""
    auth, _, _, _ = make_auth(per_account=Limit(100, 60))
    for i in range(5):
        login(auth, f"user{i}", "guess")
    assert isinstance(login(auth, "alice", "correct horse"), TooManyRequests)
    assert isinstance(login(auth, "alice", "correct horse", client="198.51.100.9"), Granted)


def test_the_client_behind_a_trusted_proxy_is_counted() -> None:
    """Behind a trusted proxy each Forwarded client has its own count, not the proxy's."""
    auth, _, _, _ = make_auth(per_account=None, per_client=Limit(2, 60))

    def via_proxy(who: str, password: str) -> Any:
        return auth.login(
            Request(
                authorization=basic("alice", password), secure=True, client="10.0.0.1",
                forwarded=f"for={who};proto=https",
            )
        )  # fmt: skip

    via_proxy("192.0.2.1", "wrong")
    via_proxy("192.0.2.1", "wrong")
    assert isinstance(via_proxy("192.0.2.1", "correct horse"), TooManyRequests)
    assert isinstance(via_proxy("192.0.2.2", "correct horse"), Granted)


def test_an_untrusted_forwarded_header_does_not_dodge_the_throttle() -> None:
    """A client naming other addresses in Forwarded is still counted by its own."""
    auth, _, _, _ = make_auth(per_account=None, per_client=Limit(2, 60))
    for i in range(3):
        result = auth.login(
            Request(
                authorization=basic("alice", "wrong"), secure=True, client="203.0.113.7",
                forwarded=f"for=192.0.2.{i}",
            )
        )  # fmt: skip
    assert isinstance(result, TooManyRequests)


def test_api_key_guesses_are_counted_per_client() -> None:
    """Wrong API keys count against the client; no key ever becomes a counter name."""
    auth, _, _, _ = make_auth(per_client=Limit(2, 60))
    counters = auth.throttle.counters  # type: ignore[union-attr]
    for _ in range(2):
        assert isinstance(login(auth, "tka_" + "x" * 38, ""), Unauthorized)
    assert isinstance(counters, MemoryCounters)
    assert counters.get("client:203.0.113.7", NOW) == Window(2, NOW + 60)
    assert len(counters) == 1
    assert isinstance(login(auth, "alice", "correct horse"), TooManyRequests)


class BrokenCounters(MemoryCounters):
    def hit(self, key: str, now: int, window: int) -> Window:
        raise StoreError("the counters are down")


def test_counters_that_fail_fail_closed() -> None:
    """When the counters cannot count, the login is refused with 503, not let through."""
    auth, hasher, _, _ = make_auth()
    auth.throttle = LoginThrottle(BrokenCounters())
    assert isinstance(login(auth, "alice", "correct horse"), StoreUnavailable)
    assert hasher.verified == 0


def test_without_a_throttle_nothing_is_counted() -> None:
    """The throttle is opt-in: by default, failures are only refused, never throttled."""
    auth = TokenAuth(keys=KEYS, store=MemoryStore(), users=MemoryUserRegistry(),
                     hasher=ts.fast_hasher())  # fmt: skip
    auth.add_user("alice", "correct horse")
    for _ in range(20):
        assert isinstance(login(auth, "alice", "wrong"), Unauthorized)


# -- load shedding, on the async front door ------------------------------------------


class GatedHasher(argon2.PasswordHasher):
    """The fast hasher, whose verifications wait until the test opens the gate."""

    def __init__(self) -> None:
        fast = ts.fast_hasher()
        super().__init__(
            time_cost=fast.time_cost, memory_cost=fast.memory_cost, parallelism=fast.parallelism
        )
        self.gate = threading.Event()
        self.started = threading.Semaphore(0)

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.started.release()
        self.gate.wait(10)
        return super().verify(hash, password)


async def _flooded(max_login_wait: float | None) -> tuple[list[Any], Any, Any]:
    hasher = GatedHasher()
    auth = AsyncTokenAuth(
        keys=KEYS, store=AsyncMemoryStore(), users=MemoryUserRegistry(),
        api_keys=MemoryApiKeyRegistry(), pepper=PEPPER, hasher=hasher,
        max_concurrent_hashes=1, max_login_wait=max_login_wait,
    )  # fmt: skip
    hasher.gate.set()
    await auth.add_user("alice", "correct horse")
    key, _ = await auth.create_api_key("svc")
    granted = await auth.login(basic("alice", "correct horse"), secure=True)
    assert isinstance(granted, Granted)
    hasher.gate.clear()
    # Teach the queue that one hash takes a second: with a 2.5 s bound and one
    # slot, a login with 0 or 1 ahead of it fits (1 s, 2 s) and the rest do not.
    for _ in range(50):
        auth.hash_queue.observe(1.0)
    tasks = [
        asyncio.create_task(auth.login(basic("alice", "correct horse"), secure=True))
        for _ in range(6)
    ]
    await asyncio.sleep(0.05)
    # While the queue is full, validations and API-key logins go straight through.
    during = await auth.authenticate(f"Bearer {granted.token}", secure=True)
    by_key = await auth.login(basic(key, ""), secure=True)
    hasher.gate.set()
    return list(await asyncio.gather(*tasks)), during, by_key


def test_logins_beyond_the_bound_are_shed_at_once() -> None:
    """Of six logins at once, those that would wait past the bound get 503 and Retry-After."""
    results, during, by_key = asyncio.run(_flooded(2.5))
    shed = [r for r in results if isinstance(r, Overloaded)]
    assert [type(r) for r in results].count(Granted) == 2
    assert len(shed) == 4
    assert all(r.status == 503 and int(dict(r.headers)["Retry-After"]) >= 1 for r in shed)
    assert isinstance(during, Authenticated)
    assert isinstance(by_key, Granted)


def test_without_a_bound_every_login_queues() -> None:
    """max_login_wait=None sheds nothing."""
    results, _, _ = asyncio.run(_flooded(None))
    assert all(isinstance(r, Granted) for r in results)


class FlakyUsers(MemoryUserRegistry):
    broken = False

    def get_user(self, username: str) -> Any:
        if self.broken:
            raise StoreError("the user registry is down")
        return super().get_user(username)


def test_the_queue_is_released_whatever_the_outcome() -> None:
    """Failed, refused and broken logins all give their place in the queue back."""

    async def main() -> int:
        users = FlakyUsers()
        auth = AsyncTokenAuth(
            keys=KEYS, store=AsyncMemoryStore(), users=users, hasher=ts.fast_hasher()
        )
        await auth.add_user("alice", "correct horse")
        await auth.login(basic("alice", "wrong"), secure=True)
        await auth.login(basic("nobody", "wrong"), secure=True)
        await auth.login(basic("alice", "correct horse"), secure=True)
        users.broken = True
        assert isinstance(
            await auth.login(basic("alice", "correct horse"), secure=True), StoreUnavailable
        )
        return auth.hash_queue.pending

    assert asyncio.run(main()) == 0


def test_simultaneous_guesses_cannot_slip_past_the_limit() -> None:
    """Fifty guesses at once on one account: three are checked, the rest get 429 unhashed."""

    async def main() -> tuple[list[int], int]:
        hasher = CountingHasher()
        auth = AsyncTokenAuth(
            keys=KEYS, store=AsyncMemoryStore(), users=MemoryUserRegistry(), hasher=hasher,
            throttle=LoginThrottle(MemoryCounters(), per_account=THREE_A_MINUTE, per_client=None),
            max_login_wait=None,
        )  # fmt: skip
        await auth.add_user("alice", "correct horse")
        results = await asyncio.gather(
            *(auth.login(basic("alice", f"guess {i}"), secure=True) for i in range(50))
        )
        return sorted(r.status for r in results), hasher.verified

    statuses, verified = asyncio.run(main())
    assert statuses == [401] * 3 + [429] * 47
    assert verified == 3


def test_a_shed_login_is_not_counted_against_the_account() -> None:
    """Logins shed with 503 were never checked, so they leave the throttle's counts as they were."""

    async def main() -> tuple[list[int], int]:
        counters = MemoryCounters()
        auth = AsyncTokenAuth(
            keys=KEYS, store=AsyncMemoryStore(), users=MemoryUserRegistry(),
            hasher=ts.fast_hasher(), max_login_wait=3.0,
            throttle=LoginThrottle(counters, per_account=THREE_A_MINUTE, per_client=FIVE_A_MINUTE),
        )  # fmt: skip
        await auth.add_user("alice", "correct horse")
        for _ in range(100):
            auth.hash_queue.observe(10.0)  # a hash now "takes" 10 s: every login is shed
        statuses = []
        for _ in range(5):
            result = await auth.login(
                Request(authorization=basic("alice", "correct horse"), secure=True,
                        client="203.0.113.7")
            )  # fmt: skip
            statuses.append(result.status)
        keys = [key for key, _ in auth.throttle.keys("alice", "203.0.113.7")]  # type: ignore[union-attr]
        windows = [counters.get(key, int(time.time())) for key in keys]
        return statuses, sum(w.count for w in windows if w is not None)

    statuses, counted = asyncio.run(main())
    assert statuses == [503] * 5
    assert counted == 0
