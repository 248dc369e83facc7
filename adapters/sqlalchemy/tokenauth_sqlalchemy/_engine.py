"""Engines with bounded timeouts, and the one place driver errors become StoreErrors."""

from __future__ import annotations

import asyncio
import math
import os
import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine, create_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, QueuePool

from tokenauth import ConfigurationError, StoreError, StoreUnreachableError

from ._url import INSTALL_HINTS, StoreURL

if TYPE_CHECKING:
    # Importing sqlalchemy.ext.asyncio needs greenlet, an optional extra.
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["make_async_engine", "make_engine", "store_error"]


def _options(url: StoreURL, *, asynchronous: bool, autocommit: bool) -> dict[str, Any]:
    """Engine keyword arguments: pool and driver timeouts unless the URL sets its own."""
    given = set(url.url.query)
    timeout = url.timeout
    connect_args: dict[str, Any] = {}
    # No pool_pre_ping: it costs a round trip on every checkout. A pooled connection
    # the server dropped is found dead by the statement itself, and the drivers in
    # _run replace it and run a read again once (never a write).
    options: dict[str, Any] = {"connect_args": connect_args}
    if autocommit:
        # Every operation is one statement at a time, so the database's own autocommit
        # makes each atomic without a BEGIN and a COMMIT around it; and there is no
        # transaction to roll back when a connection goes back to the pool.
        options.update(
            isolation_level="AUTOCOMMIT", pool_reset_on_return=None, skip_autocommit_rollback=True
        )
    if url.driver in ("pysqlite", "aiosqlite"):
        # sqlite3's busy timeout: how long a writer waits for another's lock.
        connect_args["timeout"] = timeout
        if url.in_memory_sqlite:
            # An in-memory database lives in one connection: share exactly that one,
            # across threads, one user at a time (the pool's queue serialises them).
            connect_args["check_same_thread"] = False
            options["poolclass"] = AsyncAdaptedQueuePool if asynchronous else QueuePool
            options["pool_size"] = 1
            options["max_overflow"] = 0
        else:
            # Connections to a file cost an open(), not a round trip: keep a few, and
            # let a burst of threads open more rather than wait for the pool.
            options["pool_size"] = 8
            options["max_overflow"] = 56
    elif url.driver in ("psycopg", "pymysql", "aiomysql"):
        # libpq's connect_timeout bounds the whole connection set-up (whole seconds);
        # PyMySQL's and aiomysql's bound the TCP connect.
        connect_args.setdefault("connect_timeout", max(1, math.ceil(timeout)))
        if url.driver == "psycopg":
            # Drop a connection whose sent data goes unacknowledged this long (a
            # network partition) rather than wait for TCP's own minutes-long give-up.
            connect_args.setdefault("tcp_user_timeout", max(1, math.ceil(timeout * 1000)))
        if url.driver == "pymysql":
            # Without these PyMySQL waits forever on a server that stopped answering,
            # even for the greeting right after the TCP connect.
            connect_args.update(read_timeout=timeout, write_timeout=timeout)
    elif url.driver == "asyncpg":
        # asyncpg's timeout covers the whole connect; command_timeout each statement.
        connect_args.update(timeout=timeout, command_timeout=timeout)
    for name in given:
        connect_args.pop(name, None)  # the URL's own driver settings win
    options["pool_timeout"] = timeout
    return options


