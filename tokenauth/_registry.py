"""User and API-key registries: where the authenticators look credentials up.

Registries hold argon2id password hashes and HMAC digests of API keys, never a
raw password or key. The in-memory registries here are the reference
implementations; the SQLAlchemy adapter provides persistent ones.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from ._errors import AlreadyExistsError

__all__ = [
    "ApiKeyRecord",
    "ApiKeyRegistry",
    "AsyncApiKeyRegistry",
    "AsyncUserRegistry",
    "MemoryApiKeyRegistry",
    "MemoryUserRegistry",
    "UserRecord",
    "UserRegistry",
]

MAX_USERNAME_LENGTH = 255
MAX_NAME_LENGTH = 255


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user who logs in with a password.

    Attributes:
        username: The login name, NFC-normalised, at most 255 characters; it
            becomes the tokens' ``sub``.
        password_hash: The argon2id hash in PHC string form.
        created_at: Unix time the user was added.
        disabled: A disabled user cannot log in.
        scope: Scopes put in the tokens this user gets.
    """

    username: str
    password_hash: str
    created_at: int
    disabled: bool = False
    scope: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0 < len(self.username) <= MAX_USERNAME_LENGTH:
            raise ValueError("UserRecord.username must be 1 to 255 characters")
        if not self.password_hash.startswith("$argon2"):
            raise ValueError("UserRecord.password_hash must be an argon2 PHC string")
        _check_scope(self.scope)


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """An API key, known by its public id and the HMAC digest of its secret.

    Attributes:
        key_id: The key's public id (shown in listings and logs, safe to share).
        subject: The principal the key logs in as; it becomes the tokens' ``sub``.
        name: A human label, e.g. ``"billing cron job"``.
        digest: HMAC-SHA256 of the key under the server's pepper, lowercase hex.
        created_at: Unix time the key was created.
        last_used_at: Unix time of the last successful login with it, if any.
        revoked_at: Unix time the key was revoked; a revoked key cannot log in.
        scope: Scopes put in the tokens this key gets.
    """

    key_id: str
    subject: str
    name: str
    digest: str
    created_at: int
    last_used_at: int | None = None
    revoked_at: int | None = None
    scope: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0 < len(self.key_id) <= 64 or not self.key_id.isascii():
            raise ValueError("ApiKeyRecord.key_id must be 1 to 64 ASCII characters")
        if not 0 < len(self.subject) <= MAX_USERNAME_LENGTH:
            raise ValueError("ApiKeyRecord.subject must be 1 to 255 characters")
        if len(self.name) > MAX_NAME_LENGTH:
            raise ValueError("ApiKeyRecord.name must be at most 255 characters")
        if len(self.digest) != 64 or self.digest.strip("0123456789abcdef"):
            raise ValueError("ApiKeyRecord.digest must be 64 lowercase hex digits")
        _check_scope(self.scope)

    @property
    def active(self) -> bool:
        """True while the key has not been revoked."""
        return self.revoked_at is None


def _check_scope(scope: tuple[str, ...]) -> None:
    for item in scope:
        # RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
        if not item or any(c in ' "\\' or not "\x21" <= c <= "\x7e" for c in item):
            raise ValueError(f"invalid scope token {item!r}")


@runtime_checkable
class UserRegistry(Protocol):
    """Users by username, for the password authenticator (synchronous)."""

    def get_user(self, username: str) -> UserRecord | None:
        """Return the user, or None."""
        ...

    def add_user(self, record: UserRecord) -> None:
        """Add a user; raises AlreadyExistsError if the username is taken."""
        ...

    def set_password_hash(self, username: str, password_hash: str) -> bool:
        """Replace a user's hash; False if there is no such user."""
        ...

    def set_disabled(self, username: str, disabled: bool) -> bool:
        """Disable or enable a user; False if there is no such user."""
        ...

    def list_users(self) -> list[UserRecord]:
        """Return every user, by username."""
        ...


@runtime_checkable
class AsyncUserRegistry(Protocol):
    """The asynchronous twin of :class:`UserRegistry`."""

    async def get_user(self, username: str) -> UserRecord | None:
        """Return the user, or None."""
        ...

    async def add_user(self, record: UserRecord) -> None:
        """Add a user; raises AlreadyExistsError if the username is taken."""
        ...

    async def set_password_hash(self, username: str, password_hash: str) -> bool:
        """Replace a user's hash; False if there is no such user."""
        ...

    async def set_disabled(self, username: str, disabled: bool) -> bool:
        """Disable or enable a user; False if there is no such user."""
        ...

    async def list_users(self) -> list[UserRecord]:
        """Return every user, by username."""
        ...


