"""Logins: RFC 7617 Basic credentials, and what a refusal reveals.

RFC 7617 section 2 (``user-id ":" password``, base64, the user-id without a
colon, no control characters), section 2.1 (``charset="UTF-8"`` and
normalisation: RFC 7613's NFC here), RFC 9110 section 11.6.1 (the challenge of
a 401). The contract: malformed credentials are 400 ``invalid_request``;
wrong ones are 401 with the same body and challenge whoever the user is.
"""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from tokenauth import BadRequest, Granted, Unauthorized
from tokenauth.testing import strategies as ts

from .conftest import Deployment, basic, deploy

#: One deployment for the many examples that only read (malformed logins change nothing).
WORLD = deploy()


@settings(max_examples=200)
@given(header=ts.malformed_basic_headers())
def test_malformed_credentials_are_400(header: str) -> None:
    """RFC 7617 s2: bad base64, no colon, controls, an empty user-id: invalid_request."""
    result = WORLD.auth.login(header, secure=True)
    assert isinstance(result, BadRequest)
    assert result.status == 400


def test_the_password_may_hold_colons(world: Deployment) -> None:
    """RFC 7617 s2: the user-id ends at the first colon; the password keeps the rest."""
    world.auth.add_user("carol", "a:b:c")
    assert isinstance(world.auth.login(basic("carol", "a:b:c"), secure=True), Granted)


def test_credentials_are_compared_after_nfc(world: Deployment) -> None:
    """RFC 7617 s2.1 with RFC 7613: a decomposed username and password still log in."""
    world.auth.add_user("Zoë", "pässwörd")
    header = basic(unicodedata.normalize("NFD", "Zoë"), unicodedata.normalize("NFD", "pässwörd"))
    assert isinstance(world.auth.login(header, secure=True), Granted)


def test_the_scheme_is_case_insensitive(world: Deployment) -> None:
    """RFC 9110 s11.1: auth-scheme is case-insensitive."""
    header = basic("alice", "correct horse").replace("Basic", "bAsIc")
    assert isinstance(world.auth.login(header, secure=True), Granted)


@settings(max_examples=30, deadline=None)
@given(
    who=st.sampled_from(["unknown user", "wrong password", "unknown key", "revoked key"]),
)
def test_every_refusal_looks_the_same(who: str) -> None:
    """DESIGN.md's 401 row: one status, challenge and body, whichever credential was wrong."""
    world = deploy()
    if who == "revoked key":
        world.auth.revoke_api_key(world.api_key_id)
    header = {
        "unknown user": basic("nobody", "x"),
        "wrong password": basic("alice", "x"),
        "unknown key": basic(world.api_key[:-1] + ("a" if world.api_key[-1] != "a" else "b"), ""),
        "revoked key": basic(world.api_key, ""),
    }[who]
    result = world.auth.login(header, secure=True)
    reference = world.auth.login(basic("nobody", "x"), secure=True)
    assert isinstance(result, Unauthorized)
    assert isinstance(reference, Unauthorized)
    assert (result.status, result.headers, result.body) == (
        reference.status,
        reference.headers,
        reference.body,
    )
    assert 'charset="UTF-8"' in dict(result.headers)["WWW-Authenticate"]
