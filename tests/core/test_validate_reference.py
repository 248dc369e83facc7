"""The validator decides every token exactly as the plain statement of its checks does.

``reference_validate`` below is the validator written the obvious way: the token
split as text, the reference base64url decoder, the strict standard-library JSON
parser, signatures decoded and verified as bytes, claims read with ``dict.get``.
The validator works on the token's bytes, compares HMAC signatures as text and
reads claims its own way; for any token, any time and any configuration, both
must return the same claims or the same rejection (reason, description, claims).
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenauth import Claims, JSONObject, JWTValidator, Key, KeySet, Reason, TokenRejected
from tokenauth._jwt import (
    _ACCEPTED_TYPES,
    _FORBIDDEN_HEADERS,
    _MAX_NUMERIC_DATE,
    _TYPED_CLAIMS,
    _audiences,
    _b64url_decode_reference,
    _json_object_strict,
    _too_deep,
)
from tokenauth._keys import b64url
from tokenauth._store import MAX_JTI_LENGTH, MAX_SUBJECT_LENGTH

NOW = 1_800_000_000
KEYSETS = {alg: KeySet.generate(alg) for alg in ("HS256", "RS256")}
#: Another key of each algorithm, to sign tokens the validator must refuse.
OTHERS_KEYS = {alg: Key.generate(alg) for alg in KEYSETS}  # type: ignore[arg-type]
_BAD = TokenRejected(Reason.BAD_CLAIMS, "The token's claims are missing or malformed.")


def _json(raw: bytes) -> dict[str, Any] | None:
    if _too_deep(raw.decode("utf-8", "replace")):
        return None
    return _json_object_strict(raw)


def _date(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float):
        value = math.floor(value)
    return int(value) if 0 <= value <= _MAX_NUMERIC_DATE else None


def _text(value: object, limit: int) -> str | None:
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value


def reference_claims(v: JWTValidator, payload: dict[str, Any], now: int) -> Claims | TokenRejected:
    sub = _text(payload.get("sub"), MAX_SUBJECT_LENGTH)
    jti = _text(payload.get("jti"), MAX_JTI_LENGTH)
    iat, exp = _date(payload.get("iat")), _date(payload.get("exp"))
    if sub is None or jti is None or iat is None or exp is None:
        return _BAD
    if exp < iat or exp - iat > v._max_lifetime:
        return _BAD
    nbf = None
    if "nbf" in payload:
        nbf = _date(payload["nbf"])
        if nbf is None:
            return _BAD
    # RFC 9068 section 2.2: iss, aud and client_id are required.
    iss = payload.get("iss")
    if not isinstance(iss, str):
        return _BAD
    if iss != v._issuer:
        return TokenRejected(Reason.WRONG_ISSUER, "The token was issued by someone else.")
    aud = _audiences(payload.get("aud"))
    if aud is None:
        return _BAD
    if v._audience.isdisjoint(aud):
        return TokenRejected(Reason.WRONG_AUDIENCE, "The token is meant for another audience.")
    client_id = _text(payload.get("client_id"), 255)
    if client_id is None:
        return _BAD
    scope: tuple[str, ...] = ()
    if "scope" in payload:
        if not isinstance(payload["scope"], str):
            return _BAD
        scope = tuple(payload["scope"].split())
    auth_time = None
    if "auth_time" in payload:
        auth_time = _date(payload["auth_time"])
        if auth_time is None or auth_time > iat:
            return _BAD
    extra = JSONObject({k: value for k, value in payload.items() if k not in _TYPED_CLAIMS})
    claims = Claims(sub, jti, iat, exp, iss, aud, scope, nbf, client_id, extra, auth_time)
    if iat > now + v._leeway:
        return TokenRejected(Reason.NOT_YET_VALID, "The token was issued in the future.")
    if nbf is not None and nbf > now + v._leeway:
        return TokenRejected(Reason.NOT_YET_VALID, "The token is not valid yet.")
    if now - v._leeway >= exp:
        return TokenRejected(Reason.EXPIRED, "The token has expired.", claims)
    return claims


def reference_validate(v: JWTValidator, token: str, now: int) -> Claims | TokenRejected:
    """The validator's checks in their order, written plainly (no cache, no memo)."""
    if len(token) > v._max_length:
        return TokenRejected(Reason.TOKEN_TOO_LARGE, "The token is too large.")
    parts = token.split(".")
    if len(parts) != 3:
        return TokenRejected(Reason.MALFORMED_TOKEN, "The token is not a signed JWT.")
    encoded_header, encoded_payload, encoded_signature = parts
    raw_header = _b64url_decode_reference(encoded_header)
    header = None if raw_header is None else _json(raw_header)
    if header is None:
        return TokenRejected(Reason.MALFORMED_TOKEN, "The token header is malformed.")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg.lower() == "none":
        return TokenRejected(Reason.WRONG_ALGORITHM, "The token's algorithm is not accepted.")
    if _FORBIDDEN_HEADERS.intersection(header):
        return TokenRejected(Reason.BAD_HEADER, "The token header has a forbidden parameter.")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYPES:
        return TokenRejected(Reason.BAD_HEADER, "The token is not an access token.")
    kid = header.get("kid")
    key = v.keys.get(kid) if isinstance(kid, str) else None
    if key is None or (key.not_after is not None and now > key.not_after):
        return TokenRejected(Reason.UNKNOWN_KEY, "The token was signed with an unknown key.")
    if alg != key.alg:
        return TokenRejected(Reason.WRONG_ALGORITHM, "The token's algorithm is not accepted.")
    try:
        signing_input = f"{encoded_header}.{encoded_payload}".encode("ascii")
    except UnicodeEncodeError:
        return TokenRejected(Reason.MALFORMED_TOKEN, "The token payload is malformed.")
    signature = _b64url_decode_reference(encoded_signature)
    if signature is None or not key.verify(signing_input, signature):
        return TokenRejected(Reason.BAD_SIGNATURE, "The token signature is not valid.")
    raw_payload = _b64url_decode_reference(encoded_payload)
    payload = None if raw_payload is None else _json(raw_payload)
    if payload is None:
        return TokenRejected(Reason.MALFORMED_TOKEN, "The token payload is malformed.")
    return reference_claims(v, payload, now)


