"""The Redis store's documented bounds, each held by a fault: requests through a front door.

- A hung Redis (SIGSTOP of a throwaway server, default options): every request is
  answered 503 within two attempts of ``socket_timeout`` plus the backoff, sync
  and async, eight at once; after SIGCONT the next request is answered 200.
- A Redis that is down (killed): 503 at once; after a restart, 200 again.
- The local view with only its tracking connection cut (held by a proxy, so it
  dies silently): a revocation made elsewhere is seen within ``local_view_max_lag``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.sqlalchemy.proxy import Proxy
from tokenauth import (
    AsyncTokenAuth,
    Authenticated,
    KeySet,
    Principal,
    StoreUnavailable,
    TokenAuth,
    TokenRecord,
    open_async_store,
    open_store,
)
from tokenauth._jwt import JWTIssuer

from ._servers import RedisServer, redis_server, require_redis_server
from .conftest import with_option

#: The defaults: socket_timeout 2 s, retries 1 (two attempts), backoff at most 0.5 s.
HUNG_BOUND = 2 * 2.0 + 0.5
#: A refused connection is answered at once: two attempts and one backoff.
DOWN_BOUND = 1.0
#: Allowance for a loaded test machine on top of each bound.
SLACK = 1.5
CONCURRENT = 8
#: How long recovery may take once Redis answers again.
RECOVERY = 5.0

KEYS = KeySet.generate("HS256")


def _issued() -> tuple[TokenRecord, str]:
    issued = JWTIssuer(KEYS, ttl=600).issue(Principal("alice", "password"), now=int(time.time()))
    return issued.record, f"Bearer {issued.token}"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    require_redis_server()
    with redis_server(tmp_path) as started:
        yield started


def _all_503_within(answers: list[tuple[Any, float]], bound: float) -> None:
    for result, took in answers:
        assert isinstance(result, StoreUnavailable), result
        assert result.status == 503
        assert took < bound + SLACK, f"a request took {took:.2f} s, bound {bound} s"


def _sync_round(auth: TokenAuth, header: str) -> list[tuple[Any, float]]:
    def one(_: int) -> tuple[Any, float]:
        started = time.monotonic()
        result = auth.authenticate(header, secure=True)
        return result, time.monotonic() - started

    with ThreadPoolExecutor(CONCURRENT) as pool:
        return list(pool.map(one, range(CONCURRENT)))


def _recovers(call: Callable[[], Any]) -> None:
    started = time.monotonic()
    while not isinstance(call(), Authenticated):
        assert time.monotonic() - started < RECOVERY, "the store did not recover in time"
        time.sleep(0.05)


def test_hung_redis_sync_answers_503_within_the_bound(server: RedisServer) -> None:
    """SIGSTOP: eight requests at once, each 503 within 2 x socket_timeout + backoff."""
    store = open_store(server.url)
    auth = TokenAuth(keys=KEYS, store=store)
    try:
        record, header = _issued()
        store.add(record)
        assert all(isinstance(r, Authenticated) for r, _ in _sync_round(auth, header))
        server.pause()
        try:
            _all_503_within(_sync_round(auth, header), HUNG_BOUND)
        finally:
            server.resume()
        _recovers(lambda: auth.authenticate(header, secure=True))
    finally:
        store.close()


def test_hung_redis_async_answers_503_within_the_bound(server: RedisServer) -> None:
    """The async store under SIGSTOP: the same bound, its connections' clean-up included."""

    async def scenario() -> None:
        store = open_async_store(server.url)
        auth = AsyncTokenAuth(keys=KEYS, store=store)

        async def one() -> tuple[Any, float]:
            started = time.monotonic()
            result = await auth.authenticate(header, secure=True)
            return result, time.monotonic() - started

        try:
            record, header = _issued()
            await store.add(record)
            warm = await asyncio.gather(*(one() for _ in range(CONCURRENT)))
            assert all(isinstance(r, Authenticated) for r, _ in warm)
            server.pause()
            try:
                _all_503_within(
                    list(await asyncio.gather(*(one() for _ in range(CONCURRENT)))), HUNG_BOUND
                )
            finally:
                server.resume()
            started = time.monotonic()
            while not isinstance((await one())[0], Authenticated):
                assert time.monotonic() - started < RECOVERY, "the store did not recover in time"
                await asyncio.sleep(0.05)
        finally:
            await store.aclose()

    asyncio.run(scenario())


def test_down_redis_answers_503_at_once_then_recovers(server: RedisServer) -> None:
    """Killed: every request is 503 within a second; restarted, requests are answered again."""
    store = open_store(server.url)
    auth = TokenAuth(keys=KEYS, store=store)
    try:
        record, header = _issued()
        store.add(record)
        server.kill()
        _all_503_within(_sync_round(auth, header), DOWN_BOUND)
        server.start()
        # The restarted server kept nothing (no persistence): the token is gone with it.
        store.add(record)
        _recovers(lambda: auth.authenticate(header, secure=True))
    finally:
        store.close()


def _settled(view: Any) -> None:
    """Wait for a PONG sent after now: every invalidation sent before it has arrived.

    Else the add's own invalidation, still on its way, could empty the view later
    and pass for a revocation that got through.
    """
    since = time.monotonic()
    while view._current_at <= since:
        assert time.monotonic() - since < 10, "the local view stopped proving itself current"
        time.sleep(0.005)


def test_local_view_sees_a_revocation_within_max_lag_when_tracking_is_cut(
    store_urls: Callable[[], str],
) -> None:
    """Only the tracking connection held silently: a revocation elsewhere counts within 1 s."""
    url = store_urls()
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    with Proxy((host, int(port))) as proxy:
        proxied = url.replace(host_port, f"127.0.0.1:{proxy.port}", 1)
        viewing = open_store(with_option(proxied, "local_view", "true"))
        elsewhere = open_store(url)
        try:
            view: Any = getattr(viewing, "_view")  # noqa: B009  # the store's private view
            deadline = time.monotonic() + 10
            while not view.current:
                assert time.monotonic() < deadline, "the local view never started tracking"
                time.sleep(0.01)
            record, _ = _issued()
            elsewhere.add(record)
            _settled(view)
            assert viewing.get(record.jti) == record
            assert viewing.get(record.jti) == record
            assert len(view) == 1, "the lookup was not kept by the view"
            proxy.stall_client(view._connection._sock.getsockname()[1])
            cut = time.monotonic()
            assert elsewhere.remove(record.jti) is True
            while viewing.get(record.jti) is not None:
                assert time.monotonic() - cut < 1.0 + SLACK, "the view kept a revoked record"
                time.sleep(0.005)
        finally:
            viewing.close()
            elsewhere.close()
