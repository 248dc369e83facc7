"""Redis-specific behaviour beyond the contract: expiry, key layout, stale entries, errors."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
import redis.asyncio

from tokenauth import (
    MAX_LEEWAY,
    ConfigurationError,
    DuplicateTokenError,
    Session,
    StoreError,
    StoreUnreachableError,
    TokenRecord,
    open_async_store,
    open_store,
)
from tokenauth_redis import AsyncRedisStore, RedisStore

# Records made with the default lifetime of an hour outlive the suite; tests with
# short lifetimes pass their own, fresh `now`: Redis forgets a record once it expires.
NOW = int(time.time())


def _now() -> int:
    return int(time.time())


def _record(
    jti: str, subject: str = "alice", *, ttl: int = 3600, now: int | None = None
) -> TokenRecord:
    issued = NOW if now is None else now
    return TokenRecord(
        jti=jti, subject=subject, issued_at=issued, expires_at=issued + ttl, method="password"
    )


@pytest.fixture
def url(store_urls: Callable[[], str]) -> str:
    return store_urls()


@pytest.fixture
def store(url: str) -> Iterator[RedisStore]:
    opened = RedisStore.from_url(url)
    yield opened
    opened.close()


@pytest.fixture
def raw(url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(url.partition("?")[0])
    yield client
    client.close()


def _prefix(url: str) -> bytes:
    return parse_qs(urlsplit(url).query)["prefix"][0].encode()


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:1/0",
        "rediss://127.0.0.1:1/0?ssl_cert_reqs=none",
        "unix:///nonexistent/redis.sock",
        "redis+sentinel://127.0.0.1:1/mymaster",
        "redis+cluster://127.0.0.1:1",
        "rediss+cluster://127.0.0.1:1",
    ],
)
def test_open_store_finds_the_redis_backend(url: str) -> None:
    """Every Redis scheme resolves through the entry points, without connecting yet."""
    sync_store = open_store(url)
    assert isinstance(sync_store, RedisStore)
    sync_store.close()
    assert isinstance(open_async_store(url), AsyncRedisStore)


def test_bad_option_is_a_configuration_error() -> None:
    """open_store refuses an unknown option instead of ignoring it."""
    with pytest.raises(ConfigurationError, match="unknown Redis store option"):
        open_store("redis://127.0.0.1/0?socket_timout=1")


def test_record_expires_in_redis_after_the_largest_leeway(
    store: RedisStore, raw: redis.Redis, url: str
) -> None:
    """A record's Redis TTL ends MAX_LEEWAY after its token expires; the index outlives it."""
    record = _record("ttl-1")
    store.add(record)
    prefix = _prefix(url)
    expiry = raw.pexpiretime((prefix + b"t:ttl-1").decode())
    assert expiry == (record.expires_at + MAX_LEEWAY) * 1000
    [index] = raw.keys((prefix + b"s:*").decode())
    assert isinstance(index, bytes)
    assert raw.expiretime(index.decode()) > record.expires_at + MAX_LEEWAY


def test_redis_forgets_a_record_past_the_largest_leeway(store: RedisStore) -> None:
    """A record is gone from get and list_subject once Redis's clock passes its grace."""
    now = int(time.time())
    record = TokenRecord(
        jti="short",
        subject="alice",
        issued_at=now - MAX_LEEWAY,
        expires_at=now - MAX_LEEWAY + 1,
        method="password",
    )
    store.add(record)
    deadline = time.monotonic() + 10
    while store.get("short") is not None:
        assert time.monotonic() < deadline, "Redis kept a record past its grace"
        time.sleep(0.1)
    assert store.list_subject("alice") == []


def test_subjects_never_appear_in_key_names(store: RedisStore, raw: redis.Redis, url: str) -> None:
    """Subjects (personal data, any characters, braces included) are hashed out of key names."""
    store.add(_record("pii-1", "carol@example.com{tag}"))
    keys = raw.keys(_prefix(url) + b"*")
    assert len(keys) == 2
    assert not any(b"carol" in key or b"{" in key for key in keys)


