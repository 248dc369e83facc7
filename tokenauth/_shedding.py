"""Load shedding for password logins: refuse at once what the hash queue could not serve in time.

An argon2 hash takes tens of milliseconds of several cores. Under a flood of
password logins a queue forms, and a login at its end waits for every hash
ahead of it: with 200 logins at once on two cores, the last waited 48 s, far
past any client's timeout. :class:`HashQueue` runs the hashes, at most
``slots`` at once, keeps a running estimate of one hash's time, and admits a
new login only while the work ahead of it (plus its own hash) is expected to
finish within ``max_wait`` seconds. Anything else is answered 503 with
``Retry-After`` at once, which costs the server nearly nothing.

Token validations never enter the queue, so they are never shed.

One queue serves either front door: the async one holds a slot with ``async
with queue:`` around a hash in a worker thread, the sync one with ``with
queue:`` around a hash in the server's own request thread (a login waiting for
a slot waits in that thread). Admission is thread-safe for the sync case.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from types import TracebackType

from ._errors import ConfigurationError

__all__ = ["HashQueue"]

#: How much each measured hash moves the estimate (an exponential moving average).
_SMOOTHING = 0.2


class HashQueue:
    """Admission and slots for password hashes, shared by every login of a front door.

    Use it as the limiter of the driver (``async with queue:`` or ``with
    queue:`` around each hash) and ask :meth:`admit` before a login starts;
    every admitted login calls :meth:`release` once it is done, whatever the
    outcome.

    Args:
        slots: Hashes allowed to run at once.
        max_wait: The longest a login may expect to wait for its hash, in
            seconds; a login expected to wait longer is shed. None never sheds.
        estimate: The first guess of one hash's duration, in seconds (it is
            replaced by measurements as hashes run).
        clock: A monotonic clock, in seconds.
    """

    def __init__(
        self,
        slots: int,
        *,
        max_wait: float | None = 3.0,
        estimate: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Set up; see the class docstring."""
        if slots < 1:
            raise ConfigurationError("max_concurrent_hashes must be at least 1")
        if max_wait is not None and not max_wait > 0:
            raise ConfigurationError("the login wait bound must be a positive number of seconds")
        if not estimate > 0:
            raise ConfigurationError("the hash time estimate must be positive")
        self.slots = slots
        self.max_wait = max_wait
        self._estimate = estimate
        self._clock = clock
        self._pending = 0
        self._lock = threading.Lock()
        self._semaphore = asyncio.Semaphore(slots)
        self._started: dict[asyncio.Task[object] | None, float] = {}
        self._thread_slots = threading.Semaphore(slots)
        self._thread_started = threading.local()

    @property
    def pending(self) -> int:
        """Logins admitted and not yet done."""
        return self._pending

    @property
    def estimate(self) -> float:
        """The current estimate of one hash's duration, in seconds, under current load."""
        return self._estimate

    def expected_wait(self) -> float:
        """Seconds a login admitted now would wait until its own hash is done."""
        return (self._pending // self.slots + 1) * self._estimate

    def admit(self) -> int:
        """Admit one login, or say how long to wait before trying again.

        Returns:
            0 when admitted (call :meth:`release` once the login is done), else
            the whole seconds after which the queue should have drained enough
            (for ``Retry-After``; at least 1).
        """
        with self._lock:
            expected = self.expected_wait()
            if self.max_wait is not None and expected > self.max_wait:
                return max(1, math.ceil(expected - self.max_wait + self._estimate))
            self._pending += 1
            return 0

    def release(self) -> None:
        """One admitted login is done."""
        with self._lock:
            self._pending = max(0, self._pending - 1)

    def observe(self, seconds: float) -> None:
        """Fold one measured hash duration into the estimate."""
        if seconds > 0:
            with self._lock:
                self._estimate += _SMOOTHING * (seconds - self._estimate)

    def __enter__(self) -> None:
        """Wait, in this thread, for a hash slot; the time from here to the exit is measured."""
        self._thread_slots.acquire()
        self._thread_started.at = self._clock()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Free the slot and learn from the hash's duration."""
        started: float = self._thread_started.at
        self._thread_slots.release()
        if exc_type is None:
            self.observe(self._clock() - started)

    async def __aenter__(self) -> None:
        """Wait for a hash slot; the time from here to the exit is measured."""
        await self._semaphore.acquire()
        self._started[asyncio.current_task()] = self._clock()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Free the slot and learn from the hash's duration."""
        started = self._started.pop(asyncio.current_task(), None)
        self._semaphore.release()
        if started is not None and exc_type is None:
            self.observe(self._clock() - started)
