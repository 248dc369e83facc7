"""The token store and the registries, each sync and async, over one set of operations."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.engine import Engine

from tokenauth import (
    AlreadyExistsError,
    ApiKeyRecord,
    CapOutcome,
    CapPolicy,
    RefreshRecord,
    Session,
    StoreError,
    TokenRecord,
    UserRecord,
)

from ._deadline import guard_engine
from ._engine import make_async_engine, make_engine, store_error
from ._ops import ApiKeyOps, Op, RefreshOps, TokenOps, UserOps
from ._run import Plain, run_async, run_sync, run_transaction, run_transaction_async
from ._schema import Schema
from ._url import parse_url
from ._view import MISS, LocalView, open_view

if TYPE_CHECKING:
    # Importing sqlalchemy.ext.asyncio needs greenlet, an optional extra.
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "AsyncSQLApiKeyRegistry",
    "AsyncSQLTokenStore",
    "AsyncSQLUserRegistry",
    "SQLApiKeyRegistry",
    "SQLTokenStore",
    "SQLUserRegistry",
]

T = TypeVar("T")
S = TypeVar("S", bound="_Sync")
A = TypeVar("A", bound="_Async")

DEFAULT_PURGE_BATCH_SIZE = 1000
#: A statement's deadline, end to end, in multiples of the URL's ``timeout``: one
#: for the pool wait, one for a connect, one for the statement itself.
DEADLINE_TIMEOUTS = 3


class _Sync:
    """An engine, the schema, a statement's deadline, and whether closing disposes of the engine."""

    def __init__(
        self, engine: Engine, *, schema: Schema | None = None, timeout: float | None = None
    ) -> None:
        self.engine = guard_engine(engine) if timeout is not None else engine
        self.schema = schema if schema is not None else Schema()
        self.timeout = timeout
        self._owns_engine = False
        # True for the engines this adapter makes, which run in autocommit; an
        # engine given by the caller gets a short transaction per statement.
        self._autocommit = False
        # A token store opened with local_view=true (PostgreSQL) has one.
        self._view: LocalView | None = None
        # Lookups' SQL compiled for the driver's own cursor (see _run.Plain).
        self._plain: dict[int, Plain | None] = {}

    @classmethod
    def _open(cls: type[S], url: str, *, token_store: bool = False) -> S:
        parsed = parse_url(url)
        # The prefix is checked before the engine exists: a bad one touches no database.
        schema = Schema(parsed.table_prefix)
        engine = make_engine(parsed)
        extra = {"purge_batch_size": parsed.purge_batch_size} if token_store else {}
        opened = cls(engine, schema=schema, timeout=DEADLINE_TIMEOUTS * parsed.timeout, **extra)
        opened._owns_engine = True
        opened._autocommit = True
        if token_store and parsed.local_view:
            opened._view = open_view(parsed)
        if parsed.in_memory_sqlite:
            # Nothing else can ever reach this database to initialise it.
            try:
                schema.metadata.create_all(engine)
            except Exception as exc:
                engine.dispose()
                raise store_error(exc, "creating the tables") from exc
        return opened

    def _run(self, op: Op[T]) -> T:
        return run_sync(
            self.engine,
            op,
            deadline=self.timeout,
            autocommit=self._autocommit,
            plain=self._plain if self._autocommit else None,
        )

    def _run_transaction(self, make_op: Callable[[], Op[T]]) -> T:
        return run_transaction(
            self.engine, make_op, deadline=self.timeout, autocommit=self._autocommit
        )

    def close(self) -> None:
        """Release the connections, if this object opened the engine itself."""
        if self._view is not None:
            self._view.close()
        if self._owns_engine:
            self.engine.dispose()


