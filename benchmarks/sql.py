"""SQL store lookups side by side with a bare SQLAlchemy Core select by primary key.

For each database (SQLite file, PostgreSQL through psycopg and through asyncpg,
MariaDB through PyMySQL) one warm ``store.get(jti)`` of a store opened by URL is
timed against the floor: the same ``SELECT`` by primary key on one SQLAlchemy
connection held open in autocommit, written as application code writes it (the
statement built on each call), and against a stricter floor: the statement built
once and executed with a bound parameter, which is what the store does. The goal
(at most 1.3x) is judged against the stricter floor.
Rounds are interleaved, so load from elsewhere falls on both alike.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tokenauth import TokenRecord

from ._timing import Batch, Row, interleaved, loop

POSTGRES_URL = os.environ.get(
    "TOKENAUTH_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MARIADB_URL = os.environ.get("TOKENAUTH_BENCH_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/test")

FLOOR = "floor: Core select by key, autocommit connection"
PREBUILT = "floor: prebuilt Core select, bound parameter"
STORE = "tokenauth store.get, warm"


def _with(url: str, **query: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).update_query_dict(query).render_as_string(hide_password=False)


@contextmanager
def tables(base: str) -> Iterator[tuple[str, Any]]:
    """A table prefix of the run's own on ``base``: its store URL and Schema; dropped after."""
    import sqlalchemy

    from tokenauth_sqlalchemy import Schema, init_db

    prefix = f"bench_{secrets.token_hex(4)}_"
    url = _with(base, table_prefix=prefix)
    init_db(url)
    schema = Schema(prefix)
    try:
        yield url, schema
    finally:
        engine = sqlalchemy.create_engine(base)
        schema.metadata.drop_all(engine)
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(f"DROP TABLE IF EXISTS {schema.version_table}"))
            if connection.dialect.name == "postgresql":
                notify = f"{prefix}tokens_notify()"
                connection.execute(sqlalchemy.text(f"DROP FUNCTION IF EXISTS {notify}"))
        engine.dispose()


def _record() -> TokenRecord:
    now = int(time.time())
    return TokenRecord("bench-jti", "alice", now, now + 3600, "password")


def _sync_cases(base: str, n: int) -> Iterator[dict[str, Batch]]:
    import sqlalchemy

    from tokenauth import open_store

    with tables(base) as (url, schema):
        store = open_store(url)
        engine = sqlalchemy.create_engine(base)
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            record = _record()
            store.add(record)
            t = schema.tokens
            jti = record.jti
            prebuilt = sqlalchemy.select(t).where(t.c.jti == sqlalchemy.bindparam("key"))

            def floor() -> object:
                return conn.execute(sqlalchemy.select(t).where(t.c.jti == jti)).first()

            yield {
                FLOOR: loop(floor, n),
                PREBUILT: loop(lambda: conn.execute(prebuilt, {"key": jti}).first(), n),
                STORE: loop(lambda: store.get(jti), n),
            }
        finally:
            conn.close()
            engine.dispose()
            store.close()


def _async_batch(
    loop_: asyncio.AbstractEventLoop, op: Callable[[], Awaitable[object]], n: int
) -> Batch:
    async def many() -> None:
        for _ in range(n):
            await op()

    def batch() -> int:
        loop_.run_until_complete(many())
        return n

    return batch


def _async_cases(base: str, driver: str, n: int) -> Iterator[dict[str, Batch]]:
    import sqlalchemy
    from sqlalchemy.ext.asyncio import create_async_engine

    from tokenauth import open_async_store

    runner = asyncio.new_event_loop()
    with tables(base) as (url, schema), _closing(runner):
        async_base = _with_driver(base, driver)
        store = open_async_store(_with_driver(url, driver))
        engine = create_async_engine(async_base, isolation_level="AUTOCOMMIT")
        conn = runner.run_until_complete(engine.connect().start())
        try:
            record = _record()
            runner.run_until_complete(store.add(record))
            t = schema.tokens
            jti = record.jti
            prebuilt = sqlalchemy.select(t).where(t.c.jti == sqlalchemy.bindparam("key"))

            async def floor() -> object:
                return (await conn.execute(sqlalchemy.select(t).where(t.c.jti == jti))).first()

            async def bound() -> object:
                return (await conn.execute(prebuilt, {"key": jti})).first()

            yield {
                FLOOR: _async_batch(runner, floor, n),
                PREBUILT: _async_batch(runner, bound, n),
                STORE: _async_batch(runner, lambda: store.get(jti), n),
            }
        finally:
            runner.run_until_complete(conn.close())
            runner.run_until_complete(engine.dispose())
            runner.run_until_complete(store.aclose())


