"""redis-py clients built from :class:`RedisSettings`, and driver errors mapped to the core's.

Every client gets short socket and connect timeouts and a bounded
:class:`redis.retry.Retry` (exponential backoff from 50 ms, capped at 500 ms),
so an unreachable Redis turns into a :class:`~tokenauth.StoreUnreachableError`
after at most about ``(retries + 1) * (connect_timeout + socket_timeout)``
seconds, never an unbounded wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.retry
import redis.asyncio.sentinel
import redis.cluster
import redis.retry
import redis.sentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    ClusterDownError,
    ConnectionError,
    RedisClusterException,
    TimeoutError,
    TryAgainError,
)

from tokenauth import StoreError, StoreUnreachableError

from ._url import RedisSettings

__all__ = ["AsyncHandle", "SyncHandle", "connect_async", "connect_sync", "store_error"]

_BACKOFF_BASE = 0.05
_BACKOFF_CAP = 0.5


@dataclass(frozen=True, slots=True)
class SyncHandle:
    """A synchronous client, whether it is a Cluster client, and what closing must release."""

    client: Any
    cluster: bool
    owned: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class AsyncHandle:
    """An asynchronous client, whether it is a Cluster client, and what closing must release."""

    client: Any
    cluster: bool
    owned: tuple[Any, ...] = ()


def store_error(exc: BaseException) -> StoreError:
    """The core's exception for a redis-py (or socket) failure; the caller chains ``exc``."""
    kind = type(exc).__name__
    if isinstance(exc, (AuthenticationError, AuthorizationError)):
        return StoreError(f"Redis refused the store's credentials or permissions ({kind})")
    unreachable = (
        ConnectionError,
        TimeoutError,
        ClusterDownError,
        TryAgainError,
        RedisClusterException,
        OSError,
    )
    if isinstance(exc, unreachable):
        return StoreUnreachableError(f"Redis did not answer in time, or refused ({kind})")
    return StoreError(f"Redis failed a token store command ({kind}: {exc})")


def _connection_kwargs(settings: RedisSettings) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.connect_timeout,
        "username": settings.username,
        "password": settings.password,
    }
    if settings.max_connections is not None:
        kwargs["max_connections"] = settings.max_connections
    if settings.tls:
        kwargs.update(
            ssl=True,
            ssl_cert_reqs=settings.ssl_cert_reqs,
            ssl_ca_certs=settings.ssl_ca_certs,
            ssl_certfile=settings.ssl_certfile,
            ssl_keyfile=settings.ssl_keyfile,
            ssl_check_hostname=settings.ssl_check_hostname,
        )
    return kwargs


def _sentinel_kwargs(settings: RedisSettings, retry: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "socket_timeout": settings.socket_timeout,
        "socket_connect_timeout": settings.connect_timeout,
        "retry": retry,
    }
    if settings.sentinel_auth:
        kwargs.update(username=settings.username, password=settings.password)
    return kwargs


def _sync_retry(settings: RedisSettings) -> redis.retry.Retry:
    return redis.retry.Retry(
        ExponentialBackoff(cap=_BACKOFF_CAP, base=_BACKOFF_BASE), settings.retries
    )


def _async_retry(settings: RedisSettings) -> redis.asyncio.retry.Retry:
    return redis.asyncio.retry.Retry(
        ExponentialBackoff(cap=_BACKOFF_CAP, base=_BACKOFF_BASE), settings.retries
    )


# redis-py leaves ClusterNode, Sentinel and master_for (sync) unannotated; they are
# called through these Any-typed names rather than with type: ignore on each call.
_SyncClusterNode: Any = redis.cluster.ClusterNode
_SyncSentinel: Any = redis.sentinel.Sentinel
_AsyncSentinel: Any = redis.asyncio.sentinel.Sentinel


def connect_sync(settings: RedisSettings) -> SyncHandle:
    """Build a synchronous client; only a Cluster client talks to the network here."""
    kwargs = _connection_kwargs(settings)
    retry = _sync_retry(settings)
    if settings.mode == "cluster":
        nodes = [_SyncClusterNode(host, port) for host, port in settings.hosts]
        cluster = redis.cluster.RedisCluster(startup_nodes=nodes, retry=retry, **kwargs)
        return SyncHandle(cluster, cluster=True, owned=(cluster,))
    if settings.mode == "sentinel":
        sentinel = _SyncSentinel(
            list(settings.hosts),
            sentinel_kwargs=_sentinel_kwargs(settings, _sync_retry(settings)),
            **kwargs,
        )
        master = sentinel.master_for(settings.service_name, db=settings.db, retry=retry)
        return SyncHandle(master, cluster=False, owned=(master, *sentinel.sentinels))
    if settings.mode == "unix":
        client = redis.Redis(
            unix_socket_path=settings.unix_path, db=settings.db, retry=retry, **kwargs
        )
    else:
        host, port = settings.hosts[0]
        client = redis.Redis(host=host, port=port, db=settings.db, retry=retry, **kwargs)
    return SyncHandle(client, cluster=False, owned=(client,))


def connect_async(settings: RedisSettings) -> AsyncHandle:
    """Build an asynchronous client; it connects on its first command."""
    kwargs = _connection_kwargs(settings)
    retry = _async_retry(settings)
    if settings.mode == "cluster":
        nodes = [redis.asyncio.cluster.ClusterNode(host, port) for host, port in settings.hosts]
        cluster = redis.asyncio.cluster.RedisCluster(startup_nodes=nodes, retry=retry, **kwargs)
        return AsyncHandle(cluster, cluster=True, owned=(cluster,))
    if settings.mode == "sentinel":
        sentinel = _AsyncSentinel(
            list(settings.hosts),
            sentinel_kwargs=_sentinel_kwargs(settings, _async_retry(settings)),
            **kwargs,
        )
        master = sentinel.master_for(settings.service_name, db=settings.db, retry=retry)
        return AsyncHandle(master, cluster=False, owned=(master, *sentinel.sentinels))
    if settings.mode == "unix":
        client = redis.asyncio.Redis(
            unix_socket_path=settings.unix_path, db=settings.db, retry=retry, **kwargs
        )
    else:
        host, port = settings.hosts[0]
        client = redis.asyncio.Redis(host=host, port=port, db=settings.db, retry=retry, **kwargs)
    return AsyncHandle(client, cluster=False, owned=(client,))