class _Async:
    """The async twin of :class:`_Sync`."""

    def __init__(
        self, engine: AsyncEngine, *, schema: Schema | None = None, timeout: float | None = None
    ) -> None:
        self.engine = engine
        self.schema = schema if schema is not None else Schema()
        self.timeout = timeout
        self._owns_engine = False
        self._autocommit = False
        self._view: LocalView | None = None
        self._plain: dict[int, Plain | None] = {}
        self._create_tables = False
        self._init_lock: asyncio.Lock | None = None

    @classmethod
    def _open(cls: type[A], url: str, *, token_store: bool = False) -> A:
        parsed = parse_url(url, asynchronous=True)
        schema = Schema(parsed.table_prefix)
        engine = make_async_engine(parsed)
        extra = {"purge_batch_size": parsed.purge_batch_size} if token_store else {}
        # One statement may wait for the pool, then a connect, then run: each
        # bounded by the timeout, so the whole is bounded by three of them.
        opened = cls(engine, schema=schema, timeout=DEADLINE_TIMEOUTS * parsed.timeout, **extra)
        opened._owns_engine = True
        opened._autocommit = True
        # Created on first use: opening is not a coroutine.
        opened._create_tables = parsed.in_memory_sqlite
        if token_store and parsed.local_view:
            opened._view = open_view(parsed)
        return opened

    async def _run(self, op: Op[T]) -> T:
        if self._create_tables:
            await self._create()
        return await run_async(
            self.engine,
            op,
            deadline=self.timeout,
            autocommit=self._autocommit,
            plain=self._plain if self._autocommit else None,
            timeout=None if self.timeout is None else self.timeout / DEADLINE_TIMEOUTS,
        )

    async def _run_transaction(self, make_op: Callable[[], Op[T]]) -> T:
        if self._create_tables:
            await self._create()
        return await run_transaction_async(
            self.engine, make_op, deadline=self.timeout, autocommit=self._autocommit
        )

    async def _create(self) -> None:
        if self._init_lock is None:
            self._init_lock = asyncio.Lock()
        async with self._init_lock:
            if not self._create_tables:
                return
            try:
                async with self.engine.begin() as conn:
                    await conn.run_sync(self.schema.metadata.create_all)
            except Exception as exc:
                raise store_error(exc, "creating the tables") from exc
            self._create_tables = False

    async def aclose(self) -> None:
        """Release the connections, if this object opened the engine itself."""
        if self._view is not None:
            self._view.close()
        if self._owns_engine:
            await self.engine.dispose()


