"""Migration 0003 (refresh sessions): a populated 0001 or 0002 database upgrades in place."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import column, create_engine, insert, table, text
from sqlalchemy.engine import Engine

from tests.sqlalchemy.conftest import BACKENDS, fresh_prefix, server_url, with_query
from tokenauth import FORM_CONTENT_TYPE, Granted, KeySet, Request, TokenAuth, TokenRecord
from tokenauth.testing import strategies as ts
from tokenauth_sqlalchemy import Schema, SQLTokenStore, SQLUserRegistry, init_db

ALL = ["sqlite", "postgresql", "mariadb"]


@pytest.fixture(params=ALL)
def old_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Engine, Schema]]:
    """An empty database and a fresh prefix, dropped afterwards."""
    backend = request.param
    base = BACKENDS[backend][0]
    base = f"sqlite:///{tmp_path / 'old.db'}" if base is None else server_url(backend)
    prefix = fresh_prefix()
    engine = create_engine(base)
    schema = Schema(prefix)
    try:
        yield with_query(base, table_prefix=prefix), engine, schema
    finally:
        with engine.begin() as conn:
            schema.metadata.drop_all(conn)
            conn.execute(text(f"DROP TABLE IF EXISTS {schema.version_table}"))
            if conn.dialect.name == "postgresql":
                conn.execute(text(f"DROP FUNCTION IF EXISTS {prefix}tokens_notify()"))
        engine.dispose()


@pytest.mark.parametrize("revision", ["0001", "0002"])
def test_a_populated_database_upgrades_to_sessions(
    old_db: tuple[str, Engine, Schema], revision: str
) -> None:
    """Rows written at an older revision survive the upgrade; refresh works on the result."""
    url, engine, schema = old_db
    init_db(url, revision=revision)
    now = int(time.time())
    tokens = schema.tokens.name
    with engine.begin() as conn:
        # Written as the old schema had it: no session column yet.
        old = table(
            tokens, *(column(c) for c in ("jti", "subject", "issued_at", "expires_at", "method"))
        )
        conn.execute(
            insert(old),
            [
                {"jti": j, "subject": u, "method": "password", "issued_at": now,
                 "expires_at": now + 3600}
                for j, u in (("old-1", "alice"), ("old-2", "svc"))
            ],
        )  # fmt: skip
    result = init_db(url)
    assert (result.before, result.after) == (revision, "0003")
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "include_name": lambda name, kind, parent: (
                    kind != "table"
                    or bool(
                        name and name.startswith(schema.prefix) and name != schema.version_table
                    )
                ),
                "compare_type": False,
            },
        )
        assert compare_metadata(context, schema.metadata) == []
    store = SQLTokenStore.from_url(url)
    users = SQLUserRegistry.from_url(url)
    try:
        assert store.get("old-1") == TokenRecord("old-1", "alice", now, now + 3600, "password")
        old_key = store.get("old-2")
        assert old_key is not None
        assert old_key.session is None
        auth = TokenAuth(
            keys=KeySet.generate("HS256"), store=store, users=users,
            hasher=ts.fast_hasher(), refresh_ttl=600,
        )  # fmt: skip
        auth.add_user("alice", "correct horse")
        header = "Basic " + base64.b64encode(b"alice:correct horse").decode()
        granted = auth.login(header, secure=True)
        assert isinstance(granted, Granted)
        assert granted.refresh_token
        body = f"grant_type=refresh_token&refresh_token={granted.refresh_token}".encode()
        fresh = auth.refresh(Request(secure=True), body=body, content_type=FORM_CONTENT_TYPE)
        assert isinstance(fresh, Granted), fresh
        # The session ends as a whole; the old rows, which have none, stay.
        assert auth.revoke_subject("alice") == 3
        assert store.get("old-2") is not None
    finally:
        store.close()
        users.close()
