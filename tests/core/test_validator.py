"""The JWT validator against RFC 8725's attacks, mistyped claims and malformed encodings."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings

from tokenauth import Claims, JWTIssuer, JWTValidator, Key, KeySet, Principal, Reason, TokenRejected
from tokenauth._keys import ALGORITHMS, b64url
from tokenauth.testing import strategies as ts

NOW = 1_800_000_000
KEYSETS: dict[str, KeySet] = {alg: KeySet.generate(alg) for alg in ALGORITHMS}
ALICE = Principal("alice", "password")


def sign(keys: KeySet, header: dict[str, Any], payload: Any) -> str:
    encoded = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(payload, separators=(",", ":")).encode())
    )
    return f"{encoded}.{b64url(keys.signing.sign(encoded.encode()))}"


def header_of(keys: KeySet) -> dict[str, Any]:
    return {"alg": keys.signing.alg, "kid": keys.signing.kid, "typ": "at+jwt"}


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "sub": "alice", "jti": "abc", "iat": NOW, "exp": NOW + 60, "iss": "tokenauth",
        "aud": "tokenauth", "client_id": "tokenauth",
    }  # fmt: skip
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def rejected(result: Claims | TokenRejected) -> Reason:
    assert isinstance(result, TokenRejected), result
    return result.reason


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_issued_tokens_validate(alg: str) -> None:
    """A token from the issuer validates, with typed claims, for every algorithm."""
    keys = KEYSETS[alg]
    issued = JWTIssuer(keys, ttl=600, issuer="https://api", audience="svc").issue(
        Principal("Zoë", "password", scope=("read", "write")), now=NOW
    )
    result = JWTValidator(keys, issuer="https://api", audience="svc").validate(
        issued.token, now=NOW + 10
    )
    assert result == issued.claims
    assert isinstance(result, Claims)
    assert result.scope == ("read", "write")
    assert result.aud == ("svc",)


def test_rs256_tokens_start_as_the_product_promises() -> None:
    """The default token's header is {"alg":"RS256",...}, so it starts eyJhbGciOiJSUzI1Ni."""
    token = JWTIssuer(KEYSETS["RS256"]).issue(ALICE, now=NOW).token
    assert token.startswith("eyJhbGciOiJSUzI1Ni")
    assert len(json.dumps(claims()).encode()) < len(token)


@pytest.mark.parametrize("alg", ALGORITHMS)
@settings(max_examples=60, deadline=None)
@given(data=ts.st.data())  # type: ignore[attr-defined]
def test_every_bad_token_kind_is_rejected(alg: str, data: Any) -> None:
    """Every kind of forged, tampered, expired or malformed token is rejected, never raised."""
    keys = KEYSETS[alg]
    sample = data.draw(ts.bad_tokens(keys, now=NOW))
    result = JWTValidator(keys).validate(sample.token, now=NOW)
    assert isinstance(result, TokenRejected), sample.kind
    if sample.kind == "expired":
        assert result.reason is Reason.EXPIRED
        assert result.claims is not None
        assert result.claims.jti == sample.jti
    else:
        assert result.claims is None


@settings(max_examples=50, deadline=None)
@given(ts.tokens(KEYSETS["ES256"], now=NOW, kinds=("valid",)))
def test_valid_token_kind_is_accepted(sample: ts.TokenSample) -> None:
    """The strategy's valid tokens validate, so the bad kinds are bad for their own reason."""
    result = JWTValidator(KEYSETS["ES256"]).validate(sample.token, now=NOW)
    assert isinstance(result, Claims)
    assert result.jti == sample.jti


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_in_any_case(alg: str) -> None:
    """RFC 8725 section 2.1: "none" is refused whatever its case."""
    keys = KEYSETS["RS256"]
    unsigned = sign(keys, {**header_of(keys), "alg": alg}, claims()).rsplit(".", 1)[0] + "."
    assert rejected(JWTValidator(keys).validate(unsigned, now=NOW)) is Reason.WRONG_ALGORITHM


def test_hs256_keyed_with_the_rsa_public_key() -> None:
    """RFC 8725 section 2.1: HS256 with the RSA public key (PEM or JWK) as the secret fails."""
    import hmac

    keys = KEYSETS["RS256"]
    for secret in (keys.signing.to_pem(), json.dumps(keys.signing.to_jwk()).encode()):
        head = {**header_of(keys), "alg": "HS256"}
        encoded = b64url(json.dumps(head).encode()) + "." + b64url(json.dumps(claims()).encode())
        forged = encoded + "." + b64url(hmac.digest(secret, encoded.encode(), "sha256"))
        assert rejected(JWTValidator(keys).validate(forged, now=NOW)) is Reason.WRONG_ALGORITHM