class SQLTokenStore(_Sync):
    """A :class:`~tokenauth.TokenStore` in an SQL database, on a SQLAlchemy Engine.

    Each method is one statement (a purge, two per batch), in autocommit on an
    engine the store opened from a URL and in a short transaction of its own on
    an engine it was given; a lookup is one indexed read. Driver
    failures raise :class:`~tokenauth.StoreError`, and
    :class:`~tokenauth.StoreUnreachableError` when the database does not answer.

    Args:
        engine: The engine; the store never disposes of an engine it was given.
        schema: The tables (default: the ``tokenauth_`` prefix on a new MetaData).
        purge_batch_size: Rows deleted per transaction by :meth:`purge_expired`.
        timeout: Seconds each statement may take end to end (pool wait, connect,
            pre-ping, run, commit), enforced from outside the driver; past it the
            call raises StoreUnreachableError. None leaves it to the driver.
            Stores opened by URL use three times the URL's ``timeout``.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        schema: Schema | None = None,
        purge_batch_size: int = DEFAULT_PURGE_BATCH_SIZE,
        timeout: float | None = None,
    ) -> None:
        """Create the store; see the class docstring."""
        super().__init__(engine, schema=schema, timeout=timeout)
        self.purge_batch_size = purge_batch_size
        self._ops = TokenOps(self.schema, purge_batch_size)
        self._refresh = RefreshOps(self.schema, self._ops, purge_batch_size)

    @classmethod
    def from_url(cls, url: str) -> SQLTokenStore:
        """Open a store for a URL such as ``postgresql+psycopg://host/db?table_prefix=auth_``.

        Args:
            url: A SQLAlchemy URL; the query may also carry ``table_prefix``,
                ``purge_batch_size`` and ``timeout`` (seconds).

        Returns:
            A store that owns its engine (:meth:`close` disposes of it).

        Raises:
            ConfigurationError: A bad URL or option, or a missing driver.
        """
        return cls._open(url, token_store=True)

    def add(self, record: TokenRecord) -> None:
        """Store a new record; raises DuplicateTokenError if the ``jti`` is taken."""
        self._write(self._ops.add(record), (record.jti,))

    def get(self, jti: str) -> TokenRecord | None:
        """Return the record for ``jti``, or None (from the local view, if any, when it knows)."""
        view = self._view
        if view is None:
            return self._run(self._ops.get(jti))
        found = view.lookup(jti)
        if found is not MISS:
            return found
        ticket = view.reserve(jti)
        try:
            record = self._run(self._ops.get(jti))
        except BaseException:
            view.release(jti, ticket)
            raise
        view.fill(jti, ticket, record)
        return record

    def remove(self, jti: str) -> bool:
        """Remove one record; True if this call removed it."""
        return self._write(self._ops.remove(jti), (jti,))

    def remove_subject(self, subject: str) -> int:
        """Remove every record of ``subject``; returns how many."""
        return self._write(self._ops.remove_subject(subject), None)

    def _write(self, op: Op[T], jtis: tuple[str, ...] | None) -> T:
        # The local view forgets what is written (None: everything) before and after
        # the write, so no lookup in between is kept and this process sees it at once.
        view = self._view
        if view is None:
            return self._run(op)
        view.forget(jtis)
        try:
            return self._run(op)
        finally:
            view.forget(jtis)

    def list_subject(self, subject: str) -> list[TokenRecord]:
        """Return the records of ``subject``, oldest first (ties by ``jti``)."""
        return self._run(self._ops.list_subject(subject))

    def purge_expired(self, now: int) -> int:
        """Remove every record with ``expires_at <= now``, in batches; returns how many."""
        return self._write(self._ops.purge_expired(now), None)

    def add_capped(
        self, record: TokenRecord, limit: int, policy: CapPolicy, now: int
    ) -> CapOutcome:
        """Store ``record`` unless its subject would exceed ``limit`` live tokens.

        One transaction that locks the subject's row in ``token_subjects``, counts,
        evicts (``"evict_oldest"``) and inserts; see
        :meth:`tokenauth.CappedTokenStore.add_capped`.
        """
        view, jtis = self._view, (record.jti,)
        if view is not None:
            view.forget(jtis)
        try:
            make = _capped(self._ops, record, limit, policy, now)
            outcome = self._run_transaction(make)
            if outcome is None:
                # The subject's first capped login: make its lock row, then go again.
                with contextlib.suppress(AlreadyExistsError):
                    self._run(self._ops.add_subject(record.subject))
                outcome = self._run_transaction(make)
        finally:
            if view is not None:
                view.forget(jtis)
        return _locked(outcome, view)

    def touch(self, record: TokenRecord, at: int) -> None:
        """Record a use of ``record``'s token at ``at`` (one UPDATE; never moving back)."""
        self._run(self._ops.touch(record.jti, at))

    def list_sessions(self, subject: str) -> list[Session]:
        """The subject's records with their last use, oldest first."""
        return self._run(self._ops.list_sessions(subject))

    # -- refresh tokens (tokenauth.RefreshStore) ---------------------------------------

    def _atomic(self, make_op: Callable[[], Op[T]], jtis: tuple[str, ...] | None) -> T:
        view = self._view
        if view is not None:
            view.forget(jtis)
        try:
            return self._run_transaction(make_op)
        finally:
            if view is not None:
                view.forget(jtis)

    def start_session(self, record: RefreshRecord) -> None:
        """Store a session and its first refresh token, in one transaction."""
        self._atomic(lambda: self._refresh.start_session(record), ())

    def get_refresh(self, digest: str) -> RefreshRecord | None:
        """The record of the refresh token with ``digest``, used or not, or None."""
        return self._run(self._refresh.get_refresh(digest))

    def rotate_refresh(
        self, digest: str, successor: RefreshRecord, access: TokenRecord, now: int
    ) -> bool:
        """Trade a refresh token in one transaction; see ``tokenauth.RefreshStore``."""
        ops = self._refresh
        return self._atomic(lambda: ops.rotate(digest, successor, access, now), (access.jti,))

    def revoke_session(self, session: str) -> int:
        """End a session in one transaction: its refresh and access tokens; returns how many."""
        return self._atomic(lambda: self._refresh.revoke_session(session), None)

    def revoke_sessions(self, subject: str, api_key_id: str | None = None) -> int:
        """End every session of ``subject`` (only those of ``api_key_id``); returns how many.

        Each session ends in a transaction of its own.
        """
        sessions = self._run(self._refresh.subject_sessions(subject, api_key_id))
        for session in sessions:
            self.revoke_session(session)
        return len(sessions)

    def purge_refresh(self, now: int) -> int:
        """Remove every refresh token with ``expires_at <= now``, in batches; returns how many."""
        return self._run(self._refresh.purge(now))


