"""The password-hash queue: admission by expected wait, slots, and the learned hash time."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenauth import ConfigurationError, Overloaded
from tokenauth._shedding import HashQueue


class StepClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    "kwargs", [{"slots": 0}, {"slots": 1, "max_wait": 0}, {"slots": 1, "estimate": 0.0}]
)
def test_nonsense_is_refused(kwargs: dict[str, float]) -> None:
    """Slots, the wait bound and the first estimate must be positive."""
    with pytest.raises(ConfigurationError):
        HashQueue(**kwargs)  # type: ignore[arg-type]


def test_admits_while_the_expected_wait_fits() -> None:
    """With 2 slots, 1 s hashes and a 3 s bound, six logins fit and the seventh is shed."""
    queue = HashQueue(2, max_wait=3.0, estimate=1.0)
    assert [queue.admit() for _ in range(6)] == [0] * 6
    assert queue.expected_wait() == 4.0
    assert queue.admit() == 2  # 4 s expected, 3 s allowed: back under the bound in 2 s
    assert queue.pending == 6
    queue.release()
    queue.release()
    assert queue.admit() == 0


def test_without_a_bound_nothing_is_shed() -> None:
    """max_wait=None admits every login, however long the queue."""
    queue = HashQueue(1, max_wait=None, estimate=5.0)
    assert all(queue.admit() == 0 for _ in range(100))


def test_release_never_goes_below_zero() -> None:
    """A stray release does not make room that is not there."""
    queue = HashQueue(1, estimate=1.0)
    queue.release()
    assert queue.pending == 0


@given(st.lists(st.floats(0.001, 10.0), min_size=1, max_size=50))
def test_the_estimate_stays_within_what_was_seen(durations: list[float]) -> None:
    """The learned hash time always lies between the smallest and largest seen."""
    queue = HashQueue(1, estimate=durations[0])
    for seconds in durations:
        queue.observe(seconds)
    assert min(durations) - 1e-9 <= queue.estimate <= max(durations) + 1e-9


@given(st.integers(1, 8), st.floats(0.01, 2.0), st.floats(0.1, 10.0), st.integers(0, 300))
def test_an_admitted_login_is_expected_within_the_bound(
    slots: int, estimate: float, bound: float, arrivals: int
) -> None:
    """Whatever arrives, a login is admitted exactly when its expected wait fits the bound."""
    queue = HashQueue(slots, max_wait=bound, estimate=estimate)
    for _ in range(arrivals):
        expected = queue.expected_wait()
        if queue.admit() == 0:
            assert expected <= bound
        else:
            assert expected > bound


def test_hashes_are_measured_and_limited_to_the_slots() -> None:
    """At most `slots` run at once, and each one's duration moves the estimate."""
    clock = StepClock()
    queue = HashQueue(2, estimate=1.0, clock=clock)
    running = 0
    most = 0

    async def one_hash() -> None:
        nonlocal running, most
        async with queue:
            running += 1
            most = max(most, running)
            await asyncio.sleep(0)
            clock.now += 0.5  # every hash "takes" half a second of this clock
            running -= 1

    async def main() -> None:
        await asyncio.gather(*(one_hash() for _ in range(6)))

    asyncio.run(main())
    assert most == 2
    assert queue.estimate < 1.0


def test_the_shed_answer() -> None:
    """503 temporarily_unavailable with Retry-After, and no challenge."""
    result = Overloaded.login(3)
    assert result.status == 503
    assert dict(result.headers)["Retry-After"] == "3"
    assert "WWW-Authenticate" not in dict(result.headers)
    assert result.json["error"] == "temporarily_unavailable"
    assert dict(Overloaded.login(0).headers)["Retry-After"] == "1"
