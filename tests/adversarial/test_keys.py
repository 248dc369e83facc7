"""Keys: publication before use, retirement, and the algorithm labels of imported JWKs.

RFC 7517 section 5 (a JWK Set is what verifiers fetch, and cache for the
``Cache-Control: max-age`` it is served with: RFC 9111 section 5.2.2.1), RFC
8725 section 3.1 (the key fixes the algorithm), RFC 9864 section 2 (``Ed25519``
as the fully-specified name of EdDSA on Ed25519). A staged rotation publishes
a key at least one JWKS max-age before it signs, so that no verifier meets a
token signed by a key its cached JWKS does not hold.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tokenauth import (
    JWKS_MAX_AGE,
    STAGE_DELAY,
    Authenticated,
    ConfigurationError,
    Key,
    KeySet,
    MemoryStore,
    TokenAuth,
)
from tokenauth.testing import FrozenClock
from tokenauth.testing import strategies as ts

from .conftest import basic


def _kid_of(token: str) -> str:
    import base64

    header = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


def _auth(clock: FrozenClock) -> TokenAuth:
    from tokenauth import MemoryUserRegistry

    auth = TokenAuth(
        keys=KeySet.generate("ES256"), store=MemoryStore(), users=MemoryUserRegistry(),
        hasher=ts.fast_hasher(), clock=clock, ttl=600,
    )  # fmt: skip
    auth.add_user("alice", "pw")
    return auth


def _token(auth: TokenAuth) -> str:
    result = auth.login(basic("alice", "pw"), secure=True)
    assert result.status == 200
    return result.token  # type: ignore[union-attr]


def test_the_default_stage_delay_covers_the_jwks_cache() -> None:
    """The default delay is at least the max-age the JWKS is served with."""
    assert STAGE_DELAY >= JWKS_MAX_AGE


def test_a_staged_key_is_published_at_once_and_signs_only_after_the_delay() -> None:
    """RFC 7517 s5 + RFC 9111: published first, signing after STAGE_DELAY, old tokens still good."""
    clock = FrozenClock(1_800_000_000)
    auth = _auth(clock)
    old_kid = auth.keys.signing.kid
    before = _token(auth)
    keys = auth.rotate_keys(staged=True)
    assert keys.staged is not None
    new_kid = keys.staged.kid
    assert new_kid in {k["kid"] for k in keys.jwks()["keys"]}
    assert _kid_of(_token(auth)) == old_kid
    clock.advance(STAGE_DELAY - 1)
    assert _kid_of(_token(auth)) == old_kid
    clock.advance(1)
    after = _token(auth)
    assert _kid_of(after) == new_kid
    for token in (before, after):
        assert isinstance(auth.authenticate(f"Bearer {token}", secure=True), Authenticated)


def test_the_old_key_verifies_a_full_lifetime_after_it_stops_signing() -> None:
    """A token the old key signed just before the switch verifies until it expires."""
    clock = FrozenClock(1_800_000_000)
    auth = _auth(clock)
    auth.rotate_keys(delay=100)
    clock.advance(99)
    last_old = _token(auth)
    clock.advance(600)  # the token's whole life (ttl=600), within the leeway
    assert isinstance(auth.authenticate(f"Bearer {last_old}", secure=True), Authenticated)


def test_an_immediate_rotation_is_still_the_default() -> None:
    """Without ``staged`` or ``delay``, the new key signs at once (the old behaviour)."""
    clock = FrozenClock(1_800_000_000)
    auth = _auth(clock)
    keys = auth.rotate_keys()
    assert keys.staged is None
    assert _kid_of(_token(auth)) == keys.signing.kid


def test_a_negative_delay_is_refused() -> None:
    """A delay before now would sign with an unpublished key: a configuration error."""
    with pytest.raises(ConfigurationError, match="negative"):
        _auth(FrozenClock(0)).rotate_keys(delay=-1)


def test_a_staged_set_survives_save_and_load(tmp_path: Path) -> None:
    """The staging is in the key file: a server loading it before the time still signs old."""
    keys = KeySet.generate("EdDSA")
    staged = keys.rotated(Key.generate("EdDSA"), now=1000, lifetime=60, delay=400)
    path = tmp_path / "keys.json"
    staged.save(path)
    early = KeySet.load(path, now=1200)
    assert early.signing.kid == keys.signing.kid
    assert early.staged is not None
    assert early.staged.signs_from == 1400
    late = KeySet.load(path, now=1400)
    assert late.staged is None
    assert late.signing.kid == staged.staged.kid  # type: ignore[union-attr]


def test_retired_keys_are_pruned_from_the_jwks_on_load(tmp_path: Path) -> None:
    """A key whose not_after has passed is not published by a server that loads the file."""
    retired = Key.generate("RS256").retiring_at(1000)
    keys = KeySet(Key.generate("RS256"), [retired])
    path = tmp_path / "keys.json"
    keys.save(path)
    published = {k["kid"] for k in KeySet.load(path, now=1001).jwks()["keys"]}
    assert retired.kid not in published
    assert retired.kid in {k["kid"] for k in KeySet.load(path, now=999).jwks()["keys"]}


def test_ed25519_is_accepted_as_an_alg_label() -> None:
    """RFC 9864 s2: ``"alg": "Ed25519"`` names EdDSA on Ed25519; the key imports as EdDSA."""
    jwk = Key.generate("EdDSA").to_jwk()
    jwk["alg"] = "Ed25519"
    key = Key.from_jwk(jwk)
    assert key.alg == "EdDSA"


def test_ed25519_on_another_key_type_is_still_refused() -> None:
    """RFC 8725 s3.1: a label that does not fit the key is an error, aliases included."""
    jwk = Key.generate("ES256").to_jwk()
    jwk["alg"] = "Ed25519"
    with pytest.raises(ConfigurationError, match="Ed25519"):
        Key.from_jwk(jwk)


def test_two_staged_keys_are_refused() -> None:
    """One rotation at a time: a set staging two keys is a configuration error."""
    staged = [Key.generate("ES256").staged_from(10), Key.generate("ES256").staged_from(20)]
    with pytest.raises(ConfigurationError, match="one key at a time"):
        KeySet(Key.generate("ES256"), staged)