def _sqlite_wal(engine: Engine) -> None:
    """Put a file database in WAL mode on every new connection.

    In WAL mode readers never wait for a writer nor block one, so lookups go on
    while a login or a purge writes. The mode is a property of the file and
    stays once set; asking again on a connection to a WAL file changes nothing.
    """

    @event.listens_for(engine, "connect")
    def _wal(dbapi_connection: Any, connection_record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        finally:
            cursor.close()


def _driver_missing(url: StoreURL, exc: BaseException) -> ConfigurationError:
    hint = INSTALL_HINTS.get(url.driver, f"pip install {url.driver}")
    return ConfigurationError(
        f"the database driver {url.driver!r} for {url.database} is not available "
        f"({type(exc).__name__}: {exc}); {hint}"
    )


def _create_private_sqlite_file(url: StoreURL) -> None:
    """Create a missing SQLite database file readable by its owner only.

    The file holds password hashes and API-key digests; sqlite3 would create it
    with the process umask (often 0644, world-readable). An empty file is a
    valid empty database, and SQLite gives its journal and WAL files the mode of
    the database file. An existing file is left as it is.
    """
    path = url.url.database
    if url.database != "sqlite" or url.in_memory_sqlite or not path or path.startswith("file:"):
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError:
        return  # it exists, or the driver will say why it cannot be opened
    os.close(fd)


def make_engine(url: StoreURL, *, autocommit: bool = True) -> Engine:
    """Create a synchronous engine for ``url`` with bounded timeouts.

    Args:
        url: The store URL.
        autocommit: Run each statement in the database's autocommit (the stores'
            way); False for schema changes, which want a transaction.

    Raises:
        ConfigurationError: The driver is not installed, unknown, or async-only.
    """
    _create_private_sqlite_file(url)
    try:
        engine = create_engine(url.url, **_options(url, asynchronous=False, autocommit=autocommit))
    except ImportError as exc:
        raise _driver_missing(url, exc) from exc
    except (sa_exc.NoSuchModuleError, sa_exc.ArgumentError, sa_exc.InvalidRequestError) as exc:
        raise ConfigurationError(f"cannot use {url.database} URL: {exc}") from exc
    if url.database == "sqlite" and not url.in_memory_sqlite:
        _sqlite_wal(engine)
    return engine


def make_async_engine(url: StoreURL, *, autocommit: bool = True) -> AsyncEngine:
    """Create an asynchronous engine for ``url`` with bounded timeouts.

    Args:
        url: The store URL.
        autocommit: As for :func:`make_engine`.

    Raises:
        ConfigurationError: The driver or greenlet is not installed, or the
            driver is not an async one.
    """
    _create_private_sqlite_file(url)
    try:
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(
            url.url, **_options(url, asynchronous=True, autocommit=autocommit)
        )
    except (ImportError, ValueError) as exc:
        if "greenlet" not in str(exc):
            raise _driver_missing(url, exc) from exc
        raise ConfigurationError(
            "async SQL stores need greenlet: pip install 'tokenauth-sqlalchemy[async]' "
            "(or the async-postgresql or async-mysql extra)"
        ) from exc
    except (sa_exc.NoSuchModuleError, sa_exc.ArgumentError, sa_exc.InvalidRequestError) as exc:
        raise ConfigurationError(
            f"cannot use {url.database} URL asynchronously: {exc} "
            "(use an async driver, e.g. sqlite+aiosqlite, postgresql+asyncpg, mysql+aiomysql)"
        ) from exc
    if url.database == "sqlite" and not url.in_memory_sqlite:
        _sqlite_wal(engine.sync_engine)
    return engine


def _missing_table(text: str) -> bool:
    return (
        "no such table" in text  # SQLite
        or ("relation" in text and "does not exist" in text)  # PostgreSQL
        or ("table" in text and "doesn't exist" in text)  # MySQL, MariaDB
    )


#: How each server says that the database named in the URL does not exist.
_MISSING_DATABASE = (
    re.compile(r'database "([^"]+)" does not exist'),  # PostgreSQL (psycopg, asyncpg)
    re.compile(r"unknown database '([^']+)'"),  # MySQL, MariaDB (error 1049)
)


def _missing_database(text: str) -> str | None:
    for pattern in _MISSING_DATABASE:
        found = pattern.search(text)
        if found:
            return found.group(1)
    return None


def store_error(exc: BaseException, doing: str) -> StoreError:
    """The StoreError to raise (``from exc``) for a driver or pool failure.

    Connection failures, timeouts and a server gone away are
    :class:`~tokenauth.StoreUnreachableError`; anything else is a plain
    :class:`~tokenauth.StoreError`. The message never carries the statement's
    parameters (they may hold a subject or a digest); the chained exception does.
    """
    if isinstance(exc, sa_exc.TimeoutError):
        return StoreUnreachableError(f"{doing}: no database connection came free in time")
    if isinstance(exc, sa_exc.DBAPIError):
        cause = type(exc.orig).__name__
        text = str(exc.orig).lower()
        if _missing_table(text):
            return StoreError(
                f"{doing}: the tokenauth tables are missing ({cause}); create them with: "
                "tokenauth db init --store URL"
            )
        database = _missing_database(text)
        if database is not None:
            # Not "unreachable": the server answered, and waiting will not make it exist.
            return StoreError(
                f"{doing}: the server has no database named {database!r} ({cause}); create "
                f"it (PostgreSQL: createdb {database}; MySQL/MariaDB: CREATE DATABASE "
                f"{database}), then run: tokenauth db init --store URL"
            )
        if exc.connection_invalidated or isinstance(
            exc, (sa_exc.OperationalError, sa_exc.InterfaceError)
        ):
            return StoreUnreachableError(f"{doing}: the database did not answer ({cause})")
        return StoreError(f"{doing}: the database refused the statement ({cause})")
    if isinstance(exc, (OSError, asyncio.TimeoutError)):
        return StoreUnreachableError(f"{doing}: the database did not answer ({type(exc).__name__})")
    return StoreError(f"{doing}: {type(exc).__name__}")
