"""Login counters in SQL: one fixed window per key, each hit one UPSERT.

The login throttle (``tokenauth.LoginThrottle``) counts failed logins per
account and per client in fixed windows. Here each window is a row of
``<prefix>login_counters``: ``(name, hits, resets_at)``. A hit is a single
``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` (``ON DUPLICATE KEY UPDATE
... RETURNING`` on MariaDB) that continues the open window or opens a new one,
and returns the row as it left it: the database serialises concurrent hits on
one key, so each sees its own place in the window and none is lost. Taking one
back is one conditional UPDATE, forgetting one DELETE.

Windows end by the caller's clock (``resets_at`` against ``now``), as in the
other counter stores. Ended windows are purged as the counters are used: at
most once a minute per counters object, a hit is followed by a batched DELETE
of windows that ended more than a minute ago (the slack is for clocks that
differ between hosts), so the table holds about the keys counted in the last
window and a minute.

RETURNING is needed: SQLite 3.35+, PostgreSQL and MariaDB 10.5+ have it;
MySQL does not, and counters there are refused with the fix (use Redis).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, bindparam, case, delete, select, update
from sqlalchemy.engine import Dialect, Engine

from tokenauth import ConfigurationError, StoreError, Window

from ._ops import Op, Step, purge_batches
from ._schema import Schema
from ._stores import _Async, _Sync

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["AsyncSQLCounters", "SQLCounters"]

_log = logging.getLogger("tokenauth.sqlalchemy")

#: Seconds an ended window is kept before it is purged (clock skew between hosts).
EXPIRY_SLACK = 60
#: Seconds between two purges of ended windows by one counters object.
PURGE_INTERVAL = 60
#: Rows deleted per statement by a purge.
PURGE_BATCH = 1000


class CounterOps:
    """The counters' statements on ``schema.login_counters``, for one dialect.

    Args:
        schema: The tables.
        dialect: The engine's dialect name (``sqlite``, ``postgresql``, ``mysql``
            or ``mariadb``), which picks the UPSERT's form.
    """

    def __init__(self, schema: Schema, dialect: str) -> None:
        t = self.table = schema.login_counters
        self.dialect = dialect
        # Built once, with bound parameters: a hit costs the statement's execution,
        # not the building of its expression.
        self._hit = self._upsert()
        self._get = select(t.c.hits, t.c.resets_at).where(t.c.name == bindparam("key"))
        self._undo = (
            update(t)
            .where(t.c.name == bindparam("key"), t.c.resets_at > bindparam("now"), t.c.hits > 0)
            .values(hits=t.c.hits - 1)
        )
        self._reset = delete(t).where(t.c.name == bindparam("key"))

    def _upsert(self) -> Any:
        t = self.table
        now = bindparam("now", type_=BigInteger)
        opened = bindparam("opened", type_=BigInteger)  # now + the window's length
        # Both expressions read the row as it was (PostgreSQL and SQLite always;
        # MySQL and MariaDB assign left to right, and hits comes first).
        open_ = t.c.resets_at > now
        hits = case((open_, t.c.hits + 1), else_=1)
        resets = case((open_, t.c.resets_at), else_=opened)
        values = {"name": bindparam("key"), "hits": 1, "resets_at": opened}
        if self.dialect in ("postgresql", "sqlite"):
            from sqlalchemy.dialects import postgresql, sqlite

            insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
            return (
                insert(t)
                .values(values)
                .on_conflict_do_update(
                    index_elements=[t.c.name], set_={"hits": hits, "resets_at": resets}
                )
                .returning(t.c.hits, t.c.resets_at)
            )
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        return (
            mysql_insert(t)
            .values(values)
            .on_duplicate_key_update([("hits", hits), ("resets_at", resets)])
            .returning(t.c.hits, t.c.resets_at)
        )

    def hit(self, key: str, now: int, window: int) -> Op[Window]:
        params = {"key": key, "now": now, "opened": now + window}
        out = yield Step(self._hit, "counting a login", params=params)
        hits, resets_at = out.rows[0]
        return Window(int(hits), int(resets_at))

    def get(self, key: str, now: int) -> Op[Window | None]:
        out = yield Step(self._get, "reading a login counter", params={"key": key}, retry=True)
        if not out.rows:
            return None
        hits, resets_at = out.rows[0]
        return Window(int(hits), int(resets_at)) if resets_at > now else None

    def undo(self, key: str, now: int) -> Op[None]:
        params = {"key": key, "now": now}
        yield Step(self._undo, "taking back a login count", params=params)

    def reset(self, key: str) -> Op[None]:
        yield Step(self._reset, "resetting a login counter", params={"key": key})

    def purge(self, cutoff: int, batch: int = PURGE_BATCH) -> Op[int]:
        t = self.table
        return purge_batches(t.c.name, t.c.resets_at, cutoff, batch, "ended login counters")


def _dialect_name(dialect: Dialect) -> str:
    if dialect.name in ("mysql", "mariadb"):
        return "mysql"
    return dialect.name


def _refused_returning(dialect: Dialect) -> ConfigurationError | None:
    """The configuration error for a server without INSERT ... RETURNING (MySQL), if it is one.

    Known once the engine has connected; the first hit on MySQL fails at the
    server (a syntax error), and this names the cause and the fix instead.
    """
    if (
        dialect.name in ("mysql", "mariadb")
        and dialect.server_version_info is not None
        and not getattr(dialect, "is_mariadb", False)
    ):
        return ConfigurationError(
            "login counters in SQL need INSERT ... RETURNING, which MySQL lacks (SQLite "
            "3.35+, PostgreSQL and MariaDB 10.5+ have it): use redis:// counters instead"
        )
    return None


class _Purging:
    """When the next purge of ended windows is due, shared by the sync and async counters."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._next = clock()

    def due(self) -> bool:
        """True at most once per interval (a race may purge twice, which is harmless)."""
        now = self._clock()
        if now < self._next:
            return False
        self._next = now + self.interval
        return True


