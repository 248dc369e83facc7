"""The SQL adapter's own promises beyond the contracts: schema, migrations, purging, races."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.sqlalchemy.conftest import Db, with_query
from tokenauth import (
    AlreadyExistsError,
    ApiKeyRecord,
    DuplicateTokenError,
    StoreError,
    StoreUnreachableError,
    TokenRecord,
    UserRecord,
    open_store,
)
from tokenauth_sqlalchemy import (
    AsyncSQLTokenStore,
    Schema,
    SQLApiKeyRegistry,
    SQLTokenStore,
    SQLUserRegistry,
    init_db,
    init_db_async,
    purge_expired,
)
from tokenauth_sqlalchemy.__main__ import main

ALL = ["sqlite", "postgresql", "mariadb"]
HASH = "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"


def _record(jti: str, subject: str = "alice", *, issued: int = 0, ttl: int = 3600) -> TokenRecord:
    issued = issued or int(time.time())
    return TokenRecord(jti, subject, issued, issued + ttl, "password")


def _race(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in n threads released at once; results or exceptions, in order."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.parametrize("db", ALL, indirect=True)
def test_migrations_build_exactly_the_declared_schema(db: Db) -> None:
    """After init_db the database matches Schema's MetaData: no table, column or index differs."""
    prefix = db.schema.prefix

    def ours(name: str | None, kind: str, parent: Any) -> bool:
        if kind == "table":
            return bool(name and name.startswith(prefix) and name != db.schema.version_table)
        return True

    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_name": ours, "compare_type": False}
        )
        assert compare_metadata(context, db.schema.metadata) == []
        indexes = {i["name"] for i in inspect(conn).get_indexes(db.schema.tokens.name)}
    assert {f"{prefix}tokens_subject_issued_idx", f"{prefix}tokens_expires_idx"} <= indexes
    init_db(db.url)  # a second run is harmless


@pytest.mark.parametrize("db", ALL, indirect=True)
def test_names_are_exact_not_folded(db: Db) -> None:
    """Zoë, Zoe, zoe and 'Zoe ' are four users, listed in code-point order."""
    users = SQLUserRegistry(db.engine, schema=db.schema)
    names = ["Zoë", "Zoe", "zoe", "Zoe "]
    for name in names:
        users.add_user(UserRecord(name, HASH, 1))
    with pytest.raises(AlreadyExistsError):
        users.add_user(UserRecord("Zoë", HASH, 2))
    assert [u.username for u in users.list_users()] == sorted(names)
    assert users.get_user("ZOE") is None
    store = SQLTokenStore(db.engine, schema=db.schema)
    store.add(_record("Ab", "Zoë"))
    assert store.get("ab") is None
    assert store.list_subject("Zoe") == []
    assert store.remove_subject("Zoë") == 1


@pytest.mark.parametrize("db", ALL, indirect=True)
def test_purge_works_in_batches(db: Db) -> None:
    """A purge in small batches removes every expired record and nothing else."""
    now = int(time.time())
    store = SQLTokenStore.from_url(with_query(db.url, purge_batch_size="4"))
    try:
        assert store.purge_batch_size == 4
        for i in range(25):
            store.add(_record(f"old-{i:02}", issued=now - 7200))
        live = [_record(f"live-{i}") for i in range(3)]
        for record in live:
            store.add(record)
        assert store.purge_expired(now) == 25
        assert store.list_subject("alice") == live
        assert purge_expired(db.url, now=now) == 0
        store.add(_record("old-x", issued=now - 7200))
        assert purge_expired(db.url) == 1
    finally:
        store.close()


@pytest.mark.parametrize("db", ALL, indirect=True)
def test_one_of_many_adds_of_a_jti_wins(db: Db) -> None:
    """Concurrent adds of one jti: one succeeds, the rest get DuplicateTokenError, row unchanged."""
    store = open_store(db.url)
    try:
        results = _race(8, lambda i: store.add(_record("same", f"user-{i}")))
        winners = [i for i, r in enumerate(results) if r is None]
        assert len(winners) == 1
        assert all(isinstance(r, DuplicateTokenError) for r in results if r is not None)
        stored = store.get("same")
        assert stored is not None
        assert stored.subject == f"user-{winners[0]}"
    finally:
        store.close()


@pytest.mark.parametrize("db", ALL, indirect=True)
def test_one_of_many_revocations_wins(db: Db) -> None:
    """Concurrent revocations of one key: exactly one is told it revoked it."""
    keys = SQLApiKeyRegistry(db.engine, schema=db.schema)
    keys.add_key(ApiKeyRecord("k", "alice", "", "a" * 64, 1))
    results = _race(8, lambda i: keys.revoke_key("k", 100 + i))
    assert results.count(True) == 1
    assert results.count(False) == 7
    revoked = keys.get_key("k")
    assert revoked is not None
    assert revoked.revoked_at == 100 + results.index(True)


