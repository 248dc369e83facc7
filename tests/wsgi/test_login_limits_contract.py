"""The 429 rows of the HTTP contract through each WSGI flavour, over cheroot and TLS."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import httpx
import pytest

from tests.services import require_redis
from tests.wsgi.apps import PASSWORD, make_auth
from tests.wsgi.conftest import Site
from tokenauth import Limit, LoginCounters, LoginThrottle, MemoryCounters, open_counters


def basic(raw: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode("ascii")}


@pytest.fixture(params=["memory", "redis", "sqlite"])
def counters(request: pytest.FixtureRequest, tmp_path: Path) -> LoginCounters:
    if request.param == "memory":
        return MemoryCounters()
    if request.param == "sqlite":
        from tokenauth_sqlalchemy import init_db

        url = f"sqlite:///{tmp_path / 'counters.db'}"
        init_db(url)
        return open_counters(url)
    return open_counters(f"{require_redis()}?prefix=tokenauth-test:{uuid.uuid4().hex}:")


def test_the_login_past_the_limit_gets_429_and_unknown_accounts_alike(
    client: httpx.Client, site: Site, counters: LoginCounters
) -> None:
    """Three failures per account, then 429 with Retry-After, for real and made-up users."""
    site.mount(make_auth(throttle=LoginThrottle(counters, per_account=Limit(3, 60))))
    try:
        answers = []
        for user in ("alice", "nobody-here"):
            for _ in range(3):
                wrong = client.post(f"{site.https}/token", headers=basic(f"{user}:nope"))
                assert wrong.status_code == 401
            answers.append(client.post(f"{site.https}/token", headers=basic(f"{user}:{PASSWORD}")))
        real, made_up = answers
        assert real.status_code == made_up.status_code == 429
        assert real.content == made_up.content
        assert 1 <= int(real.headers["retry-after"]) <= 60
        assert real.headers["cache-control"] == "no-store"
        assert real.json()["error"] == "too_many_requests"
    finally:
        counters.close()
