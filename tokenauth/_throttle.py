"""Login throttling: failed logins counted per account and per client, refused past a limit.

Before any password is hashed, a login is counted on two counters: one for
the account (the Basic username) and one for the client's address. Counting
comes first and is one atomic step per counter, so logins arriving together
cannot slip past the limit in parallel. A login that takes either count past
its limit is answered 429 with ``Retry-After`` (RFC 6585 section 4) and costs
no argon2 work. Unknown usernames are counted exactly like known ones, so the
answers tell nothing about which accounts exist. A successful login resets its
account's counter and takes its own count back from the client's, so the
client's counter holds failures only (and one address guessing at many
accounts stays throttled).

The counters are fixed windows: the first count opens a window of
``Limit.window`` seconds, and the count starts again from zero after it. They
live in a :class:`LoginCounters` (or :class:`AsyncLoginCounters`) store:
:class:`MemoryCounters` here, Redis ones in ``tokenauth-redis`` and SQL ones in
``tokenauth-sqlalchemy``, opened by URL
with :func:`open_counters` like the token stores.

Keys never hold a secret: an account is keyed by a digest of its username, and
an API-key login (whose "username" is the key itself) is counted per client
only. IPv6 clients are counted per /64, the block one host usually controls.
"""

from __future__ import annotations

import hashlib
import ipaddress
import threading
import unicodedata
from dataclasses import dataclass
from typing import Protocol, cast, runtime_checkable

from ._drivers import Call, Flow
from ._errors import ConfigurationError
from ._http import TrustedProxies
from ._store import _registry_opener

__all__ = [
    "AsyncLoginCounters",
    "Limit",
    "LoginCounters",
    "LoginThrottle",
    "MemoryCounters",
    "Window",
    "client_address",
    "open_async_counters",
    "open_counters",
]

#: Longest counter key a store must accept (keys here are far shorter).
MAX_COUNTER_KEY_LENGTH = 128
#: Longest client address kept as it is when it is not an IP address (RFC 7239 obfuscated ids).
_MAX_OPAQUE_CLIENT = 64


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``attempts`` failed logins per ``window`` seconds.

    Attributes:
        attempts: Failed logins allowed in one window; the next is refused.
        window: The window's length in seconds.
    """

    attempts: int
    window: int

    def __post_init__(self) -> None:
        if type(self.attempts) is not int or self.attempts < 1:
            raise ConfigurationError(
                f"Limit.attempts must be an int of at least 1, not {self.attempts!r}"
            )
        if type(self.window) is not int or not 1 <= self.window <= 86_400:
            raise ConfigurationError(
                f"Limit.window must be an int from 1 to 86400 seconds, not {self.window!r}"
            )


@dataclass(frozen=True, slots=True)
class Window:
    """One counter's state: ``count`` failures in a window that ends at ``resets_at``.

    Attributes:
        count: Failures counted in the current window.
        resets_at: Unix time at which the window ends and the count is gone.
    """

    count: int
    resets_at: int


@runtime_checkable
class LoginCounters(Protocol):
    """Fixed-window counters by key, for the synchronous driver.

    Every method raises :class:`~tokenauth.StoreError` when the backing service
    fails; a login then answers 503 (the throttle fails closed).
    """

    def get(self, key: str, now: int) -> Window | None:
        """The window of ``key`` at ``now``, or None when it has none or it has ended."""
        ...

    def hit(self, key: str, now: int, window: int) -> Window:
        """Count one, atomically (opening a window of ``window`` seconds if none is open)."""
        ...

    def undo(self, key: str, now: int) -> None:
        """Take back one hit, atomically, if ``key``'s window is open and its count above zero."""
        ...

    def reset(self, key: str) -> None:
        """Forget ``key``'s window."""
        ...

    def close(self) -> None:
        """Release connections; unusable afterwards."""
        ...


@runtime_checkable
class AsyncLoginCounters(Protocol):
    """The asynchronous twin of :class:`LoginCounters`."""

    async def get(self, key: str, now: int) -> Window | None:
        """The window of ``key`` at ``now``, or None when it has none or it has ended."""
        ...

    async def hit(self, key: str, now: int, window: int) -> Window:
        """Count one, atomically (opening a window of ``window`` seconds if none is open)."""
        ...

    async def undo(self, key: str, now: int) -> None:
        """Take back one hit, atomically, if ``key``'s window is open and its count above zero."""
        ...

    async def reset(self, key: str) -> None:
        """Forget ``key``'s window."""
        ...

    async def aclose(self) -> None:
        """Release connections; unusable afterwards."""
        ...


