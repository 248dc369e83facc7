"""Every operation written once, as a generator of statements.

An operation yields :class:`Step` values (one SQL statement each) and receives
an :class:`Outcome` for each; its return value is the method's result. The sync
and async drivers in ``_run`` only execute the steps, each statement on its own
(in autocommit, or in a short transaction on an engine the caller configured),
so a purge of a large table never holds its locks for long and no operation
reads a row and then writes it on the strength of that read.

Lookups by key are built once, with a bound parameter, so a lookup costs the
statement's execution and not the building of its SQL expression each time.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Executable, Row, bindparam, delete, insert, or_, select, update

from tokenauth import (
    AlreadyExistsError,
    ApiKeyRecord,
    CapOutcome,
    CapPolicy,
    DuplicateTokenError,
    RefreshRecord,
    Session,
    TokenRecord,
    UserRecord,
)

from ._schema import Schema

__all__ = [
    "ApiKeyOps",
    "Op",
    "Outcome",
    "RefreshOps",
    "Step",
    "TokenOps",
    "UserOps",
    "purge_batches",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Step:
    """One statement to run on its own.

    Attributes:
        statement: The statement.
        doing: What it does, for error messages ("removing a token record").
        conflict: Raised (instead of a StoreError) when the statement breaks a
            unique constraint.
        params: Values for the statement's bound parameters, if it has any.
        plain: The statement may run on the driver's own connection, without
            SQLAlchemy's execution and result layers (see ``_run``): a read whose
            rows are read by position.
        retry: Whether running the statement again on a new connection, after
            the first found its connection dead, gives an answer as true as the
            first would have: so for reads, never for writes (a DELETE that
            committed before its reply was lost would report "not removed").
    """

    statement: Executable
    doing: str
    conflict: type[AlreadyExistsError] | None = None
    params: Mapping[str, Any] | None = None
    retry: bool = False
    plain: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a statement gave back: its rows (for a SELECT) and its row count."""

    rows: Sequence[Any] = field(default_factory=tuple)
    rowcount: int = 0


Op = Generator[Step, Outcome, T]


def _scope_text(scope: tuple[str, ...]) -> str:
    # Scope tokens never contain a space (RFC 6749 section 3.3), so a space joins them.
    return " ".join(scope)


def _scope_tuple(text: str) -> tuple[str, ...]:
    return tuple(text.split(" ")) if text else ()


