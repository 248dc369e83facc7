"""Token lifetimes from 1 s to 30 days: issued, accepted while they last, expired after."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenauth import (
    Authenticated,
    ConfigurationError,
    JWTIssuer,
    JWTValidator,
    KeySet,
    MemoryStore,
    MemoryUserRegistry,
    Principal,
    Reason,
    TokenAuth,
    TokenRejected,
    Unauthorized,
)
from tokenauth.testing import FrozenClock
from tokenauth.testing import strategies as ts

from .conftest import basic

KEYS = KeySet.generate("HS256")
NOW = 1_800_000_000
LEEWAY = 5
ALICE = Principal("alice", "password")


@given(st.integers(min_value=1, max_value=30 * 86400))
def test_every_lifetime_from_one_second_is_issued_and_ends_on_time(ttl: int) -> None:
    """exp - iat is the ttl; the token passes before exp + leeway and is expired from then on."""
    issued = JWTIssuer(KEYS, ttl=ttl).issue(ALICE, now=NOW)
    assert issued.claims.exp - issued.claims.iat == ttl
    validator = JWTValidator(KEYS, leeway=LEEWAY, max_lifetime=max(ttl, 60), cache_size=0)
    assert validator.validate(issued.token, now=NOW).sub == "alice"  # type: ignore[union-attr]
    last = validator.validate(issued.token, now=NOW + ttl + LEEWAY - 1)
    assert not isinstance(last, TokenRejected)
    late = validator.validate(issued.token, now=NOW + ttl + LEEWAY)
    assert isinstance(late, TokenRejected)
    assert late.reason is Reason.EXPIRED


@pytest.mark.parametrize("ttl", [0, -1, 30 * 86400 + 1])
def test_lifetimes_outside_one_second_to_30_days_are_refused(ttl: int) -> None:
    with pytest.raises(ConfigurationError, match=r"1 s to 30 days .* not -?\d+"):
        JWTIssuer(KEYS, ttl=ttl)
    with pytest.raises(ConfigurationError, match="ttl"):
        TokenAuth(keys=KEYS, store=MemoryStore(), ttl=ttl)


def test_a_five_second_token_works_then_expires_and_leaves_the_store() -> None:
    """Through the front door: a 5 s token is accepted, then refused as expired and removed.

    (The front door's validator allows lifetimes up to max(ttl, 60) s, so a 5 s token
    passes its lifetime check.)
    """
    clock = FrozenClock(NOW)
    store, users = MemoryStore(), MemoryUserRegistry()
    auth = TokenAuth(
        keys=KEYS, store=store, users=users, ttl=5, clock=clock, hasher=ts.fast_hasher()
    )
    auth.add_user("alice", "correct horse")
    login = auth.login(basic("alice", "correct horse"), secure=True)
    assert login.status == 200, login
    token = login.token  # type: ignore[union-attr]
    assert login.expires_in == 5  # type: ignore[union-attr]
    clock.advance(5 + LEEWAY - 1)
    assert isinstance(auth.authenticate(f"Bearer {token}", secure=True), Authenticated)
    assert len(store) == 1
    clock.advance(1)
    late = auth.authenticate(f"Bearer {token}", secure=True)
    assert isinstance(late, Unauthorized)
    assert late.reason is Reason.EXPIRED
    assert len(store) == 0
