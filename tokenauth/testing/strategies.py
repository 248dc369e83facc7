"""Hypothesis strategies for tokenauth's inputs: credentials, headers and tokens.

Use them in your own property-based tests::

    from hypothesis import given
    from tokenauth.testing import strategies as ts

    @given(ts.malformed_basic_headers())
    def test_my_login_answers_400(header: str) -> None:
        assert my_server.login(header).status == 400
"""

from __future__ import annotations

import base64
import json
import string
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Literal

import argon2
from hypothesis import strategies as st

from tokenauth._claims import Principal
from tokenauth._jwt import MAX_EXTRA_CLAIMS_SIZE, RESERVED_CLAIMS, JWTIssuer
from tokenauth._keys import Key, KeySet, b64url

__all__ = [
    "TOKEN_KINDS",
    "BasicLogin",
    "TokenKind",
    "TokenSample",
    "bad_tokens",
    "basic_headers",
    "extra_claims",
    "fast_hasher",
    "json_values",
    "malformed_basic_headers",
    "passwords",
    "throwaway_keys",
    "tokens",
    "usernames",
]

_NO_CONTROLS = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs"))


def fast_hasher() -> argon2.PasswordHasher:
    """A deliberately weak argon2id hasher that makes tests fast. Never use it in production."""
    return argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def throwaway_keys(alg: Literal["RS256", "ES256", "EdDSA", "HS256"] = "RS256") -> KeySet:
    """A freshly generated key set, for tests."""
    return KeySet.generate(alg)


def usernames() -> st.SearchStrategy[str]:
    """Awkward but valid usernames: any Unicode without colons or control characters.

    Includes decomposed forms (they normalise to NFC at login), emoji, RTL text
    and the longest allowed length.
    """
    plain = st.text(_NO_CONTROLS, min_size=1, max_size=64).map(lambda s: s.replace(":", "_"))
    decomposed = plain.map(lambda s: unicodedata.normalize("NFD", s))
    fixed = st.sampled_from(["alice", "Zoë", "Zoe\u0308", "用户", "🙂", "a" * 255, "x y", "שלום"])
    return st.one_of(fixed, plain, decomposed).filter(
        lambda s: 0 < len(unicodedata.normalize("NFC", s)) <= 255
    )


def passwords() -> st.SearchStrategy[str]:
    """Awkward valid passwords: non-empty, any Unicode but controls, colons allowed."""
    return st.one_of(
        st.sampled_from(["open sesame", "123£", "a:b:c", ":", "pässwörd", "🙂🙂"]),
        st.text(_NO_CONTROLS, min_size=1, max_size=128),
    )


@dataclass(frozen=True)
class BasicLogin:
    """A well-formed Basic header and what it encodes."""

    header: str
    username: str
    password: str = field(repr=False)


def _encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


@st.composite
def basic_headers(draw: st.DrawFn) -> BasicLogin:
    """Well-formed ``Authorization: Basic`` values with awkward usernames and passwords."""
    username = draw(usernames())
    password = draw(passwords())
    scheme = draw(st.sampled_from(["Basic", "basic", "BASIC", "bAsIc"]))
    spaces = draw(st.sampled_from([" ", "  "]))
    header = f"{scheme}{spaces}{_encode(f'{username}:{password}'.encode())}"
    return BasicLogin(header, username, password)


@st.composite
def malformed_basic_headers(draw: st.DrawFn) -> str:
    """``Authorization`` values a login must answer with 400."""
    user = draw(usernames())
    kind = draw(
        st.sampled_from(
            [
                "empty", "scheme_only", "other_scheme", "bad_alphabet", "bad_padding",
                "non_canonical", "invalid_utf8", "control", "no_colon", "empty_username",
            ]
        )
    )  # fmt: skip
    if kind == "empty":
        return draw(st.sampled_from(["", " ", "\t"]))
    if kind == "scheme_only":
        return draw(st.sampled_from(["Basic", "Basic ", "basic   "]))
    if kind == "other_scheme":
        scheme = draw(st.sampled_from(["Bearer", "Digest", "Negotiate", "Basic2", "Basi"]))
        return f"{scheme} {_encode(f'{user}:pw'.encode())}"
    if kind == "bad_alphabet":
        good = _encode(f"{user}:pw".encode())
        position = draw(st.integers(0, len(good) - 1))
        bad = draw(st.sampled_from(list("-_.!*~ ")))
        return f"Basic {good[:position]}{bad}{good[position + 1 :]}"
    if kind == "bad_padding":
        good = _encode(f"{user}:pw".encode()).rstrip("=")
        if len(good) % 4:
            return f"Basic {good}{draw(st.sampled_from(['', '===', '=a']))}"
        return f"Basic {good}="
    if kind == "non_canonical":
        raw = f"{user}:pw".encode()
        if len(raw) % 3 == 0:
            raw += b"x"
        good = _encode(raw)
        stripped = good.rstrip("=")
        # The last character before the padding has unused low bits; set one.
        alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"
        bumped = alphabet[alphabet.index(stripped[-1]) ^ 1]
        return f"Basic {stripped[:-1]}{bumped}{good[len(stripped) :]}"
    if kind == "invalid_utf8":
        junk = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xe2\x82", b"\xed\xa0\x80"]))
        return f"Basic {_encode(user.encode() + junk + b':pw')}"
    if kind == "control":
        control = draw(st.sampled_from(["\x00", "\n", "\r", "\x1b", "\x7f", "\x85"]))
        return f"Basic {_encode(f'{user}{control}:pw'.encode())}"
    if kind == "no_colon":
        return f"Basic {_encode(user.encode())}"
    return f"Basic {_encode(f':{user}'.encode())}"


