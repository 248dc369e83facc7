"""Store URLs: split the adapter's own options off, pick a driver, set bounded timeouts."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from tokenauth import ConfigurationError

from ._schema import DEFAULT_PREFIX
from ._view import DEFAULT_MAX_LAG, DEFAULT_VIEW_SIZE

__all__ = ["DEFAULT_TIMEOUT", "StoreURL", "parse_url"]

_N = TypeVar("_N", int, float)

#: Seconds to wait for a connection, from the server or from the pool, by default.
DEFAULT_TIMEOUT = 5.0

#: The adapter's options, taken out of the query string before SQLAlchemy sees it.
_OPTIONS = (
    "table_prefix",
    "purge_batch_size",
    "timeout",
    "local_view",
    "local_view_size",
    "local_view_max_lag",
)
_LOCAL_VIEW_OPTIONS = ("local_view", "local_view_size", "local_view_max_lag")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")

#: The driver used when a URL names only the database (``postgresql://``).
_SYNC_DRIVERS = {"sqlite": "pysqlite", "postgresql": "psycopg", "mysql": "pymysql"}
_ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg", "mysql": "aiomysql"}
#: Drivers that only work asynchronously (SQLAlchemy's greenlet bridge).
_ASYNC_ONLY = frozenset([*_ASYNC_DRIVERS.values(), "psycopg_async", "asyncmy"])

#: What to ``pip install`` for each driver, for the error when it is missing.
INSTALL_HINTS = {
    "pysqlite": "use a Python built with its sqlite3 module",
    "psycopg": "pip install 'tokenauth-sqlalchemy[postgresql]'",
    "pymysql": "pip install 'tokenauth-sqlalchemy[mysql]'",
    "aiosqlite": "pip install 'tokenauth-sqlalchemy[async]'",
    "asyncpg": "pip install 'tokenauth-sqlalchemy[async-postgresql]'",
    "aiomysql": "pip install 'tokenauth-sqlalchemy[async-mysql]'",
}


@dataclass(frozen=True, slots=True)
class StoreURL:
    """A store URL taken apart.

    Attributes:
        url: The URL for SQLAlchemy: the driver made explicit, the adapter's
            options removed, every other query parameter kept for the driver.
        database: ``"sqlite"``, ``"postgresql"`` or ``"mysql"`` (MariaDB included).
        driver: The DBAPI driver name, e.g. ``"psycopg"``.
        table_prefix: Prefix of the adapter's tables.
        purge_batch_size: Rows deleted per transaction when purging.
        timeout: Seconds to wait for a connection (server and pool).
        local_view: Keep a process-local view of token records, kept exact by
            PostgreSQL's LISTEN/NOTIFY (PostgreSQL only; token stores only).
        local_view_size: How many records the local view keeps.
        local_view_max_lag: Seconds the local view may go without proof that it
            is current before it stops answering.
    """

    url: URL
    database: str
    driver: str
    table_prefix: str = DEFAULT_PREFIX
    purge_batch_size: int = 1000
    timeout: float = DEFAULT_TIMEOUT
    local_view: bool = False
    local_view_size: int = DEFAULT_VIEW_SIZE
    local_view_max_lag: float = DEFAULT_MAX_LAG

    @property
    def in_memory_sqlite(self) -> bool:
        """True for an SQLite database that lives in one connection's memory."""
        if self.database != "sqlite":
            return False
        return self.url.database in (None, "", ":memory:")


