"""Schema set-up and upgrades (Alembic), purging from a scheduler, and the entry point."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection, Engine

from tokenauth import (
    MAX_LEEWAY,
    ApiKeyRegistry,
    AsyncApiKeyRegistry,
    AsyncLoginCounters,
    AsyncTokenStore,
    AsyncUserRegistry,
    LoginCounters,
    TokenStore,
    UserRegistry,
)

from ._counters import AsyncSQLCounters, SQLCounters
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
from ._url import names_async_driver, parse_url

if TYPE_CHECKING:
    # Importing sqlalchemy.ext.asyncio needs greenlet, an optional extra.
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["InitResult", "SQLBackend", "backend", "init_db", "init_db_async", "purge_expired"]

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


@dataclass(frozen=True, slots=True)
class InitResult:
    """What :func:`init_db` did: the schema version found, and the one left.

    Attributes:
        before: The version found, or None when the tables were missing.
        after: The version the tables are at now.
    """

    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        """Whether tables were created or upgraded."""
        return self.before != self.after

    def __str__(self) -> str:
        """One sentence for the person who ran ``tokenauth db init``."""
        if self.before is None:
            return f"created the tokenauth tables (schema version {self.after})"
        if self.changed:
            return f"upgraded the tokenauth tables from version {self.before} to {self.after}"
        return f"the tokenauth tables are already up to date (schema version {self.after})"


def _revision(connection: Connection, schema: Schema) -> str | None:
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"version_table": schema.version_table})
    return context.get_current_revision()


def _upgrade(connection: Connection, schema: Schema, revision: str) -> InitResult:
    from alembic import command
    from alembic.config import Config

    before = _revision(connection, schema)
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["schema"] = schema
    command.upgrade(config, revision)
    return InitResult(before, _revision(connection, schema))


def init_db(
    url_or_engine: str | Engine, *, schema: Schema | None = None, revision: str = "head"
) -> InitResult:
    """Create the adapter's tables, or upgrade them to the newest version.

    Runs the adapter's Alembic migrations, recording the version in
    ``<prefix>alembic_version``; running it again is harmless.

    Args:
        url_or_engine: A store URL (its ``table_prefix`` option is honoured) or an Engine.
        schema: The tables, when an Engine is given (default prefix ``tokenauth_``).
        revision: The migration to upgrade to.

    Returns:
        What was done: tables created, upgraded, or found up to date.

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
            return _upgrade(connection, schema, revision)
    except Exception as exc:
        raise store_error(exc, "creating or upgrading the tables") from exc
    finally:
        if isinstance(url_or_engine, str):
            engine.dispose()


async def init_db_async(
    url_or_engine: str | AsyncEngine, *, schema: Schema | None = None, revision: str = "head"
) -> InitResult:
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
            return await connection.run_sync(lambda sync: _upgrade(sync, chosen, revision))
    except Exception as exc:
        raise store_error(exc, "creating or upgrading the tables") from exc
    finally:
        if isinstance(url_or_engine, str):
            await engine.dispose()


def purge_expired(url: str, *, now: int | None = None) -> int:
    """Delete expired token records in short batches: call it from a scheduler.

    Opens the store, purges every record (and refresh token) with ``expires_at <= now`` in batches
    of ``purge_batch_size`` rows (a URL option, 1000 by default), each batch its
    own transaction, and closes the store again.

    Args:
        url: The store URL.
        now: Unix time to purge up to (default: the current time less
            ``tokenauth.MAX_LEEWAY``, so that no token a front door may still
            accept inside its leeway loses its record: the stores' expiry rule).

    Returns:
        How many records were removed.

    Raises:
        ConfigurationError: A bad URL or a missing driver.
        StoreError: The database failed; batches already done stay done.
    """
    store = SQLTokenStore.from_url(url)
    try:
        cutoff = int(time.time()) - MAX_LEEWAY if now is None else now
        # Refresh tokens, and the sessions they outlived, too (not counted).
        store.purge_refresh(cutoff)
        return store.purge_expired(cutoff)
    finally:
        store.close()


class SQLBackend:
    """The ``tokenauth.stores`` entry point for ``sqlite``, ``postgresql`` and ``mysql`` URLs.

    Besides token stores it opens the persistent user and API-key registries
    (``tokenauth.open_user_registry(url)`` and friends find them here), the
    login throttle's counters (``tokenauth.open_counters(url)``) and sets up the
    schema (``tokenauth db init``).
    """

    def init_db(self, url: str) -> str:
        """Create or upgrade the tables for ``url``, sync or async; returns what it did.

        See :func:`init_db`. An async URL (``sqlite+aiosqlite://...``) is served by
        :func:`init_db_async` on a loop of its own, so call this outside a running loop
        (from a thread, when one runs).
        """
        if names_async_driver(url):
            return str(asyncio.run(init_db_async(url)))
        return str(init_db(url))

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

    def open_counters(self, url: str) -> LoginCounters:
        """Open synchronous login counters; see :meth:`SQLCounters.from_url`."""
        return SQLCounters.from_url(url)

    def open_async_counters(self, url: str) -> AsyncLoginCounters:
        """Open asynchronous login counters; see :meth:`AsyncSQLCounters.from_url`."""
        return AsyncSQLCounters.from_url(url)

    def open(self, url: str) -> TokenStore:
        """Open a synchronous store; see :meth:`SQLTokenStore.from_url`."""
        return SQLTokenStore.from_url(url)

    def open_async(self, url: str) -> AsyncTokenStore:
        """Open an asynchronous store; see :meth:`AsyncSQLTokenStore.from_url`."""
        return AsyncSQLTokenStore.from_url(url)


backend = SQLBackend()
