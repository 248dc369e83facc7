"""tokenauth-redis: a Redis token store for tokenauth, sync and async.

Install ``tokenauth-redis`` and open a store by URL::

    from tokenauth import open_store

    store = open_store("redis://cache.internal:6379/0?prefix=api:")

Records expire in Redis when their tokens do, every operation is atomic on its
own key (so the store works unchanged on Redis Cluster), and a Redis that does
not answer within the configured timeout raises
:class:`~tokenauth.StoreUnreachableError`, which the core answers with 503.
See ``docs/stores-redis.md``.
"""

from __future__ import annotations

from ._counters import AsyncRedisCounters, RedisCounters
from ._store import AsyncRedisStore, RedisBackend, RedisStore, backend
from ._url import RedisSettings, parse_url

__all__ = [
    "AsyncRedisCounters",
    "AsyncRedisStore",
    "RedisBackend",
    "RedisCounters",
    "RedisSettings",
    "RedisStore",
    "backend",
    "parse_url",
]
