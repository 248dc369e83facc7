"""The Redis token stores: thin drivers that run the flows of ``_flows`` on redis-py clients."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.exceptions import NoScriptError, RedisClusterException, RedisError

from tokenauth import (
    AsyncTokenStore,
    CapOutcome,
    CapPolicy,
    ConfigurationError,
    RefreshRecord,
    Session,
    StoreError,
    TokenRecord,
    TokenStore,
)

from . import _flows, _refresh
from ._connect import AsyncHandle, SyncHandle, connect_async, connect_sync, store_error
from ._counters import AsyncRedisCounters, RedisCounters
from ._url import (
    DEFAULT_LOCAL_VIEW_MAX_LAG,
    DEFAULT_LOCAL_VIEW_SIZE,
    DEFAULT_PREFIX,
    RedisSettings,
    parse_url,
)
from ._view import MISS, LocalView

__all__ = ["AsyncRedisStore", "RedisBackend", "RedisStore", "backend"]

T = TypeVar("T")

#: What a failing redis-py call may raise; each is mapped to a StoreError.
_DRIVER_ERRORS = (RedisError, RedisClusterException, OSError)
#: SCAN batch size for purge_expired.
_SCAN_COUNT = 500

SyncClient = redis.Redis | redis.cluster.RedisCluster
AsyncClient = redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster


def _nonce() -> bytes:
    return secrets.token_hex(_flows.NONCE_LENGTH // 2).encode("ascii")


def _check_prefix(prefix: object) -> _flows.Keyspace:
    if not isinstance(prefix, str) or not prefix:
        raise ValueError("the key prefix must be a non-empty str")
    return _flows.Keyspace(prefix)


def _script_args(op: _flows.RunScript) -> tuple[Any, ...]:
    return (len(op.keys), *op.keys, *op.args)


def _tracking_connections(client: Any) -> Callable[[], Any]:
    """New connections like ``client``'s, for a local view's tracking connection."""
    pool: Any = getattr(client, "connection_pool", None)
    if type(pool) not in (redis.ConnectionPool, redis.BlockingConnectionPool):
        raise ConfigurationError(
            "a local view needs a client of one Redis server (not Sentinel or Cluster)"
        )
    factory = pool.connection_class
    # RESP2, whatever the client speaks: invalidations then arrive as pub/sub messages.
    # Without the maintenance-notification settings redis-py 8 adds to the pool: it
    # refuses them on a RESP2 connection unless hiredis happens to be installed.
    kwargs = {
        key: value
        for key, value in pool.connection_kwargs.items()
        if not key.startswith(("maint_notifications", "maintenance_", "oss_cluster_maint"))
    }
    kwargs["protocol"] = 2
    return lambda: factory(**kwargs)


def _view_from(settings: RedisSettings, keys: _flows.Keyspace) -> LocalView | None:
    if not settings.local_view:
        return None
    # A client of its own (no connection is made until the view's thread starts).
    handle = connect_sync(settings)
    return LocalView(
        _tracking_connections(handle.client),
        keys.record(b""),
        max_entries=settings.local_view_size,
        max_lag=settings.local_view_max_lag,
    )


def _written(keys: _flows.Keyspace, op: _flows.Op) -> list[str]:
    """The jtis whose records ``op`` may write or delete."""
    targets: tuple[bytes, ...] = ()
    if isinstance(op, _flows.Call) and op.method in ("set", "getdel", "delete"):
        targets = op.args[:1]
    elif isinstance(op, _flows.RunScript) and op.script is _flows.DELETE_IF_EQUAL:
        targets = op.keys
    elif isinstance(op, _flows.Batch):
        return [jti for each in op.ops for jti in _written(keys, each)]
    elif isinstance(op, _flows.RunScript) and op.script is _refresh.REVOKE:
        # A session's end: every token "<session>.<random>" (see LocalView.forget).
        family = op.keys[0]
        session = family[len(keys.family("")) - 1 : -1]
        return [session.decode("utf-8", "surrogatepass") + "."]
    prefix = keys.record(b"")
    return [
        _flows.jti_of_key(key[len(prefix) :]).decode("utf-8", "surrogatepass")
        for key in targets
        if key.startswith(prefix)
    ]


class RedisStore:
    """A token store in Redis, for many processes and servers sharing one revocation list.

    Records expire in Redis when their tokens do; reading one is a single ``GET``.
    See ``docs/stores-redis.md`` for the key layout and the guarantees.

    Open one from a URL with :meth:`from_url` (or ``tokenauth.open_store``), or
    wrap a client you configured yourself.

    Args:
        client: A ``redis.Redis`` (also as returned by Sentinel's ``master_for``) or
            a ``redis.cluster.RedisCluster``. The store does not close a client it
            was given; give it short timeouts and a bounded retry, since the
            store's answer to a slow Redis is to fail (503), not to wait.
        prefix: Prepended to every key the store writes.
        local_view: Answer repeated lookups from a process-local view of the
            records, kept exact by Redis's client-side tracking on a connection of
            its own (one Redis server only; see ``docs/stores-redis.md``).
        local_view_size: How many records the local view keeps.
        local_view_max_lag: Seconds the local view may go without proof that it is
            current before it stops answering.
    """

    __slots__ = ("_closed", "_connect", "_handle", "_keys", "_lock", "_owns", "_view")

    def __init__(
        self,
        client: SyncClient,
        *,
        prefix: str = DEFAULT_PREFIX,
        local_view: bool = False,
        local_view_size: int = DEFAULT_LOCAL_VIEW_SIZE,
        local_view_max_lag: float = DEFAULT_LOCAL_VIEW_MAX_LAG,
    ) -> None:
        """Wrap ``client``; see the class docstring."""
        self._keys = _check_prefix(prefix)
        handle = SyncHandle(client, cluster=isinstance(client, redis.cluster.RedisCluster))
        self._connect: Callable[[], SyncHandle] = lambda: handle
        self._handle: SyncHandle | None = handle
        self._owns = False
        self._closed = False
        self._lock = threading.Lock()
        self._view = (
            LocalView(
                _tracking_connections(client),
                self._keys.record(b""),
                max_entries=local_view_size,
                max_lag=local_view_max_lag,
            )
            if local_view
            else None
        )

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        """Open a store from a URL such as ``redis://127.0.0.1:6379/0?prefix=api:``.

        No connection is made yet, so this succeeds while Redis is down; each
        operation then fails with :class:`~tokenauth.StoreUnreachableError`
        until Redis is back.

        Args:
            url: See ``docs/stores-redis.md`` for the schemes and options.

        Returns:
            A store that owns its client and closes it on :meth:`close`.

        Raises:
            ConfigurationError: The URL is malformed or has an unknown option.
        """
        settings = parse_url(url)
        store = cls.__new__(cls)
        store._keys = _check_prefix(settings.prefix)
        store._connect = lambda: connect_sync(settings)
        store._handle = None
        store._owns = True
        store._closed = False
        store._lock = threading.Lock()
        store._view = _view_from(settings, store._keys)
        return store

    def __repr__(self) -> str:
        """Show the prefix, never the connection's credentials."""
        return f"RedisStore(prefix={self._keys.prefix.decode('utf-8', 'replace')!r})"

    def add(self, record: TokenRecord) -> None:
        """Store a new record; raises DuplicateTokenError if the ``jti`` is taken."""
        self._run(_flows.add(self._keys, record, _nonce()))

    def get(self, jti: str) -> TokenRecord | None:
        """Return the record for ``jti``, or None (one round trip, or none from the local view)."""
        view = self._view
        if view is None:
            return self._run(_flows.get(self._keys, jti))
        found = view.lookup(jti)
        if found is not MISS:
            return found
        ticket = view.reserve(jti)
        try:
            record = self._run(_flows.get(self._keys, jti))
        except BaseException:
            view.release(jti, ticket)
            raise
        view.fill(jti, ticket, record)
        return record

    def remove(self, jti: str) -> bool:
        """Remove one record; True if this call removed it."""
        return self._run(_flows.remove(self._keys, jti))

    def remove_subject(self, subject: str) -> int:
        """Remove every record of ``subject``; returns how many."""
        return self._run(_flows.remove_subject(self._keys, subject))

    def list_subject(self, subject: str) -> list[TokenRecord]:
        """Return the records of ``subject``, oldest first."""
        return self._run(_flows.list_subject(self._keys, subject))

    def purge_expired(self, now: int) -> int:
        """Remove every record with ``expires_at <= now``; returns how many."""
        return self._run(_flows.purge_expired(self._keys, now))

    def list_all(self) -> list[TokenRecord]:
        """Every stored record, oldest first (``tokenauth tokens list``); scans the keyspace."""
        return self._run(_flows.list_all(self._keys))

    def add_capped(
        self, record: TokenRecord, limit: int, policy: CapPolicy, now: int
    ) -> CapOutcome:
        """Store ``record`` unless its subject would exceed ``limit`` live tokens.

        A script on the subject's index key admits it (Cluster-safe); see
        :meth:`tokenauth.CappedTokenStore.add_capped` and ``docs/stores-redis.md``.
        """
        return self._run(_flows.add_capped(self._keys, record, _nonce(), limit, policy, now))

    def touch(self, record: TokenRecord, at: int) -> None:
        """Keep ``at`` as the token's last use (a GET, then a script on one key)."""
        self._run(_flows.touch(self._keys, record, at))

    def list_sessions(self, subject: str) -> list[Session]:
        """The subject's live records with their last uses, oldest first."""
        return self._run(_flows.list_sessions(self._keys, subject))

    # -- refresh tokens (tokenauth.RefreshStore; see _refresh) -------------------------

    def start_session(self, record: RefreshRecord) -> None:
        """Store a session's first refresh token; DuplicateTokenError if its digest is taken."""
        self._run(_refresh.start_session(self._keys, record))

    def get_refresh(self, digest: str) -> RefreshRecord | None:
        """The record of the refresh token with ``digest``, used or not, or None."""
        return self._run(_refresh.get_refresh(self._keys, digest))

    def rotate_refresh(
        self, digest: str, successor: RefreshRecord, access: TokenRecord, now: int
    ) -> bool:
        """Trade a refresh token in one script on its session's slot; see ``_refresh``."""
        flow = _refresh.rotate_refresh(self._keys, digest, successor, access, now, _nonce())
        return self._run(flow)

    def revoke_session(self, session: str) -> int:
        """End a session in one script on its slot: its refresh and access tokens."""
        return self._run(_refresh.revoke_session(self._keys, session))

    def revoke_sessions(self, subject: str, api_key_id: str | None = None) -> int:
        """End every session of ``subject`` (only those of ``api_key_id``); returns how many."""
        return self._run(_refresh.revoke_sessions(self._keys, subject, api_key_id))

    def purge_refresh(self, now: int) -> int:
        """Remove every refresh token with ``expires_at <= now``; returns how many."""
        return self._run(_refresh.purge_refresh(self._keys, now))

    def close(self) -> None:
        """Close the connections this store opened; the store is unusable afterwards."""
        with self._lock:
            handle, self._handle, self._closed = self._handle, None, True
        if self._view is not None:
            self._view.close()
        if handle is not None and self._owns:
            for client in handle.owned:
                client.close()

    def _client(self) -> SyncHandle:
        handle = self._handle
        if handle is not None:
            return handle
        with self._lock:
            if self._closed:
                raise StoreError("this Redis token store is closed")
            if self._handle is None:
                self._handle = self._connect()
            return self._handle

    def _run(self, flow: _flows.Flow[T]) -> T:
        reply: Any = None
        error: StoreError | None = None
        while True:
            try:
                op = flow.send(reply) if error is None else flow.throw(error)
            except StopIteration as stop:
                result: T = stop.value
                return result
            try:
                reply, error = self._execute(op), None
            except StoreError as exc:
                reply, error = None, exc

    def _execute(self, op: _flows.Op) -> Any:
        view = self._view
        written = _written(self._keys, op) if view is not None else []
        if written and view is not None:
            # Forgotten before and after the write: no lookup in between is kept.
            view.forget(written)
        try:
            return self._dispatch(self._client(), op)
        except _DRIVER_ERRORS as exc:
            raise store_error(exc) from exc
        finally:
            if written and view is not None:
                view.forget(written)

    def _dispatch(self, handle: SyncHandle, op: _flows.Op) -> Any:
        client = handle.client
        if isinstance(op, _flows.Call):
            return getattr(client, op.method)(*op.args, **op.kwargs)
        if isinstance(op, _flows.RunScript):
            try:
                return client.evalsha(op.script.sha, *_script_args(op))
            except NoScriptError:
                return client.eval(op.script.text, *_script_args(op))
        if isinstance(op, _flows.MultiGet):
            if not op.keys:
                return []
            return client.mget_nonatomic(op.keys) if handle.cluster else client.mget(op.keys)
        if isinstance(op, _flows.Batch):
            if handle.cluster:
                # redis-py's Cluster pipelines refuse EVAL: one round trip per command.
                return [self._dispatch(handle, each) for each in op.ops]
            pipe = client.pipeline(transaction=False)
            _queue(pipe, op)
            return pipe.execute()
        if isinstance(op, _flows.Pause):
            time.sleep(op.seconds)
            return None
        return list(client.scan_iter(match=op.pattern, count=_SCAN_COUNT))


def _queue(pipe: Any, batch: _flows.Batch) -> None:
    for op in batch.ops:
        if isinstance(op, _flows.Call):
            getattr(pipe, op.method)(*op.args, **op.kwargs)
        else:
            # EVAL, not EVALSHA: a pipeline cannot fall back on NOSCRIPT command by command.
            pipe.eval(op.script.text, *_script_args(op))


class AsyncRedisStore:
    """The asynchronous Redis token store, on ``redis.asyncio``; see :class:`RedisStore`.

    Args:
        client: A ``redis.asyncio.Redis`` or ``redis.asyncio.cluster.RedisCluster``,
            not closed by the store.
        prefix: Prepended to every key the store writes.
    """

    __slots__ = ("_closed", "_handle", "_keys", "_owns", "_view")

    def __init__(self, client: AsyncClient, *, prefix: str = DEFAULT_PREFIX) -> None:
        """Wrap ``client``; see the class docstring (a local view needs :meth:`from_url`)."""
        cluster = isinstance(client, redis.asyncio.cluster.RedisCluster)
        self._keys = _check_prefix(prefix)
        self._handle = AsyncHandle(client, cluster=cluster)
        self._owns = False
        self._closed = False
        self._view: LocalView | None = None

    @classmethod
    def from_url(cls, url: str) -> AsyncRedisStore:
        """Open a store from a URL; no connection is made until the first operation.

        Args:
            url: See ``docs/stores-redis.md`` for the schemes and options.

        Returns:
            A store that owns its client and closes it on :meth:`aclose`.

        Raises:
            ConfigurationError: The URL is malformed or has an unknown option.
        """
        settings = parse_url(url)
        store = cls.__new__(cls)
        store._keys = _check_prefix(settings.prefix)
        store._handle = connect_async(settings)
        store._owns = True
        store._closed = False
        store._view = _view_from(settings, store._keys)
        return store

    def __repr__(self) -> str:
        """Show the prefix, never the connection's credentials."""
        return f"AsyncRedisStore(prefix={self._keys.prefix.decode('utf-8', 'replace')!r})"

    async def add(self, record: TokenRecord) -> None:
        """Store a new record; raises DuplicateTokenError if the ``jti`` is taken."""
        await self._run(_flows.add(self._keys, record, _nonce()))

    async def get(self, jti: str) -> TokenRecord | None:
        """Return the record for ``jti``, or None (one round trip, or none from the local view)."""
        view = self._view
        if view is None:
            return await self._run(_flows.get(self._keys, jti))
        found = view.lookup(jti)
        if found is not MISS:
            return found
        ticket = view.reserve(jti)
        try:
            record = await self._run(_flows.get(self._keys, jti))
        except BaseException:
            view.release(jti, ticket)
            raise
        view.fill(jti, ticket, record)
        return record

    async def remove(self, jti: str) -> bool:
        """Remove one record; True if this call removed it."""
        return await self._run(_flows.remove(self._keys, jti))

    async def remove_subject(self, subject: str) -> int:
        """Remove every record of ``subject``; returns how many."""
        return await self._run(_flows.remove_subject(self._keys, subject))

    async def list_subject(self, subject: str) -> list[TokenRecord]:
        """Return the records of ``subject``, oldest first."""
        return await self._run(_flows.list_subject(self._keys, subject))

    async def purge_expired(self, now: int) -> int:
        """Remove every record with ``expires_at <= now``; returns how many."""
        return await self._run(_flows.purge_expired(self._keys, now))

    async def list_all(self) -> list[TokenRecord]:
        """Every stored record, oldest first; scans the keyspace."""
        return await self._run(_flows.list_all(self._keys))

    async def add_capped(
        self, record: TokenRecord, limit: int, policy: CapPolicy, now: int
    ) -> CapOutcome:
        """Store ``record`` unless its subject would exceed ``limit``; see RedisStore."""
        return await self._run(_flows.add_capped(self._keys, record, _nonce(), limit, policy, now))

    async def touch(self, record: TokenRecord, at: int) -> None:
        """Keep ``at`` as the token's last use."""
        await self._run(_flows.touch(self._keys, record, at))

    async def list_sessions(self, subject: str) -> list[Session]:
        """The subject's live records with their last uses, oldest first."""
        return await self._run(_flows.list_sessions(self._keys, subject))

    # -- refresh tokens (tokenauth.AsyncRefreshStore; see _refresh) -------------------------

    async def start_session(self, record: RefreshRecord) -> None:
        """Store a session's first refresh token; DuplicateTokenError if its digest is taken."""
        await self._run(_refresh.start_session(self._keys, record))

    async def get_refresh(self, digest: str) -> RefreshRecord | None:
        """The record of the refresh token with ``digest``, used or not, or None."""
        return await self._run(_refresh.get_refresh(self._keys, digest))

    async def rotate_refresh(
        self, digest: str, successor: RefreshRecord, access: TokenRecord, now: int
    ) -> bool:
        """Trade a refresh token in one script on its session's slot; see ``_refresh``."""
        flow = _refresh.rotate_refresh(self._keys, digest, successor, access, now, _nonce())
        return await self._run(flow)

    async def revoke_session(self, session: str) -> int:
        """End a session in one script on its slot: its refresh and access tokens."""
        return await self._run(_refresh.revoke_session(self._keys, session))

    async def revoke_sessions(self, subject: str, api_key_id: str | None = None) -> int:
        """End every session of ``subject`` (only those of ``api_key_id``); returns how many."""
        return await self._run(_refresh.revoke_sessions(self._keys, subject, api_key_id))

    async def purge_refresh(self, now: int) -> int:
        """Remove every refresh token with ``expires_at <= now``; returns how many."""
        return await self._run(_refresh.purge_refresh(self._keys, now))

    async def aclose(self) -> None:
        """Close the connections this store opened; the store is unusable afterwards."""
        if self._closed:
            return
        self._closed = True
        if self._view is not None:
            self._view.close()
        if self._owns:
            for client in self._handle.owned:
                await client.aclose()

    async def _run(self, flow: _flows.Flow[T]) -> T:
        reply: Any = None
        error: StoreError | None = None
        while True:
            try:
                op = flow.send(reply) if error is None else flow.throw(error)
            except StopIteration as stop:
                result: T = stop.value
                return result
            try:
                reply, error = await self._execute(op), None
            except StoreError as exc:
                reply, error = None, exc

    async def _execute(self, op: _flows.Op) -> Any:
        if self._closed:
            raise StoreError("this Redis token store is closed")
        view = self._view
        written = _written(self._keys, op) if view is not None else []
        if written and view is not None:
            view.forget(written)
        try:
            return await self._dispatch(self._handle, op)
        except _DRIVER_ERRORS as exc:
            raise store_error(exc) from exc
        finally:
            if written and view is not None:
                view.forget(written)

    async def _dispatch(self, handle: AsyncHandle, op: _flows.Op) -> Any:
        client = handle.client
        if isinstance(op, _flows.Call):
            return await getattr(client, op.method)(*op.args, **op.kwargs)
        if isinstance(op, _flows.RunScript):
            try:
                return await client.evalsha(op.script.sha, *_script_args(op))
            except NoScriptError:
                return await client.eval(op.script.text, *_script_args(op))
        if isinstance(op, _flows.MultiGet):
            if not op.keys:
                return []
            if handle.cluster:
                return await client.mget_nonatomic(op.keys)
            return await client.mget(op.keys)
        if isinstance(op, _flows.Batch):
            if handle.cluster:
                # redis-py's Cluster pipelines refuse EVAL: one round trip per command.
                return [await self._dispatch(handle, each) for each in op.ops]
            pipe = client.pipeline(transaction=False)
            _queue(pipe, op)
            return await pipe.execute()
        if isinstance(op, _flows.Pause):
            await asyncio.sleep(op.seconds)
            return None
        return [key async for key in client.scan_iter(match=op.pattern, count=_SCAN_COUNT)]


class RedisBackend:
    """Opens Redis stores from URLs: what the ``tokenauth.stores`` entry points name."""

    def open(self, url: str) -> TokenStore:
        """Open a synchronous store; see :meth:`RedisStore.from_url`."""
        return RedisStore.from_url(url)

    def open_async(self, url: str) -> AsyncTokenStore:
        """Open an asynchronous store; see :meth:`AsyncRedisStore.from_url`."""
        return AsyncRedisStore.from_url(url)

    def open_counters(self, url: str) -> RedisCounters:
        """Open login counters; see :class:`~tokenauth_redis.RedisCounters`."""
        return RedisCounters.from_url(url)

    def open_async_counters(self, url: str) -> AsyncRedisCounters:
        """Open login counters for the async front door."""
        return AsyncRedisCounters.from_url(url)


backend = RedisBackend()
"""The backend registered for ``redis``, ``rediss``, ``unix``, ``redis+sentinel`` and
``redis+cluster`` URLs (and ``rediss+sentinel``, ``rediss+cluster``)."""