def test_stale_index_entries_are_skipped(store: RedisStore, raw: redis.Redis, url: str) -> None:
    """A record that vanished behind the index's back is neither listed nor counted."""
    store.add(_record("stale-1"))
    store.add(_record("stale-2"))
    raw.delete(_prefix(url) + b"t:stale-1")
    assert [r.jti for r in store.list_subject("alice")] == ["stale-2"]
    assert store.remove_subject("alice") == 1


def test_reused_jti_belongs_to_its_new_subject(store: RedisStore) -> None:
    """A jti removed and stored again for another subject is that subject's alone."""
    store.add(_record("reuse", "alice"))
    assert store.remove("reuse") is True
    store.add(_record("reuse", "bob"))
    assert store.list_subject("alice") == []
    assert store.remove_subject("alice") == 0
    assert store.get("reuse") == _record("reuse", "bob")
    assert store.list_subject("bob") == [_record("reuse", "bob")]


def test_duplicate_leaves_the_stored_record_alone(store: RedisStore) -> None:
    """A refused duplicate changes neither the record nor either subject's listing."""
    store.add(_record("dup", "alice"))
    with pytest.raises(DuplicateTokenError):
        store.add(_record("dup", "bob"))
    assert store.list_subject("bob") == []
    assert store.list_subject("alice") == [_record("dup", "alice")]


def test_far_future_expiry(store: RedisStore) -> None:
    """The largest expires_at a record may hold is stored and read back."""
    record = TokenRecord(
        jti="far", subject="alice", issued_at=_now(), expires_at=2**53 - 1, method="password"
    )
    store.add(record)
    assert store.get("far") == record


def test_purge_uses_the_callers_clock(store: RedisStore) -> None:
    """purge_expired removes records by the given time, even ahead of Redis's clock."""
    now = _now()
    store.add(_record("soon", ttl=100, now=now))
    store.add(_record("later", ttl=10_000, now=now))
    assert store.purge_expired(now + 200) == 1
    assert store.get("soon") is None
    assert store.get("later") is not None


def test_foreign_value_is_a_store_error(store: RedisStore, raw: redis.Redis, url: str) -> None:
    """A key in the prefix that holds no record raises StoreError, never a wrong record."""
    raw.set(_prefix(url) + b"t:foreign", b"not a record")
    with pytest.raises(StoreError, match="no token record"):
        store.get("foreign")


def test_closed_store_refuses_work(url: str) -> None:
    """After close, operations raise StoreError instead of reconnecting."""
    store = RedisStore.from_url(url)
    store.add(_record("closed"))
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.get("closed")


def test_password_never_shown(redis_url: str) -> None:
    """Neither repr nor a refused login nor an unreachable server shows the password."""
    host = urlsplit(redis_url).netloc
    wrong = RedisStore.from_url(f"redis://nosuchuser:hunter2-secret@{host}/0?retries=0")
    unreachable = RedisStore.from_url("redis://:hunter2-secret@127.0.0.1:1/0?retries=0")
    try:
        assert "hunter2" not in repr(wrong)
        with pytest.raises(StoreError) as refused:
            wrong.get("x")
        with pytest.raises(StoreUnreachableError) as down:
            unreachable.get("x")
        for caught in (refused, down):
            assert "hunter2" not in str(caught.value)
            assert "hunter2" not in str(caught.value.__cause__)
    finally:
        wrong.close()
        unreachable.close()


def test_given_client_is_used_and_left_open(redis_url: str, url: str) -> None:
    """A store can wrap a client the caller built; closing the store leaves it open."""
    client = redis.Redis.from_url(redis_url)
    try:
        store = RedisStore(client, prefix=_prefix(url).decode())
        store.add(_record("mine"))
        assert store.get("mine") == _record("mine")
        store.close()
        assert client.ping()
    finally:
        client.close()


