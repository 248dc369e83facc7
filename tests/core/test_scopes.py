"""Scope checks: one decision in the core, one exact refusal (RFC 6750 section 3.1)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenauth import (
    Authenticated,
    Claims,
    ConfigurationError,
    InsufficientScope,
    Principal,
    Reason,
    ScopeRequirement,
    authorize,
    scope_tokens,
)

SCOPES = st.lists(st.sampled_from(["read", "write", "admin", "a:b", "x/y"]), max_size=4)


def authenticated(*scope: str) -> Authenticated:
    claims = Claims("alice", "j", 1, 2, "tokenauth", ("tokenauth",), scope)
    return Authenticated(Principal("alice", "password", scope=scope), claims, "t")


def test_the_refusal_is_exactly_the_contract() -> None:
    """403, the challenge with realm, error and scope, and the JSON body."""
    refusal = authorize(authenticated("read"), ["admin", "write"], realm="api")
    assert isinstance(refusal, InsufficientScope)
    assert refusal.status == 403
    assert refusal.reason is Reason.INSUFFICIENT_SCOPE
    assert refusal.headers == (
        ("Content-Type", "application/json"),
        ("Cache-Control", "no-store"),
        ("Pragma", "no-cache"),
        ("WWW-Authenticate", 'Bearer realm="api", error="insufficient_scope", scope="admin write"'),
    )
    assert json.loads(refusal.body) == {
        "error": "insufficient_scope",
        "error_description": "The token needs the scopes admin write.",
    }
    one_of = authorize(authenticated(), "admin write", realm="api", any_of=True)
    assert isinstance(one_of, InsufficientScope)
    assert one_of.description == "The token needs one of these scopes: admin write."
    assert one_of.challenge == refusal.challenge


@given(SCOPES, SCOPES.filter(bool), st.booleans())
def test_all_of_and_any_of_decide_as_sets_do(
    granted: list[str], needed: list[str], any_of: bool
) -> None:
    """The token passes with all (or any) of the needed scopes, and only then; the result
    is the very Authenticated value, and the refusal is the requirement's one object."""
    requirement = ScopeRequirement.of(needed, realm="r", any_of=any_of)
    result = authenticated(*granted)
    allowed = bool(set(needed) & set(granted)) if any_of else set(needed) <= set(granted)
    outcome = requirement.check(result)
    assert (outcome is result) if allowed else (outcome is requirement.refusal)
    assert authorize(result, needed, realm="r", any_of=any_of) == outcome


def test_scope_tokens_are_checked_when_declared() -> None:
    """RFC 6749 section 3.3 scope tokens only; each failure says what a scope may hold."""
    assert scope_tokens("read write read") == ("read", "write")
    assert scope_tokens(["a:b", "x/y"]) == ("a:b", "x/y")
    for bad in (["a b"], ['a"b'], ["a\\\\b"], [""], ["é"], [3], "read  write"):
        with pytest.raises(ConfigurationError, match="RFC 6749"):
            scope_tokens(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="at least one scope"):
        ScopeRequirement.of([], realm="api")


def test_front_doors_authorize_with_their_realm_and_report_denials() -> None:
    """auth.authorize: the realm is the front door's, the requirement is built once,
    a denial is an ACCESS_DENIED event; the principal carries the token's own claims."""
    from tokenauth import (
        EventKind,
        KeySet,
        MemoryStore,
        MemoryUserRegistry,
        SecurityEvent,
        TokenAuth,
    )
    from tokenauth.testing import strategies as ts

    events: list[SecurityEvent] = []
    auth = TokenAuth(
        keys=KeySet.generate("HS256"), store=MemoryStore(), users=MemoryUserRegistry(),
        hasher=ts.fast_hasher(), realm="shop", on_event=events.append,
        extra_claims=lambda p: {"tenant": "acme"},
    )  # fmt: skip
    auth.add_user("alice", "pw", scope=("read",))
    granted = auth.login("Basic YWxpY2U6cHc=", secure=True)
    result = auth.authenticate(f"Bearer {granted.token}", secure=True)  # type: ignore[union-attr]
    assert isinstance(result, Authenticated)
    assert result.principal.extra == {"tenant": "acme"}
    assert auth.authorize(result, ["read"]) is result
    denied = auth.authorize(result, "admin")
    assert isinstance(denied, InsufficientScope)
    assert denied.challenge == 'Bearer realm="shop", error="insufficient_scope", scope="admin"'
    assert auth.requirement(["admin"]) is auth.requirement(["admin"])
    assert [e.kind for e in events][-1] is EventKind.ACCESS_DENIED
    assert events[-1].subject == "alice"
