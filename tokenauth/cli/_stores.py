"""Stores and registries as the commands open them, by ``--store URL``."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from typing import Any

from tokenauth import (
    ApiKeyRegistry,
    ConfigurationError,
    KeySet,
    TokenAuth,
    TokenRecord,
    TokenStore,
    UserRegistry,
    open_store,
)
from tokenauth.extend import store_backend

from ._common import PEPPER_BYTES, fail, say


def _backend(url: str) -> Any:
    """The object registered for the URL's scheme under ``tokenauth.stores``, if any."""
    try:
        return store_backend(url)
    except ConfigurationError:
        return None


def keeps_accounts(url: str) -> bool:
    """Whether the store at ``url`` also keeps users and API keys (async registries)."""
    return hasattr(_backend(url), "open_async_user_registry")


def _registry(url: str, kind: str) -> Any:
    """A persistent user (``kind="user"``) or API-key registry from the store's backend."""
    opener = getattr(_backend(url), f"open_{kind}_registry", None)
    if opener is None:
        scheme = url.split(":", 1)[0]
        if scheme.lower() == "memory":
            fail(
                f"the {url} store keeps {kind}s only inside a running `tokenauth demo` "
                f"(pass --{'user' if kind == 'user' else 'api-key'} to it); for {kind}s that "
                "persist, use a store URL whose backend provides registries"
            )
        fail(f"the store backend for {scheme!r} provides no {kind} registry")
    return opener(url)


def users_at(url: str) -> UserRegistry:
    """The user registry of the store at ``url``, or an error that says where users live."""
    registry: UserRegistry = _registry(url, "user")
    return registry


def api_keys_at(url: str) -> ApiKeyRegistry:
    """The API-key registry of the store at ``url``, or an error that says where keys live."""
    registry: ApiKeyRegistry = _registry(url, "api_key")
    return registry


@contextlib.contextmanager
def token_store(url: str) -> Iterator[TokenStore]:
    """The token store at ``url``, closed afterwards."""
    store = open_store(url)
    if url.lower().startswith("memory:"):
        say(f"note: {url} is a new, empty store in this process; tokens issued by a running "
            "server are only in that server's memory")  # fmt: skip
    try:
        yield store
    finally:
        store.close()


def front_door(store: TokenStore, api_keys: ApiKeyRegistry | None = None) -> TokenAuth:
    """A front door for administration: revocations need a store, never a signing key."""
    # Revoking and purging never sign or verify, so an ephemeral key and pepper will do.
    return TokenAuth(
        keys=KeySet.generate("HS256"),
        store=store,
        api_keys=api_keys,
        pepper=secrets.token_bytes(PEPPER_BYTES) if api_keys is not None else None,
    )


def all_records(store: TokenStore, url: str) -> list[TokenRecord]:
    """Every stored token: ``list_all()`` where the store has it, else per known subject."""
    list_all = getattr(store, "list_all", None)
    if list_all is not None:
        records: list[TokenRecord] = list_all()
        return records
    backend = _backend(url)
    subjects: set[str] = set()
    if hasattr(backend, "open_user_registry"):
        subjects.update(u.username for u in users_at(url).list_users())
    if hasattr(backend, "open_api_key_registry"):
        subjects.update(k.subject for k in api_keys_at(url).list_keys(None))
    if not subjects and not url.lower().startswith("memory:"):
        fail("this store cannot list every token: name the subjects with --subject")
    return [r for subject in sorted(subjects) for r in store.list_subject(subject)]


def prepare_store(url: str) -> str | None:
    """Create or upgrade the tables of the store at ``url``, where it has any.

    Returns:
        What was done, in words (the backend's ``init_db`` may say), or None for a
        store that needs no set-up (``memory://``, Redis).
    """
    init = getattr(store_backend(url), "init_db", None)
    if init is None:
        return None
    done = init(url)
    return done if isinstance(done, str) and done else "the tables are ready"
