"""JWT attacks: RFC 8725 (JWT best current practices), RFC 7515/7519 and RFC 9068.

Each case names the clause it holds the validator to. Tokens come from
``tokenauth.testing.strategies.tokens`` (the same strategies users get), one
kind per case, and go through the whole front door: a token that is not
accepted must give 401 ``invalid_token`` and never 200, and never raise.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenauth import (
    BadRequest,
    JWTValidator,
    Key,
    KeySet,
    MemoryStore,
    TokenAuth,
    TokenRejected,
    Unauthorized,
    WeakKeyError,
)
from tokenauth.testing.strategies import TokenKind, TokenSample, _sign_raw, tokens

from .conftest import KEYS

NOW = 1_800_000_000

#: Each kind of bad token, and the clause that says it must be refused.
CLAUSES: dict[TokenKind, str] = {
    "alg_none": "RFC 8725 s3.1: perform algorithm verification (no 'none')",
    "hs256_with_public_pem": "RFC 8725 s2.1, s3.1: key confusion, the public PEM as an HMAC key",
    "hs256_with_public_jwk": "RFC 8725 s2.1, s3.1: key confusion, the public JWK as an HMAC key",
    "embedded_jwk": "RFC 8725 s3.10: do not trust received claims (a key in the header)",
    "crit": "RFC 7515 s4.1.11: an unknown critical header parameter",
    "wrong_kid": "RFC 7515 s4.1.4: a kid the key set does not hold",
    "other_key": "RFC 8725 s3.3: validate all cryptographic operations (another key, our kid)",
    "tampered_payload": "RFC 7515 s5.2: the signature covers the payload",
    "tampered_signature": "RFC 7515 s5.2: the signature must verify",
    "non_canonical": "RFC 8725 s2.6 (multiple encodings), RFC 4648 s3.5: canonical base64url",
    "padded": "RFC 7515 s2: base64url without padding",
    "nested_json": "RFC 8725 s2.9: indirect attacks on the server (JSON nesting depth)",
    "huge": "RFC 8725 s2.9: indirect attacks on the server (size before parsing)",
    "mistyped_exp": "RFC 7519 s4.1.4: exp is a NumericDate",
    "expired": "RFC 7519 s4.1.4: not accepted on or after exp",
}


def _auth() -> TokenAuth:
    return TokenAuth(keys=KEYS, store=MemoryStore(), leeway=5)


@pytest.mark.parametrize("kind", list(CLAUSES), ids=list(CLAUSES))
def test_each_attack_is_refused_with_invalid_token(kind: TokenKind) -> None:
    """The clause in CLAUSES[kind]: 401 invalid_token, never 200, never an exception."""

    @settings(max_examples=10, deadline=None)
    @given(sample=tokens(KEYS, now=NOW, kinds=(kind,)))
    def check(sample: TokenSample) -> None:
        auth = _auth()
        auth.clock = lambda: NOW
        if sample.jti is not None:  # a signed token must fail for its own reason, not the store
            from tokenauth import TokenRecord

            auth.store.add(TokenRecord(sample.jti, "x", NOW - 10, NOW + 10, "password"))
        result = auth.authenticate(f"Bearer {sample.token}", secure=True)
        if kind == "huge" and isinstance(result, BadRequest):
            # Past the header's size limit the request is refused before any parsing.
            assert result.status == 400
            return
        assert isinstance(result, Unauthorized), CLAUSES[kind]
        assert 'error="invalid_token"' in dict(result.headers)["WWW-Authenticate"]

    check()


def _signed(header: dict[str, object], claims: dict[str, object]) -> str:
    return _sign_raw(KEYS.signing, header, claims)


_HEADER: dict[str, object] = {"alg": KEYS.signing.alg, "kid": KEYS.signing.kid, "typ": "at+jwt"}
_CLAIMS: dict[str, object] = {
    "sub": "alice", "jti": "j" * 22, "iat": NOW, "exp": NOW + 60,
    "iss": "https://issuer.example", "aud": "api",
}  # fmt: skip


def _validator() -> JWTValidator:
    return JWTValidator(KEYS, issuer="https://issuer.example", audience="api")


@pytest.mark.parametrize("typ", [None, "JWT", "id+jwt", "at+JWT+x"])
def test_explicit_typing_is_required(typ: str | None) -> None:
    """RFC 8725 s3.11, RFC 9068 s2.1: only ``at+jwt`` is an access token (s3.12: no confusion)."""
    header = {k: v for k, v in _HEADER.items() if k != "typ"}
    if typ is not None:
        header["typ"] = typ
    assert isinstance(_validator().validate(_signed(header, _CLAIMS), now=NOW), TokenRejected)


def test_the_issuer_is_validated() -> None:
    """RFC 8725 s3.8: a token from another issuer under our key is refused."""
    token = _signed(_HEADER, {**_CLAIMS, "iss": "https://elsewhere.example"})
    assert isinstance(_validator().validate(token, now=NOW), TokenRejected)


def test_the_audience_is_validated() -> None:
    """RFC 8725 s3.9: a token meant for another audience is refused."""
    token = _signed(_HEADER, {**_CLAIMS, "aud": "billing"})
    assert isinstance(_validator().validate(token, now=NOW), TokenRejected)


def test_duplicate_members_are_refused() -> None:
    """RFC 8725 s2.6, RFC 7515 s5.2: a payload with a repeated member is malformed."""
    from tokenauth._keys import b64url

    payload = json.dumps(_CLAIMS, separators=(",", ":"))[:-1] + ',"sub":"mallory"}'
    encoded = b64url(json.dumps(_HEADER).encode()) + "." + b64url(payload.encode())
    token = f"{encoded}.{b64url(KEYS.signing.sign(encoded.encode()))}"
    assert isinstance(_validator().validate(token, now=NOW), TokenRejected)


@pytest.mark.parametrize("size", [0, 16, 31])
def test_short_hmac_secrets_are_refused(size: int) -> None:
    """RFC 8725 s3.5, RFC 7518 s3.2: an HS256 key has at least 256 bits."""
    with pytest.raises(WeakKeyError):
        Key.from_secret(b"k" * size)


def test_short_rsa_keys_are_refused() -> None:
    """RFC 8725 s3.5, RFC 7518 s3.3: RSA keys of at least 2048 bits."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak = rsa.generate_private_key(65537, 1024).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(WeakKeyError):
        Key.from_pem(weak)


@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_validate_or_raise(junk: bytes) -> None:
    """RFC 8725 s3.4: validate cryptographic inputs; any input is an answer, not a crash."""
    token = junk.decode("latin-1")
    assert isinstance(_validator().validate(token, now=NOW), TokenRejected)


def test_a_key_set_never_mixes_hmac_and_public_keys() -> None:
    """RFC 8725 s2.1: with no HMAC key beside public keys, no key-confusion path exists."""
    from tokenauth import ConfigurationError

    with pytest.raises(ConfigurationError, match="mix"):
        KeySet(Key.generate("ES256"), [Key.generate("HS256")])