def names_async_driver(url: str) -> bool:
    """Whether ``url`` names an async-only driver, such as ``sqlite+aiosqlite``."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return False
    return parsed.drivername.lower().partition("+")[2] in _ASYNC_ONLY


def parse_url(url: str, *, asynchronous: bool = False) -> StoreURL:
    """Split a store URL into SQLAlchemy's URL and the adapter's options.

    ``postgres`` is read as ``postgresql``; ``mariadb`` URLs keep SQLAlchemy's
    MariaDB dialect. A URL without a driver gets the adapter's default driver
    (psycopg, PyMySQL, sqlite3; asyncpg, aiomysql, aiosqlite when asynchronous).
    Query parameters other than the adapter's options go to the driver.

    Args:
        url: e.g. ``postgresql+psycopg://user@host/db?table_prefix=auth_``.
        asynchronous: Pick an async driver when the URL names none.

    Returns:
        The parts.

    Raises:
        ConfigurationError: Not an SQL URL, an unknown or misspelt adapter option,
            an option given twice, or a bad option value.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(f"not a valid SQL store URL: {exc}") from None
    dialect, _, driver = parsed.drivername.lower().partition("+")
    if dialect == "postgres":
        dialect = "postgresql"
    family = "mysql" if dialect == "mariadb" else dialect
    if family not in _SYNC_DRIVERS:
        raise ConfigurationError(
            f"not an SQL store URL: scheme {parsed.drivername!r} (use sqlite, postgresql or mysql)"
        )
    if not driver:
        driver = (_ASYNC_DRIVERS if asynchronous else _SYNC_DRIVERS)[family]
    elif not asynchronous and driver in _ASYNC_ONLY:
        # Otherwise SQLAlchemy fails at the first statement with MissingGreenlet.
        sync = dialect if family == "sqlite" else f"{dialect}+{_SYNC_DRIVERS[family]}"
        raise ConfigurationError(
            f"{parsed.drivername} is an async driver, and this use is synchronous (the "
            f"tokenauth command, SQLTokenStore, open_store); use the same URL with the "
            f"scheme {sync!r} in place of {parsed.drivername!r}: it opens the same database"
        )
    options: dict[str, str] = {}
    for key, value in parsed.query.items():
        if key in _OPTIONS:
            if not isinstance(value, str):
                raise ConfigurationError(f"the store option {key!r} is given more than once")
            options[key] = value
            continue
        near = difflib.get_close_matches(key, _OPTIONS, n=1, cutoff=0.8)
        if near:
            raise ConfigurationError(f"unknown store option {key!r}; did you mean {near[0]!r}?")
    sa_url = parsed.set(drivername=f"{dialect}+{driver}").difference_update_query(_OPTIONS)
    kwargs: dict[str, Any] = {}
    if "table_prefix" in options:
        kwargs["table_prefix"] = options["table_prefix"]
    if "purge_batch_size" in options:
        size = _number(options["purge_batch_size"], "purge_batch_size", int)
        if not 1 <= size <= 100_000:
            raise ConfigurationError("purge_batch_size must be between 1 and 100000")
        kwargs["purge_batch_size"] = size
    if "timeout" in options:
        timeout = _number(options["timeout"], "timeout", float)
        if not 0 < timeout <= 3600:
            raise ConfigurationError("timeout must be more than 0 and at most 3600 seconds")
        kwargs["timeout"] = timeout
    if "local_view" in options:
        flag = options["local_view"].lower()
        if flag not in _TRUE + _FALSE:
            raise ConfigurationError(f"local_view must be true or false, not {flag!r}")
        kwargs["local_view"] = flag in _TRUE
    if "local_view_size" in options:
        size = _number(options["local_view_size"], "local_view_size", int)
        if not 1 <= size <= 10_000_000:
            raise ConfigurationError("local_view_size must be between 1 and 10000000")
        kwargs["local_view_size"] = size
    if "local_view_max_lag" in options:
        lag = _number(options["local_view_max_lag"], "local_view_max_lag", float)
        if not 0 < lag <= 60:
            raise ConfigurationError(
                "local_view_max_lag must be more than 0 and at most 60 seconds"
            )
        kwargs["local_view_max_lag"] = lag
    if family != "postgresql" and any(name in options for name in _LOCAL_VIEW_OPTIONS):
        raise ConfigurationError(
            f"the local view follows PostgreSQL's LISTEN/NOTIFY; {family} has no such "
            "thing: drop the local_view options from this URL (or use PostgreSQL or Redis)"
        )
    return StoreURL(url=sa_url, database=family, driver=driver, **kwargs)


def _number(value: str, name: str, kind: type[_N]) -> _N:
    try:
        number = kind(value)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, not {value!r}") from None
    if number != number:  # NaN compares unequal to itself and to every bound
        raise ConfigurationError(f"{name} must be a number, not {value!r}")
    return number
