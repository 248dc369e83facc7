"""The in-memory token store: the reference implementation of the store protocols."""

from __future__ import annotations

import threading

from ._errors import ConfigurationError, DuplicateTokenError
from ._store import AsyncTokenStore, CapOutcome, CapPolicy, Session, TokenRecord, TokenStore
from ._throttle import MemoryCounters

__all__ = ["AsyncMemoryStore", "MemoryStore"]


class MemoryStore:
    """A thread-safe token store in this process's memory, with a per-subject index.

    Everything is lost when the process ends, and nothing is shared between
    processes: use it for tests, demos and single-process servers.
    """

    __slots__ = ("_by_jti", "_by_subject", "_last_used", "_lock")

    def __init__(self) -> None:
        """Create an empty store."""
        self._lock = threading.Lock()
        self._by_jti: dict[str, TokenRecord] = {}
        self._by_subject: dict[str, dict[str, None]] = {}
        self._last_used: dict[str, int] = {}

    def add(self, record: TokenRecord) -> None:
        """Store a new record; raises DuplicateTokenError if the ``jti`` is taken."""
        with self._lock:
            self._insert(record)

    def _insert(self, record: TokenRecord) -> None:
        if record.jti in self._by_jti:
            raise DuplicateTokenError("a token with this jti is already stored")
        self._by_jti[record.jti] = record
        self._by_subject.setdefault(record.subject, {})[record.jti] = None

    def add_capped(
        self, record: TokenRecord, limit: int, policy: CapPolicy, now: int
    ) -> CapOutcome:
        """Store ``record`` unless its subject would exceed ``limit`` live tokens.

        See :meth:`tokenauth.CappedTokenStore.add_capped`; one lock makes it atomic.
        """
        with self._lock:
            if record.jti in self._by_jti:
                raise DuplicateTokenError("a token with this jti is already stored")
            live = sorted(
                (
                    r
                    for r in map(self._by_jti.__getitem__, self._by_subject.get(record.subject, ()))
                    if r.expires_at > now
                ),
                key=lambda r: (r.issued_at, r.jti),
            )
            excess = len(live) - limit + 1
            if excess > 0 and policy != "evict_oldest":
                return CapOutcome(False, (), len(live))
            evicted = tuple(live[: max(0, excess)])
            for victim in evicted:
                self._pop(victim.jti)
            self._insert(record)
            return CapOutcome(True, evicted, len(live))

    def touch(self, record: TokenRecord, at: int) -> None:
        """Record a use of ``record``'s token at ``at`` (never moving back); see SessionStore."""
        with self._lock:
            jti = record.jti
            if jti in self._by_jti and self._last_used.get(jti, -1) < at:
                self._last_used[jti] = at

    def list_sessions(self, subject: str) -> list[Session]:
        """The subject's records with their last use, oldest first."""
        last_used = self._last_used
        return [Session.of(r, last_used.get(r.jti)) for r in self.list_subject(subject)]

    def get(self, jti: str) -> TokenRecord | None:
        """Return the record for ``jti``, or None."""
        return self._by_jti.get(jti)

    def remove(self, jti: str) -> bool:
        """Remove one record; True if this call removed it."""
        with self._lock:
            return self._pop(jti)

    def _pop(self, jti: str) -> bool:
        record = self._by_jti.pop(jti, None)
        if record is None:
            return False
        self._last_used.pop(jti, None)
        jtis = self._by_subject[record.subject]
        del jtis[jti]
        if not jtis:
            del self._by_subject[record.subject]
        return True

    def remove_subject(self, subject: str) -> int:
        """Remove every record of ``subject``; returns how many."""
        with self._lock:
            jtis = self._by_subject.pop(subject, {})
            for jti in jtis:
                del self._by_jti[jti]
                self._last_used.pop(jti, None)
            return len(jtis)

    def list_subject(self, subject: str) -> list[TokenRecord]:
        """Return the records of ``subject``, oldest first."""
        with self._lock:
            records = [self._by_jti[j] for j in self._by_subject.get(subject, ())]
        return sorted(records, key=lambda r: (r.issued_at, r.jti))

    def purge_expired(self, now: int) -> int:
        """Remove every record with ``expires_at <= now``; returns how many."""
        with self._lock:
            expired = [jti for jti, r in self._by_jti.items() if r.expires_at <= now]
            for jti in expired:
                self._pop(jti)
            return len(expired)

    def close(self) -> None:
        """Drop every record."""
        with self._lock:
            self._by_jti.clear()
            self._by_subject.clear()
            self._last_used.clear()

    def __len__(self) -> int:
        """The number of stored records."""
        return len(self._by_jti)


class AsyncMemoryStore:
    """The in-memory store behind the asynchronous protocol, for ``AsyncTokenAuth``.

    Its methods never block, so they run on the event loop directly.
    """

    __slots__ = ("sync",)

    def __init__(self, store: MemoryStore | None = None) -> None:
        """Wrap ``store``, or a new empty :class:`MemoryStore`."""
        self.sync = store if store is not None else MemoryStore()

    async def add(self, record: TokenRecord) -> None:
        """Store a new record; raises DuplicateTokenError if the ``jti`` is taken."""
        self.sync.add(record)

    async def get(self, jti: str) -> TokenRecord | None:
        """Return the record for ``jti``, or None."""
        return self.sync.get(jti)

    async def remove(self, jti: str) -> bool:
        """Remove one record; True if this call removed it."""
        return self.sync.remove(jti)

    async def remove_subject(self, subject: str) -> int:
        """Remove every record of ``subject``; returns how many."""
        return self.sync.remove_subject(subject)

    async def list_subject(self, subject: str) -> list[TokenRecord]:
        """Return the records of ``subject``, oldest first."""
        return self.sync.list_subject(subject)

    async def purge_expired(self, now: int) -> int:
        """Remove every record with ``expires_at <= now``; returns how many."""
        return self.sync.purge_expired(now)

    async def add_capped(
        self, record: TokenRecord, limit: int, policy: CapPolicy, now: int
    ) -> CapOutcome:
        """See :meth:`MemoryStore.add_capped`."""
        return self.sync.add_capped(record, limit, policy, now)

    async def touch(self, record: TokenRecord, at: int) -> None:
        """See :meth:`MemoryStore.touch`."""
        self.sync.touch(record, at)

    async def list_sessions(self, subject: str) -> list[Session]:
        """See :meth:`MemoryStore.list_sessions`."""
        return self.sync.list_sessions(subject)

    async def aclose(self) -> None:
        """Drop every record."""
        self.sync.close()


class _MemoryBackend:
    """Opens ``memory://`` stores: each URL opened gives a new, empty store."""

    def open(self, url: str) -> TokenStore:
        _check_url(url)
        return MemoryStore()

    def open_async(self, url: str) -> AsyncTokenStore:
        _check_url(url)
        return AsyncMemoryStore()

    def open_counters(self, url: str) -> MemoryCounters:
        _check_url(url)
        return MemoryCounters()

    def open_async_counters(self, url: str) -> MemoryCounters:
        # MemoryCounters never blocks, and the async driver takes plain return values.
        return self.open_counters(url)


def _check_url(url: str) -> None:
    if url.lower().rstrip("/") != "memory:":
        raise ConfigurationError("the in-memory store takes no options: use 'memory://'")


open_memory_store = _MemoryBackend()
