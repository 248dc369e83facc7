"""tokenauth-sqlalchemy: a token store and user/API-key registries in an SQL database.

SQLAlchemy 2 on SQLite, PostgreSQL, MySQL and MariaDB, sync and async::

    from tokenauth import open_store
    from tokenauth_sqlalchemy import init_db

    init_db("postgresql+psycopg://app@db/app")          # once, or on each deploy
    store = open_store("postgresql+psycopg://app@db/app")

Login counters for the login throttle: ``tokenauth.open_counters(url)`` on the
same URLs (SQLite, PostgreSQL, MariaDB).

From a shell: ``tokenauth db init --store URL`` and ``tokenauth tokens purge --store URL``
(or ``python -m tokenauth_sqlalchemy init URL`` / ``purge URL`` where only this
package is installed).
"""

from __future__ import annotations

from ._admin import InitResult, SQLBackend, backend, init_db, init_db_async, purge_expired
from ._counters import AsyncSQLCounters, SQLCounters
from ._schema import DEFAULT_PREFIX, Schema
from ._stores import (
    AsyncSQLApiKeyRegistry,
    AsyncSQLTokenStore,
    AsyncSQLUserRegistry,
    SQLApiKeyRegistry,
    SQLTokenStore,
    SQLUserRegistry,
)

__all__ = [
    "DEFAULT_PREFIX",
    "AsyncSQLApiKeyRegistry",
    "AsyncSQLCounters",
    "AsyncSQLTokenStore",
    "AsyncSQLUserRegistry",
    "InitResult",
    "SQLApiKeyRegistry",
    "SQLBackend",
    "SQLCounters",
    "SQLTokenStore",
    "SQLUserRegistry",
    "Schema",
    "backend",
    "init_db",
    "init_db_async",
    "purge_expired",
]
