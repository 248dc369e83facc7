"""A process-local view of token records, kept exact by Redis's client-side tracking.

A store with a local view answers a repeated ``get`` from memory, and learns of
every change to a record from Redis itself: one extra connection per store asks
for ``CLIENT TRACKING ON BCAST PREFIX <prefix>t:`` with its invalidation
messages sent to itself (``REDIRECT`` to its own id, subscribed to
``__redis__:invalidate``), so Redis pushes the name of every record key that is
written, deleted or expires, by any client, to every process that holds a view.

What keeps the view exact:

- **Fills cannot outrun invalidations.** Before a miss is looked up, the jti is
  *reserved*; an invalidation of that jti (or the loss of the connection) drops
  the reservation, and the answer is only kept if its reservation is still there
  when it arrives. So a reply that raced a revocation is used for that one call
  (it was true when Redis answered) and never kept. Lookups of one jti in flight
  together share the reservation, and the first answer back is kept.
- **Own writes are forgotten at once**, before and after each write, without
  waiting for Redis's message.
- **Invalidations are read promptly even on a busy server.** The thread waits on
  the socket, but a thread that wants the GIL can wait a switch interval (5 ms)
  or more behind a busy event loop; so a lookup also reads whatever Redis has
  sent, at most once a millisecond, without blocking.
- **A view that cannot prove it is current is not used.** A ``PING`` goes down
  the tracking connection every ``max_lag / 4`` seconds; its ``PONG`` proves
  that every invalidation sent before it has arrived. When no ``PONG`` has come
  back for ``max_lag`` seconds, or the connection fails, the view is emptied and
  every ``get`` goes to Redis until a new connection is tracking again.
"""

from __future__ import annotations

import enum
import logging
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from redis.exceptions import RedisError

from tokenauth import TokenRecord

from ._flows import jti_of_key

__all__ = ["DEFAULT_MAX_LAG", "DEFAULT_VIEW_SIZE", "MISS", "LocalView", "Miss"]

_log = logging.getLogger("tokenauth.redis")

#: Seconds between reads of the tracking connection from the lookup path.
_DRAIN_EVERY = 0.001
#: Records a view keeps by default, and the longest it trusts itself without news.
DEFAULT_VIEW_SIZE = 100_000
DEFAULT_MAX_LAG = 1.0
_CHANNEL = b"__redis__:invalidate"
_BACKOFF_START = 0.05
_BACKOFF_CAP = 1.0


def _never_readable(timeout: float) -> bool:
    return False


def _readable_check(sock: socket.socket) -> Callable[[float], bool]:
    """Whether ``sock`` has data (or was closed), waiting up to ``timeout`` seconds.

    ``poll`` where the platform has it: ``select`` cannot watch a descriptor
    numbered 1024 or more, which a busy server's process reaches.
    """
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return lambda timeout: bool(poller.poll(timeout * 1000.0))
    return lambda timeout: bool(select.select([sock], [], [], timeout)[0])  # pragma: no cover


class Miss(enum.Enum):
    """The view has no answer: ask Redis."""

    MISS = enum.auto()


MISS = Miss.MISS

#: What a lookup returns: a record, None (known absent), or MISS.
Found = TokenRecord | None | Miss


