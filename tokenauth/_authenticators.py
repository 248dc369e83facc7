"""Authenticators: Basic credentials in, a principal (or the reason for refusal) out.

Passwords are argon2id hashes (RFC 9106), checked in the same time whether or
not the user exists, and whatever parameters the user's hash was made with.
API keys are random, carry a prefix and a checksum so that secret scanners
recognise them, and are stored only as an HMAC-SHA256 digest
under a server-side pepper.
"""

from __future__ import annotations

import hmac
import secrets
import statistics
import string
import time
import unicodedata
import zlib
from collections import deque
from typing import Protocol

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.low_level import Type, hash_secret_raw

from ._claims import Principal
from ._drivers import Call, Flow
from ._errors import ConfigurationError
from ._http import BasicCredentials
from ._registry import (
    ApiKeyRecord,
    ApiKeyRegistry,
    AsyncApiKeyRegistry,
    AsyncUserRegistry,
    UserRecord,
    UserRegistry,
)
from ._results import Reason

__all__ = [
    "API_KEY_PREFIX",
    "ApiKeyAuthenticator",
    "Authenticator",
    "BasicAuthenticator",
    "PasswordAuthenticator",
    "api_key_digest",
    "default_password_hasher",
    "generate_api_key",
    "is_well_formed_api_key",
    "new_user",
]

#: Every API key starts with this, so scanners and people can tell what leaked.
API_KEY_PREFIX = "tka_"
_BASE62 = string.digits + string.ascii_letters
_SECRET_LENGTH = 32  # 32 base62 characters: about 190 random bits
_CHECKSUM_LENGTH = 6  # CRC32 in base62
_MIN_PEPPER_BYTES = 32
#: Recent durations of checks at the current parameters kept to time a top-up by.
_COST_SAMPLES = 15
#: A top-up slice uses this fraction of the current memory cost (one pass).
_TOP_UP_SLICES = 16


def default_password_hasher() -> argon2.PasswordHasher:
    """argon2id with the RFC 9106 second recommended (low-memory) parameters."""
    return argon2.PasswordHasher.from_parameters(argon2.profiles.RFC_9106_LOW_MEMORY)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def new_user(
    username: str,
    password: str,
    *,
    now: int,
    scope: tuple[str, ...] = (),
    hasher: argon2.PasswordHasher | None = None,
) -> UserRecord:
    """Make a user record, hashing the password with argon2id.

    Both strings are normalised to NFC, as logins are.

    Raises:
        ConfigurationError: The username is empty, has a colon or control
            characters (Basic authentication could never send it), or the
            password is empty (an empty password means an API-key login).
    """
    name = _nfc(username)
    if not name or ":" in name or any(unicodedata.category(c) == "Cc" for c in name):
        raise ConfigurationError(
            "a username must be non-empty, without colons or control characters"
        )
    if len(name) > 255:
        raise ConfigurationError("a username is at most 255 characters")
    if not password:
        raise ConfigurationError("a password cannot be empty")
    if any(unicodedata.category(c) == "Cc" for c in password):
        raise ConfigurationError("a password cannot contain control characters")
    digest = (hasher or default_password_hasher()).hash(_nfc(password))
    return UserRecord(name, digest, now, scope=scope)


def _base62(number: int, width: int) -> str:
    out = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        out.append(_BASE62[digit])
    return "".join(reversed(out))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode("ascii")), _CHECKSUM_LENGTH)


def is_well_formed_api_key(key: str) -> bool:
    """True when ``key`` has the API-key prefix, length, alphabet and a matching checksum."""
    if len(key) != len(API_KEY_PREFIX) + _SECRET_LENGTH + _CHECKSUM_LENGTH:
        return False
    if not key.startswith(API_KEY_PREFIX) or not key.isascii():
        return False
    body, check = key[:-_CHECKSUM_LENGTH], key[-_CHECKSUM_LENGTH:]
    if any(c not in _BASE62 for c in body[len(API_KEY_PREFIX) :]):
        return False
    return hmac.compare_digest(_checksum(body), check)


