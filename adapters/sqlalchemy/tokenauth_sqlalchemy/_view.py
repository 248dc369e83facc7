"""A process-local view of token records for PostgreSQL, kept exact by LISTEN/NOTIFY.

A store opened with ``local_view=true`` answers a repeated ``get`` from memory
and learns of every change to a record from PostgreSQL itself: a trigger on the
tokens table (migration 0002) sends ``NOTIFY <prefix>tokens`` with the ``jti``
of every row inserted, updated or deleted, by any client, and one extra
connection per store, followed in a thread, listens on that channel.

What keeps the view exact:

- **PostgreSQL's own order.** A notification is sent when, and only if, its
  transaction commits, and every listener receives the notifications of all
  sessions in commit order.
- **Fills cannot outrun notifications.** Before a miss is looked up, the jti
  is *reserved*; a notification of that jti (or the loss of the connection)
  drops the reservation, and the answer is only kept if its reservation is
  still there when it arrives. So a reply that raced a revocation is used for
  that one call (it was true when the database answered) and never kept.
- **Own writes are forgotten at once**, before and after each write, without
  waiting for the notification.
- **Notifications are read promptly even in a busy process.** The thread waits
  on the socket, but a thread that wants the GIL can wait a switch interval
  (5 ms) or more behind busy request handlers; so a lookup also reads whatever
  has arrived, at most once a millisecond, without blocking.
- **A view that cannot prove it is current is not used.** Every
  ``max_lag / 4`` seconds the listening connection sends a notification to a
  channel of its own; since notifications arrive in commit order, its return
  proves that every change committed before it has been applied. When none has
  come back for ``max_lag`` seconds, or the connection fails, the view is
  emptied and every ``get`` goes to the database until a new connection is
  listening again. A table without the trigger is never followed at all.
"""

from __future__ import annotations

import enum
import logging
import math
import secrets
import select
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from tokenauth import ConfigurationError, TokenRecord

if TYPE_CHECKING:
    from ._url import StoreURL

__all__ = [
    "DEFAULT_MAX_LAG",
    "DEFAULT_VIEW_SIZE",
    "MISS",
    "LocalView",
    "Miss",
    "MissingTriggerError",
    "open_view",
]

_log = logging.getLogger("tokenauth.sqlalchemy")

#: Seconds between reads of the listening connection from the lookup path.
_DRAIN_EVERY = 0.001
#: Records a view keeps by default, and the longest it trusts itself without news.
DEFAULT_VIEW_SIZE = 100_000
DEFAULT_MAX_LAG = 1.0
_BACKOFF_START = 0.05
_BACKOFF_CAP = 1.0
_NEVER = float("-inf")


class MissingTriggerError(RuntimeError):
    """The tokens table has no notification trigger: the view cannot follow it."""


def _never_readable(timeout: float) -> bool:
    return False


def _readable_check(fd: int) -> Callable[[float], bool]:
    """Whether ``fd`` has data (or was closed), waiting up to ``timeout`` seconds.

    ``poll`` where the platform has it: ``select`` cannot watch a descriptor
    numbered 1024 or more, which a busy server's process reaches.
    """
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return lambda timeout: bool(poller.poll(timeout * 1000.0))
    return lambda timeout: bool(select.select([fd], [], [], timeout)[0])  # pragma: no cover


class Miss(enum.Enum):
    """The view has no answer: ask the database."""

    MISS = enum.auto()


MISS = Miss.MISS

#: What a lookup returns: a record, None (known absent), or MISS.
Found = TokenRecord | None | Miss