class AsyncSQLTokenStore(_Async):
    """An :class:`~tokenauth.AsyncTokenStore` on a SQLAlchemy AsyncEngine.

    The async twin of :class:`SQLTokenStore`, with the same arguments.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        schema: Schema | None = None,
        purge_batch_size: int = DEFAULT_PURGE_BATCH_SIZE,
        timeout: float | None = None,
    ) -> None:
        """Create the store; see :class:`SQLTokenStore`.

        ``timeout`` bounds each statement end to end (pool wait, connect, run and
        the driver's cancellation clean-up, which is left to finish in the
        background), in seconds; past it the call raises StoreUnreachableError.
        None leaves it to the driver. Stores opened by URL use three times the
        URL's ``timeout``.
        """
        super().__init__(engine, schema=schema, timeout=timeout)
        self.purge_batch_size = purge_batch_size
        self._ops = TokenOps(self.schema, purge_batch_size)
        self._refresh = RefreshOps(self.schema, self._ops, purge_batch_size)

    @classmethod
    def from_url(cls, url: str) -> AsyncSQLTokenStore:
        """Open a store for an async URL such as ``postgresql+asyncpg://host/db``.

        See :meth:`SQLTokenStore.from_url`; a URL without a driver gets the
        default async driver (aiosqlite, asyncpg, aiomysql).
        """
        return cls._open(url, token_store=True)

    async def add(self, record: TokenRecord) -> None:
        """Store a new record; raises DuplicateTokenError if the ``jti`` is taken."""
        await self._write(self._ops.add(record), (record.jti,))

    async def get(self, jti: str) -> TokenRecord | None:
        """Return the record for ``jti``, or None (from the local view, if any, when it knows)."""
        view = self._view
        if view is None:
            return await self._run(self._ops.get(jti))
        found = view.lookup(jti)
        if found is not MISS:
            return found
        ticket = view.reserve(jti)
        try:
            record = await self._run(self._ops.get(jti))
        except BaseException:
            view.release(jti, ticket)
            raise
        view.fill(jti, ticket, record)
        return record

    async def remove(self, jti: str) -> bool:
        """Remove one record; True if this call removed it."""
        return await self._write(self._ops.remove(jti), (jti,))

    async def remove_subject(self, subject: str) -> int:
        """Remove every record of ``subject``; returns how many."""
        return await self._write(self._ops.remove_subject(subject), None)

    async def _write(self, op: Op[T], jtis: tuple[str, ...] | None) -> T:
        # As SQLTokenStore._write.
        view = self._view
        if view is None:
            return await self._run(op)
        view.forget(jtis)
        try:
            return await self._run(op)
        finally:
            view.forget(jtis)

    async def list_subject(self, subject: str) -> list[TokenRecord]:
        """Return the records of ``subject``, oldest first (ties by ``jti``)."""
        return await self._run(self._ops.list_subject(subject))

    async def purge_expired(self, now: int) -> int:
        """Remove every record with ``expires_at <= now``, in batches; returns how many."""
        return await self._write(self._ops.purge_expired(now), None)

    async def add_capped(
        self, record: TokenRecord, limit: int, policy: CapPolicy, now: int
    ) -> CapOutcome:
        """Store ``record`` unless its subject would exceed ``limit``; see SQLTokenStore."""
        view, jtis = self._view, (record.jti,)
        if view is not None:
            view.forget(jtis)
        try:
            make = _capped(self._ops, record, limit, policy, now)
            outcome = await self._run_transaction(make)
            if outcome is None:
                with contextlib.suppress(AlreadyExistsError):
                    await self._run(self._ops.add_subject(record.subject))
                outcome = await self._run_transaction(make)
        finally:
            if view is not None:
                view.forget(jtis)
        return _locked(outcome, view)

    async def touch(self, record: TokenRecord, at: int) -> None:
        """Record a use of ``record``'s token at ``at`` (one UPDATE; never moving back)."""
        await self._run(self._ops.touch(record.jti, at))

    async def list_sessions(self, subject: str) -> list[Session]:
        """The subject's records with their last use, oldest first."""
        return await self._run(self._ops.list_sessions(subject))

    # -- refresh tokens (tokenauth.AsyncRefreshStore) -----------------------------------

    async def _atomic(self, make_op: Callable[[], Op[T]], jtis: tuple[str, ...] | None) -> T:
        view = self._view
        if view is not None:
            view.forget(jtis)
        try:
            return await self._run_transaction(make_op)
        finally:
            if view is not None:
                view.forget(jtis)

    async def start_session(self, record: RefreshRecord) -> None:
        """Store a session and its first refresh token, in one transaction."""
        await self._atomic(lambda: self._refresh.start_session(record), ())

    async def get_refresh(self, digest: str) -> RefreshRecord | None:
        """The record of the refresh token with ``digest``, used or not, or None."""
        return await self._run(self._refresh.get_refresh(digest))

    async def rotate_refresh(
        self, digest: str, successor: RefreshRecord, access: TokenRecord, now: int
    ) -> bool:
        """Trade a refresh token in one transaction; see ``tokenauth.RefreshStore``."""
        ops = self._refresh
        return await self._atomic(lambda: ops.rotate(digest, successor, access, now), (access.jti,))

    async def revoke_session(self, session: str) -> int:
        """End a session in one transaction: its refresh and access tokens; returns how many."""
        return await self._atomic(lambda: self._refresh.revoke_session(session), None)

    async def revoke_sessions(self, subject: str, api_key_id: str | None = None) -> int:
        """End every session of ``subject`` (only those of ``api_key_id``); returns how many."""
        sessions = await self._run(self._refresh.subject_sessions(subject, api_key_id))
        for session in sessions:
            await self.revoke_session(session)
        return len(sessions)

    async def purge_refresh(self, now: int) -> int:
        """Remove every refresh token with ``expires_at <= now``, in batches; returns how many."""
        return await self._run(self._refresh.purge(now))


