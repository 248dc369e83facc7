"""Step-up (RFC 9470): a route's demand for a recent login, decided in the core."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenauth import (
    AsyncMemoryStore,
    AsyncTokenAuth,
    Authenticated,
    Claims,
    ConfigurationError,
    EventKind,
    InsufficientScope,
    JWTIssuer,
    JWTValidator,
    KeySet,
    LoginAgeRequirement,
    MemoryStore,
    MemoryUserRegistry,
    Principal,
    Reason,
    SecurityEvent,
    StepUpRequired,
    TokenAuth,
    TokenRejected,
    login_max_age,
    login_time,
)
from tokenauth.testing import FrozenClock
from tokenauth.testing import strategies as ts

KEYS = KeySet.generate("ES256")
NOW = 1_800_000_000
BASIC = "Basic " + base64.b64encode(b"alice:correct horse").decode()


def _logged_in() -> tuple[TokenAuth, Authenticated, FrozenClock, list[SecurityEvent]]:
    clock = FrozenClock(NOW)
    events: list[SecurityEvent] = []
    auth = TokenAuth(
        keys=KEYS, store=MemoryStore(), users=MemoryUserRegistry(), hasher=ts.fast_hasher(),
        clock=clock, realm="example", on_event=events.append,
    )  # fmt: skip
    auth.add_user("alice", "correct horse")
    granted = auth.login(BASIC, secure=True)
    assert granted.status == 200
    result = auth.authenticate(f"Bearer {granted.token}", secure=True)  # type: ignore[union-attr]
    assert isinstance(result, Authenticated)
    return auth, result, clock, events


_AUTHENTICATED = _logged_in()


def test_a_recent_login_passes_up_to_max_age() -> None:
    """At exactly max_age seconds the login still counts as recent."""
    auth, result, clock, _ = _logged_in()
    clock.advance(300)
    assert auth.require_recent_login(result, max_age=300) is result


def test_an_older_login_is_answered_per_rfc_9470() -> None:
    """One second more: 401, error="insufficient_user_authentication" and max_age."""
    auth, result, clock, events = _logged_in()
    clock.advance(301)
    refusal = auth.require_recent_login(result, max_age=300)
    assert isinstance(refusal, StepUpRequired)
    assert refusal.status == 401
    assert dict(refusal.headers)["WWW-Authenticate"] == (
        'Bearer realm="example", error="insufficient_user_authentication", '
        'error_description="A more recent login is required.", max_age="300"'
    )
    assert refusal.json["error"] == "insufficient_user_authentication"
    assert refusal.max_age == 300
    assert events[-1].kind is EventKind.ACCESS_DENIED
    assert events[-1].reason is Reason.LOGIN_TOO_OLD
    assert events[-1].jti == result.claims.jti


def test_requirements_are_built_once_per_max_age() -> None:
    """A route's requirement and its refusal are made once and reused."""
    auth, result, clock, _ = _logged_in()
    assert auth.login_age_requirement(60) is auth.login_age_requirement(60)
    clock.advance(61)
    assert auth.require_recent_login(result, max_age=60) is auth.login_age_requirement(60).refusal


@pytest.mark.parametrize("max_age", [-1, 366 * 86_400 + 1, 1.5, True, "300"])
def test_nonsense_max_age_fails_at_declaration(max_age: object) -> None:
    """max_age is whole seconds from 0 to a year; anything else is a configuration error."""
    with pytest.raises(ConfigurationError, match="max_age"):
        LoginAgeRequirement.of(max_age, realm="api")  # type: ignore[arg-type]


@given(st.integers(0, 10_000), st.integers(-100, 20_000))
def test_the_decision_is_the_login_age_against_max_age(max_age: int, age: int) -> None:
    """Allowed exactly when now minus the login time is at most max_age."""
    _, result, _, _ = _AUTHENTICATED
    requirement = LoginAgeRequirement.of(max_age, realm="api")
    outcome = requirement.check(result, now=login_time(result.claims) + age)
    assert (outcome is result) == (age <= max_age)


def test_a_token_from_a_login_was_issued_at_the_login() -> None:
    """Without auth_time, a token's login time is its iat."""
    _, result, _, _ = _AUTHENTICATED
    assert login_time(result.claims) == result.claims.iat == NOW