class MemoryCounters:
    """Thread-safe counters in this process's memory, at most ``max_keys`` of them.

    Works with both front doors (the async driver takes plain return values).
    Windows are kept in the order they opened, so the oldest is found first:
    when the table is full, ended windows go, and if none has ended the oldest
    open one does (a flood of distinct usernames can then shorten the oldest
    throttle, but never grow the process).

    Args:
        max_keys: The most counters held at once.
    """

    __slots__ = ("_lock", "_max_keys", "_windows")

    def __init__(self, max_keys: int = 100_000) -> None:
        """Create an empty table."""
        if max_keys < 1:
            raise ConfigurationError("MemoryCounters needs max_keys of at least 1")
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._windows: dict[str, Window] = {}

    def __len__(self) -> int:
        """How many counters are held (ended ones included, until they are evicted)."""
        return len(self._windows)

    def get(self, key: str, now: int) -> Window | None:
        """The window of ``key`` at ``now``, or None."""
        found = self._windows.get(key)
        if found is None or found.resets_at <= now:
            return None
        return found

    def hit(self, key: str, now: int, window: int) -> Window:
        """Count one failure for ``key``."""
        with self._lock:
            windows = self._windows
            found = windows.get(key)
            if found is not None and found.resets_at > now:
                windows[key] = counted = Window(found.count + 1, found.resets_at)
                return counted
            # A new window goes to the end, so the table stays in order of opening.
            windows.pop(key, None)
            self._make_room(now)
            windows[key] = opened = Window(1, now + window)
            return opened

    def _make_room(self, now: int) -> None:
        windows = self._windows
        while windows:
            oldest = next(iter(windows))
            if windows[oldest].resets_at > now and len(windows) < self._max_keys:
                return
            del windows[oldest]

    def undo(self, key: str, now: int) -> None:
        """Take back one hit for ``key``, if its window is open and its count above zero."""
        with self._lock:
            found = self._windows.get(key)
            if found is not None and found.resets_at > now and found.count > 0:
                self._windows[key] = Window(found.count - 1, found.resets_at)

    def reset(self, key: str) -> None:
        """Forget ``key``'s window."""
        with self._lock:
            self._windows.pop(key, None)

    def close(self) -> None:
        """Drop every counter."""
        with self._lock:
            self._windows.clear()


def client_address(
    client: str | None, forwarded: str | None, trusted_proxies: TrustedProxies
) -> str | None:
    """The address a login is counted under, believing ``Forwarded`` from trusted proxies only.

    RFC 7239 section 5.2: each proxy appends the address it received from, so
    the list is read from the right, skipping trusted proxies; the first other
    address is the client. IPv6 addresses count per /64.

    Args:
        client: The peer address, as the server saw it.
        forwarded: The ``Forwarded`` header, if any.
        trusted_proxies: Peers whose forwarding headers count.

    Returns:
        The normalised address (``"203.0.113.7"``, ``"2001:db8:1:2::/64"``), an
        opaque identifier a trusted proxy gave, or None when nothing is known.
    """
    if client is not None and forwarded and client in trusted_proxies:
        hops = _forwarded_for(forwarded)
        for hop in reversed(hops):
            if hop not in trusted_proxies:
                return _normalise(hop)
        if hops:
            return _normalise(hops[0])
    return None if client is None else _normalise(client)


def _forwarded_for(forwarded: str) -> list[str]:
    hops = []
    for element in forwarded.split(","):
        for pair in element.split(";"):
            name, _, value = pair.strip().partition("=")
            if name.strip().lower() == "for":
                hops.append(_strip_port(value.strip().strip('"')))
    return hops


def _strip_port(value: str) -> str:
    # RFC 7239 section 6: an IPv6 node is bracketed ("[2001:db8::1]:4711"); IPv4 may carry ":port".
    if value.startswith("["):
        return value[1:].partition("]")[0]
    if value.count(":") == 1:
        return value.partition(":")[0]
    return value


def _normalise(address: str) -> str:
    try:
        parsed = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address[:_MAX_OPAQUE_CLIENT]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def _account_key(username: str) -> str:
    # Usernames are matched after NFC, as the registries match them.
    name = unicodedata.normalize("NFC", username).encode("utf-8")
    return "acct:" + hashlib.blake2b(name, digest_size=16).hexdigest()