def _purge_failed(exc: StoreError) -> None:
    # The hit itself was counted; the ended windows wait for the next purge.
    _log.warning("could not purge ended login counters: %s", exc)


class SQLCounters(_Sync):
    """Login counters in an SQL database, for :class:`~tokenauth.TokenAuth`'s throttle.

    Open them with ``tokenauth.open_counters(url)`` on a store URL (its
    ``table_prefix`` and ``timeout`` apply), after ``tokenauth db init``
    created the table. Each hit is one UPSERT; a counter store error makes the
    login answer 503 (the throttle fails closed).

    Args:
        engine: The engine; never disposed of by the counters.
        schema: The tables (default: the ``tokenauth_`` prefix on a new MetaData).
        timeout: Each statement's deadline, as for
            :class:`~tokenauth_sqlalchemy.SQLTokenStore`.
        purge_interval: Seconds between two purges of ended windows (each after
            a hit); 0 purges after every hit.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        schema: Schema | None = None,
        timeout: float | None = None,
        purge_interval: float = PURGE_INTERVAL,
    ) -> None:
        """Create the counters; see the class docstring."""
        super().__init__(engine, schema=schema, timeout=timeout)
        self._ops = CounterOps(self.schema, _dialect_name(engine.dialect))
        self._purging = _Purging(purge_interval)

    @classmethod
    def from_url(cls, url: str) -> SQLCounters:
        """Open counters for a store URL such as ``sqlite:///auth.db``; see ``SQLTokenStore``."""
        return cls._open(url)

    def get(self, key: str, now: int) -> Window | None:
        """The open window of ``key`` at ``now``, or None (one indexed read)."""
        return self._run(self._ops.get(key, now))

    def hit(self, key: str, now: int, window: int) -> Window:
        """Count one, atomically: one UPSERT continues the open window or opens one."""
        try:
            found = self._run(self._ops.hit(key, now, window))
        except StoreError as exc:
            refused = _refused_returning(self.engine.dialect)
            if refused is not None:
                raise refused from exc
            raise
        if self._purging.due():
            try:
                self.purge_ended(now)
            except StoreError as exc:
                _purge_failed(exc)
        return found

    def undo(self, key: str, now: int) -> None:
        """Take back one hit, if ``key``'s window is open and above zero (one UPDATE)."""
        self._run(self._ops.undo(key, now))

    def reset(self, key: str) -> None:
        """Forget ``key``'s window (one DELETE)."""
        self._run(self._ops.reset(key))

    def purge_ended(self, now: int) -> int:
        """Delete the windows that ended more than a minute before ``now``; returns how many."""
        return self._run(self._ops.purge(now - EXPIRY_SLACK - 1))


class AsyncSQLCounters(_Async):
    """Login counters in SQL for :class:`~tokenauth.AsyncTokenAuth`; see :class:`SQLCounters`."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        schema: Schema | None = None,
        timeout: float | None = None,
        purge_interval: float = PURGE_INTERVAL,
    ) -> None:
        """Create the counters; see :class:`SQLCounters`."""
        super().__init__(engine, schema=schema, timeout=timeout)
        self._ops = CounterOps(self.schema, _dialect_name(engine.dialect))
        self._purging = _Purging(purge_interval)

    @classmethod
    def from_url(cls, url: str) -> AsyncSQLCounters:
        """Open counters for an async store URL; see ``AsyncSQLTokenStore.from_url``."""
        return cls._open(url)

    async def get(self, key: str, now: int) -> Window | None:
        """The open window of ``key`` at ``now``, or None (one indexed read)."""
        return await self._run(self._ops.get(key, now))

    async def hit(self, key: str, now: int, window: int) -> Window:
        """Count one, atomically: one UPSERT continues the open window or opens one."""
        try:
            found = await self._run(self._ops.hit(key, now, window))
        except StoreError as exc:
            refused = _refused_returning(self.engine.dialect)
            if refused is not None:
                raise refused from exc
            raise
        if self._purging.due():
            try:
                await self.purge_ended(now)
            except StoreError as exc:
                _purge_failed(exc)
        return found

    async def undo(self, key: str, now: int) -> None:
        """Take back one hit, if ``key``'s window is open and above zero (one UPDATE)."""
        await self._run(self._ops.undo(key, now))

    async def reset(self, key: str) -> None:
        """Forget ``key``'s window (one DELETE)."""
        await self._run(self._ops.reset(key))

    async def purge_ended(self, now: int) -> int:
        """Delete the windows that ended more than a minute before ``now``; returns how many."""
        return await self._run(self._ops.purge(now - EXPIRY_SLACK - 1))
