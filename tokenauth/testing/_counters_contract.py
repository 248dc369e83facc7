"""The login-counter contract: every counter store behaves like a dict of fixed windows.

A counter-store author subclasses :class:`LoginCountersContract` (or
:class:`AsyncLoginCountersContract`) and overrides one fixture that returns a
factory of fresh, empty counter stores. Times passed to the store start at the
real clock and only move forward, so stores that also expire keys natively
(Redis) are held to the same answers as those that do not.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from tokenauth._throttle import AsyncLoginCounters, LoginCounters, Window

from ._contract import _AsyncRunner, _Runner, _SyncRunner, stateful_settings

__all__ = ["AsyncLoginCountersContract", "LoginCountersContract"]

CountersFactory = Callable[[], LoginCounters]
AsyncCountersFactory = Callable[[], Awaitable[AsyncLoginCounters | LoginCounters]]

_KEYS = ["acct:0123456789abcdef0123456789abcdef", "client:203.0.113.7", "client:2001:db8::/64"]


def _machine(make: Callable[[], _Runner]) -> type[RuleBasedStateMachine]:
    class CountersMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.runner = make()
            self.now = int(time.time())
            self.model: dict[str, Window] = {}

        @initialize()
        def starts_empty(self) -> None:
            for key in _KEYS:
                assert self.runner.call("get", key, self.now) is None

        def _live(self, key: str) -> Window | None:
            window = self.model.get(key)
            return window if window is not None and window.resets_at > self.now else None

        @rule(key=st.sampled_from(_KEYS), window=st.integers(1, 120))
        def hit(self, key: str, window: int) -> None:
            live = self._live(key)
            expected = (
                Window(1, self.now + window)
                if live is None
                else Window(live.count + 1, live.resets_at)
            )
            self.model[key] = expected
            assert self.runner.call("hit", key, self.now, window) == expected

        @rule(key=st.sampled_from(_KEYS))
        def get(self, key: str) -> None:
            assert self.runner.call("get", key, self.now) == self._live(key)

        @rule(key=st.sampled_from(_KEYS))
        def undo(self, key: str) -> None:
            live = self._live(key)
            if live is not None and live.count > 0:
                self.model[key] = Window(live.count - 1, live.resets_at)
            self.runner.call("undo", key, self.now)
            assert self.runner.call("get", key, self.now) == self._live(key)

        @rule(key=st.sampled_from(_KEYS))
        def reset(self, key: str) -> None:
            self.model.pop(key, None)
            self.runner.call("reset", key)
            assert self.runner.call("get", key, self.now) is None

        @rule(seconds=st.integers(0, 130))
        def wait(self, seconds: int) -> None:
            self.now += seconds

        def teardown(self) -> None:
            self.runner.close()

    return CountersMachine


class _CountersContractBase:
    #: How many random operation sequences the stateful test runs.
    max_examples: ClassVar[int] = 30
    #: How many operations each sequence has at most.
    steps: ClassVar[int] = 25

    def _settings(self) -> settings:
        return stateful_settings(self.max_examples, self.steps)

    def _check_window(self, runner: _Runner) -> None:
        try:
            now = int(time.time())
            key = "client:198.51.100.1"
            assert [runner.call("hit", key, now, 60).count for _ in range(3)] == [1, 2, 3]
            assert runner.call("get", key, now + 59) == Window(3, now + 60)
            assert runner.call("get", key, now + 60) is None, "an ended window still counts"
            assert runner.call("hit", key, now + 60, 30) == Window(1, now + 90)
            runner.call("undo", key, now + 60)
            assert runner.call("get", key, now + 60) == Window(0, now + 90)
            runner.call("undo", key, now + 60)  # never below zero
            assert runner.call("get", key, now + 60) == Window(0, now + 90)
            runner.call("undo", "client:192.0.2.77", now)  # nothing to take back
            assert runner.call("get", "client:192.0.2.77", now) is None
            runner.call("reset", key)
            assert runner.call("get", key, now + 60) is None
            runner.call("reset", key)  # resetting nothing is fine
        finally:
            runner.close()

    def _check_keys_apart(self, runner: _Runner) -> None:
        try:
            now = int(time.time())
            runner.call("hit", _KEYS[0], now, 60)
            runner.call("hit", _KEYS[0], now, 60)
            runner.call("hit", _KEYS[1], now, 60)
            assert runner.call("get", _KEYS[0], now).count == 2
            assert runner.call("get", _KEYS[1], now).count == 1
            runner.call("reset", _KEYS[0])
            assert runner.call("get", _KEYS[1], now).count == 1
        finally:
            runner.close()


class LoginCountersContract(_CountersContractBase):
    """The contract for a synchronous :class:`~tokenauth.LoginCounters`.

    Subclass it in a test module (its name must start with ``Test``) and
    override the :meth:`counters_factory` fixture.
    """

    @pytest.fixture
    def counters_factory(self) -> CountersFactory:
        """Override: return (or yield) a callable that makes fresh, empty counters."""
        raise NotImplementedError("override the counters_factory fixture")

    def test_fixed_window(self, counters_factory: CountersFactory) -> None:
        """Hits count up within a window, which ends on time; undo takes one back; reset forgets."""
        self._check_window(_SyncRunner(counters_factory))  # type: ignore[arg-type]

    def test_keys_are_apart(self, counters_factory: CountersFactory) -> None:
        """Each key counts on its own."""
        self._check_keys_apart(_SyncRunner(counters_factory))  # type: ignore[arg-type]

    def test_concurrent_hits_are_all_counted(self, counters_factory: CountersFactory) -> None:
        """Sixteen threads hitting one key at once leave a count of sixteen."""
        counters = counters_factory()
        try:
            now = int(time.time())
            barrier = threading.Barrier(16)
            counts: list[int] = []

            def hit() -> None:
                barrier.wait()
                counts.append(counters.hit("client:192.0.2.9", now, 60).count)

            threads = [threading.Thread(target=hit) for _ in range(16)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert sorted(counts) == list(range(1, 17))
            window = counters.get("client:192.0.2.9", now)
            assert window is not None
            assert window.count == 16
        finally:
            counters.close()

    def test_behaves_like_a_dict_of_windows(self, counters_factory: CountersFactory) -> None:
        """Random sequences of hits, reads, resets and waits agree with a plain model."""
        machine = _machine(lambda: _SyncRunner(counters_factory))  # type: ignore[arg-type]
        run_state_machine_as_test(machine, settings=self._settings())


class AsyncLoginCountersContract(_CountersContractBase):
    """The contract for an :class:`~tokenauth.AsyncLoginCounters`.

    Override the :meth:`async_counters_factory` fixture to return an async
    callable that makes fresh, empty counters.
    """

    @pytest.fixture
    def async_counters_factory(self) -> AsyncCountersFactory:
        """Override: return (or yield) an async callable that makes fresh, empty counters."""
        raise NotImplementedError("override the async_counters_factory fixture")

    def _runner(self, factory: AsyncCountersFactory) -> _Runner:
        runner = _AsyncRunner(factory)  # type: ignore[arg-type]
        store: object = runner.store
        if not isinstance(store, AsyncLoginCounters):
            # Plain counters (MemoryCounters) serve the async driver as they are.
            return _Plain(runner)
        return runner

    def test_fixed_window(self, async_counters_factory: AsyncCountersFactory) -> None:
        """Hits count up within a window, which ends on time; undo takes one back; reset forgets."""
        self._check_window(self._runner(async_counters_factory))

    def test_keys_are_apart(self, async_counters_factory: AsyncCountersFactory) -> None:
        """Each key counts on its own."""
        self._check_keys_apart(self._runner(async_counters_factory))

    def test_concurrent_hits_are_all_counted(
        self, async_counters_factory: AsyncCountersFactory
    ) -> None:
        """Sixteen tasks hitting one key at once leave a count of sixteen."""

        async def race() -> list[int]:
            counters: Any = await async_counters_factory()
            now = int(time.time())
            try:
                windows = await asyncio.gather(
                    *(_maybe_await(counters.hit("client:192.0.2.9", now, 60)) for _ in range(16))
                )
                return [w.count for w in windows]
            finally:
                await _maybe_await(
                    counters.aclose() if hasattr(counters, "aclose") else counters.close()
                )

        assert sorted(asyncio.run(race())) == list(range(1, 17))

    def test_behaves_like_a_dict_of_windows(
        self, async_counters_factory: AsyncCountersFactory
    ) -> None:
        """Random sequences of hits, reads, resets and waits agree with a plain model."""
        machine = _machine(lambda: self._runner(async_counters_factory))
        run_state_machine_as_test(machine, settings=self._settings())


async def _maybe_await(value: Any) -> Any:
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
        return await value
    return value


class _Plain(_Runner):
    """Runs plain (non-async) counters made by an async factory."""

    def __init__(self, runner: _AsyncRunner) -> None:
        self.runner = runner

        self.store: Any = runner.store

    def call(self, name: str, *args: Any) -> Any:
        return getattr(self.store, name)(*args)

    def close(self) -> None:
        self.store.close()
        self.runner.loop.close()
