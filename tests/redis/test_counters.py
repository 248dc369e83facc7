"""Login counters in Redis: the counter contract, sync and async, on a server and a Cluster."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tokenauth import (
    AsyncLoginCounters,
    LoginCounters,
    StoreUnreachableError,
    open_async_counters,
    open_counters,
)
from tokenauth.testing import AsyncLoginCountersContract, LoginCountersContract


class TestRedisCountersContract(LoginCountersContract):
    @pytest.fixture
    def counters_factory(self, store_urls: Callable[[], str]) -> Callable[[], LoginCounters]:
        return lambda: open_counters(store_urls())


class TestAsyncRedisCountersContract(AsyncLoginCountersContract):
    @pytest.fixture
    def async_counters_factory(
        self, store_urls: Callable[[], str]
    ) -> Callable[[], Awaitable[AsyncLoginCounters | LoginCounters]]:
        async def make() -> AsyncLoginCounters | LoginCounters:
            return open_async_counters(store_urls())

        return make


class TestClusterCountersContract(LoginCountersContract):
    max_examples = 10

    @pytest.fixture
    def counters_factory(
        self, cluster_store_urls: Callable[[], str]
    ) -> Callable[[], LoginCounters]:
        return lambda: open_counters(cluster_store_urls())


def test_unreachable_redis_is_a_store_error() -> None:
    """Counters on a Redis that does not answer raise StoreUnreachableError (a login gets 503)."""
    counters = open_counters("redis://127.0.0.1:1/0?socket_timeout=0.2&connect_timeout=0.2")
    try:
        with pytest.raises(StoreUnreachableError):
            counters.hit("client:192.0.2.1", 1_800_000_000, 60)
    finally:
        counters.close()
