"""The registry contracts: user and API-key registries, sync and async.

Subclass one in a test module and override its one factory fixture, as with
the store contract. Hypothesis drives the usernames, subjects and scopes.
"""

from __future__ import annotations

import asyncio
import hashlib
import string
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenauth._errors import AlreadyExistsError
from tokenauth._registry import (
    ApiKeyRecord,
    ApiKeyRegistry,
    AsyncApiKeyRegistry,
    AsyncUserRegistry,
    UserRecord,
    UserRegistry,
)

__all__ = [
    "ApiKeyRegistryContract",
    "AsyncApiKeyRegistryContract",
    "AsyncUserRegistryContract",
    "UserRegistryContract",
]

_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"
_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_names = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1, max_size=255
).filter(lambda s: s.strip() == s and bool(s))
_scopes = st.lists(st.text(string.ascii_letters + ":._-", min_size=1, max_size=20), max_size=4)


Call = Callable[..., Any]


@contextmanager
def _session(factory: Callable[[], Any]) -> Iterator[Call]:
    """Make a registry and yield a caller that runs its methods, awaiting in one loop."""
    loop = asyncio.new_event_loop()
    try:
        registry = factory()

        def call(name: str, *args: Any) -> Any:
            result = getattr(registry, name)(*args)
            if asyncio.iscoroutine(result):
                return loop.run_until_complete(result)
            return result

        try:
            yield call
        finally:
            # Release the registry's connections inside the loop they belong to.
            closer = getattr(registry, "aclose", None) or getattr(registry, "close", None)
            if closer is not None:
                result = closer()
                if asyncio.iscoroutine(result):
                    loop.run_until_complete(result)
    finally:
        loop.close()


class _UserChecks:
    def _check_round_trip(self, factory: Callable[[], Any]) -> None:
        @_SETTINGS
        @given(username=_names, scope=_scopes, created=st.integers(0, 2**40))
        def check(username: str, scope: list[str], created: int) -> None:
            with _session(factory) as call:
                _check_user(call, username, scope, created)

        check()


def _check_user(call: Call, username: str, scope: list[str], created: int) -> None:
    record = UserRecord(username, _HASH, created, scope=tuple(scope))
    assert call("get_user", username) is None
    call("add_user", record)
    assert call("get_user", username) == record
    with pytest.raises(AlreadyExistsError):
        call("add_user", UserRecord(username, _HASH + "x", created))
    assert call("get_user", username) == record
    assert call("set_disabled", username, True) is True
    got = call("get_user", username)
    assert got is not None
    assert got.disabled
    new_hash = _HASH.replace("RdescudvJCsgt3ub", "AAAAAAAAAAAAAAAA")
    assert call("set_password_hash", username, new_hash) is True
    got = call("get_user", username)
    assert got is not None
    assert got.password_hash == new_hash
    assert got.disabled
    assert call("set_disabled", username + "?", True) is False
    assert call("set_password_hash", username + "?", new_hash) is False
    assert [u.username for u in call("list_users")] == [username]


class _KeyChecks:
    def _check_round_trip(self, factory: Callable[[], Any]) -> None:
        @_SETTINGS
        @given(subject=_names, name=_names, scope=_scopes, secret=st.binary(min_size=1))
        def check(subject: str, name: str, scope: list[str], secret: bytes) -> None:
            with _session(factory) as call:
                _check_key(call, subject, name, scope, secret)

        check()


def _check_key(call: Call, subject: str, name: str, scope: list[str], secret: bytes) -> None:
    digest = hashlib.sha256(secret).hexdigest()
    record = ApiKeyRecord("k1", subject, name, digest, 1000, scope=tuple(scope))
    other_subject = "someone-else" if subject != "someone-else" else "someone-other"
    other = ApiKeyRecord("k2", other_subject, "", "0" * 64, 999)
    call("add_key", record)
    call("add_key", other)
    assert call("find_by_digest", digest) == record
    assert call("get_key", "k1") == record
    assert call("get_key", "nope") is None
    assert call("find_by_digest", "f" * 64) is None
    with pytest.raises(AlreadyExistsError):
        call("add_key", ApiKeyRecord("k1", subject, name, "1" * 64, 1))
    with pytest.raises(AlreadyExistsError):
        call("add_key", ApiKeyRecord("k3", subject, name, digest, 1))
    assert call("list_keys", subject) == [record]
    assert [k.key_id for k in call("list_keys")] == ["k2", "k1"]
    call("touch_key", "k1", 2000)
    touched = call("get_key", "k1")
    assert touched is not None
    assert touched.last_used_at == 2000
    assert call("revoke_key", "k1", 3000) is True
    assert call("revoke_key", "k1", 4000) is False
    assert call("revoke_key", "nope", 4000) is False
    revoked = call("find_by_digest", digest)
    assert revoked is not None
    assert revoked.revoked_at == 3000
    assert not revoked.active


class UserRegistryContract(_UserChecks):
    """The contract for a synchronous :class:`~tokenauth.UserRegistry`."""

    @pytest.fixture
    def user_registry_factory(self) -> Callable[[], UserRegistry]:
        """Override: return a callable that makes a fresh, empty registry."""
        raise NotImplementedError("override the user_registry_factory fixture")

    def test_round_trip(self, user_registry_factory: Callable[[], UserRegistry]) -> None:
        """Users are stored exactly, once, and updated in place."""
        self._check_round_trip(user_registry_factory)


class AsyncUserRegistryContract(_UserChecks):
    """The contract for an :class:`~tokenauth.AsyncUserRegistry`.

    Each call runs in a fresh event loop, so the registry must not bind itself to
    one loop (create connections lazily, or override the fixture to suit).
    """

    @pytest.fixture
    def async_user_registry_factory(self) -> Callable[[], AsyncUserRegistry]:
        """Override: return a callable that makes a fresh, empty registry."""
        raise NotImplementedError("override the async_user_registry_factory fixture")

    def test_round_trip(self, async_user_registry_factory: Callable[[], AsyncUserRegistry]) -> None:
        """Users are stored exactly, once, and updated in place."""
        self._check_round_trip(async_user_registry_factory)


class ApiKeyRegistryContract(_KeyChecks):
    """The contract for a synchronous :class:`~tokenauth.ApiKeyRegistry`."""

    @pytest.fixture
    def api_key_registry_factory(self) -> Callable[[], ApiKeyRegistry]:
        """Override: return a callable that makes a fresh, empty registry."""
        raise NotImplementedError("override the api_key_registry_factory fixture")

    def test_round_trip(self, api_key_registry_factory: Callable[[], ApiKeyRegistry]) -> None:
        """Keys are found by digest and id, unique in both, touched and revoked once."""
        self._check_round_trip(api_key_registry_factory)


class AsyncApiKeyRegistryContract(_KeyChecks):
    """The contract for an :class:`~tokenauth.AsyncApiKeyRegistry`.

    Each call runs in a fresh event loop, as for :class:`AsyncUserRegistryContract`.
    """

    @pytest.fixture
    def async_api_key_registry_factory(self) -> Callable[[], AsyncApiKeyRegistry]:
        """Override: return a callable that makes a fresh, empty registry."""
        raise NotImplementedError("override the async_api_key_registry_factory fixture")

    def test_round_trip(
        self, async_api_key_registry_factory: Callable[[], AsyncApiKeyRegistry]
    ) -> None:
        """Keys are found by digest and id, unique in both, touched and revoked once."""
        self._check_round_trip(async_api_key_registry_factory)
