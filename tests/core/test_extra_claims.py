"""An application's own claims: added at issue time, checked, and read back typed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings

from tokenauth import (
    MAX_EXTRA_CLAIMS_SIZE,
    RESERVED_CLAIMS,
    Claims,
    ConfigurationError,
    JSONObject,
    JWTIssuer,
    JWTValidator,
    KeySet,
    Principal,
)
from tokenauth.testing import strategies as ts

NOW = 1_800_000_000
KEYS = KeySet.generate("HS256")
ALICE = Principal("alice", "password")


def issue(extra: Any) -> str:
    return JWTIssuer(KEYS, extra_claims=lambda _: extra).issue(ALICE, now=NOW).token


@settings(max_examples=200)
@given(ts.extra_claims())
def test_extra_claims_round_trip(extra: dict[str, Any]) -> None:
    """Whatever JSON a hook returns comes back equal, immutable, from the token itself."""
    issuer = JWTIssuer(KEYS, extra_claims=lambda _: extra)
    issued = issuer.issue(ALICE, now=NOW)
    claims = JWTValidator(KEYS, cache_size=0).validate(issued.token, now=NOW)
    assert isinstance(claims, Claims)
    assert claims == issued.claims
    assert claims.extra.to_json() == extra
    assert claims.extra == extra
    assert hash(claims) == hash(issued.claims)
    assert {k: v for k, v in claims.to_json().items() if k in extra} == extra


def test_extra_claims_read_back_typed() -> None:
    """get_as gives a claim only as the type it was issued with."""
    token = issue({"tenant": "acme", "level": 3, "beta": True, "roles": ["a", "b"], "o": {"k": 1}})
    claims = JWTValidator(KEYS).validate(token, now=NOW)
    assert isinstance(claims, Claims)
    extra = claims.extra
    assert extra.get_as("tenant", str) == "acme"
    assert extra.get_as("level", int) == 3
    assert extra.get_as("beta", bool) is True
    assert extra.get_as("beta", int) is None
    assert extra.get_as("roles", tuple) == ("a", "b")
    assert extra.get_as("o", JSONObject) == {"k": 1}
    assert extra.get_as("tenant", int) is None
    assert extra.get_as("missing", str) is None
    assert isinstance(extra["o"], JSONObject)
    with pytest.raises(TypeError):
        extra["x"] = 1  # type: ignore[index]


def test_the_hook_sees_the_principal() -> None:
    seen: list[Principal] = []

    def hook(principal: Principal) -> dict[str, object]:
        seen.append(principal)
        return {"tenant": principal.subject.upper()}

    issued = JWTIssuer(KEYS, extra_claims=hook).issue(ALICE, now=NOW)
    assert seen == [ALICE]
    assert issued.claims.extra == {"tenant": "ALICE"}


@pytest.mark.parametrize("name", sorted(RESERVED_CLAIMS))
def test_reserved_names_are_refused(name: str) -> None:
    with pytest.raises(ConfigurationError, match=f"the claim '{name}' is reserved"):
        issue({name: "x"})


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"n": float("nan")}, "JSON values"),
        ({"s": {1, 2}}, "JSON values"),
        ({"b": b"x"}, "JSON values"),
        ({"o": {1: "x"}}, "JSON values"),
        ({"big": 2**70}, "JSON values"),
        ({"": 1}, "non-empty strings"),
        ({"blob": "x" * MAX_EXTRA_CLAIMS_SIZE}, "at most 4096 bytes"),
        ({"deep": json.loads("[" * 40 + "]" * 40)}, "nested at most"),
        (["tenant"], "not a mapping"),
    ],
)
def test_bad_extra_claims_name_the_cause_and_the_fix(extra: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as raised:
        issue(extra)
    assert "fix the extra_claims hook" in str(raised.value)