TokenKind = Literal[
    "valid",
    "expired",
    "tampered_payload",
    "tampered_signature",
    "wrong_kid",
    "other_key",
    "alg_none",
    "hs256_with_public_pem",
    "hs256_with_public_jwk",
    "embedded_jwk",
    "crit",
    "non_canonical",
    "padded",
    "nested_json",
    "huge",
    "mistyped_exp",
]
TOKEN_KINDS: tuple[TokenKind, ...] = TokenKind.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class TokenSample:
    """A token made for a test, with what it is meant to be."""

    kind: TokenKind
    token: str = field(repr=False)
    jti: str | None


def _sign_raw(
    key: Key, header: dict[str, Any], payload: Any, *, alg_key: bytes | None = None
) -> str:
    import hmac

    encoded = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(payload, separators=(",", ":")).encode())
    )
    if alg_key is not None:
        signature = hmac.digest(alg_key, encoded.encode(), "sha256")
    else:
        signature = key.sign(encoded.encode())
    return f"{encoded}.{b64url(signature)}"


def _flip(text: str, index: int) -> str:
    alphabet = string.ascii_letters + string.digits + "-_"
    replacement = alphabet[(alphabet.index(text[index]) + 1) % len(alphabet)]
    return text[:index] + replacement + text[index + 1 :]