def test_the_async_front_door_decides_the_same() -> None:
    """AsyncTokenAuth makes the same decision, synchronously (no I/O)."""

    async def main() -> tuple[object, object]:
        clock = FrozenClock(NOW)
        auth = AsyncTokenAuth(
            keys=KEYS, store=AsyncMemoryStore(), users=MemoryUserRegistry(),
            hasher=ts.fast_hasher(), clock=clock,
        )  # fmt: skip
        await auth.add_user("alice", "correct horse")
        granted = await auth.login(BASIC, secure=True)
        result = await auth.authenticate(f"Bearer {granted.token}", secure=True)  # type: ignore[union-attr]
        assert isinstance(result, Authenticated)
        fresh = auth.require_recent_login(result, max_age=10)
        clock.advance(11)
        return fresh is result, type(auth.require_recent_login(result, max_age=10))

    assert asyncio.run(main()) == (True, StepUpRequired)


def test_authorize_decides_scopes_and_login_age_in_one_call() -> None:
    """authorize(result, scopes, max_age=...): the scope first (403), then the login age (401)."""
    auth, result, clock, _ = _logged_in()
    assert auth.authorize(result, max_age=60) is result
    clock.advance(61)
    assert isinstance(auth.authorize(result, max_age=60), StepUpRequired)
    assert auth.authorize(result, max_age=120) is result
    assert isinstance(auth.authorize(result, "admin", max_age=120), InsufficientScope)
    assert isinstance(auth.authorize(result, "admin", max_age=60), InsufficientScope)
    assert auth.authorize(result) is result


def _signed(payload: dict[str, object]) -> str:
    from tokenauth._jwt import TOKEN_TYPE
    from tokenauth._keys import b64url

    key = KEYS.signer(NOW)
    header = {"alg": key.alg, "kid": key.kid, "typ": TOKEN_TYPE}
    encoded = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(payload).encode())
    return f"{encoded}.{b64url(key.sign(encoded.encode('ascii')))}"


def _payload(**claims: object) -> dict[str, object]:
    base: dict[str, object] = {
        "iss": "tokenauth", "sub": "alice", "aud": "tokenauth", "iat": NOW, "exp": NOW + 600,
        "jti": "j-1", "client_id": "tokenauth",
    }  # fmt: skip
    return {**base, **claims}


def test_a_refreshed_token_carries_its_login_time() -> None:
    """Issued later than its login, a token says auth_time, and step-up counts from it."""
    issuer = JWTIssuer(KEYS, ttl=600)
    principal = Principal("alice", "password")
    issued = issuer.issue(principal, now=NOW + 1000, auth_time=NOW)
    claims = JWTValidator(KEYS).validate(issued.token, now=NOW + 1000)
    assert isinstance(claims, Claims)
    assert claims.auth_time == NOW
    assert login_time(claims) == NOW
    result = Authenticated(principal, claims, issued.token)
    requirement = LoginAgeRequirement.of(600, realm="api")
    assert isinstance(requirement.check(result, now=NOW + 1000), StepUpRequired)


def test_a_token_from_its_login_does_not_repeat_the_time() -> None:
    """auth_time equal to iat is left out: the token stays as short as before."""
    issued = JWTIssuer(KEYS).issue(Principal("alice", "password"), now=NOW, auth_time=NOW)
    assert issued.claims.auth_time is None
    assert "auth_time" not in issued.claims.to_json()


@pytest.mark.parametrize("auth_time", [NOW + 1, "yesterday", True, -5, None])
def test_a_nonsense_auth_time_is_a_bad_token(auth_time: object) -> None:
    """A login after its token, or one that is not a NumericDate, is refused as bad claims."""
    token = _signed(_payload(auth_time=auth_time))
    rejected = JWTValidator(KEYS).validate(token, now=NOW)
    assert isinstance(rejected, TokenRejected)
    assert rejected.reason is Reason.BAD_CLAIMS


def test_auth_time_is_typed_not_an_application_claim() -> None:
    """auth_time reads back as Claims.auth_time, never in the application's extra claims."""
    token = _signed(_payload(auth_time=NOW - 50, team="blue"))
    claims = JWTValidator(KEYS).validate(token, now=NOW)
    assert isinstance(claims, Claims)
    assert claims.auth_time == NOW - 50
    assert dict(claims.extra) == {"team": "blue"}


@given(st.one_of(st.integers(), st.floats(), st.booleans(), st.text(max_size=8), st.none()))
def test_login_max_age_accepts_whole_seconds_up_to_a_year_and_nothing_else(value: object) -> None:
    """What bindings check where a route is declared: an int from 0 to a year, or an error."""
    if type(value) is int and 0 <= value <= 366 * 86_400:
        assert login_max_age(value) == value
    else:
        with pytest.raises(ConfigurationError, match="max_age"):
            login_max_age(value)
