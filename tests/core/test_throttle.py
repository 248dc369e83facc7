"""Login throttling: limits, the in-memory counters, client addresses and the throttle's flows."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tokenauth import (
    ConfigurationError,
    Limit,
    LoginCounters,
    LoginThrottle,
    MemoryCounters,
    TooManyRequests,
    Window,
    client_address,
    open_async_counters,
    open_counters,
)
from tokenauth.extend import (
    TrustedProxies,
    run_sync,
)
from tokenauth.testing import AsyncLoginCountersContract, LoginCountersContract

NOW = 1_800_000_000


class TestMemoryCountersContract(LoginCountersContract):
    @pytest.fixture
    def counters_factory(self) -> Callable[[], LoginCounters]:
        return lambda: open_counters("memory://")


class TestAsyncMemoryCountersContract(AsyncLoginCountersContract):
    @pytest.fixture
    def async_counters_factory(self) -> Callable[[], Awaitable[object]]:
        async def make() -> object:
            return open_async_counters("memory://")

        return make


@pytest.mark.parametrize(
    ("attempts", "window"), [(0, 60), (-1, 60), (1, 0), (1, 86_401), (True, 60), (1.5, 60)]
)
def test_a_limit_refuses_nonsense(attempts: object, window: object) -> None:
    """A limit needs at least one attempt and a window from one second to a day."""
    with pytest.raises(ConfigurationError, match="Limit"):
        Limit(attempts, window)  # type: ignore[arg-type]


def test_memory_counters_never_grow_past_their_bound() -> None:
    """A flood of distinct keys keeps the table at max_keys, dropping the oldest window."""
    counters = MemoryCounters(max_keys=3)
    for i in range(10):
        counters.hit(f"acct:{i}", NOW, 60)
        assert len(counters) <= 3
    assert counters.get("acct:0", NOW) is None
    assert counters.get("acct:9", NOW) == Window(1, NOW + 60)


def test_memory_counters_drop_ended_windows_before_open_ones() -> None:
    """When full, ended windows make room first; open ones stay."""
    counters = MemoryCounters(max_keys=2)
    counters.hit("old", NOW, 10)
    counters.hit("open", NOW + 5, 600)
    counters.hit("new", NOW + 20, 60)
    assert counters.get("open", NOW + 20) == Window(1, NOW + 605)
    assert counters.get("new", NOW + 20) == Window(1, NOW + 80)
    assert len(counters) == 2


@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 5)), max_size=200))
def test_memory_counters_stay_bounded(hits: list[tuple[int, int]]) -> None:
    """Whatever the keys and times, the table holds at most max_keys counters."""
    counters = MemoryCounters(max_keys=8)
    now = NOW
    for key, step in hits:
        now += step
        counters.hit(str(key), now, 7)
        assert len(counters) <= 8


def test_memory_counters_refuse_a_zero_bound() -> None:
    """max_keys must allow at least one counter."""
    with pytest.raises(ConfigurationError, match="max_keys"):
        MemoryCounters(max_keys=0)


def test_memory_counters_url_takes_no_options() -> None:
    """memory:// is the whole URL; options are refused as for the store."""
    with pytest.raises(ConfigurationError, match="memory://"):
        open_counters("memory://?size=3")


def test_a_backend_without_counters_is_named() -> None:
    """A scheme whose backend keeps no counters says what would."""
    with pytest.raises(ConfigurationError, match="no token store is registered"):
        open_counters("nosuch://x")


PROXIES = TrustedProxies.of(["10.0.0.0/8", "fd00::/8"])


@pytest.mark.parametrize(
    ("client", "forwarded", "expected"),
    [
        (None, None, None),
        ("203.0.113.7", None, "203.0.113.7"),
        # An untrusted peer's Forwarded is ignored.
        ("203.0.113.7", "for=198.51.100.1", "203.0.113.7"),
        # From a trusted proxy: the rightmost untrusted hop.
        ("10.0.0.1", "for=198.51.100.1", "198.51.100.1"),
        ("10.0.0.1", "for=192.0.2.60, for=198.51.100.1;proto=https", "198.51.100.1"),
        ("10.0.0.1", "for=192.0.2.60, for=10.1.2.3", "192.0.2.60"),
        ("10.0.0.1", 'for="198.51.100.1:4711"', "198.51.100.1"),
        ("10.0.0.1", 'for="[2001:db8:cafe::17]:4711"', "2001:db8:cafe::/64"),
        # Only trusted hops: the first one is all there is.
        ("10.0.0.1", "for=10.9.9.9", "10.9.9.9"),
        # A trusted proxy that names no client: the proxy is the client.
        ("10.0.0.1", "proto=https", "10.0.0.1"),
        ("10.0.0.1", "for=_hidden", "_hidden"),
        # IPv6 counts per /64; IPv4-mapped as IPv4.
        ("2001:db8:1:2:3:4:5:6", None, "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.1", None, "192.0.2.1"),
    ],
)
def test_client_address(client: str | None, forwarded: str | None, expected: str | None) -> None:
    """The counted address believes Forwarded from trusted proxies only, rightmost first."""
    assert client_address(client, forwarded, PROXIES) == expected


@given(st.ip_addresses(v=6))
def test_one_ipv6_host_block_is_one_client(address: ipaddress.IPv6Address) -> None:
    """Every address of a /64 is counted as the same client (IPv4-mapped ones are IPv4)."""
    assume(address.ipv4_mapped is None)
    other = ipaddress.IPv6Address(int(address) ^ 0xFFFF)  # same /64, another host
    assert client_address(str(address), None, PROXIES) == client_address(str(other), None, PROXIES)


