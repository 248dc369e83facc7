"""Soak: 64 connections against uvicorn and each store, with one store outage in the middle.

    python -m benchmarks.soak [--seconds 30] [--outage 8] [--stores memory,sqlite,...]

For each store, the benchmarks' ASGI app (``benchmarks._app``, one uvicorn
worker, tokenauth's middleware) serves a protected endpoint, and 64 keep-alive
connections on loopback send the same valid token for ``--seconds``. In the
middle the store hangs for ``--outage`` seconds: a throwaway redis-server is
SIGSTOPped, PostgreSQL and MariaDB sit behind a loopback proxy that stops
passing bytes (the machine's shared servers are never stopped). The in-memory
store and an SQLite file have no outage to cause. Reported per store: requests/s,
p50 and p99 latency, status counts, the time from the store's return to the
first 200, and the server's RSS after warm-up and at the end.

Short store timeouts are used so that the outage shows as 503s within it: Redis
``socket_timeout=0.5&connect_timeout=0.5`` (bound 1.5 s), SQL ``timeout=1``
(bound 3 s). Traffic stays on loopback; every loop is bounded by time.
Not part of ``python3 dev.py bench`` nor of the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .e2e import _free_port, _wait_for

CONNECTIONS = 64
STORES = ("memory", "sqlite", "postgresql", "mariadb", "redis")
#: Host, port, and the URL without a driver: the app serves it with the async default
#: (asyncpg, aiomysql) and stores its token through the sync one (psycopg, PyMySQL).
POSTGRES = ("127.0.0.1", 5432, "postgresql://postgres@127.0.0.1:{port}/test", "psycopg")
MARIADB = ("127.0.0.1", 3306, "mysql://root@127.0.0.1:{port}/test", "pymysql")


@dataclass
class Store:
    """A store URL for the app, and how to make the store hang and come back."""

    url: str | None
    hang: Callable[[], None] | None = None
    resume: Callable[[], None] | None = None
    how: str = "none"


@dataclass
class Run:
    name: str
    how: str
    seconds: float
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    #: (seconds since the load began, status) of every answer, in order of arrival.
    timeline: list[tuple[float, int]] = field(default_factory=list)
    recovery: float | None = None
    rss_start: float = float("nan")
    rss_end: float = float("nan")
    errors: int = 0


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def _proxied(host: str, port: int) -> Iterator[tuple[int, Callable[[str], None]]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._proxy", host, str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout

    def command(word: str) -> None:
        stdin.write(word + "\n")
        stdin.flush()
        stdout.readline()

    try:
        yield int(stdout.readline().split()[1]), command
    finally:
        with contextlib.suppress(OSError):
            command("quit")
        proc.wait(timeout=10)


@contextlib.contextmanager
def _store(name: str, workdir: Path) -> Iterator[Store]:
    if name == "memory":
        yield Store(None)
    elif name == "sqlite":
        from tokenauth_sqlalchemy import init_db

        url = f"sqlite:///{workdir / 'soak.db'}"
        init_db(url)
        yield Store(url)
    elif name in ("postgresql", "mariadb"):
        yield from _sql_store(*(POSTGRES if name == "postgresql" else MARIADB))
    elif name == "redis":
        from tests.redis._servers import redis_server

        with redis_server(workdir) as server:
            process = server.process
            assert process is not None
            yield Store(
                f"{server.url}?socket_timeout=0.5&connect_timeout=0.5",
                hang=lambda: process.send_signal(signal.SIGSTOP),
                resume=lambda: process.send_signal(signal.SIGCONT),
                how="SIGSTOP of a throwaway redis-server",
            )
    else:
        raise SystemExit(f"unknown store {name!r}; pick from {', '.join(STORES)}")


def _sql_store(host: str, port: int, template: str, driver: str) -> Iterator[Store]:
    from sqlalchemy import create_engine, text

    from tokenauth_sqlalchemy import Schema, init_db

    prefix = f"soak{uuid.uuid4().hex[:10]}_"
    direct = template.format(port=port) + f"?table_prefix={prefix}"
    init_db(direct)
    try:
        with _proxied(host, port) as (proxy_port, command):
            url = template.format(port=proxy_port) + f"?table_prefix={prefix}&timeout=1"
            yield Store(
                url,
                hang=lambda: command("stall"),
                resume=lambda: command("restore"),
                how="a loopback proxy that stops passing bytes (async driver: "
                + ("asyncpg)" if driver == "psycopg" else "aiomysql)"),
            )
    finally:
        scheme, rest = template.format(port=port).split("://", 1)
        engine = create_engine(f"{scheme}+{driver}://{rest}")
        schema = Schema(prefix)
        with engine.begin() as conn:
            schema.metadata.drop_all(conn)
            conn.execute(text(f"DROP TABLE IF EXISTS {schema.version_table}"))
        engine.dispose()


async def _client(port: int, request: bytes, stop: float, run: Run, start: float) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < stop:
            sent = time.monotonic()
            writer.write(request)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            done = time.monotonic()
            status = int(status_line.split()[1])
            run.statuses[status] += 1
            run.latencies.append(done - sent)
            run.timeline.append((done - start, status))
    except (OSError, asyncio.IncompleteReadError, IndexError, ValueError):
        run.errors += 1
    finally:
        writer.close()


async def _load(port: int, token: str, seconds: float, run: Run) -> None:
    request = (
        f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        "X-Forwarded-Proto: https\r\n\r\n"
    ).encode()
    start = time.monotonic()
    stop = start + seconds
    await asyncio.gather(*(_client(port, request, stop, run, start) for _ in range(CONNECTIONS)))


def soak(name: str, seconds: float, outage: float) -> Run:
    with tempfile.TemporaryDirectory() as tmp, _store(name, Path(tmp)) as store:
        port = _free_port()
        args = [sys.executable, "-m", "benchmarks._app", "asgi", "memory", str(port)]
        if store.url is not None:
            args = [*args[:-2], "store", str(port), store.url]
        server = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            token = server.stdout.readline().split(" ")[1]
            _wait_for(port)
            run = Run(name, store.how if store.hang else "none", seconds)
            asyncio.run(_load(port, token, 1.0, Run(name, "", 1.0)))  # warm-up
            run.rss_start = _rss_mb(server.pid)
            hung_at = seconds / 2 - outage / 2
            resumed: list[float] = []

            async def drive() -> None:
                load = asyncio.ensure_future(_load(port, token, seconds, run))
                if store.hang is not None and store.resume is not None:
                    await asyncio.sleep(hung_at)
                    await asyncio.to_thread(store.hang)
                    await asyncio.sleep(outage)
                    await asyncio.to_thread(store.resume)
                    resumed.append(hung_at + outage)
                await load

            asyncio.run(drive())
            run.rss_end = _rss_mb(server.pid)
            if resumed:
                after = [t for t, status in run.timeline if t >= resumed[0] and status == 200]
                run.recovery = min(after) - resumed[0] if after else float("inf")
            return run
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=5)


def report(runs: list[Run], seconds: float, outage: float) -> str:
    lines = [
        f"{CONNECTIONS} connections, {seconds:g} s per store, the store hung for {outage:g} s "
        "in the middle.",
        "",
        "| store | outage | requests/s | p50 ms | p99 ms | statuses | recovery s "
        "| RSS MB start → end |",
        "|---|---|---:|---:|---:|---|---:|---|",
    ]
    for run in runs:
        total = sum(run.statuses.values())
        cut = statistics.quantiles(run.latencies, n=100) if len(run.latencies) > 1 else [0] * 99
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(run.statuses.items()))
        if run.errors:
            statuses += f", connection errors: {run.errors}"
        recovery = "" if run.recovery is None else f"{run.recovery:.2f}"
        lines.append(
            f"| {run.name} | {run.how} | {total / run.seconds:,.0f} | {cut[49] * 1000:.1f} "
            f"| {cut[98] * 1000:.1f} | {statuses} | {recovery} "
            f"| {run.rss_start:.1f} → {run.rss_end:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0, help="load per store (5 to 600)")
    parser.add_argument("--outage", type=float, default=8.0, help="the store hangs this long")
    parser.add_argument("--stores", default=",".join(STORES), help="comma-separated stores")
    args = parser.parse_args(argv)
    if not 5 <= args.seconds <= 600 or not 0 < args.outage < args.seconds / 2:
        parser.error("--seconds must be 5 to 600, and --outage under half of it")
    runs = []
    for name in args.stores.split(","):
        print(f"soaking {name} ...", file=sys.stderr, flush=True)
        runs.append(soak(name, args.seconds, args.outage))
    print(report(runs, args.seconds, args.outage))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.exit(main(sys.argv[1:]))
