"""Store URLs: the adapter's options come off, everything else reaches the driver intact."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import URL

from tokenauth import ConfigurationError, open_async_store, open_store
from tokenauth_sqlalchemy import AsyncSQLTokenStore, Schema, SQLTokenStore
from tokenauth_sqlalchemy._url import parse_url

prefixes = st.from_regex(r"[a-z][a-z0-9_]{0,31}", fullmatch=True)
# Driver parameters: names far from the adapter's own, any printable value.
driver_keys = st.sampled_from(["sslmode", "application_name", "charset", "connect_timeout", "x"])
values = st.text(string.printable.strip(), min_size=1, max_size=20)
passwords = st.text(st.characters(codec="utf-8"), min_size=1)
servers = st.sampled_from(["postgresql", "postgres", "mysql", "mariadb"])


@given(
    server=servers,
    prefix=prefixes,
    password=passwords,
    params=st.dictionaries(driver_keys, values, max_size=3),
)
def test_options_are_taken_out_and_the_rest_kept(
    server: str, prefix: str, password: str, params: dict[str, str]
) -> None:
    """table_prefix leaves the URL; credentials and driver parameters stay exactly."""
    url = URL.create(
        server,
        username="user",
        password=password,
        host="db.example",
        port=5432,
        database="app",
        query={**params, "table_prefix": prefix},
    )
    parsed = parse_url(url.render_as_string(hide_password=False))
    assert parsed.table_prefix == prefix
    assert "table_prefix" not in parsed.url.query
    assert dict(parsed.url.query) == params
    assert parsed.url.password == password
    assert (parsed.url.host, parsed.url.port, parsed.url.database) == ("db.example", 5432, "app")
    assert Schema(parsed.table_prefix).tokens.name == f"{prefix}tokens"


@given(server=servers, asynchronous=st.booleans())
def test_a_driverless_url_gets_the_default_driver(server: str, asynchronous: bool) -> None:
    """postgresql:// means psycopg (asyncpg when async); mysql:// means PyMySQL (aiomysql)."""
    parsed = parse_url(f"{server}://h/db", asynchronous=asynchronous)
    family = "mysql" if server in ("mysql", "mariadb") else "postgresql"
    expected = {
        ("postgresql", False): "psycopg",
        ("postgresql", True): "asyncpg",
        ("mysql", False): "pymysql",
        ("mysql", True): "aiomysql",
    }[family, asynchronous]
    assert parsed.driver == expected
    assert parsed.database == family
    assert parsed.url.drivername.endswith(f"+{expected}")


@given(size=st.integers(1, 100_000), timeout=st.floats(0.001, 3600))
def test_numeric_options_are_read(size: int, timeout: float) -> None:
    """purge_batch_size and timeout are parsed and kept within bounds."""
    parsed = parse_url(f"sqlite:///x.db?purge_batch_size={size}&timeout={timeout!r}")
    assert parsed.purge_batch_size == size
    assert parsed.timeout == timeout


@given(size=st.one_of(st.integers(max_value=0), st.integers(min_value=100_001)))
def test_out_of_range_batch_size_is_refused(size: int) -> None:
    """A batch size outside 1..100000 is a configuration error."""
    with pytest.raises(ConfigurationError, match="purge_batch_size"):
        parse_url(f"sqlite:///x.db?purge_batch_size={size}")


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///x.db?table_prefx=a_",  # misspelt option
        "sqlite:///x.db?purge_batch=10",
        "sqlite:///x.db?table_prefix=a_&table_prefix=b_",
        "sqlite:///x.db?timeout=nan",
        "sqlite:///x.db?timeout=0",
        "sqlite:///x.db?timeout=soon",
        "sqlite:///x.db?table_prefix=Bad-Prefix",
        "oracle://h/db",
        "memory://",
        "not a url",
    ],
)
def test_bad_urls_are_configuration_errors(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Misspelt, repeated or malformed options, and foreign schemes, are refused up front,
    before any database file is made."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError):
        SQLTokenStore.from_url(url)
    with pytest.raises(ConfigurationError):
        AsyncSQLTokenStore.from_url(url.replace("sqlite://", "sqlite+aiosqlite://"))
    assert list(tmp_path.iterdir()) == []


@given(prefix=st.text(max_size=40).filter(lambda p: not p[:1].islower() or not p.isascii()))
def test_bad_prefixes_are_refused(prefix: str) -> None:
    """A prefix that is not a lowercase identifier start is refused."""
    with pytest.raises(ConfigurationError):
        Schema(prefix)


def test_open_store_finds_the_adapter_by_scheme() -> None:
    """The core's open_store and open_async_store reach this adapter for SQL URLs."""
    store = open_store("sqlite://?table_prefix=app_")
    try:
        assert isinstance(store, SQLTokenStore)
        assert store.schema.tokens.name == "app_tokens"
    finally:
        store.close()
    async_store = open_async_store("sqlite://")
    assert isinstance(async_store, AsyncSQLTokenStore)
    assert async_store.engine.url.drivername == "sqlite+aiosqlite"


def test_sync_driver_for_async_store_is_refused() -> None:
    """An async store on a sync-only driver is a configuration error naming async drivers."""
    with pytest.raises(ConfigurationError, match="async driver"):
        open_async_store("mysql+pymysql://root@127.0.0.1/test")


def test_missing_driver_names_the_install() -> None:
    """A driver that is not installed is a configuration error naming the pip install."""
    with pytest.raises(ConfigurationError, match="pip install"):
        open_store("postgresql+pg8000://u@h/db")