@pytest.mark.parametrize("db", ALL, indirect=True)
def test_logout_everywhere_during_logins(db: Db) -> None:
    """Logins racing a logout-everywhere: every token is either counted as removed or kept."""
    store = open_store(db.url)
    try:
        for i in range(10):
            store.add(_record(f"before-{i}"))

        def work(i: int) -> int:
            if i == 0:
                return store.remove_subject("alice")
            for j in range(5):
                store.add(_record(f"during-{i}-{j}"))
            return 0

        results = _race(4, work)
        assert not any(isinstance(r, Exception) for r in results), results
        removed = results[0]
        left = store.list_subject("alice")
        assert removed >= 10
        assert removed + len(left) == 10 + 3 * 5
        assert not any(r.jti.startswith("before-") for r in left)
    finally:
        store.close()


def test_missing_tables_say_how_to_create_them(tmp_path: Any) -> None:
    """A database without the tables raises StoreError naming the init command."""
    store = open_store(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        with pytest.raises(StoreError, match="tokenauth db init --store URL") as info:
            store.get("x")
        assert not isinstance(info.value, StoreUnreachableError)
    finally:
        store.close()


def test_command_line_init_and_purge(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """python -m tokenauth_sqlalchemy init/purge create the tables and purge; errors exit 1."""
    url = f"sqlite:///{tmp_path / 'cli.db'}?table_prefix=cli_"
    assert main(["init", url]) == 0
    assert main(["init", url]) == 0
    store = open_store(url)
    try:
        store.add(_record("gone", issued=1000, ttl=1))
    finally:
        store.close()
    assert main(["purge", url]) == 0
    assert "purged 1 expired" in capsys.readouterr().out
    assert main(["init", "sqlite:///x.db?table_prefx=a"]) == 1
    assert "table_prefix" in capsys.readouterr().err


def test_tables_merge_into_the_applications_metadata() -> None:
    """Schema can put its tables on the application's own MetaData."""
    mine = MetaData()
    schema = Schema("auth_", metadata=mine)
    assert set(mine.tables) == {
        "auth_tokens", "auth_users", "auth_api_keys", "auth_login_counters", "auth_token_subjects",
        "auth_sessions", "auth_refresh_tokens",
    }  # fmt: skip
    assert schema.metadata is mine


@pytest.mark.parametrize("db", ["postgresql", "mariadb"], indirect=True)
def test_missing_tables_on_a_server_say_how_to_create_them(db: Db) -> None:
    """On a server too, a prefix without tables raises StoreError naming init."""
    store = open_store(with_query(db.url, table_prefix="nosuchprefix_"))
    try:
        with pytest.raises(StoreError, match="tokenauth db init --store URL") as info:
            store.get("x")
        assert not isinstance(info.value, StoreUnreachableError)
    finally:
        store.close()


@pytest.mark.parametrize("db", ["mariadb"], indirect=True)
def test_mariadb_scheme_uses_the_mariadb_dialect(db: Db) -> None:
    """mariadb:// URLs open through SQLAlchemy's MariaDB dialect on the same tables."""
    url = db.url.replace("mysql+pymysql://", "mariadb://", 1)
    store = open_store(url)
    try:
        assert isinstance(store, SQLTokenStore)
        assert store.engine.dialect.name == "mariadb"
        store.add(_record("via-mariadb", "Zoë"))
        assert store.list_subject("Zoë") == [store.get("via-mariadb")]
    finally:
        store.close()


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_driver_settings_in_the_url_reach_the_driver(db: Db) -> None:
    """Driver parameters in the URL win over the adapter's defaults and take effect."""
    url = with_query(db.url, connect_timeout="7", options="-c statement_timeout=4321")
    store = SQLTokenStore.from_url(url)
    try:
        with store.engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "4321ms"
        assert store.get("x") is None
    finally:
        store.close()


def test_init_db_async_with_an_engine(tmp_path: Any) -> None:
    """init_db_async creates the tables through an AsyncEngine, then a store works on them."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"

    async def scenario() -> None:
        engine = create_async_engine(url)
        try:
            schema = Schema("app_")
            await init_db_async(engine, schema=schema)
            await init_db_async(f"{url}?table_prefix=app_")
            store = AsyncSQLTokenStore(engine, schema=schema)
            await store.add(_record("async-init"))
            assert await store.get("async-init") is not None
            await store.aclose()  # leaves the engine it was given open
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    asyncio.run(scenario())


@pytest.mark.parametrize("db", ALL, indirect=True)
def test_any_text_jti_round_trips(db: Db) -> None:
    """A jti or key id is any text of up to 64 characters, compared exactly."""
    store = SQLTokenStore(db.engine, schema=db.schema)
    now = int(time.time())
    odd = TokenRecord("jtï-ü" + "x" * 59, "alice", now, now + 60, "api_key", "kéy " + "y" * 60)
    store.add(odd)
    assert store.get(odd.jti) == odd
    assert store.get("jti-u" + "x" * 59) is None
    assert store.get(odd.jti + " ") is None
    assert store.remove(odd.jti) is True


@pytest.mark.parametrize("db", ALL, indirect=True)
def test_lookups_of_non_ascii_ids_find_nothing(db: Db) -> None:
    """Looking up a non-ASCII key id, digest or password owner finds nothing, without error."""
    keys = SQLApiKeyRegistry(db.engine, schema=db.schema)
    keys.add_key(ApiKeyRecord("kee", "alice", "", "a" * 64, 1))
    assert keys.get_key("kéé") is None
    assert keys.find_by_digest("é" * 64) is None
    assert keys.revoke_key("kéé", 5) is False
