"""Login counters in Redis: one key per counter, each hit one atomic script on that key.

Layout, for a key prefix ``P``::

    P c:<key>    "<count>:<resets_at>", expiring natively a minute after resets_at

The window's end is kept in the value and compared with the caller's ``now``,
so the answers follow the application's clock; the Redis expiry (with a
minute's slack for clock skew between hosts) only reclaims the memory. Every
command touches one key, so the counters work unchanged on Redis Cluster.
The sync and async classes only send the same three commands; the logic is the
script and :func:`_window`.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import NoScriptError, RedisClusterException, RedisError

from tokenauth import Window

from ._connect import AsyncHandle, SyncHandle, connect_async, connect_sync, store_error
from ._flows import Script
from ._url import parse_url

__all__ = ["AsyncRedisCounters", "RedisCounters"]

#: What a failing redis-py call may raise; each is mapped to a StoreError.
_DRIVER_ERRORS = (RedisError, RedisClusterException, OSError)
#: Seconds a counter outlives its window in Redis, for clock skew between hosts.
_EXPIRY_SLACK = 60

#: Count one: continue the open window, or open a new one of ARGV[2] seconds.
HIT = Script(
    """
local now = tonumber(ARGV[1])
local value = redis.call('GET', KEYS[1])
if value then
    local sep = string.find(value, ':', 1, true)
    local count = tonumber(string.sub(value, 1, sep - 1))
    local resets = tonumber(string.sub(value, sep + 1))
    if resets > now then
        count = count + 1
        redis.call('SET', KEYS[1], count .. ':' .. resets, 'KEEPTTL')
        return {count, resets}
    end
end
local resets = now + tonumber(ARGV[2])
redis.call('SET', KEYS[1], '1:' .. resets, 'EXAT', resets + tonumber(ARGV[3]))
return {1, resets}
"""
)

#: Take one back from an open window whose count is above zero.
UNDO = Script(
    """
local value = redis.call('GET', KEYS[1])
if value then
    local sep = string.find(value, ':', 1, true)
    local count = tonumber(string.sub(value, 1, sep - 1))
    local resets = tonumber(string.sub(value, sep + 1))
    if resets > tonumber(ARGV[1]) and count > 0 then
        redis.call('SET', KEYS[1], (count - 1) .. ':' .. resets, 'KEEPTTL')
    end
end
return 0
"""
)


def _window(value: bytes | None, now: int) -> Window | None:
    if value is None:
        return None
    count, _, resets = value.partition(b":")
    window = Window(int(count), int(resets))
    return window if window.resets_at > now else None


def _hit_reply(reply: Any) -> Window:
    count, resets = reply
    return Window(int(count), int(resets))


def _hit_args(prefix: bytes, key: str, now: int, window: int) -> tuple[Any, ...]:
    return (1, _key(prefix, key), now, window, _EXPIRY_SLACK)


def _key(prefix: bytes, key: str) -> bytes:
    return prefix + b"c:" + key.encode("utf-8", "surrogatepass")


class RedisCounters:
    """Login counters in Redis, for the synchronous front door (see ``LoginThrottle``).

    Open them with ``tokenauth.open_counters("redis://...")``; the URL is a
    store URL (``prefix=`` and the timeouts apply, local-view options are unused).
    """

    def __init__(self, handle: SyncHandle, *, prefix: str) -> None:
        """Use ``handle``'s client; keys start with ``prefix``."""
        self._handle = handle
        self._prefix = prefix.encode("utf-8")

    @classmethod
    def from_url(cls, url: str) -> RedisCounters:
        """Open counters from a store URL; no connection is made until the first command."""
        settings = parse_url(url)
        return cls(connect_sync(settings), prefix=settings.prefix)

    def _do(self, method: str | Script, *args: Any) -> Any:
        client = self._handle.client
        try:
            if isinstance(method, Script):
                try:
                    return client.evalsha(method.sha, *args)
                except NoScriptError:
                    return client.eval(method.text, *args)
            return getattr(client, method)(*args)
        except _DRIVER_ERRORS as exc:
            raise store_error(exc) from exc

    def get(self, key: str, now: int) -> Window | None:
        """The open window of ``key``, or None (one ``GET``)."""
        return _window(self._do("get", _key(self._prefix, key)), now)

    def hit(self, key: str, now: int, window: int) -> Window:
        """Count one, atomically (one script on one key)."""
        return _hit_reply(self._do(HIT, *_hit_args(self._prefix, key, now, window)))

    def undo(self, key: str, now: int) -> None:
        """Take back one hit, atomically (one script on one key)."""
        self._do(UNDO, 1, _key(self._prefix, key), now)

    def reset(self, key: str) -> None:
        """Forget ``key``'s window (one ``DEL``)."""
        self._do("delete", _key(self._prefix, key))

    def close(self) -> None:
        """Close the clients these counters opened."""
        for client in self._handle.owned:
            client.close()


class AsyncRedisCounters:
    """Login counters in Redis for the async front door; see :class:`RedisCounters`."""

    def __init__(self, handle: AsyncHandle, *, prefix: str) -> None:
        """Use ``handle``'s client; keys start with ``prefix``."""
        self._handle = handle
        self._prefix = prefix.encode("utf-8")

    @classmethod
    def from_url(cls, url: str) -> AsyncRedisCounters:
        """Open counters from a store URL; the client connects on its first command."""
        settings = parse_url(url)
        return cls(connect_async(settings), prefix=settings.prefix)

    async def _do(self, method: str | Script, *args: Any) -> Any:
        client = self._handle.client
        try:
            if isinstance(method, Script):
                try:
                    return await client.evalsha(method.sha, *args)
                except NoScriptError:
                    return await client.eval(method.text, *args)
            return await getattr(client, method)(*args)
        except _DRIVER_ERRORS as exc:
            raise store_error(exc) from exc

    async def get(self, key: str, now: int) -> Window | None:
        """The open window of ``key``, or None (one ``GET``)."""
        return _window(await self._do("get", _key(self._prefix, key)), now)

    async def hit(self, key: str, now: int, window: int) -> Window:
        """Count one, atomically (one script on one key)."""
        return _hit_reply(await self._do(HIT, *_hit_args(self._prefix, key, now, window)))

    async def undo(self, key: str, now: int) -> None:
        """Take back one hit, atomically (one script on one key)."""
        await self._do(UNDO, 1, _key(self._prefix, key), now)

    async def reset(self, key: str) -> None:
        """Forget ``key``'s window (one ``DEL``)."""
        await self._do("delete", _key(self._prefix, key))

    async def aclose(self) -> None:
        """Close the clients these counters opened."""
        for client in self._handle.owned:
            await client.aclose()
