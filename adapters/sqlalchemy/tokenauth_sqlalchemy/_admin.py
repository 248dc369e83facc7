"""Schema set-up and upgrades (Alembic), purging from a scheduler, and the entry point."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection, Engine

from tokenauth import (
    ApiKeyRegistry,
    AsyncApiKeyRegistry,
    AsyncTokenStore,
    AsyncUserRegistry,
    TokenStore,
    UserRegistry,
)

from ._engine import make_async_engine, make_engine, store_error
from ._schema import Schema
from ._stores import (
    AsyncSQLApiKeyRegistry,
    AsyncSQLTokenStore,
    AsyncSQLUserRegistry,
    SQLApiKeyRegistry,
    SQLTokenStore,
    SQLUserRegistry,
)
from ._url import parse_url

if TYPE_CHECKING:
    # Importing sqlalchemy.ext.asyncio needs greenlet, an optional extra.
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["SQLBackend", "backend", "init_db", "init_db_async", "purge_expired"]

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _upgrade(connection: Connection, schema: Schema, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["schema"] = schema
    command.upgrade(config, revision)


def init_db(
    url_or_engine: str | Engine, *, schema: Schema | None = None, revision: str = "head"
) -> None:
    """Create the adapter's tables, or upgrade them to the newest version.

    Runs the adapter's Alembic migrations, recording the version in
    ``<prefix>alembic_version``; running it again is harmless.

    Args:
        url_or_engine: A store URL (its ``table_prefix`` option is honoured) or an Engine.
        schema: The tables, when an Engine is given (default prefix ``tokenauth_``).
        revision: The migration to upgrade to.

    Raises:
        ConfigurationError: A bad URL or a missing driver.
        StoreError: The database failed or refused the change.
    """
    if isinstance(url_or_engine, str):
        parsed = parse_url(url_or_engine)
        schema = Schema(parsed.table_prefix)
        engine = make_engine(parsed, autocommit=False)
    else:
        engine = url_or_engine
        schema = schema if schema is not None else Schema()
    try:
        with engine.begin() as connection:
            _upgrade(connection, schema, revision)
    except Exception as exc:
        raise store_error(exc, "creating or upgrading the tables") from exc
    finally:
        if isinstance(url_or_engine, str):
            engine.dispose()


async def init_db_async(
    url_or_engine: str | AsyncEngine, *, schema: Schema | None = None, revision: str = "head"
) -> None:
    """The async twin of :func:`init_db`, for an async URL or an AsyncEngine."""
    if isinstance(url_or_engine, str):
        parsed = parse_url(url_or_engine, asynchronous=True)
        schema = Schema(parsed.table_prefix)
        engine = make_async_engine(parsed, autocommit=False)
    else:
        engine = url_or_engine
        schema = schema if schema is not None else Schema()
    chosen = schema
    try:
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: _upgrade(sync, chosen, revision))
    except Exception as exc:
        raise store_error(exc, "creating or upgrading the tables") from exc
    finally:
        if isinstance(url_or_engine, str):
            await engine.dispose()


def purge_expired(url: str, *, now: int | None = None) -> int:
    """Delete expired token records in short batches: call it from a scheduler.

    Opens the store, purges every record with ``expires_at <= now`` in batches
    of ``purge_batch_size`` rows (a URL option, 1000 by default), each batch its
    own transaction, and closes the store again.

    Args:
        url: The store URL.
        now: Unix time to purge up to (default: the current time).

    Returns:
        How many records were removed.

    Raises:
        ConfigurationError: A bad URL or a missing driver.
        StoreError: The database failed; batches already done stay done.
    """
    store = SQLTokenStore.from_url(url)
    try:
        return store.purge_expired(int(time.time()) if now is None else now)
    finally:
        store.close()


class SQLBackend:
    """The ``tokenauth.stores`` entry point for ``sqlite``, ``postgresql`` and ``mysql`` URLs.

    Besides token stores it opens the persistent user and API-key registries
    (``tokenauth.open_user_registry(url)`` and friends find them here) and sets
    up the schema (``tokenauth db init``).
    """

    def init_db(self, url: str) -> None:
        """Create or upgrade the tables for ``url``; see :func:`init_db`."""
        init_db(url)

    def open_user_registry(self, url: str) -> UserRegistry:
        """Open a synchronous user registry; see :meth:`SQLUserRegistry.from_url`."""
        return SQLUserRegistry.from_url(url)

    def open_api_key_registry(self, url: str) -> ApiKeyRegistry:
        """Open a synchronous API-key registry; see :meth:`SQLApiKeyRegistry.from_url`."""
        return SQLApiKeyRegistry.from_url(url)

    def open_async_user_registry(self, url: str) -> AsyncUserRegistry:
        """Open an asynchronous user registry; see :meth:`AsyncSQLUserRegistry.from_url`."""
        return AsyncSQLUserRegistry.from_url(url)

    def open_async_api_key_registry(self, url: str) -> AsyncApiKeyRegistry:
        """Open an asynchronous API-key registry; see :meth:`AsyncSQLApiKeyRegistry.from_url`."""
        return AsyncSQLApiKeyRegistry.from_url(url)

    def open(self, url: str) -> TokenStore:
        """Open a synchronous store; see :meth:`SQLTokenStore.from_url`."""
        return SQLTokenStore.from_url(url)

    def open_async(self, url: str) -> AsyncTokenStore:
        """Open an asynchronous store; see :meth:`AsyncSQLTokenStore.from_url`."""
        return AsyncSQLTokenStore.from_url(url)


backend = SQLBackend()