def test_given_async_client_is_used_and_left_open(redis_url: str, url: str) -> None:
    """The async store wraps a caller's client the same way."""

    async def scenario() -> None:
        client = redis.asyncio.Redis.from_url(redis_url)
        try:
            store = AsyncRedisStore(client, prefix=_prefix(url).decode())
            await store.add(_record("mine-async"))
            assert await store.list_subject("alice") == [_record("mine-async")]
            await store.aclose()
            assert await client.ping()
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_empty_prefix_is_refused() -> None:
    """An empty key prefix would mix the store's keys with everything else."""
    with pytest.raises(ValueError, match="prefix"):
        RedisStore(redis.Redis(), prefix="")


def test_list_all_returns_every_live_record(store: RedisStore) -> None:
    """list_all (used by `tokenauth tokens list`) returns every live record, oldest first."""
    records = [_record(f"all-{i}", subject, now=NOW - 10 + i) for i, subject in enumerate("abcab")]
    for record in records:
        store.add(record)
    store.remove("all-1")
    assert store.list_all() == [r for r in records if r.jti != "all-1"]


# -- sessions and caps --------------------------------------------------------------------


def test_records_of_the_previous_version_read_and_track(
    store: RedisStore, raw: redis.Redis, url: str
) -> None:
    """A record in format 1 (written before sessions) reads, lists and takes last uses."""
    old = b'[1,"0123456789abcdef","alice",%d,%d,"password",null]' % (NOW, NOW + 3600)
    raw.set(_prefix(url) + b"t:old-1", old)
    raw.zadd(
        _prefix(url) + b"s:" + _subject_digest("alice"), {b"0123456789abcdefold-1": NOW + 3600}
    )
    record = store.get("old-1")
    assert record == TokenRecord("old-1", "alice", NOW, NOW + 3600, "password")
    store.touch(record, NOW + 5)
    assert store.list_sessions("alice") == [Session.of(record, NOW + 5)]


def test_records_without_client_are_written_as_before(
    store: RedisStore, raw: redis.Redis, url: str
) -> None:
    """Only a record that carries a client or User-Agent uses format 2 (which older
    versions cannot read): a server without last-use tracking writes format 1."""
    store.add(_record("plain-1"))
    assert _raw_value(raw, url, "plain-1").startswith(b"[1,")
    # Issued now: a record built from the module's import time could already be past
    # its expiry (and gone from Redis) when a long run reaches this test.
    now = _now()
    seen = TokenRecord("seen-1", "alice", now, now + 60, "password", None, "::1", "ua/1")
    store.add(seen)
    assert _raw_value(raw, url, "seen-1").startswith(b"[2,")
    assert store.get("seen-1") == seen


def test_a_stale_index_entry_counts_toward_the_cap_until_it_expires(
    store: RedisStore, raw: redis.Redis, url: str
) -> None:
    """The safe side: an entry whose record vanished still counts (never past the cap)."""
    store.add(_record("cap-1"))
    raw.delete(_prefix(url) + b"t:cap-1")
    refused = store.add_capped(_record("cap-2"), 1, "refuse", _now())
    assert refused.added is False
    evicting = store.add_capped(_record("cap-3"), 1, "evict_oldest", _now())
    assert (evicting.added, evicting.evicted) == (False, ())


def _raw_value(raw: redis.Redis, url: str, jti: str) -> bytes:
    value: Any = raw.get(_prefix(url) + b"t:" + jti.encode())
    assert isinstance(value, bytes)
    return value


def _subject_digest(subject: str) -> bytes:
    return hashlib.sha256(subject.encode()).hexdigest()[:32].encode()


def test_a_capped_token_of_a_session_ends_with_it_and_frees_its_slot(store: RedisStore) -> None:
    """A login session's end deletes the access tokens a capped add stored, and their
    index entries, so they stop counting toward the cap at once."""
    from tokenauth.testing._refresh_contract import _access, _session_records

    session, first = _session_records()
    store.start_session(first)
    access = _access(first)
    assert store.add_capped(access, 1, "refuse", _now()).added
    assert store.add_capped(_access(first), 1, "refuse", _now()).added is False
    assert store.revoke_session(session) >= 1
    assert store.get(access.jti) is None
    assert store.add_capped(_access(first), 1, "refuse", _now()).added
