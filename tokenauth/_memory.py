"""The in-memory token store: the reference implementation of the store protocols."""

from __future__ import annotations

import threading
from dataclasses import replace

from ._errors import ConfigurationError, DuplicateTokenError
from ._refresh import RefreshRecord
from ._store import AsyncTokenStore, CapOutcome, CapPolicy, Session, TokenRecord, TokenStore
from ._throttle import MemoryCounters

__all__ = ["AsyncMemoryStore", "MemoryStore"]


class MemoryStore:
    """A thread-safe token store in this process's memory, with a per-subject index.

    It keeps refresh tokens too (:class:`~tokenauth.RefreshStore`). Everything
    is lost when the process ends, and nothing is shared between processes:
    use it for tests, demos and single-process servers.
    """

    __slots__ = (
        "_by_jti",
        "_by_session",
        "_by_subject",
        "_last_used",
        "_lock",
        "_refresh",
        "_session_refresh",
    )

    def __init__(self) -> None:
        """Create an empty store."""
        self._lock = threading.Lock()
        self._by_jti: dict[str, TokenRecord] = {}
        self._by_subject: dict[str, dict[str, None]] = {}
        # session -> the jtis of its access tokens, and the digests of its refresh tokens.
        self._by_session: dict[str, dict[str, None]] = {}
        self._refresh: dict[str, RefreshRecord] = {}
        self._session_refresh: dict[str, dict[str, None]] = {}
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
        if record.session is not None:
            self._by_session.setdefault(record.session, {})[record.jti] = None

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
        _unlink(self._by_subject, record.subject, jti)
        if record.session is not None:
            _unlink(self._by_session, record.session, jti)
        return True

    def remove_subject(self, subject: str) -> int:
        """Remove every record of ``subject``; returns how many."""
        with self._lock:
            jtis = list(self._by_subject.get(subject, ()))
            for jti in jtis:
                self._pop(jti)
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
            self._by_session.clear()
            self._refresh.clear()
            self._session_refresh.clear()

    # -- refresh tokens (RefreshStore) -------------------------------------------------

    def start_session(self, record: RefreshRecord) -> None:
        """Store a session's first refresh token; DuplicateTokenError if its digest is taken."""
        with self._lock:
            self._add_refresh(record)

    def _add_refresh(self, record: RefreshRecord) -> None:
        if record.digest in self._refresh:
            raise DuplicateTokenError("a refresh token with this digest is already stored")
        self._refresh[record.digest] = record
        self._session_refresh.setdefault(record.session, {})[record.digest] = None

    def get_refresh(self, digest: str) -> RefreshRecord | None:
        """The record of the refresh token with ``digest``, used or not, or None."""
        return self._refresh.get(digest)

    def rotate_refresh(
        self, digest: str, successor: RefreshRecord, access: TokenRecord, now: int
    ) -> bool:
        """Trade a refresh token, atomically; see :meth:`tokenauth.RefreshStore.rotate_refresh`."""
        with self._lock:
            old = self._refresh.get(digest)
            if old is None or old.used or old.expires_at <= now:
                return False
            if successor.session != old.session or access.session != old.session:
                raise ValueError("the successor and the access token belong to another session")
            if successor.digest in self._refresh or access.jti in self._by_jti:
                raise DuplicateTokenError("the successor's digest or the jti is already stored")
            self._refresh[digest] = replace(old, used=True)
            self._add_refresh(successor)
            self._insert(access)
            return True

    def revoke_session(self, session: str) -> int:
        """End a session: remove its refresh tokens and its access tokens; returns how many."""
        with self._lock:
            return self._end(session)

    def _end(self, session: str) -> int:
        digests = self._session_refresh.pop(session, {})
        for digest in digests:
            del self._refresh[digest]
        jtis = list(self._by_session.get(session, ()))
        for jti in jtis:
            self._pop(jti)
        return len(digests) + len(jtis)

    def revoke_sessions(self, subject: str, api_key_id: str | None = None) -> int:
        """End every session of ``subject`` (only those of ``api_key_id``); returns how many."""
        with self._lock:
            sessions = {
                r.session
                for r in self._refresh.values()
                if r.subject == subject and (api_key_id is None or r.api_key_id == api_key_id)
            }
            for session in sessions:
                self._end(session)
            return len(sessions)

    def purge_refresh(self, now: int) -> int:
        """Remove every refresh token with ``expires_at <= now``; returns how many."""
        with self._lock:
            expired = [r for r in self._refresh.values() if r.expires_at <= now]
            for record in expired:
                del self._refresh[record.digest]
                _unlink(self._session_refresh, record.session, record.digest)
            return len(expired)

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

    async def start_session(self, record: RefreshRecord) -> None:
        """Store a session's first refresh token; DuplicateTokenError if its digest is taken."""
        self.sync.start_session(record)

    async def get_refresh(self, digest: str) -> RefreshRecord | None:
        """The record of the refresh token with ``digest``, used or not, or None."""
        return self.sync.get_refresh(digest)

    async def rotate_refresh(
        self, digest: str, successor: RefreshRecord, access: TokenRecord, now: int
    ) -> bool:
        """Trade a refresh token, atomically; see :meth:`tokenauth.RefreshStore.rotate_refresh`."""
        return self.sync.rotate_refresh(digest, successor, access, now)

    async def revoke_session(self, session: str) -> int:
        """End a session: remove its refresh tokens and its access tokens; returns how many."""
        return self.sync.revoke_session(session)

    async def revoke_sessions(self, subject: str, api_key_id: str | None = None) -> int:
        """End every session of ``subject`` (only those of ``api_key_id``); returns how many."""
        return self.sync.revoke_sessions(subject, api_key_id)

    async def purge_refresh(self, now: int) -> int:
        """Remove every refresh token with ``expires_at <= now``; returns how many."""
        return self.sync.purge_refresh(now)


def _unlink(index: dict[str, dict[str, None]], key: str, member: str) -> None:
    members = index[key]
    del members[member]
    if not members:
        del index[key]


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