class LocalView:
    """Record lookups by jti, kept exact by a tracking connection followed in a thread.

    Args:
        connect: Makes a new, unconnected redis-py ``Connection`` to the store's
            server (the view connects it, and speaks RESP2 on it).
        record_prefix: The key prefix of record keys (the store's prefix and ``t:``).
        max_entries: Records kept; the oldest goes first when full.
        max_lag: Seconds without proof of being current before the view stops answering.
    """

    def __init__(
        self,
        connect: Callable[[], Any],
        record_prefix: bytes,
        *,
        max_entries: int = DEFAULT_VIEW_SIZE,
        max_lag: float = DEFAULT_MAX_LAG,
    ) -> None:
        """Start following the tracking connection in a daemon thread."""
        if max_entries < 1 or not max_lag > 0:
            raise ValueError("a local view needs max_entries >= 1 and max_lag > 0")
        self._connect = connect
        self._prefix = record_prefix
        self._max_entries = max_entries
        self._max_lag = max_lag
        self._entries: dict[str, TokenRecord | None] = {}
        self._reserved: dict[str, object] = {}
        self._lock = threading.Lock()
        # Held by whoever reads the tracking connection: its thread, or a lookup.
        self._reading = threading.Lock()
        self._connection: Any = None
        # Whether the tracking connection's socket has news, for lookups (under _reading).
        self._readable: Callable[[float], bool] = _never_readable
        #: The server's id for the tracking connection, once there is one.
        self.client_id: int | None = None
        self._pings: deque[float] = deque()
        self._drained_at = float("-inf")
        # Monotonic time up to which every invalidation is known to have arrived.
        self._current_at = float("-inf")
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._follow, name="tokenauth-redis-view", daemon=True
        )
        self._thread.start()

    # -- the store's side ------------------------------------------------------------

    @property
    def current(self) -> bool:
        """Whether the view is tracking and has recently proved itself current."""
        return time.monotonic() - self._current_at < self._max_lag

    def lookup(self, jti: str) -> Found:
        """The record (or None, known absent) for ``jti``, or MISS to ask Redis."""
        now = time.monotonic()
        if now - self._current_at >= self._max_lag:
            return MISS
        if now - self._drained_at >= _DRAIN_EVERY:
            self._drained_at = now
            self._drain_now()
        return self._entries.get(jti, MISS)

    def _drain_now(self) -> None:
        # Never waits: if the thread is reading, it is applying the news already.
        if not self._reading.acquire(blocking=False):
            return
        try:
            connection = self._connection
            # A drain always empties the parser's buffer, so news waits on the socket,
            # which one poll asks about more cheaply than the parser's own check.
            if connection is not None and self._readable(0.0):
                self._drain(connection)
        except (RedisError, OSError):
            # The thread meets the same failure on its next read, and empties the view.
            with self._lock:
                self._current_at = float("-inf")
        finally:
            self._reading.release()

    def reserve(self, jti: str) -> object | None:
        """Before asking Redis about ``jti``: a ticket to :meth:`fill` with, or None.

        Lookups of the same jti in flight together share a ticket, so the first
        answer to arrive is kept. A ticket only stands for "no news of this jti
        since it was made": every sharer asked Redis after that, so each answer
        is as good as the ticket. (A fresh ticket per lookup would let each new
        lookup void the ones in flight, and under steady load no answer would
        ever be kept.)
        """
        with self._lock:
            if time.monotonic() - self._current_at >= self._max_lag:
                return None
            ticket = self._reserved.get(jti)
            if ticket is None:
                ticket = self._reserved[jti] = object()
        return ticket

    def fill(self, jti: str, ticket: object | None, record: TokenRecord | None) -> None:
        """Keep Redis's answer, unless ``jti`` changed (or tracking broke) since :meth:`reserve`."""
        if ticket is None:
            return
        with self._lock:
            if self._reserved.get(jti) is not ticket:
                return
            del self._reserved[jti]
            entries = self._entries
            entries.pop(jti, None)
            while len(entries) >= self._max_entries:
                del entries[next(iter(entries))]
            entries[jti] = record

    def release(self, jti: str, ticket: object | None) -> None:
        """Drop a reservation whose lookup failed."""
        with self._lock:
            if ticket is not None and self._reserved.get(jti) is ticket:
                del self._reserved[jti]

    def forget(self, jtis: Iterable[str]) -> None:
        """Drop what the view knows of ``jtis`` (their records are being written).

        A name ending with ``.`` stands for every jti that starts with it: the
        tokens of a login session (``<session>.<random>``) whose session ends.
        """
        with self._lock:
            for jti in jtis:
                if jti.endswith("."):
                    known = [j for j in (*self._entries, *self._reserved) if j.startswith(jti)]
                    for each in known:
                        self._entries.pop(each, None)
                        self._reserved.pop(each, None)
                    continue
                self._entries.pop(jti, None)
                self._reserved.pop(jti, None)

    def close(self) -> None:
        """Stop following; the view answers nothing afterwards."""
        self._stop.set()
        self._lose()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=self._max_lag + 1)

    def __len__(self) -> int:
        """How many jtis the view holds an answer for."""
        return len(self._entries)

    # -- the tracking connection ---------------------------------------------------------

    def _lose(self) -> None:
        with self._lock:
            self._current_at = float("-inf")
            self._entries.clear()
            self._reserved.clear()

    def _follow(self) -> None:
        backoff = _BACKOFF_START
        while not self._stop.is_set():
            connection: Any = None
            try:
                connection = self._connect()
                self._track(connection)
                backoff = _BACKOFF_START
                self._listen(connection)
            except (RedisError, OSError, ValueError) as exc:
                if self._stop.is_set():
                    break
                _log.warning(
                    "the Redis local view lost its tracking connection (%s); "
                    "reading from Redis until it is back",
                    type(exc).__name__,
                )
            finally:
                with self._reading:
                    self._connection = None
                    self._readable = _never_readable
                self._lose()
                if connection is not None:
                    connection.disconnect()
            self._stop.wait(backoff)
            backoff = min(backoff * 2, _BACKOFF_CAP)

    def _track(self, connection: Any) -> None:
        connection.connect()
        connection.send_command("CLIENT", "ID")
        client_id = connection.read_response()
        self.client_id = int(client_id)
        connection.send_command(
            "CLIENT", "TRACKING", "ON", "REDIRECT", client_id, "BCAST", "PREFIX", self._prefix
        )
        if connection.read_response() not in (b"OK", "OK"):
            raise ValueError("Redis refused CLIENT TRACKING")
        connection.send_command("SUBSCRIBE", _CHANNEL)
        connection.read_response()
        # From here on, Redis reports every write to a record key; the view starts empty.
        with self._reading:
            self._pings.clear()
            self._connection = connection
            self._readable = _readable_check(connection._sock)
        with self._lock:
            self._entries.clear()
            self._reserved.clear()
            self._current_at = time.monotonic()

    def _listen(self, connection: Any) -> None:
        interval = self._max_lag / 4
        next_ping = time.monotonic()
        # The thread's own check: a poll object is not to be used by two threads at once,
        # and lookups use theirs (under _reading) while this one waits.
        wait = _readable_check(connection._sock)
        while not self._stop.is_set():
            with self._reading:
                now = time.monotonic()
                if now >= next_ping:
                    connection.send_command("PING")
                    self._pings.append(now)
                    next_ping = now + interval
                if self._pings and now - self._pings[0] >= self._max_lag:
                    raise TimeoutError("no PONG on the tracking connection")
                self._drain(connection)
                if self._current_at == float("-inf"):
                    raise ConnectionError("a lookup found the tracking connection broken")
            # Wait for news on the socket itself: whatever a parser had buffered was
            # read by the drain above, under the same lock.
            wait(max(0.0, min(interval, next_ping - now)))

    def _drain(self, connection: Any) -> None:
        """Apply every message Redis has sent so far; the caller holds ``_reading``."""
        while connection.can_read(timeout=0):
            message = connection.read_response()
            kind = message[0] if isinstance(message, list) and message else None
            if kind == b"message" and message[1] == _CHANNEL:
                self._invalidate(message[2])
            elif kind == b"pong" and self._pings:
                sent = self._pings.popleft()
                with self._lock:
                    if self._current_at != float("-inf"):
                        self._current_at = max(self._current_at, sent)

    def _invalidate(self, keys: list[bytes] | None) -> None:
        if keys is None:
            # FLUSHDB or FLUSHALL: everything may have changed.
            with self._lock:
                self._entries.clear()
                self._reserved.clear()
            return
        size = len(self._prefix)
        self.forget(
            jti_of_key(key[size:]).decode("utf-8", "surrogatepass")
            for key in keys
            if key.startswith(self._prefix)
        )
