"""Helpers for tests that need a real service (PostgreSQL, MariaDB, Redis)."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

#: Connection URLs of the services this machine runs; each can be overridden by environment.
POSTGRES_URL = os.environ.get(
    "TOKENAUTH_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MARIADB_URL = os.environ.get("TOKENAUTH_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("TOKENAUTH_TEST_REDIS", "redis://127.0.0.1:6379/0")


def services_required() -> bool:
    """True when a missing service must fail the run (CI sets TOKENAUTH_REQUIRE_SERVICES=1)."""
    return os.environ.get("TOKENAUTH_REQUIRE_SERVICES") == "1"


def unavailable(service: str, why: str) -> NoReturn:
    """Skip the test with a clear reason, or fail it when services are required."""
    message = f"{service} is not available: {why}"
    if services_required():
        pytest.fail(f"{message} (TOKENAUTH_REQUIRE_SERVICES=1)")
    pytest.skip(message)


def require_redis(url: str = REDIS_URL) -> str:
    """``url`` when its Redis answers PING; else skip (or fail, when services are required)."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable("redis", f"{url} did not answer PING ({exc})")
    finally:
        client.close()
    return url