class TokenOps:
    """The token store's operations on ``schema.tokens``."""

    def __init__(self, schema: Schema, purge_batch_size: int) -> None:
        t = self.table = schema.tokens
        self.subjects = schema.token_subjects
        self.batch = purge_batch_size
        # A record's columns, named: the table may hold more (a last use, a later
        # migration's), which a record does not carry.
        self.columns = (
            t.c.jti, t.c.subject, t.c.issued_at, t.c.expires_at, t.c.method, t.c.api_key_id,
            t.c.client, t.c.user_agent, t.c.session,
        )  # fmt: skip
        self._get = select(*self.columns).where(t.c.jti == bindparam("key"))

    def _record(self, row: Sequence[Any]) -> TokenRecord:
        # By position, in the order of self.columns: rows come from SQLAlchemy or,
        # for a lookup, straight from the driver (plain tuples).
        jti, subject, issued_at, expires_at, method, api_key_id, client, user_agent, session = row[
            :9
        ]
        return TokenRecord(
            jti=jti,
            subject=subject,
            issued_at=int(issued_at),
            expires_at=int(expires_at),
            method=method,
            api_key_id=api_key_id,
            client=client,
            user_agent=user_agent,
            session=session,
        )

    def insert(self, record: TokenRecord) -> Step:
        """The INSERT of ``record``; the primary key refuses a jti that is taken."""
        return Step(
            insert(self.table).values(
                jti=record.jti,
                subject=record.subject,
                issued_at=record.issued_at,
                expires_at=record.expires_at,
                method=record.method,
                api_key_id=record.api_key_id,
                client=record.client,
                user_agent=record.user_agent,
                session=record.session,
            ),
            "adding a token record",
            DuplicateTokenError,
        )

    def add(self, record: TokenRecord) -> Op[None]:
        # The primary key decides a race between two adds of one jti: the loser's
        # INSERT fails and the winner's row is untouched.
        yield self.insert(record)

    def add_subject(self, subject: str) -> Op[None]:
        """Create the subject's lock row; AlreadyExistsError if it is there already."""
        yield Step(
            insert(self.subjects).values(subject=subject),
            "adding a subject's lock row",
            AlreadyExistsError,
        )

    def add_capped(
        self, record: TokenRecord, limit: int, policy: CapPolicy, now: int
    ) -> Op[CapOutcome | None]:
        """Count, evict and add in ONE transaction (see ``_run.run_transaction``).

        The UPDATE of the subject's lock row comes first: it waits for any other
        capped login of the subject to commit, and holds the row until this one
        does, so each counts the other's token. A write first also makes SQLite
        take its write lock before the count. None: the lock row is missing
        (the caller creates it and tries again).
        """
        s, t = self.subjects, self.table
        locked = yield Step(
            update(s).where(s.c.subject == record.subject).values(locked_at=now),
            "locking a subject's tokens",
        )
        if locked.rowcount == 0:
            return None
        out = yield Step(
            select(*self.columns)
            .where(t.c.subject == record.subject, t.c.expires_at > now)
            .order_by(t.c.issued_at, t.c.jti),
            "counting a subject's tokens",
        )
        live = [self._record(row) for row in out.rows]
        excess = len(live) - limit + 1
        if excess > 0 and policy != "evict_oldest":
            return CapOutcome(False, (), len(live))
        victims = tuple(live[: max(0, excess)])
        if victims:
            yield Step(
                delete(t).where(t.c.jti.in_([v.jti for v in victims])),
                "evicting a subject's oldest tokens",
            )
        yield from self.add(record)
        return CapOutcome(True, victims, len(live))

    def touch(self, jti: str, at: int) -> Op[None]:
        # Only ever forward: of two processes writing, the later use stays.
        t = self.table
        yield Step(
            update(t)
            .where(t.c.jti == jti, or_(t.c.last_used_at.is_(None), t.c.last_used_at < at))
            .values(last_used_at=at),
            "recording a token's use",
        )

    def list_sessions(self, subject: str) -> Op[list[Session]]:
        t = self.table
        out = yield Step(
            select(*self.columns, t.c.last_used_at)
            .where(t.c.subject == subject)
            .order_by(t.c.issued_at, t.c.jti),
            "listing a subject's sessions",
            retry=True,
        )
        return [
            Session.of(self._record(row), None if row[-1] is None else int(row[-1]))
            for row in out.rows
        ]

    def get(self, jti: str) -> Op[TokenRecord | None]:
        out = yield Step(self._get, "reading a token", params={"key": jti}, retry=True, plain=True)
        return self._record(out.rows[0]) if out.rows else None

    def remove(self, jti: str) -> Op[bool]:
        # The DELETE's row count says whether this call removed the row: of two
        # concurrent removals the database lets exactly one delete it.
        out = yield Step(delete(self.table).where(self.table.c.jti == jti), "removing a token")
        return out.rowcount == 1

    def remove_subject(self, subject: str) -> Op[int]:
        out = yield Step(
            delete(self.table).where(self.table.c.subject == subject),
            "removing a subject's tokens",
        )
        return out.rowcount

    def list_subject(self, subject: str) -> Op[list[TokenRecord]]:
        t = self.table
        out = yield Step(
            select(*self.columns).where(t.c.subject == subject).order_by(t.c.issued_at, t.c.jti),
            "listing a subject's tokens",
            retry=True,
        )
        return [self._record(row) for row in out.rows]

    def purge_expired(self, now: int) -> Op[int]:
        t = self.table
        return purge_batches(t.c.jti, t.c.expires_at, now, self.batch, "expired tokens")


def purge_batches(key: Any, ends: Any, cutoff: int, batch: int, what: str) -> Op[int]:
    """Delete the rows whose ``ends`` column is at most ``cutoff``, ``batch`` rows at a time.

    Batches keep each transaction short. A portable batched DELETE needs two
    statements (PostgreSQL has no DELETE ... LIMIT, MySQL refuses LIMIT in a
    subquery of IN); the DELETE repeats the test, so a row it did not select, or
    that someone else removed or renewed meanwhile, is neither deleted nor counted.

    Args:
        key: The table's primary-key column.
        ends: The column compared with ``cutoff``.
        cutoff: Rows with ``ends <= cutoff`` go.
        batch: Rows per DELETE.
        what: What the rows are, for error messages ("expired tokens").
    """
    table = key.table
    total = 0
    while True:
        found = yield Step(
            select(key).where(ends <= cutoff).order_by(ends).limit(batch),
            f"finding {what}",
            retry=True,
        )
        keys = [row[0] for row in found.rows]
        if not keys:
            return total
        gone = yield Step(delete(table).where(key.in_(keys), ends <= cutoff), f"purging {what}")
        total += gone.rowcount
        if len(keys) < batch:
            return total