class SQLUserRegistry(_Sync):
    """A :class:`~tokenauth.UserRegistry` in an SQL database (argon2id hashes only).

    Args:
        engine: The engine; never disposed of by the registry.
        schema: The tables (default: the ``tokenauth_`` prefix on a new MetaData).
        timeout: Each statement's deadline, as for :class:`SQLTokenStore`.
    """

    def __init__(
        self, engine: Engine, *, schema: Schema | None = None, timeout: float | None = None
    ) -> None:
        """Create the registry; see the class docstring."""
        super().__init__(engine, schema=schema, timeout=timeout)
        self._ops = UserOps(self.schema)

    @classmethod
    def from_url(cls, url: str) -> SQLUserRegistry:
        """Open a registry for a URL, as :meth:`SQLTokenStore.from_url` does."""
        return cls._open(url)

    def get_user(self, username: str) -> UserRecord | None:
        """Return the user, or None."""
        return self._run(self._ops.get_user(username))

    def add_user(self, record: UserRecord) -> None:
        """Add a user; raises AlreadyExistsError if the username is taken."""
        self._run(self._ops.add_user(record))

    def set_password_hash(self, username: str, password_hash: str) -> bool:
        """Replace a user's hash; False if there is no such user."""
        return self._run(self._ops.set_password_hash(username, password_hash))

    def set_disabled(self, username: str, disabled: bool) -> bool:
        """Disable or enable a user; False if there is no such user."""
        return self._run(self._ops.set_disabled(username, disabled))

    def delete_user(self, username: str) -> bool:
        """Remove a user; False if there is no such user. Their tokens stay: revoke them."""
        return self._run(self._ops.delete_user(username))

    def list_users(self) -> list[UserRecord]:
        """Return every user, by username (code-point order)."""
        return self._run(self._ops.list_users())