def test_other_algorithms_for_the_same_kid() -> None:
    """A token naming another algorithm than its key's is refused before verification."""
    keys = KEYSETS["ES256"]
    for alg in ("RS256", "ES384", "EdDSA", "PS256", "HS256"):
        token = sign(keys, {**header_of(keys), "alg": alg}, claims())
        assert rejected(JWTValidator(keys).validate(token, now=NOW)) is Reason.WRONG_ALGORITHM


@pytest.mark.parametrize(
    "extra",
    [
        {"jwk": Key.generate("ES256").to_jwk()},
        {"jku": "https://attacker.example/jwks.json"},
        {"x5u": "https://attacker.example/cert.pem"},
        {"x5c": ["MIIB..."]},
        {"crit": ["exp"]},
        {"crit": []},
        {"zip": "DEF"},
    ],
)
def test_dangerous_header_parameters(extra: dict[str, Any]) -> None:
    """Embedded keys, key URLs, crit and zip are refused even with a good signature."""
    keys = KEYSETS["ES256"]
    token = sign(keys, {**header_of(keys), **extra}, claims())
    assert rejected(JWTValidator(keys).validate(token, now=NOW)) is Reason.BAD_HEADER


def test_explicit_typing_required() -> None:
    """RFC 8725 section 3.11: a token without typ at+jwt (e.g. an ID token) is refused."""
    keys = KEYSETS["ES256"]
    for typ in (..., "JWT", "id_token+jwt", 1):
        head = {k: v for k, v in {**header_of(keys), "typ": typ}.items() if v is not ...}
        token = sign(keys, head, claims())
        assert rejected(JWTValidator(keys).validate(token, now=NOW)) is Reason.BAD_HEADER
    token = sign(keys, {**header_of(keys), "typ": "application/at+jwt"}, claims())
    assert isinstance(JWTValidator(keys).validate(token, now=NOW), Claims)


def test_non_canonical_base64url() -> None:
    """Padding, non-URL-safe alphabet and set unused bits are all refused (PyJWT accepts some)."""
    keys = KEYSETS["HS256"]
    token = JWTIssuer(keys).issue(ALICE, now=NOW).token
    head, body, sig = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    bumped = alphabet[alphabet.index(sig[-1]) ^ 1]  # HS256: 43 chars, 2 unused bits
    for bad in (
        f"{head}.{body}.{sig}=",
        f"{head}.{body}.{sig[:-1]}{bumped}",
        f"{head}=.{body}.{sig}",
        f"{head}.{body}.{sig.replace('-', '+').replace('_', '/')}"
        if "-" in sig or "_" in sig
        else f"{head}.{body}.+{sig[1:]}",
        f" {token}",
    ):
        assert isinstance(JWTValidator(keys).validate(bad, now=NOW), TokenRejected), bad


def test_nested_json_is_401_not_recursion_error() -> None:
    """Deeply nested JSON in a correctly signed payload is rejected, not a crash."""
    keys = KEYSETS["HS256"]
    head = b64url(json.dumps(header_of(keys)).encode())
    body = b64url(("[" * 3000 + "]" * 3000).encode())
    token = f"{head}.{body}.{b64url(keys.signing.sign(f'{head}.{body}'.encode()))}"
    assert rejected(JWTValidator(keys).validate(token, now=NOW)) is Reason.MALFORMED_TOKEN


def test_huge_tokens_refused_before_decoding() -> None:
    """A token over the size limit is refused as too large."""
    keys = KEYSETS["HS256"]
    assert rejected(JWTValidator(keys).validate("a" * 10_000, now=NOW)) is Reason.TOKEN_TOO_LARGE


@pytest.mark.parametrize(
    "payload",
    [
        claims(exp="1800000060"),
        claims(exp=None),
        claims(exp=True),
        claims(exp=10**30),
        claims(exp=float("nan")),
        claims(exp=float("inf")),
        claims(exp=[NOW + 60]),
        claims(exp=...),
        claims(iat=...),
        claims(iat="now"),
        claims(sub=...),
        claims(sub=""),
        claims(sub=42),
        claims(sub="\ud800"),
        claims(jti=...),
        claims(jti=None),
        claims(jti="x" * 65),
        claims(exp=NOW - 10, iat=NOW),
        claims(exp=NOW + 365 * 86400),
        claims(nbf="soon"),
        claims(iss=7),
        claims(aud=[]),
        claims(aud=[1]),
        claims(scope=["read"]),
        [1, 2, 3],
        "just a string",
    ],
)
def test_mistyped_claims_are_rejected(payload: Any) -> None:
    """Missing, mistyped, NaN, huge or inconsistent claims are a rejection, never a crash."""
    keys = KEYSETS["HS256"]
    token = sign(keys, header_of(keys), payload)
    assert isinstance(JWTValidator(keys).validate(token, now=NOW), TokenRejected)


