"""How soon a token revoked in one process is refused by another, through a local view.

Redis's (client-side tracking) and PostgreSQL's (LISTEN/NOTIFY) are measured the
same way.

The other process holds the record in its local view and asks for it in a busy
loop (a busy server: its tracking thread has to win the GIL to apply the
invalidation). This process removes the record and notes the time just before
the remove; the other notes the time its first lookup misses. Both read
``time.monotonic()``, one clock for the whole machine on Linux.
"""

from __future__ import annotations

import random
import select
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

from tokenauth import TokenRecord, open_store

from .validation import REDIS_URL, _redis_available

TIMEOUT = 10.0

CHILD = """
import sys, time
from tokenauth import open_store

store = open_store(sys.argv[1])
while not store._view.current:
    time.sleep(0.01)
print("up", flush=True)
for line in sys.stdin:
    jti = line.strip()
    while store.get(jti) is None:
        time.sleep(0.001)
    print("ready", flush=True)
    while store.get(jti) is not None:
        pass
    print(time.monotonic(), flush=True)
store.close()
"""


def _read(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], TIMEOUT)
    if not ready:
        raise TimeoutError("the other process did not answer")
    return process.stdout.readline().strip()


def _measure(url: str, viewed_url: str, samples: int) -> dict[str, Any] | str:
    """Revoke ``samples`` records through ``url``; time their refusal by a viewed store."""
    store = open_store(url)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, viewed_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    latencies: list[float] = []
    try:
        assert child.stdin is not None
        if _read(child) != "up":
            return "the other process did not start its local view"
        now = int(time.time())
        for i in range(samples):
            jti = f"rev-{i}"
            record = TokenRecord(
                jti=jti, subject="alice", issued_at=now, expires_at=now + 600, method="password"
            )
            store.add(record)
            child.stdin.write(jti + "\n")
            child.stdin.flush()
            if _read(child) != "ready":
                return "the other process lost the protocol"
            time.sleep(random.uniform(0.001, 0.005))
            start = time.monotonic()
            store.remove(jti)
            seen = float(_read(child))
            latencies.append((seen - start) * 1000)
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()
        store.close()
    latencies.sort()
    return {
        "samples": len(latencies),
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "max_ms": latencies[-1],
    }


def run(*, samples: int) -> dict[str, Any] | str:
    """Through the Redis local view."""
    why = _redis_available()
    if why is not None:
        return why
    import redis

    prefix = f"tokenauth-bench:{uuid.uuid4().hex}:"
    url = f"{REDIS_URL}?prefix={prefix}"
    try:
        return _measure(url, f"{url}&local_view=true", samples)
    finally:
        cleanup = redis.Redis.from_url(REDIS_URL)
        for key in cleanup.scan_iter(match=f"{prefix}*", count=1000):
            cleanup.delete(key)
        cleanup.close()


def run_postgresql(*, samples: int) -> dict[str, Any] | str:
    """Through the PostgreSQL local view (LISTEN/NOTIFY), on tables of the run's own."""
    from .sql import POSTGRES_URL, tables

    try:
        with tables(POSTGRES_URL) as (url, _):
            return _measure(url, f"{url}&local_view=true", samples)
    except Exception as exc:  # a missing server or driver skips the measurement
        return f"PostgreSQL skipped: {type(exc).__name__}: {exc}"[:300]


def describe(measured: dict[str, Any]) -> str:
    return (
        f"{measured['samples']} revocations: p50 {measured['p50_ms']:.2f} ms, "
        f"p99 {measured['p99_ms']:.2f} ms, max {measured['max_ms']:.2f} ms "
        "(from just before the remove in one process to the first refusal in the other)"
    )
