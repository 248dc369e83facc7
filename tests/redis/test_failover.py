"""Sentinel fail-over under requests: the primary is killed, the replica promoted.

A primary, a replica and three Sentinels run as throwaway processes on loopback
ports. While requests go through a front door on a ``redis+sentinel://`` store,
the primary is killed: every request in between is answered 503 (never a token
accepted without its check), and once the Sentinels promote the replica the same
store answers 200 again, with the records the replica had, and revokes on it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tokenauth import (
    AsyncTokenAuth,
    Authenticated,
    KeySet,
    Principal,
    StoreUnavailable,
    TokenAuth,
    Unauthorized,
    open_async_store,
    open_store,
)
from tokenauth._jwt import JWTIssuer

from ._servers import RedisServer, redis_failover_group, require_redis_server

SERVICE = "tokens"
#: Short timeouts, so that requests to the dead primary fail fast.
OPTIONS = "socket_timeout=0.5&connect_timeout=0.5"
#: Seconds from the kill to the first 200 on the promoted replica: the Sentinels
#: wait 500 ms, elect a leader and promote; the rest is the client's rediscovery.
RECOVERY = 15.0
#: Seconds for the Sentinels to find each other and the replica before the test starts.
SETTLE = 20.0

KEYS = KeySet.generate("HS256")

Group = tuple[RedisServer, RedisServer, list[RedisServer]]


@pytest.fixture
def group(tmp_path: Path) -> Iterator[Group]:
    require_redis_server()
    with redis_failover_group(tmp_path, SERVICE) as started:
        _settle(started)
        yield started


def _settle(group: Group) -> None:
    """Wait until every Sentinel knows the replica and the other Sentinels."""
    _, _, sentinels = group
    deadline = time.monotonic() + SETTLE
    for sentinel in sentinels:
        client: Any = redis.Redis(port=sentinel.port, socket_timeout=1)
        try:
            while (
                len(client.sentinel_slaves(SERVICE)) < 1
                or len(client.sentinel_sentinels(SERVICE)) < len(sentinels) - 1
            ):
                assert time.monotonic() < deadline, "the Sentinels never found each other"
                time.sleep(0.1)
        finally:
            client.close()


def _url(group: Group) -> str:
    hosts = ",".join(f"127.0.0.1:{s.port}" for s in group[2])
    return f"redis+sentinel://{hosts}/{SERVICE}/0?{OPTIONS}"


def _replicated(primary: RedisServer) -> None:
    client: Any = redis.Redis(port=primary.port, socket_timeout=2)
    try:
        assert client.execute_command("WAIT", 1, 2000) == 1, "the replica did not acknowledge"
    finally:
        client.close()


def _issued() -> tuple[Any, str]:
    issued = JWTIssuer(KEYS, ttl=600).issue(Principal("alice", "password"), now=int(time.time()))
    return issued.record, f"Bearer {issued.token}"


def test_failover_answers_503_then_recovers_on_the_replica(group: Group) -> None:
    """Primary killed: 503 (never 200 without a check) until the replica serves, then 200."""
    primary, _, _ = group
    store = open_store(_url(group))
    auth = TokenAuth(keys=KEYS, store=store)
    try:
        record, header = _issued()
        store.add(record)
        _replicated(primary)
        assert isinstance(auth.authenticate(header, secure=True), Authenticated)
        primary.kill()
        killed = time.monotonic()
        outages = 0
        while True:
            result = auth.authenticate(header, secure=True)
            if isinstance(result, Authenticated):
                break
            assert isinstance(result, StoreUnavailable), result
            outages += 1
            assert time.monotonic() - killed < RECOVERY, "no fail-over within the bound"
            time.sleep(0.05)
        assert outages >= 1, "a request was answered by a dead primary"
        # Writes go to the promoted replica: a revocation takes effect at once.
        assert store.remove(record.jti) is True
        revoked = auth.authenticate(header, secure=True)
        assert isinstance(revoked, Unauthorized), revoked
    finally:
        store.close()


def test_async_failover_recovers_on_the_replica(group: Group) -> None:
    """The async store follows the fail-over the same way."""
    primary, _, _ = group

    async def scenario() -> None:
        store = open_async_store(_url(group))
        auth = AsyncTokenAuth(keys=KEYS, store=store)
        try:
            record, header = _issued()
            await store.add(record)
            _replicated(primary)
            primary.kill()
            killed = time.monotonic()
            while True:
                result = await auth.authenticate(header, secure=True)
                if isinstance(result, Authenticated):
                    break
                assert isinstance(result, StoreUnavailable), result
                assert time.monotonic() - killed < RECOVERY, "no fail-over within the bound"
                await asyncio.sleep(0.05)
            assert await store.remove(record.jti) is True
        finally:
            await store.aclose()

    asyncio.run(scenario())