class LocalView:
    """Record lookups by jti, kept exact by a listening connection followed in a thread.

    Args:
        connect: Opens a new psycopg connection in autocommit to the store's database.
        prefix: The store's table prefix (the table is ``<prefix>tokens``, and so is
            the channel).
        max_entries: Records kept; the oldest goes first when full.
        max_lag: Seconds without proof of being current before the view stops answering.
    """

    def __init__(
        self,
        connect: Callable[[], Any],
        prefix: str,
        *,
        max_entries: int = DEFAULT_VIEW_SIZE,
        max_lag: float = DEFAULT_MAX_LAG,
    ) -> None:
        """Start following the listening connection in a daemon thread."""
        if max_entries < 1 or not max_lag > 0:
            raise ValueError("a local view needs max_entries >= 1 and max_lag > 0")
        self._connect = connect
        self._table = f"{prefix}tokens"
        self._channel = self._table.encode()
        # A channel of this view's own for its pings: nobody else hears them.
        self._ping_channel = f"{prefix}tokens_ping_{secrets.token_hex(4)}"
        self._ping_bytes = self._ping_channel.encode()
        self._max_entries = max_entries
        self._max_lag = max_lag
        self._entries: dict[str, TokenRecord | None] = {}
        self._reserved: dict[str, object] = {}
        self._lock = threading.Lock()
        # Held by whoever reads the listening connection: its thread, or a lookup.
        self._reading = threading.Lock()
        self._pgconn: Any = None
        self._readable: Callable[[float], bool] = _never_readable
        self._querying = False
        self._pings: deque[tuple[bytes, float]] = deque()
        self._sent = 0
        #: The server process of the listening connection, once there is one.
        self.backend_pid: int | None = None
        self._drained_at = _NEVER
        # Monotonic time up to which every notification is known to have arrived.
        self._current_at = _NEVER
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._follow, name="tokenauth-postgresql-view", daemon=True
        )
        self._thread.start()

    # -- the store's side ------------------------------------------------------------

    @property
    def current(self) -> bool:
        """Whether the view is listening and has recently proved itself current."""
        return time.monotonic() - self._current_at < self._max_lag

    def lookup(self, jti: str) -> Found:
        """The record (or None, known absent) for ``jti``, or MISS to ask the database."""
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
            pgconn = self._pgconn
            if pgconn is not None and self._readable(0.0):
                self._drain(pgconn)
        except Exception:
            # The thread meets the same failure on its next read, and empties the view.
            with self._lock:
                self._current_at = _NEVER
        finally:
            self._reading.release()

    def reserve(self, jti: str) -> object | None:
        """Before asking the database about ``jti``: a ticket to :meth:`fill` with, or None.

        Lookups of the same jti in flight together share a ticket, so the first
        answer to arrive is kept; a ticket stands for "no news of this jti since
        it was made", and every sharer asked the database after that.
        """
        with self._lock:
            if time.monotonic() - self._current_at >= self._max_lag:
                return None
            ticket = self._reserved.get(jti)
            if ticket is None:
                ticket = self._reserved[jti] = object()
        return ticket

    def fill(self, jti: str, ticket: object | None, record: TokenRecord | None) -> None:
        """Keep the database's answer, unless ``jti`` changed (or listening broke) meanwhile."""
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

    def forget(self, jtis: Iterable[str] | None) -> None:
        """Drop what the view knows of ``jtis`` (None: of every jti), which are being written."""
        with self._lock:
            if jtis is None:
                self._entries.clear()
                self._reserved.clear()
                return
            for jti in jtis:
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

    # -- the listening connection -----------------------------------------------------

    def _lose(self) -> None:
        with self._lock:
            self._current_at = _NEVER
            self._entries.clear()
            self._reserved.clear()

    def _follow(self) -> None:
        backoff = _BACKOFF_START
        while not self._stop.is_set():
            connection: Any = None
            try:
                connection = self._connect()
                self._listen_on(connection)
                backoff = _BACKOFF_START
                self._listen(connection.pgconn)
            except MissingTriggerError as exc:
                _log.error("the PostgreSQL local view is off: %s", exc)
                backoff = _BACKOFF_CAP * 10
            except Exception as exc:
                if self._stop.is_set():
                    break
                _log.warning(
                    "the PostgreSQL local view lost its listening connection (%s); "
                    "reading from the database until it is back",
                    type(exc).__name__,
                )
            finally:
                with self._reading:
                    self._pgconn = None
                    self._readable = _never_readable
                self._lose()
                if connection is not None:
                    connection.close()
            self._stop.wait(backoff)
            backoff = min(backoff * 2, _BACKOFF_CAP)

    def _listen_on(self, connection: Any) -> None:
        found = connection.execute(
            "SELECT 1 FROM pg_trigger WHERE tgname = %s AND tgrelid = to_regclass(%s)",
            (f"{self._table}_notify", self._table),
        ).fetchone()
        if found is None:
            raise MissingTriggerError(
                f"the table {self._table} has no notification trigger; add it with "
                "'tokenauth db init --store URL' (until then every get asks the database)"
            )
        # What arrives while psycopg itself reads (the LISTENs below) comes here;
        # afterwards the connection is read only through its libpq handle.
        connection.add_notify_handler(lambda n: self._heard(n.channel.encode(), n.payload.encode()))
        connection.execute(f'LISTEN "{self._table}"')
        connection.execute(f'LISTEN "{self._ping_channel}"')
        self.backend_pid = connection.info.backend_pid
        pgconn = connection.pgconn
        # From here on, every committed change to the table is announced; the view starts empty.
        with self._reading:
            self._pings.clear()
            self._querying = False
            self._pgconn = pgconn
            self._readable = _readable_check(pgconn.socket)
        with self._lock:
            self._entries.clear()
            self._reserved.clear()
            self._current_at = time.monotonic()

    def _listen(self, pgconn: Any) -> None:
        interval = self._max_lag / 4
        next_ping = time.monotonic()
        # The thread's own check: a poll object is not to be used by two threads at once,
        # and lookups use theirs (under _reading) while this one waits.
        wait = _readable_check(pgconn.socket)
        while not self._stop.is_set():
            with self._reading:
                now = time.monotonic()
                if now >= next_ping and not self._querying:
                    self._ping(pgconn, now)
                    next_ping = now + interval
                if self._pings and now - self._pings[0][1] >= self._max_lag:
                    raise TimeoutError("no answer to the view's ping on the listening connection")
                self._drain(pgconn)
                if self._current_at == _NEVER:
                    raise ConnectionError("a lookup found the listening connection broken")
            wait(max(0.0, min(interval, next_ping - now)))

    def _ping(self, pgconn: Any, now: float) -> None:
        self._sent += 1
        payload = str(self._sent).encode()
        pgconn.send_query(b"SELECT pg_notify('%s', '%s')" % (self._ping_bytes, payload))
        self._querying = True
        self._pings.append((payload, now))

    def _drain(self, pgconn: Any) -> None:
        """Apply every notification that has arrived; the caller holds ``_reading``."""
        pgconn.flush()
        pgconn.consume_input()  # raises when the server has closed the connection
        if pgconn.status != 0:  # CONNECTION_OK
            raise ConnectionError("the listening connection is broken")
        while self._querying and not pgconn.is_busy():
            result = pgconn.get_result()
            if result is None:
                self._querying = False
            elif result.status != 2:  # PGRES_TUPLES_OK
                raise ConnectionError("the view's ping failed")
        while (notice := pgconn.notifies()) is not None:
            self._heard(notice.relname, notice.extra)

    def _heard(self, channel: bytes, payload: bytes) -> None:
        if channel == self._ping_bytes:
            # Pings come back in the order they were sent.
            while self._pings:
                sent_payload, sent = self._pings.popleft()
                if sent_payload == payload:
                    with self._lock:
                        if self._current_at != _NEVER:
                            self._current_at = max(self._current_at, sent)
                    break
            return
        if channel != self._channel:
            return
        if payload.startswith(b"j:"):
            self.forget((payload[2:].decode("utf-8", "surrogateescape"),))
        else:
            # A TRUNCATE ("*"), or anything not understood: everything may have changed.
            self.forget(None)