class UserOps:
    """The user registry's operations on ``schema.users``."""

    def __init__(self, schema: Schema) -> None:
        self.table = schema.users
        self._get = select(self.table).where(self.table.c.username == bindparam("key"))

    def _record(self, row: Row[Any]) -> UserRecord:
        return UserRecord(
            username=row.username,
            password_hash=row.password_hash,
            created_at=int(row.created_at),
            disabled=bool(row.disabled),
            scope=_scope_tuple(row.scope),
        )

    def get_user(self, username: str) -> Op[UserRecord | None]:
        out = yield Step(self._get, "reading a user", params={"key": username}, retry=True)
        return self._record(out.rows[0]) if out.rows else None

    def add_user(self, record: UserRecord) -> Op[None]:
        yield Step(
            insert(self.table).values(
                username=record.username,
                password_hash=record.password_hash,
                created_at=record.created_at,
                disabled=record.disabled,
                scope=_scope_text(record.scope),
            ),
            "adding a user",
            AlreadyExistsError,
        )

    def _update(self, username: str, doing: str, **values: object) -> Op[bool]:
        # MySQL drivers report matched rows here (SQLAlchemy sets CLIENT_FOUND_ROWS),
        # so setting a value a user already has still counts as found.
        t = self.table
        out = yield Step(update(t).where(t.c.username == username).values(**values), doing)
        return out.rowcount > 0

    def set_password_hash(self, username: str, password_hash: str) -> Op[bool]:
        return self._update(username, "changing a password hash", password_hash=password_hash)

    def set_disabled(self, username: str, disabled: bool) -> Op[bool]:
        return self._update(username, "disabling or enabling a user", disabled=disabled)

    def delete_user(self, username: str) -> Op[bool]:
        t = self.table
        out = yield Step(delete(t).where(t.c.username == username), "deleting a user")
        return out.rowcount > 0

    def list_users(self) -> Op[list[UserRecord]]:
        t = self.table
        out = yield Step(select(t).order_by(t.c.username), "listing users", retry=True)
        return [self._record(row) for row in out.rows]


class ApiKeyOps:
    """The API-key registry's operations on ``schema.api_keys``."""

    def __init__(self, schema: Schema) -> None:
        t = self.table = schema.api_keys
        self._by_digest = select(t).where(t.c.digest == bindparam("key"))
        self._by_id = select(t).where(t.c.key_id == bindparam("key"))

    def _record(self, row: Row[Any]) -> ApiKeyRecord:
        return ApiKeyRecord(
            key_id=row.key_id,
            subject=row.subject,
            name=row.name,
            digest=row.digest,
            created_at=int(row.created_at),
            last_used_at=None if row.last_used_at is None else int(row.last_used_at),
            revoked_at=None if row.revoked_at is None else int(row.revoked_at),
            scope=_scope_tuple(row.scope),
        )

    def add_key(self, record: ApiKeyRecord) -> Op[None]:
        yield Step(
            insert(self.table).values(
                key_id=record.key_id,
                subject=record.subject,
                name=record.name,
                digest=record.digest,
                created_at=record.created_at,
                last_used_at=record.last_used_at,
                revoked_at=record.revoked_at,
                scope=_scope_text(record.scope),
            ),
            "adding an API key",
            AlreadyExistsError,
        )

    def find_by_digest(self, digest: str) -> Op[ApiKeyRecord | None]:
        out = yield Step(self._by_digest, "finding an API key", params={"key": digest}, retry=True)
        return self._record(out.rows[0]) if out.rows else None

    def get_key(self, key_id: str) -> Op[ApiKeyRecord | None]:
        out = yield Step(self._by_id, "reading an API key", params={"key": key_id}, retry=True)
        return self._record(out.rows[0]) if out.rows else None

    def list_keys(self, subject: str | None) -> Op[list[ApiKeyRecord]]:
        t = self.table
        query = select(t).order_by(t.c.created_at, t.c.key_id)
        if subject is not None:
            query = query.where(t.c.subject == subject)
        out = yield Step(query, "listing API keys", retry=True)
        return [self._record(row) for row in out.rows]

    def touch_key(self, key_id: str, at: int) -> Op[None]:
        t = self.table
        yield Step(
            update(t).where(t.c.key_id == key_id).values(last_used_at=at),
            "recording an API key's use",
        )

    def revoke_key(self, key_id: str, at: int) -> Op[bool]:
        # One conditional UPDATE: of two concurrent revocations only one matches
        # a row whose revoked_at is still NULL.
        t = self.table
        out = yield Step(
            update(t).where(t.c.key_id == key_id, t.c.revoked_at.is_(None)).values(revoked_at=at),
            "revoking an API key",
        )
        return out.rowcount == 1


