"""Measure the stores' documented bounds: how long a request takes to be answered 503.

    python -m benchmarks.outages [--timeout 1] [--trials 6] [--only sql,redis,view,sentinel]

- sql: for each driver, eight requests at once through a front door while a
  loopback proxy in front of the machine's PostgreSQL or MariaDB holds every
  byte (a hung server); the slowest answer, and the time to the first 200 once
  the proxy forwards again. The URL's ``timeout`` is ``--timeout``.
- redis: the same against a throwaway redis-server, SIGSTOPped (hung) and killed
  (down), with the store's default options.
- view: the local view's revocation window when only its tracking connection is
  held silently: a revocation made through another store, and the time until
  the viewing store refuses the token (``--trials`` times).
- sentinel: a primary, a replica and three Sentinels (down-after 500 ms); the
  primary is killed, and the time to the first 200 served by the promoted replica.

Every fault is made on loopback, to processes this command starts (the shared
servers are never stopped). The fault tests in ``tests/`` hold the same bounds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tokenauth import (
    AsyncTokenAuth,
    Authenticated,
    JWTIssuer,
    KeySet,
    Principal,
    TokenAuth,
    TokenRecord,
    open_async_store,
    open_store,
)

KEYS = KeySet.generate("HS256")
CONCURRENT = 8
SQL_DRIVERS = [
    ("postgresql", "psycopg", False),
    ("mariadb", "pymysql", False),
    ("postgresql", "psycopg", True),
    ("postgresql", "asyncpg", True),
    ("mariadb", "aiomysql", True),
]


def _issued() -> tuple[TokenRecord, str]:
    issued = JWTIssuer(KEYS, ttl=600).issue(Principal("alice", "password"), now=int(time.time()))
    return issued.record, f"Bearer {issued.token}"


def _sync_round(auth: TokenAuth, header: str) -> list[tuple[int, float]]:
    def one(_: int) -> tuple[int, float]:
        started = time.monotonic()
        result = auth.authenticate(header, secure=True)
        return getattr(result, "status", 200), time.monotonic() - started

    with ThreadPoolExecutor(CONCURRENT) as pool:
        return list(pool.map(one, range(CONCURRENT)))


def _until_200(call: Callable[[], Any], limit: float = 30.0) -> float:
    started = time.monotonic()
    while not isinstance(call(), Authenticated):
        if time.monotonic() - started > limit:
            return float("inf")
        time.sleep(0.01)
    return time.monotonic() - started


def _line(name: str, answers: list[tuple[int, float]], recovery: float) -> str:
    statuses = sorted({s for s, _ in answers})
    slowest = max(t for _, t in answers)
    return f"| {name} | {statuses} | {slowest:.2f} | {recovery:.2f} |"


def sync_sql(url: str, proxy: Any, name: str) -> str:
    store = open_store(url)
    auth = TokenAuth(keys=KEYS, store=store)
    try:
        record, header = _issued()
        store.add(record)
        _sync_round(auth, header)
        proxy.stall()
        answers = _sync_round(auth, header)
        proxy.restore()
        return _line(name, answers, _until_200(lambda: auth.authenticate(header, secure=True)))
    finally:
        proxy.restore()
        store.close()


def async_sql(url: str, proxy: Any, name: str) -> str:
    async def scenario() -> str:
        store = open_async_store(url)
        auth = AsyncTokenAuth(keys=KEYS, store=store)

        async def one() -> tuple[int, float]:
            started = time.monotonic()
            result = await auth.authenticate(header, secure=True)
            return getattr(result, "status", 200), time.monotonic() - started

        try:
            record, header = _issued()
            await store.add(record)
            await asyncio.gather(*(one() for _ in range(CONCURRENT)))
            proxy.stall()
            answers = list(await asyncio.gather(*(one() for _ in range(CONCURRENT))))
            proxy.restore()
            started = time.monotonic()
            while (await one())[0] != 200:
                await asyncio.sleep(0.01)
            return _line(name, answers, time.monotonic() - started)
        finally:
            proxy.restore()
            await store.aclose()

    return asyncio.run(scenario())


def sql(timeout: float) -> list[str]:
    from sqlalchemy.engine import make_url

    from tests.sqlalchemy.conftest import make_db, via, with_driver
    from tests.sqlalchemy.proxy import Proxy

    rows = []
    for backend, driver, is_async in SQL_DRIVERS:
        with tempfile.TemporaryDirectory() as tmp:
            db = make_db(backend, Path(tmp))
            target = make_url(db.url)
            try:
                with Proxy((target.host or "127.0.0.1", target.port or 0)) as proxy:
                    url = with_driver(via(db.url, proxy, timeout), driver)
                    name = f"{backend} {driver}{' (async)' if is_async else ''}"
                    rows.append((async_sql if is_async else sync_sql)(url, proxy, name))
            finally:
                db.drop()
                db.engine.dispose()
    return rows


def redis_rows() -> list[str]:
    from tests.redis._servers import redis_server

    rows = []
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as server:
        store = open_store(server.url)
        auth = TokenAuth(keys=KEYS, store=store)
        try:
            record, header = _issued()
            store.add(record)
            _sync_round(auth, header)
            server.pause()
            answers = _sync_round(auth, header)
            server.resume()
            recovery = _until_200(lambda: auth.authenticate(header, secure=True))
            rows.append(_line("redis hung (SIGSTOP), defaults", answers, recovery))
            server.kill()
            answers = _sync_round(auth, header)
            server.start()
            store.add(record)
            recovery = _until_200(lambda: auth.authenticate(header, secure=True))
            rows.append(_line("redis down (killed), defaults", answers, recovery))
        finally:
            store.close()
    return rows


def view_window(trials: int) -> str:
    from tests.redis._servers import redis_server
    from tests.sqlalchemy.proxy import Proxy

    windows = []
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as server:
        for _ in range(trials):
            with Proxy(("127.0.0.1", server.port)) as proxy:
                viewing = open_store(f"redis://127.0.0.1:{proxy.port}/0?local_view=true")
                elsewhere = open_store(server.url)
                try:
                    view: Any = getattr(viewing, "_view")  # noqa: B009  # the private view
                    while not view.current:
                        time.sleep(0.01)
                    record, _ = _issued()
                    elsewhere.add(record)
                    # A PONG sent after the add: its own invalidation has arrived.
                    since = time.monotonic()
                    while view._current_at <= since:
                        time.sleep(0.005)
                    viewing.get(record.jti)
                    viewing.get(record.jti)
                    proxy.stall_client(view._connection._sock.getsockname()[1])
                    cut = time.monotonic()
                    elsewhere.remove(record.jti)
                    while viewing.get(record.jti) is not None:
                        time.sleep(0.001)
                    windows.append(time.monotonic() - cut)
                finally:
                    viewing.close()
                    elsewhere.close()
    ms = sorted(round(w * 1000) for w in windows)
    return (
        f"local view, tracking connection held, local_view_max_lag=1: revocation seen after "
        f"{ms} ms (median {statistics.median(ms):.0f} ms)"
    )


def sentinel() -> str:
    from tests.redis._servers import redis_failover_group
    from tests.redis.test_failover import SERVICE, _replicated, _settle

    with tempfile.TemporaryDirectory() as tmp, redis_failover_group(Path(tmp), SERVICE) as group:
        _settle(group)
        primary, _, sentinels = group
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in sentinels)
        store = open_store(
            f"redis+sentinel://{hosts}/{SERVICE}/0?socket_timeout=0.5&connect_timeout=0.5"
        )
        auth = TokenAuth(keys=KEYS, store=store)
        try:
            record, header = _issued()
            store.add(record)
            _replicated(primary)
            primary.kill()
            took = _until_200(lambda: auth.authenticate(header, secure=True))
        finally:
            store.close()
    return (
        f"sentinel fail-over (down-after 500 ms): primary killed, first 200 from the "
        f"promoted replica after {took:.2f} s"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.outages", description=__doc__)
    parser.add_argument("--timeout", type=float, default=1.0, help="the SQL URL's timeout")
    parser.add_argument("--trials", type=int, default=6, help="local view trials")
    parser.add_argument("--only", default="sql,redis,view,sentinel")
    args = parser.parse_args(argv)
    parts = set(args.only.split(","))
    header = ["| store and fault | statuses | slowest of 8 (s) | to the first 200 after (s) |"]
    header.append("|---|---|---:|---:|")
    rows: list[str] = []
    if "sql" in parts:
        rows += sql(args.timeout)
    if "redis" in parts:
        rows += redis_rows()
    if rows:
        print(f"SQL timeout={args.timeout:g} (deadline {3 * args.timeout:g} s)\n")
        print("\n".join(header + rows))
    if "view" in parts:
        print("\n" + view_window(args.trials))
    if "sentinel" in parts:
        print("\n" + sentinel())
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