@st.composite
def tokens(
    draw: st.DrawFn,
    keys: KeySet,
    *,
    now: int,
    kinds: tuple[TokenKind, ...] = TOKEN_KINDS,
    ttl: int = 3600,
    issuer: str | None = None,
    audience: str | None = None,
) -> TokenSample:
    """Tokens of the given kinds for ``keys`` at time ``now``.

    ``"valid"`` tokens are signed correctly and unexpired; every other kind must
    be rejected by a validator that trusts ``keys``. A valid token is not in any
    store: record its ``jti`` (``TokenSample.jti``) if your test needs it stored,
    or log in with :func:`tokenauth.testing.login` for a stored one.

    Args:
        draw: Given by Hypothesis.
        keys: The key set the validator under test trusts.
        now: The validator's current time.
        kinds: Which kinds to draw from.
        ttl: The lifetime of the tokens.
        issuer: The ``iss`` your app is configured with (``TokenAuth(issuer=...)``);
            the default is the core's.
        audience: The ``aud`` your app is configured with; the default is the core's.
    """
    kind = draw(st.sampled_from(kinds))
    subject = draw(usernames())
    issuer_ = JWTIssuer(keys, ttl=ttl, issuer=issuer, audience=audience)
    principal = Principal(subject, "password")
    if kind == "valid":
        issued = issuer_.issue(principal, now=now - draw(st.integers(0, max(0, ttl - 60))))
        return TokenSample(kind, issued.token, issued.claims.jti)
    if kind == "expired":
        issued = issuer_.issue(principal, now=now - ttl - draw(st.integers(60, 10**6)))
        return TokenSample(kind, issued.token, issued.claims.jti)
    good_token = issuer_.issue(principal, now=now)
    good = good_token.token
    head, body, sig = good.split(".")
    signing = keys.signing
    header = {"alg": signing.alg, "kid": signing.kid, "typ": "at+jwt"}
    # The valid token's claims (iss, aud, client_id ...), so that each bad kind
    # differs from a good token only in the way its name says.
    claims = {**good_token.claims.to_json(), "jti": "j" * 22, "iat": now, "exp": now + ttl}
    if kind == "tampered_payload":
        return TokenSample(
            kind, f"{head}.{_flip(body, draw(st.integers(0, len(body) - 2)))}.{sig}", None
        )
    if kind == "tampered_signature":
        return TokenSample(
            kind, f"{head}.{body}.{_flip(sig, draw(st.integers(0, len(sig) - 2)))}", None
        )
    if kind == "wrong_kid":
        return TokenSample(kind, _sign_raw(signing, {**header, "kid": "not-a-kid"}, claims), None)
    if kind == "other_key":
        other = Key.generate(signing.alg)
        return TokenSample(kind, _sign_raw(other, {**header, "kid": signing.kid}, claims), None)
    if kind == "alg_none":
        alg = draw(st.sampled_from(["none", "None", "NONE", "nOnE"]))
        unsigned = _sign_raw(signing, {**header, "alg": alg}, claims).rsplit(".", 1)[0]
        return TokenSample(kind, unsigned + draw(st.sampled_from([".", ".AAAA"])), None)
    if kind in ("hs256_with_public_pem", "hs256_with_public_jwk"):
        if signing.symmetric:
            secret = b"x" * 32
        elif kind == "hs256_with_public_pem":
            secret = signing.to_pem()
        else:
            secret = json.dumps(signing.to_jwk(), separators=(",", ":")).encode()
        forged = _sign_raw(signing, {**header, "alg": "HS256"}, claims, alg_key=secret)
        return TokenSample(kind, forged, None)
    if kind == "embedded_jwk":
        attacker = Key.generate("ES256")
        forged_header = {**header, "alg": "ES256", "jwk": attacker.to_jwk()}
        return TokenSample(kind, _sign_raw(attacker, forged_header, claims), None)
    if kind == "crit":
        crit_header = {**header, "crit": ["exp"], "exp": now}
        return TokenSample(kind, _sign_raw(signing, crit_header, claims), None)
    if kind == "non_canonical":
        # Same bytes, another encoding: bump unused low bits of the signature's last char.
        alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
        index = alphabet.index(sig[-1])
        unused_bits = {2: 0b1111, 3: 0b11}.get(len(sig) % 4, 0)
        if unused_bits == 0:
            return TokenSample(kind, f"{head}.{body}.{sig}=", None)
        bumped = alphabet[index ^ (draw(st.integers(1, unused_bits)))]
        return TokenSample(kind, f"{head}.{body}.{sig[:-1]}{bumped}", None)
    if kind == "padded":
        return TokenSample(kind, f"{head}.{body}.{sig}{'=' * draw(st.integers(1, 2))}", None)
    if kind == "nested_json":
        # Deeper than the JSON parser's recursion limit, within the size limit.
        depth = draw(st.integers(1_100, 2_500))
        nest = "[" * depth + "]" * depth
        payload_text = json.dumps(claims, separators=(",", ":"))[:-1] + ',"x":' + nest + "}"
        encoded = f"{head}.{b64url(payload_text.encode())}"
        return TokenSample(kind, f"{encoded}.{b64url(signing.sign(encoded.encode()))}", None)
    if kind == "huge":
        return TokenSample(kind, f"{head}.{'A' * draw(st.integers(9_000, 70_000))}.{sig}", None)
    # mistyped_exp
    bad_exp = draw(
        st.sampled_from(["1800000000", None, True, 10**30, -1, [now + 60], {"v": 1}, 1e400])
    )
    return TokenSample(kind, _sign_raw(signing, header, {**claims, "exp": bad_exp}), None)


def bad_tokens(
    keys: KeySet, *, now: int, issuer: str | None = None, audience: str | None = None
) -> st.SearchStrategy[TokenSample]:
    """Every kind of token a validator trusting ``keys`` must reject.

    Pass the ``issuer`` and ``audience`` your app is configured with, so that
    each token is refused for its own flaw and not merely for a foreign ``iss``.
    """
    bad = tuple(k for k in TOKEN_KINDS if k != "valid")
    return tokens(keys, now=now, kinds=bad, issuer=issuer, audience=audience)


def json_values() -> st.SearchStrategy[Any]:
    """Any JSON value: null, booleans, 64-bit integers, finite floats, text, arrays, objects."""
    leaves = (
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**64 - 1)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(_NO_CONTROLS | st.sampled_from(["\n", "\x00", '"', "\\"]), max_size=12)
    )
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
        ),
        max_leaves=12,
    )


def extra_claims() -> st.SearchStrategy[dict[str, Any]]:
    """What an ``extra_claims`` hook may return: JSON, no reserved names, within the size limit."""
    names = st.text(min_size=1, max_size=10).filter(lambda n: n not in RESERVED_CLAIMS)
    return st.dictionaries(names, json_values(), max_size=5).filter(
        lambda claims: len(json.dumps(claims, ensure_ascii=False).encode()) <= MAX_EXTRA_CLAIMS_SIZE
    )