def test_duplicate_members_are_rejected() -> None:
    """A payload with a duplicated member name is malformed (RFC 7515 section 5.2)."""
    keys = KEYSETS["HS256"]
    head = b64url(json.dumps(header_of(keys)).encode())
    body = b64url(b'{"sub":"alice","sub":"admin","jti":"a","iat":1800000000,"exp":1800000060}')
    token = f"{head}.{body}.{b64url(keys.signing.sign(f'{head}.{body}'.encode()))}"
    assert rejected(JWTValidator(keys).validate(token, now=NOW)) is Reason.MALFORMED_TOKEN


def test_time_checks_with_leeway() -> None:
    """exp, nbf and iat are checked against the clock with the configured leeway."""
    keys = KEYSETS["HS256"]
    token = sign(keys, header_of(keys), claims(exp=NOW + 60))
    validator = JWTValidator(keys, leeway=5)
    assert isinstance(validator.validate(token, now=NOW + 64), Claims)
    assert rejected(validator.validate(token, now=NOW + 65)) is Reason.EXPIRED
    future = sign(keys, header_of(keys), claims(iat=NOW + 100, exp=NOW + 200))
    assert rejected(validator.validate(future, now=NOW)) is Reason.NOT_YET_VALID
    later = sign(keys, header_of(keys), claims(nbf=NOW + 30))
    assert rejected(validator.validate(later, now=NOW)) is Reason.NOT_YET_VALID
    assert isinstance(validator.validate(later, now=NOW + 26), Claims)


def test_issuer_and_audience() -> None:
    """iss must match; aud must name an accepted audience (by default the issuer)."""
    keys = KEYSETS["HS256"]
    token = sign(keys, header_of(keys), claims(iss="https://a", aud=["x", "y"]))
    assert isinstance(
        JWTValidator(keys, issuer="https://a", audience="y").validate(token, now=NOW), Claims
    )
    assert (
        rejected(JWTValidator(keys, issuer="https://b", audience="y").validate(token, now=NOW))
        is Reason.WRONG_ISSUER
    )
    assert (
        rejected(JWTValidator(keys, issuer="https://a", audience="z").validate(token, now=NOW))
        is Reason.WRONG_AUDIENCE
    )
    assert rejected(JWTValidator(keys).validate(token, now=NOW)) is Reason.WRONG_ISSUER
    assert rejected(JWTValidator(keys, issuer="https://a").validate(token, now=NOW)) is (
        Reason.WRONG_AUDIENCE
    )
    own = sign(keys, header_of(keys), claims(iss="https://a", aud="https://a"))
    assert isinstance(JWTValidator(keys, issuer="https://a").validate(own, now=NOW), Claims)


@pytest.mark.parametrize("missing", ["iss", "aud", "client_id"])
def test_rfc9068_required_claims(missing: str) -> None:
    """RFC 9068 section 2.2: an access token without iss, aud or client_id is refused."""
    keys = KEYSETS["HS256"]
    token = sign(keys, header_of(keys), claims(**{missing: ...}))
    assert rejected(JWTValidator(keys).validate(token, now=NOW)) is Reason.BAD_CLAIMS
    bad: object
    for bad in (3, None, {}, [] if missing == "aud" else ["x"]):
        token = sign(keys, header_of(keys), claims(**{missing: bad}))
        assert rejected(JWTValidator(keys).validate(token, now=NOW)) is Reason.BAD_CLAIMS


def test_issued_tokens_carry_rfc9068_defaults() -> None:
    """Without settings, tokens name the documented defaults; settings replace them."""
    keys = KEYSETS["HS256"]
    plain = JWTIssuer(keys).issue(ALICE, now=NOW).claims
    assert (plain.iss, plain.aud, plain.client_id) == ("tokenauth", ("tokenauth",), "tokenauth")
    named = JWTIssuer(keys, issuer="https://api").issue(ALICE, now=NOW).claims
    assert (named.iss, named.aud, named.client_id) == ("https://api", ("https://api",), "tokenauth")
    full = JWTIssuer(keys, issuer="https://i", audience="svc", client_id="web").issue(
        ALICE, now=NOW
    )
    assert full.claims.to_json() | {"jti": "j"} == {
        "sub": "alice", "jti": "j", "iat": NOW, "exp": NOW + 3600, "iss": "https://i",
        "aud": "svc", "client_id": "web",
    }  # fmt: skip


def test_retired_key_stops_verifying() -> None:
    """A rotated-out key verifies until its not_after, then its tokens are unknown-key."""
    old = KeySet.generate("ES256")
    token = JWTIssuer(old, ttl=600).issue(ALICE, now=NOW).token
    rotated = old.rotate(Key.generate("ES256"), retire_after=NOW + 600)
    assert isinstance(JWTValidator(rotated).validate(token, now=NOW + 100), Claims)
    assert (
        rejected(JWTValidator(rotated).validate(token, now=NOW + 601)) is not Reason.BAD_SIGNATURE
    )