#: Failed logins per account by default: ten in five minutes.
DEFAULT_PER_ACCOUNT = Limit(10, 300)
#: Failed logins per client address by default: a hundred in five minutes (shared NATs).
DEFAULT_PER_CLIENT = Limit(100, 300)


class LoginThrottle:
    """Which logins to count, under which keys, with which limits.

    The decisions are flows (see ``tokenauth._drivers``): they yield counter
    calls, so one throttle serves both front doors.

    Args:
        counters: Where the counts live: :class:`MemoryCounters`, or one from
            :func:`open_counters` (Redis, SQL), sync or async to match the front door.
        per_account: Failed logins allowed per account (the Basic username).
        per_client: Failed logins allowed per client address (per /64 for IPv6);
            the front door finds the address with :func:`client_address`, believing
            ``Forwarded: for=`` from its trusted proxies only.
    """

    def __init__(
        self,
        counters: LoginCounters | AsyncLoginCounters,
        *,
        per_account: Limit | None = Limit(10, 300),
        per_client: Limit | None = Limit(100, 300),
    ) -> None:
        """Configure; see the class docstring."""
        if per_account is None and per_client is None:
            raise ConfigurationError("a LoginThrottle needs per_account, per_client or both")
        self.counters = counters
        self.per_account = per_account
        self.per_client = per_client

    def keys(self, username: str | None, address: str | None) -> tuple[tuple[str, Limit], ...]:
        """The counter keys a login is counted under, with their limits.

        Args:
            username: The Basic username; None for an API-key login (the key is
                a secret and never becomes a key here).
            address: The client's address, as :func:`client_address` gives it.
        """
        found: list[tuple[str, Limit]] = []
        if self.per_account is not None and username is not None:
            found.append((_account_key(username), self.per_account))
        if self.per_client is not None and address is not None:
            found.append(("client:" + address, self.per_client))
        return tuple(found)

    def check(self, keys: tuple[tuple[str, Limit], ...], *, now: int) -> Flow[int]:
        """Count this login under every key; 0 when it may go on, else the seconds to wait.

        The count comes first, atomically, so concurrent logins each see their
        own place in the window. A login that goes on must end with
        :meth:`succeeded` or be left counted as a failure.
        """
        wait = 0
        for key, limit in keys:
            window: Window = yield Call(self.counters.hit, (key, now, limit.window))
            if window.count > limit.attempts:
                wait = max(wait, window.resets_at - now)
        return wait

    def succeeded(self, keys: tuple[tuple[str, Limit], ...], *, now: int) -> Flow[None]:
        """After a successful login: reset the account, take this login back from the client."""
        for key, _ in keys:
            if key.startswith("acct:"):
                yield Call(self.counters.reset, (key,))
            else:
                yield Call(self.counters.undo, (key, now))

    def unchecked(self, keys: tuple[tuple[str, Limit], ...], *, now: int) -> Flow[None]:
        """Take back a login that was counted but never checked (it was shed, 503).

        A client retrying through a flood of logins is then not throttled for
        attempts whose password nobody looked at.
        """
        for key, _ in keys:
            yield Call(self.counters.undo, (key, now))


_COUNTERS_HINT = (
    "use 'memory://', a redis:// URL (pip install tokenauth-redis) or an SQL URL such "
    "as sqlite:///auth.db (pip install tokenauth-sqlalchemy)"
)


def open_counters(url: str) -> LoginCounters:
    """Open login counters by URL, as :func:`~tokenauth.open_store` opens stores.

    ``memory://`` gives a :class:`MemoryCounters`; other schemes go to the store
    backend registered for them, through its optional ``open_counters`` method.

    Raises:
        ConfigurationError: No installed backend handles the scheme, or it keeps
            no counters (the message names what to install).
    """
    return cast(
        "LoginCounters",
        _registry_opener(url, "open_counters", "login counters", _COUNTERS_HINT)(url),
    )


def open_async_counters(url: str) -> LoginCounters | AsyncLoginCounters:
    """Open login counters for :class:`~tokenauth.AsyncTokenAuth`; see :func:`open_counters`.

    ``memory://`` gives a :class:`MemoryCounters`, which never blocks and so
    serves the async front door as it is.
    """
    return cast(
        "LoginCounters | AsyncLoginCounters",
        _registry_opener(url, "open_async_counters", "login counters", _COUNTERS_HINT)(url),
    )