class AsyncSQLUserRegistry(_Async):
    """An :class:`~tokenauth.AsyncUserRegistry` on an AsyncEngine; see :class:`SQLUserRegistry`."""

    def __init__(
        self, engine: AsyncEngine, *, schema: Schema | None = None, timeout: float | None = None
    ) -> None:
        """Create the registry; see :class:`SQLUserRegistry` and :class:`AsyncSQLTokenStore`."""
        super().__init__(engine, schema=schema, timeout=timeout)
        self._ops = UserOps(self.schema)

    @classmethod
    def from_url(cls, url: str) -> AsyncSQLUserRegistry:
        """Open a registry for an async URL, as :meth:`AsyncSQLTokenStore.from_url` does."""
        return cls._open(url)

    async def get_user(self, username: str) -> UserRecord | None:
        """Return the user, or None."""
        return await self._run(self._ops.get_user(username))

    async def add_user(self, record: UserRecord) -> None:
        """Add a user; raises AlreadyExistsError if the username is taken."""
        await self._run(self._ops.add_user(record))

    async def set_password_hash(self, username: str, password_hash: str) -> bool:
        """Replace a user's hash; False if there is no such user."""
        return await self._run(self._ops.set_password_hash(username, password_hash))

    async def set_disabled(self, username: str, disabled: bool) -> bool:
        """Disable or enable a user; False if there is no such user."""
        return await self._run(self._ops.set_disabled(username, disabled))

    async def delete_user(self, username: str) -> bool:
        """Remove a user; False if there is no such user. Their tokens stay: revoke them."""
        return await self._run(self._ops.delete_user(username))

    async def list_users(self) -> list[UserRecord]:
        """Return every user, by username (code-point order)."""
        return await self._run(self._ops.list_users())


