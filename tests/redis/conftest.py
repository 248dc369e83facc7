from __future__ import annotations

import contextlib
import itertools
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
import redis.cluster

from tests.services import REDIS_URL, require_redis

from ._servers import RedisServer, redis_cluster, require_redis_server


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The machine's Redis (tests.services.REDIS_URL), or skip when it does not answer."""
    return require_redis(REDIS_URL)


def with_option(url: str, name: str, value: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}{name}={quote(value, safe='')}"


@contextlib.contextmanager
def fresh_prefixes(
    url: str, cleanup: redis.Redis | redis.cluster.RedisCluster
) -> Iterator[Callable[[], str]]:
    """Store URLs, each with a key prefix of its own; every key under them is deleted after."""
    base = f"tokenauth-test:{uuid.uuid4().hex}:"
    counter = itertools.count()
    try:
        yield lambda: with_option(url, "prefix", f"{base}{next(counter)}:")
    finally:
        try:
            for key in list(cleanup.scan_iter(match=f"{base}*", count=1000)):
                cleanup.delete(key)
        finally:
            cleanup.close()


@pytest.fixture
def store_urls(redis_url: str) -> Iterator[Callable[[], str]]:
    """Fresh store URLs on the machine's Redis, cleaned up afterwards."""
    with fresh_prefixes(redis_url, redis.Redis.from_url(redis_url)) as make:
        yield make


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[RedisServer]]:
    """A three-primary Redis Cluster on loopback, started for this test run."""
    require_redis_server()
    workdir: Path = tmp_path_factory.mktemp("redis-cluster")
    with redis_cluster(workdir) as servers:
        yield servers


@pytest.fixture
def cluster_store_urls(cluster: list[RedisServer]) -> Iterator[Callable[[], str]]:
    """Fresh redis+cluster:// store URLs on the test cluster, cleaned up afterwards."""
    seeds = ",".join(f"127.0.0.1:{server.port}" for server in cluster)
    cleanup = redis.cluster.RedisCluster(host="127.0.0.1", port=cluster[0].port)
    with fresh_prefixes(f"redis+cluster://{seeds}", cleanup) as make:
        yield make