@given(st.text(max_size=300), st.sampled_from(["10.0.0.1", "203.0.113.7", "fd00::1"]))
def test_client_address_never_raises_and_stays_short(forwarded: str, peer: str) -> None:
    """Any Forwarded value gives an address of bounded length, never an exception."""
    found = client_address(peer, forwarded, PROXIES)
    assert found is not None
    assert len(found) <= 64


def _throttle(**kwargs: object) -> tuple[LoginThrottle, MemoryCounters]:
    counters = MemoryCounters()
    return LoginThrottle(counters, **kwargs), counters  # type: ignore[arg-type]


def test_a_throttle_needs_a_limit() -> None:
    """Switching off both limits is a configuration error, not a silent no-op."""
    with pytest.raises(ConfigurationError, match="per_account"):
        LoginThrottle(MemoryCounters(), per_account=None, per_client=None)


def test_keys_hold_no_username_and_no_api_key() -> None:
    """The account key is a digest; an API-key login is counted per client only."""
    throttle, _ = _throttle()
    keys = throttle.keys("alice", "203.0.113.7")
    assert [k for k, _ in keys][1] == "client:203.0.113.7"
    assert keys[0][0].startswith("acct:")
    assert "alice" not in keys[0][0]
    assert [k for k, _ in throttle.keys(None, "203.0.113.7")] == ["client:203.0.113.7"]


def test_account_keys_match_as_the_registry_does() -> None:
    """Usernames are compared after NFC, so two spellings of one name share a counter."""
    throttle, _ = _throttle()
    assert throttle.keys("Zo\u00eb", None) == throttle.keys("Zoe\u0308", None)
    assert throttle.keys("alice", None) != throttle.keys("Alice", None)


def test_the_login_past_the_limit_is_throttled_until_the_window_ends() -> None:
    """`attempts` logins go on; the next is told the seconds left; then the window reopens."""
    throttle, _ = _throttle(per_account=Limit(3, 60), per_client=None)
    keys = throttle.keys("alice", "203.0.113.7")
    for _ in range(3):
        assert run_sync(throttle.check(keys, now=NOW)) == 0
    assert run_sync(throttle.check(keys, now=NOW + 15)) == 45
    assert run_sync(throttle.check(keys, now=NOW + 60)) == 0


def test_success_resets_the_account_and_takes_itself_back_from_the_client() -> None:
    """A good login clears its account; the address keeps only the failures."""
    throttle, counters = _throttle(per_account=Limit(3, 60), per_client=Limit(3, 60))
    keys = throttle.keys("alice", "203.0.113.7")
    for _ in range(3):  # two failures, then the login that succeeds
        run_sync(throttle.check(keys, now=NOW))
    run_sync(throttle.succeeded(keys, now=NOW))
    assert counters.get(keys[0][0], NOW) is None
    assert counters.get(keys[1][0], NOW) == Window(2, NOW + 60)


def test_one_address_guessing_many_accounts_is_throttled() -> None:
    """Logins on different usernames add up under the client's address."""
    throttle, _ = _throttle(per_account=Limit(100, 60), per_client=Limit(5, 60))
    for i in range(5):
        assert run_sync(throttle.check(throttle.keys(f"user{i}", "203.0.113.7"), now=NOW)) == 0
    fresh = throttle.keys("someone-else", "203.0.113.7")
    assert run_sync(throttle.check(fresh, now=NOW)) == 60
    elsewhere = throttle.keys("someone-else", "198.51.100.1")
    assert run_sync(throttle.check(elsewhere, now=NOW)) == 0


def test_the_longest_wait_is_answered() -> None:
    """When both counters are over, Retry-After is the later of their ends."""
    throttle, _ = _throttle(per_account=Limit(1, 30), per_client=Limit(1, 300))
    keys = throttle.keys("alice", "203.0.113.7")
    run_sync(throttle.check(keys, now=NOW))
    assert run_sync(throttle.check(keys, now=NOW)) == 300


def test_memory_undo_takes_back_one_and_never_goes_below_zero() -> None:
    """undo lowers an open window's count by one, ignores ended or missing windows."""
    counters = MemoryCounters()
    counters.hit("k", NOW, 60)
    counters.undo("k", NOW)
    counters.undo("k", NOW)
    counters.undo("missing", NOW)
    assert counters.get("k", NOW) == Window(0, NOW + 60)
    counters.hit("k", NOW, 60)
    counters.undo("k", NOW + 60)
    assert counters.get("k", NOW + 60) is None


def test_the_throttled_answer() -> None:
    """429, Retry-After in whole seconds (at least one), a JSON error and no challenge."""
    result = TooManyRequests.login(0)
    assert result.status == 429
    assert ("Retry-After", "1") in result.headers
    assert not any(name == "WWW-Authenticate" for name, _ in result.headers)
    assert result.json["error"] == "too_many_requests"
    assert dict(TooManyRequests.login(42).headers)["Retry-After"] == "42"


def test_a_store_backend_without_counters_names_what_has_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A backend without counters: the error names memory://, Redis and the SQL stores."""
    sql = pytest.importorskip("tokenauth_sqlalchemy")
    monkeypatch.delattr(sql.SQLBackend, "open_counters")
    with pytest.raises(ConfigurationError, match=r"keeps no login counters.*redis://.*sqlite"):
        open_counters("sqlite:///counters.db")
