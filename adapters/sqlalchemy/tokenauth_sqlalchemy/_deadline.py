"""Hard deadlines: one bound per statement on connect, pool wait, run and clean-up.

Drivers' own timeouts leave gaps. A synchronous psycopg statement on a server
that is stopped but still holds its socket waits forever:
its kernel acknowledges every packet, so neither ``tcp_user_timeout`` nor
keep-alives fire. An async driver cancelled by ``asyncio.wait_for`` first runs
its own cancellation clean-up, which psycopg bounds only at 10 s more.

So a deadline here is enforced from outside the driver:

- synchronous: a watchdog thread shuts down the socket of a connection still
  busy at the deadline, which makes the blocked call fail at once as a lost
  connection (the pool then discards it); a connect started late is given only
  the time that is left;
- asynchronous: the statement runs as a task that is abandoned at the deadline,
  cancelled, and left to finish its clean-up in the background, so the caller
  never waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
import threading
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine

__all__ = ["Deadline", "bounded", "guard_engine", "watch", "watch_dbapi"]

T = TypeVar("T")

_local = threading.local()


def _socket_of(dbapi_connection: Any) -> socket.socket | None:
    """A duplicate of the connection's socket, or None for a driver without one (SQLite)."""
    fileno: Any = getattr(dbapi_connection, "fileno", None)
    if fileno is None:
        sock = getattr(dbapi_connection, "_sock", None)  # PyMySQL
        fileno = getattr(sock, "fileno", None)
    if fileno is None:
        return None
    try:
        fd = fileno()
        if not isinstance(fd, int) or fd < 0:
            return None
        # A duplicate keeps the very socket alive for the watchdog, even if the
        # driver closes its descriptor and the number is reused by another.
        return socket.socket(fileno=os.dup(fd))
    except (OSError, ValueError, TypeError, AttributeError):
        return None


class Deadline:
    """The deadline of one statement on the calling thread; use as a context manager."""

    __slots__ = ("_socket", "at", "expired", "seconds")

    def __init__(self, seconds: float) -> None:
        """Start the clock: the statement has ``seconds`` from now."""
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self._socket: socket.socket | None = None

    def remaining(self) -> float:
        """Seconds left, never below zero."""
        return max(0.0, self.at - time.monotonic())

    def watch(self, dbapi_connection: Any) -> None:
        """Shut down this connection's socket if it is still in use at the deadline."""
        sock = _socket_of(dbapi_connection)
        if sock is None:
            return
        previous, self._socket = self._socket, sock
        _WATCHDOG.arm(self, sock)
        if previous is not None:
            previous.close()

    def __enter__(self) -> Deadline:
        _local.deadline = self
        return self

    def __exit__(self, *exc: object) -> None:
        _local.deadline = None
        sock, self._socket = self._socket, None
        if sock is not None:
            _WATCHDOG.disarm(self)
            sock.close()


def _current() -> Deadline | None:
    deadline: Deadline | None = getattr(_local, "deadline", None)
    return deadline


#: The longest the watchdog sleeps. Without it, every statement armed while nothing
#: else was would wake the thread, and each lookup would pay for two thread switches
#: (on a busy process, a wait for the GIL): most of a warm lookup's cost, measured.
_TICK = 0.25


class _Watchdog:
    """One thread for the process that fires expired deadlines, started on first use.

    It holds only the statements in flight (a few per pool), and sleeps until the
    earliest of their deadlines, or until a new one comes due sooner.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._armed: dict[int, tuple[Deadline, socket.socket]] = {}
        self._wakes_at = math.inf
        self._thread: threading.Thread | None = None

    def arm(self, deadline: Deadline, sock: socket.socket) -> None:
        with self._cond:
            self._armed[id(deadline)] = (deadline, sock)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="tokenauth-sql-deadlines", daemon=True
                )
                self._thread.start()
            elif deadline.at < self._wakes_at:
                self._cond.notify()

    def disarm(self, deadline: Deadline) -> None:
        with self._cond:
            self._armed.pop(id(deadline), None)

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for key, (deadline, sock) in list(self._armed.items()):
                    if deadline.at <= now:
                        del self._armed[key]
                        deadline.expired = True
                        with contextlib.suppress(OSError):
                            sock.shutdown(socket.SHUT_RDWR)
                earliest = min((d.at for d, _ in self._armed.values()), default=math.inf)
                # Wake at least every _TICK: a statement armed meanwhile whose deadline
                # is further off than that needs no signal, and costs no thread switch.
                self._wakes_at = min(earliest, now + _TICK)
                self._cond.wait(self._wakes_at - now)


_WATCHDOG = _Watchdog()


def watch(connection: Any) -> None:
    """Put a checked-out SQLAlchemy connection under the calling statement's deadline, if any."""
    watch_dbapi(connection.connection.dbapi_connection)


def watch_dbapi(dbapi_connection: Any) -> None:
    """Put a driver's connection under the calling statement's deadline, if any."""
    deadline = _current()
    if deadline is not None:
        deadline.watch(dbapi_connection)


#: Drivers whose ``connect_timeout`` bounds the whole connection set-up.
_CONNECT_TIMEOUT_DRIVERS = frozenset({"psycopg", "pymysql"})


def guard_engine(engine: Engine) -> Engine:
    """Make ``engine``'s new connections keep the calling statement's deadline.

    A connection opened for a statement gets only the time left (libpq counts
    whole seconds). Idempotent; returns ``engine``.
    """
    driver = engine.dialect.driver
    if driver in _CONNECT_TIMEOUT_DRIVERS and not event.contains(
        engine, "do_connect", _connect_in_time
    ):
        event.listen(engine, "do_connect", _connect_in_time)
    return engine


def _connect_in_time(_d: Any, _r: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
    deadline = _current()
    if deadline is None:
        return
    left = deadline.remaining()
    if left <= 0:
        raise TimeoutError("no time was left to connect before the deadline")
    given = cparams.get("connect_timeout")
    cparams["connect_timeout"] = min(given, math.ceil(left)) if given else math.ceil(left)


_BACKGROUND: set[asyncio.Task[Any]] = set()


def _reap(task: asyncio.Task[Any]) -> None:
    _BACKGROUND.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: an abandoned statement's failure is expected


async def bounded(awaitable: Awaitable[T], seconds: float | None) -> T:
    """Await ``awaitable`` for at most ``seconds``, never waiting for its clean-up.

    Raises:
        TimeoutError: The deadline passed; the work is cancelled and finishes
            its clean-up in the background.
    """
    if seconds is None:
        return await awaitable
    task = asyncio.ensure_future(awaitable)
    try:
        await asyncio.wait((task,), timeout=seconds)
    except asyncio.CancelledError:
        # Cancelled from outside: don't hold the caller for the clean-up either.
        _abandon(task)
        raise
    if task.done():
        return task.result()
    _abandon(task)
    raise TimeoutError(f"the statement did not finish within {seconds:g} s")


def _abandon(task: asyncio.Task[Any]) -> None:
    task.cancel()
    _BACKGROUND.add(task)
    task.add_done_callback(_reap)