@runtime_checkable
class ApiKeyRegistry(Protocol):
    """API keys by digest and by id, for the API-key authenticator (synchronous)."""

    def add_key(self, record: ApiKeyRecord) -> None:
        """Add a key; raises AlreadyExistsError if its id or digest is taken."""
        ...

    def find_by_digest(self, digest: str) -> ApiKeyRecord | None:
        """Return the key with this digest (revoked or not), or None."""
        ...

    def get_key(self, key_id: str) -> ApiKeyRecord | None:
        """Return the key with this id, or None."""
        ...

    def list_keys(self, subject: str | None = None) -> list[ApiKeyRecord]:
        """Return the keys of ``subject`` (every key when None), oldest first."""
        ...

    def touch_key(self, key_id: str, at: int) -> None:
        """Record a successful use of the key at Unix time ``at``."""
        ...

    def revoke_key(self, key_id: str, at: int) -> bool:
        """Revoke the key at ``at``; True if this call revoked an active key."""
        ...


@runtime_checkable
class AsyncApiKeyRegistry(Protocol):
    """The asynchronous twin of :class:`ApiKeyRegistry`."""

    async def add_key(self, record: ApiKeyRecord) -> None:
        """Add a key; raises AlreadyExistsError if its id or digest is taken."""
        ...

    async def find_by_digest(self, digest: str) -> ApiKeyRecord | None:
        """Return the key with this digest (revoked or not), or None."""
        ...

    async def get_key(self, key_id: str) -> ApiKeyRecord | None:
        """Return the key with this id, or None."""
        ...

    async def list_keys(self, subject: str | None = None) -> list[ApiKeyRecord]:
        """Return the keys of ``subject`` (every key when None), oldest first."""
        ...

    async def touch_key(self, key_id: str, at: int) -> None:
        """Record a successful use of the key at Unix time ``at``."""
        ...

    async def revoke_key(self, key_id: str, at: int) -> bool:
        """Revoke the key at ``at``; True if this call revoked an active key."""
        ...


class MemoryUserRegistry:
    """Users in this process's memory (thread-safe): for tests, demos and small servers."""

    def __init__(self) -> None:
        """Create an empty registry."""
        self._lock = threading.Lock()
        self._users: dict[str, UserRecord] = {}

    def get_user(self, username: str) -> UserRecord | None:
        """Return the user, or None."""
        return self._users.get(username)

    def add_user(self, record: UserRecord) -> None:
        """Add a user; raises AlreadyExistsError if the username is taken."""
        with self._lock:
            if record.username in self._users:
                raise AlreadyExistsError("a user with this username already exists")
            self._users[record.username] = record

    def set_password_hash(self, username: str, password_hash: str) -> bool:
        """Replace a user's hash; False if there is no such user."""
        return self._update(username, password_hash=password_hash)

    def set_disabled(self, username: str, disabled: bool) -> bool:
        """Disable or enable a user; False if there is no such user."""
        return self._update(username, disabled=disabled)

    def _update(self, username: str, **changes: object) -> bool:
        with self._lock:
            user = self._users.get(username)
            if user is None:
                return False
            self._users[username] = replace(user, **changes)  # type: ignore[arg-type]
            return True

    def delete_user(self, username: str) -> bool:
        """Remove a user; False if there is no such user. Their tokens stay: revoke them."""
        with self._lock:
            return self._users.pop(username, None) is not None

    def list_users(self) -> list[UserRecord]:
        """Return every user, by username."""
        return sorted(self._users.values(), key=lambda u: u.username)


class MemoryApiKeyRegistry:
    """API keys in this process's memory (thread-safe): for tests, demos and small servers."""

    def __init__(self) -> None:
        """Create an empty registry."""
        self._lock = threading.Lock()
        self._by_id: dict[str, ApiKeyRecord] = {}
        self._by_digest: dict[str, str] = {}

    def add_key(self, record: ApiKeyRecord) -> None:
        """Add a key; raises AlreadyExistsError if its id or digest is taken."""
        with self._lock:
            if record.key_id in self._by_id or record.digest in self._by_digest:
                raise AlreadyExistsError("an API key with this id or digest already exists")
            self._by_id[record.key_id] = record
            self._by_digest[record.digest] = record.key_id

    def find_by_digest(self, digest: str) -> ApiKeyRecord | None:
        """Return the key with this digest (revoked or not), or None."""
        key_id = self._by_digest.get(digest)
        return None if key_id is None else self._by_id.get(key_id)

    def get_key(self, key_id: str) -> ApiKeyRecord | None:
        """Return the key with this id, or None."""
        return self._by_id.get(key_id)

    def list_keys(self, subject: str | None = None) -> list[ApiKeyRecord]:
        """Return the keys of ``subject`` (every key when None), oldest first."""
        keys = [k for k in self._by_id.values() if subject is None or k.subject == subject]
        return sorted(keys, key=lambda k: (k.created_at, k.key_id))

    def touch_key(self, key_id: str, at: int) -> None:
        """Record a successful use of the key at Unix time ``at``."""
        with self._lock:
            key = self._by_id.get(key_id)
            if key is not None:
                self._by_id[key_id] = replace(key, last_used_at=at)

    def revoke_key(self, key_id: str, at: int) -> bool:
        """Revoke the key at ``at``; True if this call revoked an active key."""
        with self._lock:
            key = self._by_id.get(key_id)
            if key is None or key.revoked_at is not None:
                return False
            self._by_id[key_id] = replace(key, revoked_at=at)
            return True
