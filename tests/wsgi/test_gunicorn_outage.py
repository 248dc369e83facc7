"""The WSGI bindings under gunicorn, two workers, with a Redis token store that fails.

gunicorn runs in a subprocess over TLS; Redis is a throwaway server the test
stops and starts. While Redis hangs (SIGSTOP) or is down (killed), every request
to a secured path, and every login, is answered 503 within the store's bound;
once it answers again, the same token (hang) or a new login (restart, which
lost everything) is answered 200 again, by either worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.redis._servers import RedisServer, redis_server, require_redis_server
from tests.wsgi.apps import PASSWORD
from tests.wsgi.conftest import Certs
from tests.wsgi.test_contract import basic, bearer, expect
from tests.wsgi.test_gunicorn_logs import ROOT, _wait_for_port, stop

#: Short Redis timeouts: a hung Redis costs two attempts of 0.5 s and one backoff.
OPTIONS = "socket_timeout=0.5&connect_timeout=0.5&retries=1"
BOUND = 2 * 0.5 + 0.5
#: Allowance for a loaded machine: TLS, two workers, the client's own scheduling.
SLACK = 2.0
RECOVERY = 10.0
CONCURRENT = 8


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    require_redis_server()
    with redis_server(tmp_path) as started:
        yield started


@pytest.fixture
def gunicorn(redis: RedisServer, certs: Certs, tmp_path: Path) -> Iterator[str]:
    error_log, key_file = tmp_path / "error.log", tmp_path / "key"
    env = {
        **os.environ,
        "TOKENAUTH_TEST_FRAMEWORK": "flask",
        "TOKENAUTH_TEST_KEY_FILE": str(key_file),
        "TOKENAUTH_TEST_STORE": f"{redis.url}?{OPTIONS}",
    }
    command = [
        sys.executable, "-m", "gunicorn",
        # --preload: one app, so one signing key, for both workers (forked after it).
        "--bind", "127.0.0.1:0", "--workers", "2", "--threads", "4", "--preload",
        "--certfile", str(certs.cert_file), "--keyfile", str(certs.key_file),
        "--error-logfile", str(error_log), "--log-level", "info",
        "tests.wsgi.gunicorn_app:app",
    ]  # fmt: skip
    proc = subprocess.Popen(command, cwd=ROOT, env=env)  # our own command line
    try:
        yield f"https://127.0.0.1:{_wait_for_port(proc, error_log, key_file)}"
    finally:
        stop(proc)


def _all_503_within(client: httpx.Client, url: str, token: str) -> None:
    def one(_: int) -> tuple[int, float]:
        started = time.monotonic()
        status = client.get(f"{url}/api/me", headers=bearer(token)).status_code
        return status, time.monotonic() - started

    with ThreadPoolExecutor(CONCURRENT) as pool:
        answers = list(pool.map(one, range(CONCURRENT)))
    for status, took in answers:
        assert status == 503
        assert took < BOUND + SLACK, f"a request took {took:.2f} s, bound {BOUND} s"


def _recovers(client: httpx.Client, url: str, token: str) -> None:
    started = time.monotonic()
    while client.get(f"{url}/api/me", headers=bearer(token)).status_code != 200:
        assert time.monotonic() - started < RECOVERY, "gunicorn did not recover in time"
        time.sleep(0.05)
    # Both workers: enough requests that each serves some.
    for _ in range(8):
        expect(client.get(f"{url}/api/me", headers=bearer(token)), 200)


def test_gunicorn_answers_503_while_redis_hangs_then_recovers(
    gunicorn: str, redis: RedisServer, client: httpx.Client
) -> None:
    """Redis SIGSTOPped: 503 within the bound for requests and logins; SIGCONT: 200 again."""
    login = {"Authorization": basic(f"alice:{PASSWORD}")}
    token = expect(client.post(f"{gunicorn}/token", headers=login), 200)["token"]
    expect(client.get(f"{gunicorn}/api/me", headers=bearer(token)), 200)
    redis.pause()
    try:
        _all_503_within(client, gunicorn, token)
        assert client.post(f"{gunicorn}/token", headers=login).status_code == 503
    finally:
        redis.resume()
    _recovers(client, gunicorn, token)


def test_gunicorn_answers_503_while_redis_is_down_then_recovers(
    gunicorn: str, redis: RedisServer, client: httpx.Client
) -> None:
    """Redis killed: 503 at once; restarted empty: the old token is refused, a new login works."""
    login = {"Authorization": basic(f"alice:{PASSWORD}")}
    token = expect(client.post(f"{gunicorn}/token", headers=login), 200)["token"]
    redis.kill()
    _all_503_within(client, gunicorn, token)
    redis.start()
    # Nothing persisted: the token's record is gone, so it is refused, never accepted.
    started = time.monotonic()
    while (status := client.get(f"{gunicorn}/api/me", headers=bearer(token)).status_code) == 503:
        assert time.monotonic() - started < RECOVERY, "gunicorn did not recover in time"
        time.sleep(0.05)
    assert status == 401
    fresh = expect(client.post(f"{gunicorn}/token", headers=login), 200)["token"]
    _recovers(client, gunicorn, fresh)