def _check_pepper(pepper: bytes) -> bytes:
    if len(pepper) < _MIN_PEPPER_BYTES:
        raise ConfigurationError(f"the API-key pepper must be at least {_MIN_PEPPER_BYTES} bytes")
    return bytes(pepper)


def api_key_digest(key: str, pepper: bytes) -> str:
    """HMAC-SHA256 of ``key`` under ``pepper``, in lowercase hex: what registries store."""
    return hmac.new(_check_pepper(pepper), key.encode("utf-8"), "sha256").hexdigest()


def generate_api_key(
    *,
    subject: str,
    name: str,
    pepper: bytes,
    now: int,
    scope: tuple[str, ...] = (),
) -> tuple[str, ApiKeyRecord]:
    """Make a new API key.

    Args:
        subject: The principal the key logs in as.
        name: A label for people, e.g. ``"nightly export"``.
        pepper: The server-side secret the digest is keyed with (32+ bytes).
        now: The creation time, Unix seconds.
        scope: Scopes for the tokens the key gets.

    Returns:
        The key itself (show it once, never store it) and the record to store.
    """
    body = API_KEY_PREFIX + "".join(secrets.choice(_BASE62) for _ in range(_SECRET_LENGTH))
    key = body + _checksum(body)
    record = ApiKeyRecord(
        key_id="key_" + secrets.token_hex(8),
        subject=_nfc(subject),
        name=name,
        digest=api_key_digest(key, pepper),
        created_at=now,
        scope=scope,
    )
    return key, record


class Authenticator(Protocol):
    """Checks Basic credentials: a flow that returns a principal or a refusal reason."""

    def authenticate(self, credentials: BasicCredentials, *, now: int) -> Flow[Principal | Reason]:
        """Yield the calls needed and return the principal, or the reason to refuse."""
        ...