class RefreshOps:
    """The refresh-token operations on ``schema.sessions``, ``refresh_tokens`` and ``tokens``.

    A session is one row of ``sessions``, its refresh tokens rows of
    ``refresh_tokens`` and its access tokens rows of ``tokens`` with its id.
    A rotation and a session's revocation each touch the session's row first,
    in one transaction, so the database's row lock orders them: a rotation
    either sees the session gone (and changes nothing) or commits before the
    revocation's DELETEs run, which then see (and remove) what it added.
    """

    def __init__(self, schema: Schema, tokens: TokenOps, purge_batch_size: int) -> None:
        self.sessions = s = schema.sessions
        self.refresh = r = schema.refresh_tokens
        self.tokens = tokens
        self.batch = purge_batch_size
        self._get = (
            select(
                r.c.digest,
                r.c.session,
                s.c.subject,
                s.c.method,
                s.c.api_key_id,
                s.c.scope,
                s.c.auth_time,
                r.c.issued_at,
                r.c.expires_at,
                s.c.expires_at,
                r.c.used,
            )
            .join_from(r, s, r.c.session == s.c.session)
            .where(r.c.digest == bindparam("key"))
        )

    def _insert_refresh(self, record: RefreshRecord) -> Step:
        return Step(
            insert(self.refresh).values(
                digest=record.digest,
                session=record.session,
                issued_at=record.issued_at,
                expires_at=record.expires_at,
                used=record.used,
            ),
            "adding a refresh token",
            DuplicateTokenError,
        )

    def start_session(self, record: RefreshRecord) -> Op[None]:
        yield Step(
            insert(self.sessions).values(
                session=record.session,
                subject=record.subject,
                method=record.method,
                api_key_id=record.api_key_id,
                scope=_scope_text(record.scope),
                auth_time=record.auth_time,
                expires_at=record.session_expires_at,
            ),
            "starting a session",
            DuplicateTokenError,
        )
        yield self._insert_refresh(record)

    def get_refresh(self, digest: str) -> Op[RefreshRecord | None]:
        out = yield Step(self._get, "reading a refresh token", params={"key": digest}, retry=True)
        if not out.rows:
            return None
        (digest, session, subject, method, key_id, scope, auth_time, issued, expires, ends,
         used) = out.rows[0]  # fmt: skip
        return RefreshRecord(
            digest=digest, session=session, subject=subject, method=method,
            api_key_id=key_id, scope=_scope_tuple(scope), auth_time=int(auth_time),
            issued_at=int(issued), expires_at=int(expires), session_expires_at=int(ends),
            used=bool(used),
        )  # fmt: skip

    def rotate(
        self, digest: str, successor: RefreshRecord, access: TokenRecord, now: int
    ) -> Op[bool]:
        """In one transaction (see ``_run.run_transaction``); a False commits nothing."""
        s, r = self.sessions, self.refresh
        if successor.session != access.session:
            raise ValueError("the successor and the access token belong to different sessions")
        # Lock the session's row (a no-op UPDATE): a revocation waits for us, or we for it.
        alive = yield Step(
            update(s)
            .where(s.c.session == successor.session, s.c.expires_at > now)
            .values(expires_at=s.c.expires_at),
            "locking a session",
        )
        if alive.rowcount != 1:
            return False
        traded = yield Step(
            update(r)
            .where(
                r.c.digest == digest,
                r.c.session == successor.session,
                r.c.used.is_(False),
                r.c.expires_at > now,
            )
            .values(used=True),
            "trading a refresh token",
        )
        if traded.rowcount != 1:
            return False
        yield self._insert_refresh(successor)
        yield self.tokens.insert(access)
        return True

    def revoke_session(self, session: str) -> Op[int]:
        """In one transaction: the session's row first, as :meth:`rotate` does."""
        s, r, t = self.sessions, self.refresh, self.tokens.table
        yield Step(delete(s).where(s.c.session == session), "ending a session")
        refresh = yield Step(delete(r).where(r.c.session == session), "removing refresh tokens")
        access = yield Step(delete(t).where(t.c.session == session), "removing a session's tokens")
        return refresh.rowcount + access.rowcount

    def subject_sessions(self, subject: str, api_key_id: str | None) -> Op[list[str]]:
        s = self.sessions
        query = select(s.c.session).where(s.c.subject == subject)
        if api_key_id is not None:
            query = query.where(s.c.api_key_id == api_key_id)
        out = yield Step(query, "listing a subject's sessions", retry=True)
        return [row[0] for row in out.rows]

    def purge(self, now: int) -> Op[int]:
        r, s = self.refresh, self.sessions
        total = yield from purge_batches(
            r.c.digest, r.c.expires_at, now, self.batch, "expired refresh tokens"
        )
        # A session past its end holds no refresh token that is not expired too.
        yield Step(delete(s).where(s.c.expires_at <= now), "purging ended sessions")
        return total