# -- tokens: every part drawn from good values, near misses and garbage --------------

_MISSING = object()


def _mostly(good: Any, other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``good`` about three times in four, else something drawn from ``other``."""
    return st.one_of(st.just(good), st.just(good), st.just(good), other)


TEXTS = st.sampled_from(
    ["", "é", "\ud800", "a" * 300, "x y", "api", "other"]
) | st.text(max_size=6)  # fmt: skip
DATES = st.sampled_from([NOW - 10, NOW + 10, NOW + 60, NOW - 4000, 0, -1, 10**30]) | st.one_of(
    st.integers(NOW - 200, NOW + 200),
    st.floats(allow_nan=False, allow_infinity=False, min_value=NOW - 100, max_value=NOW + 100),
    st.booleans(),
    st.none(),
    st.just("1800000000"),
)
OTHERS = st.none() | st.integers(-5, 5) | st.lists(st.integers(), max_size=2) | st.just(_MISSING)

PAYLOADS = st.fixed_dictionaries(
    {
        "sub": _mostly("alice", TEXTS | OTHERS),
        "jti": _mostly("j" * 22, TEXTS | OTHERS),
        "iat": _mostly(NOW, DATES | OTHERS),
        "exp": _mostly(NOW + 3600, DATES | OTHERS),
        "iss": _mostly("tokenauth", st.sampled_from(["issuer", "someone"]) | TEXTS | OTHERS),
        "aud": _mostly(
            "tokenauth",
            st.sampled_from(["api", "web", "other", "issuer"])
            | st.lists(st.sampled_from(["api", "web", "other", "tokenauth", 3]), max_size=3)
            | OTHERS,
        ),
        "client_id": _mostly("tokenauth", TEXTS | OTHERS),
    },
    optional={
        "nbf": DATES | OTHERS,
        "scope": st.sampled_from(["read", "read write", "", "  a  b "]) | TEXTS | OTHERS,
        "extra": TEXTS | OTHERS,
        "roles": st.lists(st.sampled_from(["admin", "ops"]), max_size=2),
        "tenant": st.fixed_dictionaries({"id": st.integers(0, 9)}),
    },
).map(lambda d: {k: v for k, v in d.items() if v is not _MISSING})


def _headers(key: Key) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "alg": _mostly(key.alg, st.sampled_from(["HS256", "RS256", "none", "NONE"]) | OTHERS),
            "kid": _mostly(key.kid, st.just("unknown") | OTHERS),
            "typ": _mostly(
                "at+jwt", st.sampled_from(["AT+JWT", "application/at+jwt", "JWT"]) | OTHERS
            ),
        },
        optional={"jku": st.just("https://x"), "cty": st.just("x")},
    ).map(lambda d: {k: v for k, v in d.items() if v is not _MISSING})


def _json_text(value: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """The object as compact JSON, mostly; else spaced, with a duplicate member, too deep..."""
    compact = json.dumps(value, separators=(",", ":"))
    more = compact[:-1] + ("," if value else "")
    return _mostly(
        compact,
        st.sampled_from(
            [
                json.dumps(value),
                more + '"sub":"dup"}',
                more + '"deep":' + "[" * 40 + "]" * 40 + "}",
                more + '"big":123456789012345678901234567890}',
                more + '"nan":NaN}',
                compact + " ",
            ]
        ),
    ).map(lambda text: text.encode("utf-8", "surrogatepass"))


MUTATIONS = st.sampled_from(
    ["none", "none", "none", "flip", "insert", "append", "drop_last", "dot", "drop_dot"]
)
#: Characters put into a token: base64url's own, its near misses, and non-ASCII.
CHARS = st.sampled_from(["A", "a", "0", "-", "_", "+", "/", "=", " ", ".", "é", "\ud800"])


@st.composite
def token_texts(draw: st.DrawFn, keys: KeySet) -> str:
    key = keys.signing
    header = draw(_headers(key))
    header_text = draw(_json_text(header))
    payload_text = draw(_json_text(draw(PAYLOADS)))
    signing_input = f"{b64url(header_text)}.{b64url(payload_text)}"
    signer = draw(st.sampled_from([key, key, OTHERS_KEYS[key.alg]]))
    parts = [*signing_input.split("."), b64url(signer.sign(signing_input.encode()))]
    mutation = draw(MUTATIONS)
    if mutation == "dot":
        return ".".join(parts) + "."
    if mutation == "drop_dot":
        return ".".join(parts).replace(".", "", 1)
    if mutation != "none":
        # One part changed: the header, the payload or the signature.
        which = draw(st.integers(0, 2))
        part = parts[which]
        index = draw(st.integers(0, max(len(part) - 1, 0)))
        if mutation == "flip":
            part = part[:index] + draw(CHARS) + part[index + 1 :]
        elif mutation == "insert":
            part = part[:index] + draw(CHARS) + part[index:]
        elif mutation == "append":
            part += draw(st.sampled_from(["=", "==", "A", "AA", "é"]))
        else:
            part = part[:-1]
        parts[which] = part
    return ".".join(parts)


CONFIGS: list[dict[str, Any]] = [
    {},
    {"issuer": "issuer"},
    {"audience": "api"},
    {"audience": ["web", "other"], "leeway": 0},
    {"max_length": 400},
    {"max_lifetime": 60},
]


@pytest.mark.parametrize("alg", sorted(KEYSETS))
@pytest.mark.parametrize("config", range(len(CONFIGS)))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_validate_decides_as_the_reference(alg: str, config: int, data: Any) -> None:
    keys = KEYSETS[alg]
    token = data.draw(token_texts(keys))
    now = NOW + data.draw(st.integers(-100, 4000))
    validator = JWTValidator(keys, cache_size=0, **CONFIGS[config])
    expected = reference_validate(validator, token, now)
    assert validator.validate(token, now=now) == expected
    # Again, with the header remembered and (for a good token) the cache answering.
    cached = JWTValidator(keys, **CONFIGS[config])
    assert cached.validate(token, now=now) == expected
    assert cached.validate(token, now=now) == expected


def test_the_strategy_reaches_acceptance_and_every_early_reason() -> None:
    """Keep the property above honest: its tokens are accepted and rejected for many reasons."""
    seen: set[object] = set()

    @settings(max_examples=400, deadline=None, database=None)
    @given(token_texts(KEYSETS["HS256"]))
    def collect(token: str) -> None:
        result = reference_validate(JWTValidator(KEYSETS["HS256"]), token, NOW)
        seen.add("accepted" if isinstance(result, Claims) else result.reason)

    collect()
    assert {"accepted", Reason.MALFORMED_TOKEN, Reason.BAD_SIGNATURE, Reason.BAD_CLAIMS} <= seen
    assert {Reason.WRONG_ALGORITHM, Reason.BAD_HEADER, Reason.UNKNOWN_KEY} <= seen