class PasswordAuthenticator:
    """Username and password against argon2id hashes in a user registry.

    An unknown or disabled user costs the same argon2 work as a wrong password,
    so response times do not tell which usernames exist. A wrong password for a
    user whose hash was made with other (older) parameters is topped up to the
    time a check at the current parameters takes (the median of the last few
    such checks in this process), so that users who have not logged in since a
    change of parameters cannot be told apart either. The top-up is argon2 work
    at the current parallelism, in slices, like Django's ``harden_runtime``: such
    a login costs the server what any other failed login costs, and holds the
    hashing slot as long. Hashes made with older parameters are replaced on a
    successful login.

    Args:
        users: The registry, sync or async.
        hasher: The argon2 hasher; defaults to RFC 9106's low-memory profile.
    """

    def __init__(
        self,
        users: UserRegistry | AsyncUserRegistry,
        *,
        hasher: argon2.PasswordHasher | None = None,
    ) -> None:
        """Set up, and hash one throwaway password for the unknown-user path."""
        self.users = users
        self.hasher = hasher or default_password_hasher()
        started = time.perf_counter()
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))
        #: How long that one hash took, in seconds: a first guess of a login's cost.
        self.hash_seconds = time.perf_counter() - started
        # Durations of checks at the current parameters, seeded with that hash's.
        self._current_costs: deque[float] = deque([self.hash_seconds], maxlen=_COST_SAMPLES)

    def _is_current(self, password_hash: str) -> bool:
        try:
            return not self.hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return False

    def _verify(self, password_hash: str, password: str) -> tuple[bool, bool]:
        """Check ``password``; returns (matched, the hash needs remaking)."""
        started = time.perf_counter()
        try:
            self.hasher.verify(password_hash, password)
            matched = True
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            matched = False
        elapsed = time.perf_counter() - started
        if self._is_current(password_hash):
            self._current_costs.append(elapsed)
            return matched, False
        if matched:
            return True, True
        # A stale (or unreadable) hash answered wrong: take as long as a current check.
        self._top_up(started)
        return False, False

    def _top_up(self, started: float) -> None:
        """Run argon2 work, in small slices, until a check at the current parameters is due.

        Django's ``harden_runtime`` in the argon2 way: the slices use the current
        parallelism and a sixteenth of its memory, and stop where the median of
        recent current checks is nearest, half a slice either side at most.
        """
        target = started + statistics.median(self._current_costs)
        hasher = self.hasher
        memory = max(8 * hasher.parallelism, hasher.memory_cost // _TOP_UP_SLICES)
        salt = secrets.token_bytes(16)
        now = time.perf_counter()
        last = 0.0
        # Stop when the next slice would end further past the target than short of it.
        while now + last / 2 < target:
            hash_secret_raw(
                b"top-up", salt, time_cost=1, memory_cost=memory,
                parallelism=hasher.parallelism, hash_len=16, type=Type.ID,
            )  # fmt: skip
            last, now = time.perf_counter() - now, time.perf_counter()

    def authenticate(self, credentials: BasicCredentials, *, now: int) -> Flow[Principal | Reason]:
        """Look the user up and verify the password (see the class docstring)."""
        username = _nfc(credentials.username)
        password = _nfc(credentials.password)
        user: UserRecord | None = yield Call(self.users.get_user, (username,))
        if user is None or user.disabled:
            yield Call(self._verify, (self._dummy_hash, password), blocking=True)
            return Reason.UNKNOWN_USER if user is None else Reason.USER_DISABLED
        ok, stale = yield Call(self._verify, (user.password_hash, password), blocking=True)
        if not ok:
            return Reason.BAD_PASSWORD
        if stale:
            fresh = yield Call(self.hasher.hash, (password,), blocking=True)
            yield Call(self.users.set_password_hash, (username, fresh))
        return Principal(user.username, "password", scope=user.scope)


class ApiKeyAuthenticator:
    """API keys (sent as the Basic username with no password) against their digests.

    Args:
        keys: The registry, sync or async.
        pepper: The server-side secret (32+ bytes) the digests are keyed with.
    """

    def __init__(self, keys: ApiKeyRegistry | AsyncApiKeyRegistry, *, pepper: bytes) -> None:
        """Set up."""
        self.keys = keys
        self._pepper = _check_pepper(pepper)

    def authenticate(self, credentials: BasicCredentials, *, now: int) -> Flow[Principal | Reason]:
        """Find the key by digest, compare in constant time, refuse revoked keys."""
        key = credentials.username
        if not credentials.is_api_key or not is_well_formed_api_key(key):
            return Reason.UNKNOWN_API_KEY
        digest = api_key_digest(key, self._pepper)
        record: ApiKeyRecord | None = yield Call(self.keys.find_by_digest, (digest,))
        if record is None or not hmac.compare_digest(record.digest, digest):
            return Reason.UNKNOWN_API_KEY
        if record.revoked_at is not None:
            return Reason.API_KEY_REVOKED
        yield Call(self.keys.touch_key, (record.key_id, now))
        return Principal(record.subject, "api_key", record.key_id, record.scope)


class BasicAuthenticator:
    """Dispatches Basic credentials: an empty password is an API-key login.

    Args:
        passwords: Checks username and password; None to refuse password logins.
        api_keys: Checks API keys; None to refuse API-key logins.
    """

    def __init__(
        self,
        *,
        passwords: Authenticator | None = None,
        api_keys: Authenticator | None = None,
    ) -> None:
        """Set up."""
        if passwords is None and api_keys is None:
            raise ConfigurationError("configure password logins, API-key logins, or both")
        self.passwords = passwords
        self.api_keys = api_keys

    def authenticate(self, credentials: BasicCredentials, *, now: int) -> Flow[Principal | Reason]:
        """Send the credentials to the authenticator for their kind."""
        if credentials.is_api_key:
            if self.api_keys is None:
                return Reason.UNKNOWN_API_KEY
            return (yield from self.api_keys.authenticate(credentials, now=now))
        if self.passwords is None:
            return Reason.UNKNOWN_USER
        return (yield from self.passwords.authenticate(credentials, now=now))