class SQLApiKeyRegistry(_Sync):
    """An :class:`~tokenauth.ApiKeyRegistry` in an SQL database (digests only, never keys).

    Args:
        engine: The engine; never disposed of by the registry.
        schema: The tables (default: the ``tokenauth_`` prefix on a new MetaData).
        timeout: Each statement's deadline, as for :class:`SQLTokenStore`.
    """

    def __init__(
        self, engine: Engine, *, schema: Schema | None = None, timeout: float | None = None
    ) -> None:
        """Create the registry; see the class docstring."""
        super().__init__(engine, schema=schema, timeout=timeout)
        self._ops = ApiKeyOps(self.schema)

    @classmethod
    def from_url(cls, url: str) -> SQLApiKeyRegistry:
        """Open a registry for a URL, as :meth:`SQLTokenStore.from_url` does."""
        return cls._open(url)

    def add_key(self, record: ApiKeyRecord) -> None:
        """Add a key; raises AlreadyExistsError if its id or digest is taken."""
        self._run(self._ops.add_key(record))

    def find_by_digest(self, digest: str) -> ApiKeyRecord | None:
        """Return the key with this digest (revoked or not), or None."""
        return self._run(self._ops.find_by_digest(digest))

    def get_key(self, key_id: str) -> ApiKeyRecord | None:
        """Return the key with this id, or None."""
        return self._run(self._ops.get_key(key_id))

    def list_keys(self, subject: str | None = None) -> list[ApiKeyRecord]:
        """Return the keys of ``subject`` (every key when None), oldest first."""
        return self._run(self._ops.list_keys(subject))

    def touch_key(self, key_id: str, at: int) -> None:
        """Record a successful use of the key at Unix time ``at``."""
        self._run(self._ops.touch_key(key_id, at))

    def revoke_key(self, key_id: str, at: int) -> bool:
        """Revoke the key at ``at``; True if this call revoked an active key."""
        return self._run(self._ops.revoke_key(key_id, at))


class AsyncSQLApiKeyRegistry(_Async):
    """An :class:`~tokenauth.AsyncApiKeyRegistry` on an AsyncEngine.

    The async twin of :class:`SQLApiKeyRegistry`, with the same arguments.
    """

    def __init__(
        self, engine: AsyncEngine, *, schema: Schema | None = None, timeout: float | None = None
    ) -> None:
        """Create the registry; see :class:`SQLApiKeyRegistry` and :class:`AsyncSQLTokenStore`."""
        super().__init__(engine, schema=schema, timeout=timeout)
        self._ops = ApiKeyOps(self.schema)

    @classmethod
    def from_url(cls, url: str) -> AsyncSQLApiKeyRegistry:
        """Open a registry for an async URL, as :meth:`AsyncSQLTokenStore.from_url` does."""
        return cls._open(url)

    async def add_key(self, record: ApiKeyRecord) -> None:
        """Add a key; raises AlreadyExistsError if its id or digest is taken."""
        await self._run(self._ops.add_key(record))

    async def find_by_digest(self, digest: str) -> ApiKeyRecord | None:
        """Return the key with this digest (revoked or not), or None."""
        return await self._run(self._ops.find_by_digest(digest))

    async def get_key(self, key_id: str) -> ApiKeyRecord | None:
        """Return the key with this id, or None."""
        return await self._run(self._ops.get_key(key_id))

    async def list_keys(self, subject: str | None = None) -> list[ApiKeyRecord]:
        """Return the keys of ``subject`` (every key when None), oldest first."""
        return await self._run(self._ops.list_keys(subject))

    async def touch_key(self, key_id: str, at: int) -> None:
        """Record a successful use of the key at Unix time ``at``."""
        await self._run(self._ops.touch_key(key_id, at))

    async def revoke_key(self, key_id: str, at: int) -> bool:
        """Revoke the key at ``at``; True if this call revoked an active key."""
        return await self._run(self._ops.revoke_key(key_id, at))


def _capped(
    ops: TokenOps, record: TokenRecord, limit: int, policy: CapPolicy, now: int
) -> Callable[[], Op[CapOutcome | None]]:
    return lambda: ops.add_capped(record, limit, policy, now)


def _locked(outcome: CapOutcome | None, view: LocalView | None) -> CapOutcome:
    """The outcome of a capped add that found its lock row; the view forgets what it evicted."""
    if outcome is None:
        raise StoreError("a subject's lock row was deleted while a capped login added a token")
    if view is not None and outcome.evicted:
        view.forget(tuple(r.jti for r in outcome.evicted))
    return outcome