@contextmanager
def _closing(loop_: asyncio.AbstractEventLoop) -> Iterator[None]:
    try:
        yield
    finally:
        loop_.close()


def _with_driver(url: str, driver: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return parsed.set(drivername=f"{parsed.get_backend_name()}+{driver}").render_as_string(
        hide_password=False
    )


def lookup_rows(*, rounds: int, n: int) -> tuple[dict[str, dict[str, Row]], list[str]]:
    """Each database's rows (floor, prebuilt floor, store), and notes on what was skipped."""
    results: dict[str, dict[str, Row]] = {}
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        plans: list[tuple[str, Callable[[], Iterator[dict[str, Batch]]]]] = [
            ("SQLite", lambda: _sync_cases(f"sqlite:///{tmp}/bench.db", n * 4)),
            ("PostgreSQL (psycopg)", lambda: _sync_cases(POSTGRES_URL, n)),
            ("PostgreSQL (asyncpg)", lambda: _async_cases(POSTGRES_URL, "asyncpg", n)),
            ("MariaDB (PyMySQL)", lambda: _sync_cases(MARIADB_URL, n)),
        ]
        for label, plan in plans:
            try:
                for cases in plan():
                    results[label] = interleaved(cases, rounds=rounds, group=label)
            except Exception as exc:  # a missing server or driver skips its rows
                notes.append(f"{label} skipped: {type(exc).__name__}: {exc}"[:300])
    return results, notes


VIEW_WARM = "tokenauth warm (PostgreSQL, local view)"


def view_rows(*, rounds: int, pool: int, n: int) -> tuple[dict[str, Row], str]:
    """RS256 warm validations against PostgreSQL with the local view, beside the direct read."""
    from tokenauth import JWTValidator, open_store

    from .validation import issue_tokens, repeats

    try:
        with tables(POSTGRES_URL) as (url, _):
            plain = open_store(url)
            viewed: Any = open_store(f"{url}&local_view=true")
            try:
                deadline = time.monotonic() + 10
                while not viewed._view.current:
                    if time.monotonic() > deadline:
                        return {}, "the PostgreSQL local view never started listening"
                    time.sleep(0.01)
                tokens = issue_tokens("RS256", pool, plain)
                keys = tokens.keys
                cases: dict[str, Batch] = {
                    "tokenauth warm (PostgreSQL, direct read)": repeats(
                        JWTValidator(keys), plain, tokens, max(1, n // 20)
                    ),
                    VIEW_WARM: repeats(JWTValidator(keys), viewed, tokens, n * 20),
                }
                return interleaved(cases, rounds=rounds, group="PostgreSQL view"), ""
            finally:
                viewed.close()
                plain.close()
    except Exception as exc:  # a missing server or driver skips the rows
        return {}, f"PostgreSQL local view skipped: {type(exc).__name__}: {exc}"[:300]


def describe(results: dict[str, dict[str, Row]]) -> str:
    lines = [
        "| database | floor µs | prebuilt floor µs | store.get µs | store / floor "
        "| store / prebuilt |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, rows in results.items():
        floor, prebuilt, store = rows[FLOOR].us, rows[PREBUILT].us, rows[STORE].us
        lines.append(
            f"| {label} | {floor:.1f} | {prebuilt:.1f} | {store:.1f} | {store / floor:.2f}x "
            f"| {store / prebuilt:.2f}x |"
        )
    return "\n".join(lines)
