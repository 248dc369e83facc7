"""Authenticators: argon2id passwords without user enumeration, API keys as peppered digests."""

from __future__ import annotations

import argon2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenauth import (
    ApiKeyAuthenticator,
    ConfigurationError,
    MemoryApiKeyRegistry,
    MemoryUserRegistry,
    PasswordAuthenticator,
    Principal,
    Reason,
    api_key_digest,
    default_password_hasher,
    generate_api_key,
    is_well_formed_api_key,
    new_user,
)
from tokenauth.extend import (
    BasicCredentials,
    run_sync,
)
from tokenauth.testing import strategies as ts

from .conftest import PEPPER


class CountingHasher(argon2.PasswordHasher):
    """Counts verifications, to show every path does the same argon2 work."""

    def __init__(self, *, time_cost: int = 1, memory_cost: int = 8) -> None:
        super().__init__(time_cost=time_cost, memory_cost=memory_cost, parallelism=1)
        self.verified: list[str] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # type: ignore[override]
        self.verified.append(str(hash))
        return super().verify(hash, password)


def check(
    auth: PasswordAuthenticator | ApiKeyAuthenticator, username: str, password: str
) -> Principal | Reason:
    return run_sync(auth.authenticate(BasicCredentials(username, password), now=1000))


def test_default_hasher_meets_rfc9106() -> None:
    """The default hasher is argon2id with at least RFC 9106's low-memory parameters."""
    hasher = default_password_hasher()
    assert hasher.type is argon2.Type.ID
    assert hasher.memory_cost >= 64 * 1024
    assert hasher.time_cost >= 3
    assert new_user("a", "b", now=0).password_hash.startswith("$argon2id$")


def test_unknown_and_disabled_users_cost_the_same_argon2_work() -> None:
    """Unknown user, disabled user and wrong password each run exactly one argon2 verify."""
    hasher = CountingHasher()
    users = MemoryUserRegistry()
    users.add_user(new_user("alice", "pw", now=0, hasher=hasher))
    users.add_user(new_user("bob", "pw", now=0, hasher=hasher))
    users.set_disabled("bob", True)
    auth = PasswordAuthenticator(users, hasher=hasher)
    outcomes = []
    for username, password in (
        ("alice", "wrong"),
        ("nobody", "pw"),
        ("bob", "pw"),
        ("alice", "pw"),
    ):
        hasher.verified.clear()
        outcomes.append(check(auth, username, password))
        assert len(hasher.verified) == 1, username
    assert outcomes[:3] == [Reason.BAD_PASSWORD, Reason.UNKNOWN_USER, Reason.USER_DISABLED]
    assert isinstance(outcomes[3], Principal)


def test_stale_hashes_are_upgraded_on_login() -> None:
    """A hash made with weaker parameters is replaced after a successful login."""
    weak = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    strong = argon2.PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    users = MemoryUserRegistry()
    users.add_user(new_user("alice", "pw", now=0, hasher=weak))
    auth = PasswordAuthenticator(users, hasher=strong)
    assert isinstance(check(auth, "alice", "pw"), Principal)
    record = users.get_user("alice")
    assert record is not None
    assert not strong.check_needs_rehash(record.password_hash)
    assert isinstance(check(auth, "alice", "pw"), Principal)
    assert check(auth, "alice", "wrong") is Reason.BAD_PASSWORD


@settings(max_examples=25, deadline=None)
@given(username=ts.usernames(), password=ts.passwords())
def test_unicode_is_normalised_to_nfc(username: str, password: str) -> None:
    """A user added in one Unicode form logs in with any canonically equivalent form."""
    import unicodedata

    users = MemoryUserRegistry()
    users.add_user(new_user(username, password, now=0, hasher=ts.fast_hasher()))
    auth = PasswordAuthenticator(users, hasher=ts.fast_hasher())
    for form in ("NFC", "NFD"):
        got = check(
            auth, unicodedata.normalize(form, username), unicodedata.normalize(form, password)
        )
        assert isinstance(got, Principal)
        assert got.subject == unicodedata.normalize("NFC", username)


@pytest.mark.parametrize(
    ("username", "password"),
    [("", "pw"), ("a:b", "pw"), ("a\x00", "pw"), ("a", ""), ("a", "p\nw"), ("x" * 256, "pw")],
)
def test_new_user_refuses_what_basic_cannot_send(username: str, password: str) -> None:
    """Usernames with colons or controls, empty or control-laden passwords are refused."""
    with pytest.raises(ConfigurationError):
        new_user(username, password, now=0, hasher=ts.fast_hasher())


def test_api_keys_are_recognisable_and_checksummed() -> None:
    """Keys have the tka_ prefix, ~190 random bits and a checksum that catches typos."""
    key, record = generate_api_key(subject="svc", name="n", pepper=PEPPER, now=5)
    assert key.startswith("tka_")
    assert len(key) == 42
    assert is_well_formed_api_key(key)
    assert record.digest == api_key_digest(key, PEPPER)
    assert key not in repr(record)
    typo = key[:10] + ("A" if key[10] != "A" else "B") + key[11:]
    assert not is_well_formed_api_key(typo)
    keys = {generate_api_key(subject="s", name="", pepper=PEPPER, now=0)[0] for _ in range(200)}
    assert len(keys) == 200


@given(st.text(max_size=60))
def test_random_strings_are_not_api_keys(text: str) -> None:
    """Random text is (almost) never a well-formed key: the checksum rejects it."""
    if is_well_formed_api_key(text):
        assert text.startswith("tka_")


def test_api_key_authenticator() -> None:
    """Known keys log in as their subject; unknown, malformed and revoked keys are refused."""
    registry = MemoryApiKeyRegistry()
    key, record = generate_api_key(subject="svc", name="n", pepper=PEPPER, now=5, scope=("a",))
    registry.add_key(record)
    auth = ApiKeyAuthenticator(registry, pepper=PEPPER)
    assert check(auth, key, "") == Principal("svc", "api_key", record.key_id, ("a",))
    other, _ = generate_api_key(subject="svc", name="n", pepper=PEPPER, now=5)
    assert check(auth, other, "") is Reason.UNKNOWN_API_KEY
    assert check(auth, "not-a-key", "") is Reason.UNKNOWN_API_KEY
    assert check(auth, key, "with-password") is Reason.UNKNOWN_API_KEY
    assert ApiKeyAuthenticator(registry, pepper=b"another-pepper-" * 3).keys is registry
    assert (
        check(ApiKeyAuthenticator(registry, pepper=b"another-pepper-" * 3), key, "")
        is Reason.UNKNOWN_API_KEY
    )
    registry.revoke_key(record.key_id, 10)
    assert check(auth, key, "") is Reason.API_KEY_REVOKED


def test_short_pepper_refused() -> None:
    """A pepper under 32 bytes is a configuration error."""
    with pytest.raises(ConfigurationError, match="pepper"):
        ApiKeyAuthenticator(MemoryApiKeyRegistry(), pepper=b"short")
