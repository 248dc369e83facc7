"""Exceptions: for programming errors, misconfiguration and store failures only.

A client's bad request is never an exception; it is a result value (see
``tokenauth._results``). The tree::

    TokenAuthError                 root, never raised itself
    ├── ConfigurationError         bad settings, weak or mismatched keys, missing extras
    │   └── WeakKeyError           a key below the minimum strength
    ├── StoreError                 a token store or registry could not do its work
    │   └── StoreUnreachableError  the backing service did not answer (timeout, refused)
    └── AlreadyExistsError         a record with that key already exists
        └── DuplicateTokenError    a token record with that ``jti`` is already stored
"""

from __future__ import annotations

__all__ = [
    "AlreadyExistsError",
    "ConfigurationError",
    "DuplicateTokenError",
    "StoreError",
    "StoreUnreachableError",
    "TokenAuthError",
    "WeakKeyError",
]


class TokenAuthError(Exception):
    """Root of every exception tokenauth raises on purpose; never raised itself."""


class ConfigurationError(TokenAuthError, ValueError):
    """The library was set up wrongly: a bad option, an unusable key, a missing extra."""


class WeakKeyError(ConfigurationError):
    """A key is below the minimum strength (RSA under 2048 bits, HMAC under 32 bytes)."""


class StoreError(TokenAuthError):
    """A token store or registry failed; the request flows answer 503 and fail closed.

    Adapters wrap their driver's exceptions: ``raise StoreError(...) from exc``.
    """


class StoreUnreachableError(StoreError):
    """The backing service could not be reached in time."""


class AlreadyExistsError(TokenAuthError):
    """A user, API key or token record with the same key is already stored."""


class DuplicateTokenError(AlreadyExistsError):
    """A token record with the same ``jti`` is already stored."""
