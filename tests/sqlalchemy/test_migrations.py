"""Upgrading populated tables to migration 0003 (sessions and caps), on every backend."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import column, create_engine, insert, inspect, table

from tests.sqlalchemy.conftest import BACKENDS, Db, fresh_prefix, server_url, with_query
from tokenauth import CapOutcome, Session, TokenRecord, open_store
from tokenauth_sqlalchemy import Schema, init_db

_USER_COLUMNS = ("username", "password_hash", "created_at", "disabled", "scope")


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def old_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """Tables at migration 0002, holding a token, a user and an API key."""
    backend = request.param
    base = BACKENDS[backend][0]
    base = f"sqlite:///{tmp_path / 'old.db'}" if base is None else server_url(backend)
    prefix = fresh_prefix()
    url = with_query(base, table_prefix=prefix)
    assert init_db(url, revision="0002").after == "0002"
    db = Db(url=url, async_url=url, engine=create_engine(base), schema=Schema(prefix))
    now = int(time.time())
    # The tables as 0002 left them: only the columns that existed then.
    tokens = table(
        f"{prefix}tokens", *(column(c) for c in ("jti", "subject", "issued_at", "expires_at",
                                                   "method", "api_key_id"))
    )  # fmt: skip
    users = table(f"{prefix}users", *(column(c) for c in _USER_COLUMNS))
    with db.engine.begin() as conn:
        conn.execute(
            insert(tokens),
            [
                {"jti": "old-1", "subject": "alice", "issued_at": now - 20,
                 "expires_at": now + 3600, "method": "password", "api_key_id": None},
                {"jti": "old-2", "subject": "alice", "issued_at": now - 10,
                 "expires_at": now + 3600, "method": "api_key", "api_key_id": "k1"},
            ],
        )  # fmt: skip
        conn.execute(
            insert(users).values(
                username="alice", password_hash="$argon2id$x", created_at=now, disabled=False,
                scope="",
            )
        )  # fmt: skip
    try:
        yield db
    finally:
        db.drop()
        db.engine.dispose()


def test_a_populated_0002_database_upgrades_to_0003(old_db: Db) -> None:
    result = init_db(old_db.url)
    assert (result.before, result.after) == ("0002", "0003")
    columns = {c["name"] for c in inspect(old_db.engine).get_columns(old_db.schema.tokens.name)}
    assert {"client", "user_agent", "last_used_at"} <= columns
    store: Any = open_store(old_db.url)
    try:
        old = store.get("old-1")
        assert old == TokenRecord("old-1", "alice", old.issued_at, old.expires_at, "password")
        now = int(time.time())
        # Rows from before keep working with every new operation.
        assert [s.last_used_at for s in store.list_sessions("alice")] == [None, None]
        store.touch(old, now)
        assert store.list_sessions("alice")[0] == Session.of(old, now)
        new = TokenRecord("new-1", "alice", now, now + 60, "password", None, "203.0.113.7", "ua")
        assert store.add_capped(new, 2, "refuse", now) == CapOutcome(False, (), 2)
        evicted = store.add_capped(new, 2, "evict_oldest", now)
        assert [r.jti for r in evicted.evicted] == ["old-1"]
        assert store.get("new-1") == new
        assert old_db.engine.dialect.has_table(
            old_db.engine.connect(), old_db.schema.token_subjects.name
        )
    finally:
        store.close()
    # Upgrading again changes nothing.
    again = init_db(old_db.url)
    assert (again.before, again.after) == ("0003", "0003")
