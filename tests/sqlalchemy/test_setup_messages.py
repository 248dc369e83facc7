"""Setting a database up: init says what it did, and wrong URLs name their fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tokenauth import ConfigurationError, StoreError, StoreUnreachableError, open_store
from tokenauth_sqlalchemy import InitResult, SQLUserRegistry, backend, init_db

from .conftest import server_url, with_driver


def test_init_says_whether_it_created_or_found_the_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    first = init_db(url)
    assert first.before is None
    assert first.changed
    assert str(first).startswith("created the tokenauth tables")
    again = init_db(url)
    assert again == InitResult(first.after, first.after)
    assert not again.changed
    assert "already up to date" in str(again)
    assert str(InitResult("a", "b")) == "upgraded the tokenauth tables from version a to b"


def test_the_backend_sets_up_an_async_url_too(tmp_path: Path) -> None:
    """``tokenauth db init`` takes the URL an async app uses, and sets up the same database."""
    path = tmp_path / "async.db"
    assert backend.init_db(f"sqlite+aiosqlite:///{path}").startswith("created")
    assert "already up to date" in backend.init_db(f"sqlite:///{path}")


@pytest.mark.parametrize(
    ("url", "fix"),
    [
        ("sqlite+aiosqlite:///x.db", "'sqlite' in place of 'sqlite+aiosqlite'"),
        ("postgresql+asyncpg://u:hunter2@h/db", "'postgresql+psycopg' in place of"),
        ("mysql+aiomysql://u@h/db", "'mysql+pymysql' in place of"),
        ("mariadb+aiomysql://u@h/db", "'mariadb+pymysql' in place of"),
    ],
)
def test_an_async_url_used_synchronously_names_the_sync_scheme(url: str, fix: str) -> None:
    with pytest.raises(ConfigurationError, match="async driver") as info:
        open_store(url)
    assert fix in str(info.value)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("backend_name", ["postgresql", "mariadb"])
def test_a_missing_database_names_how_to_create_it(backend_name: str) -> None:
    """The server answers that the database does not exist: not "unreachable", and the fix."""
    url = make_url(server_url(backend_name)).set(database="tokenauth_no_such_db")
    store = open_store(url.render_as_string(hide_password=False))
    try:
        with pytest.raises(StoreError, match="no database named 'tokenauth_no_such_db'") as info:
            store.get("x")
    finally:
        store.close()
    assert not isinstance(info.value, StoreUnreachableError)
    assert "createdb tokenauth_no_such_db" in str(info.value)
    assert "CREATE DATABASE tokenauth_no_such_db" in str(info.value)
    assert "tokenauth db init --store URL" in str(info.value)


def test_a_missing_database_is_named_on_the_async_driver_too() -> None:
    async_url = with_driver(server_url("postgresql"), "asyncpg")
    url = make_url(async_url).set(database="tokenauth_no_such_db")
    with pytest.raises(StoreError, match="no database named 'tokenauth_no_such_db'"):
        backend.init_db(url.render_as_string(hide_password=False))


def test_users_can_be_deleted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'users.db'}"
    init_db(url)
    registry = SQLUserRegistry.from_url(url)
    try:
        from tokenauth import new_user
        from tokenauth.testing import strategies as ts

        registry.add_user(new_user("alice", "pw", now=1, hasher=ts.fast_hasher()))
        assert registry.delete_user("alice")
        assert registry.get_user("alice") is None
        assert not registry.delete_user("alice")
    finally:
        registry.close()