def open_view(url: StoreURL) -> LocalView:
    """The local view a store opened from ``url`` asked for; it listens through psycopg.

    The listening connection goes to the URL's host, port, user, password and
    database; a psycopg URL's other query parameters (``sslmode``, ...) go to it
    as well, an asyncpg URL's do not (they are asyncpg's own).

    Raises:
        ConfigurationError: psycopg is not installed.
    """
    try:
        import psycopg
    except ImportError as exc:
        raise ConfigurationError(
            "the PostgreSQL local view listens through psycopg, which is not installed: "
            "pip install 'tokenauth-sqlalchemy[postgresql]'"
        ) from exc
    args = url.url.translate_connect_args(username="user", database="dbname")
    params: dict[str, Any] = {key: value for key, value in args.items() if value is not None}
    if url.driver == "psycopg":
        params.update({k: v for k, v in url.url.query.items() if isinstance(v, str)})
    params.setdefault("connect_timeout", max(1, math.ceil(url.timeout)))
    params.setdefault("tcp_user_timeout", max(1, math.ceil(url.timeout * 1000)))
    params.setdefault("application_name", "tokenauth-local-view")
    return LocalView(
        lambda: psycopg.connect(autocommit=True, **params),
        url.table_prefix,
        max_entries=url.local_view_size,
        max_lag=url.local_view_max_lag,
    )
