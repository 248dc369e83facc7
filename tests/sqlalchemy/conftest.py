"""Databases for the SQL adapter's tests: SQLite files, PostgreSQL and MariaDB.

Each test that asks for ``db`` gets its own table prefix, so tests never see
each other's rows; the tables are created through the adapter's migrations and
dropped when the test ends.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, text
from sqlalchemy.engine import Engine, make_url

from tests.services import MARIADB_URL, POSTGRES_URL, unavailable
from tests.sqlalchemy.proxy import Proxy
from tokenauth_sqlalchemy import Schema, init_db

#: Backends by name: the sync URL (None for SQLite, which lives in tmp_path) and
#: the async driver to use with the same database.
BACKENDS = {
    "sqlite": (None, "aiosqlite"),
    "postgresql": (POSTGRES_URL, "asyncpg"),
    "postgresql-psycopg-async": (POSTGRES_URL, "psycopg"),
    "mariadb": (MARIADB_URL, "aiomysql"),
}


def with_driver(url: str, driver: str) -> str:
    """``url`` with its driver replaced."""
    parsed = make_url(url)
    return parsed.set(drivername=f"{parsed.get_backend_name()}+{driver}").render_as_string(
        hide_password=False
    )


def with_query(url: str, **query: str) -> str:
    """``url`` with query parameters added."""
    return make_url(url).update_query_dict(query).render_as_string(hide_password=False)


@functools.cache
def _reachable(url: str) -> str | None:
    """None if the database answers, else why not (checked once per run)."""
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        engine.dispose()
    return None


def server_url(backend: str) -> str:
    """The sync URL of a server backend, or skip (fail under CI) when it is down."""
    url = BACKENDS[backend][0]
    assert url is not None
    why = _reachable(url)
    if why is not None:
        unavailable(backend, why)
    return url


def fresh_prefix() -> str:
    """A table prefix no other test uses."""
    return f"t{uuid.uuid4().hex[:12]}_"


@dataclass
class Db:
    """One test's tables in one database.

    Attributes:
        url: Sync store URL, with the test's ``table_prefix``.
        async_url: The same database through the backend's async driver.
        engine: A plain sync engine for set-up and inspection.
        schema: The test's tables.
    """

    url: str
    async_url: str
    engine: Engine
    schema: Schema

    def clear(self) -> None:
        """Delete every row of the test's tables."""
        with self.engine.begin() as conn:
            for table in self.schema.tables:
                conn.execute(delete(table))

    def drop(self) -> None:
        """Drop the test's tables, their version table and (PostgreSQL) notify function."""
        with self.engine.begin() as conn:
            self.schema.metadata.drop_all(conn)
            conn.execute(text(f"DROP TABLE IF EXISTS {self.schema.version_table}"))
            if conn.dialect.name == "postgresql":
                conn.execute(text(f"DROP FUNCTION IF EXISTS {self.schema.prefix}tokens_notify()"))


def make_db(backend: str, tmp_path: Path) -> Db:
    """Create a prefix's tables (by migration) on ``backend``."""
    base, async_driver = BACKENDS[backend]
    base = f"sqlite:///{tmp_path / 'tokens.db'}" if base is None else server_url(backend)
    prefix = fresh_prefix()
    url = with_query(base, table_prefix=prefix)
    init_db(url)
    return Db(
        url=url,
        async_url=with_driver(url, async_driver),
        engine=create_engine(base),
        schema=Schema(prefix),
    )


@pytest.fixture
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """Tables for this test on the backend named by the test class's ``backend``."""
    backend = getattr(request.cls, "backend", None) or request.param
    database = make_db(backend, tmp_path)
    try:
        yield database
    finally:
        database.drop()
        database.engine.dispose()


@pytest.fixture
def proxy(db: Db) -> Iterator[Proxy]:
    """A loopback proxy in front of the test's database server, to cut, stall and restore."""
    target = make_url(db.url)
    with Proxy((target.host or "127.0.0.1", target.port or 0)) as running:
        yield running


def via(url: str, proxy: Proxy, timeout: float) -> str:
    """``url`` through ``proxy``, with the adapter's ``timeout`` option."""
    parsed = make_url(url).set(host="127.0.0.1", port=proxy.port)
    return with_query(parsed.render_as_string(hide_password=False), timeout=f"{timeout:g}")
