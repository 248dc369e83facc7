"""Issuing and validating JWTs (RFC 7519) in JWS compact form, strictly (RFC 8725).

The parsing is ours and strict: canonical base64url, UTF-8 JSON objects with no
duplicate members, no NaN or infinities, typed claims. The algorithm comes from
the key found by ``kid``, never from the token.

Validation runs on every request, so it is built to cost little more than the
signature check itself:

- JSON is read with orjson, and its result is only trusted when orjson writes it
  back byte for byte (which rules out duplicate members, and anything that is not
  plain canonical JSON); everything else goes through the standard library's
  parser with the strict hooks, so both roads accept and reject the same input.
- The token is encoded once and split as bytes; base64url is decoded with one
  translation and the strict decoder, and an HS256 signature is compared as
  text with the encoding of the expected MAC (one canonical encoding per MAC).
- A token header seen before (every token of one key shares it) is not decoded
  again: the key it names is remembered, per key set.
- A token verified before is remembered by its exact text with the claims it
  carried (see ``tokenauth._cache``), until it expires or its key retires.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import secrets
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from ._cache import VerifiedTokens
from ._claims import EMPTY, Claims, JSONObject, Principal, claims_of
from ._errors import ConfigurationError
from ._keys import Key, KeySet, b64url
from ._results import Reason
from ._store import MAX_JTI_LENGTH, MAX_LEEWAY, MAX_SUBJECT_LENGTH, TokenRecord

__all__ = [
    "DEFAULT_AUDIENCE",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_ISSUER",
    "MAX_EXTRA_CLAIMS_SIZE",
    "MAX_TOKEN_LENGTH",
    "RESERVED_CLAIMS",
    "ExtraClaims",
    "IssuedToken",
    "JWTIssuer",
    "JWTValidator",
    "TokenIssuer",
    "TokenRejected",
    "TokenValidator",
]

#: Longest token looked at; anything longer is refused before any decoding.
MAX_TOKEN_LENGTH = 8192
#: The explicit type of our tokens (RFC 9068 section 2.1, RFC 8725 section 3.11).
TOKEN_TYPE = "at+jwt"
_ACCEPTED_TYPES = frozenset({"at+jwt", "application/at+jwt"})
# RFC 8725 sections 3.1 and 3.10: never take keys or key URLs from the token.
_FORBIDDEN_HEADERS = frozenset({"jwk", "jku", "x5u", "x5c", "crit", "b64", "zip", "enc"})
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
# Base64url to standard base64, and what base64url never holds to a character the
# standard decoder refuses.
_TO_STANDARD_ALPHABET = bytes.maketrans(b"-_+/=", b"+/!!!")
# Canonical base64url ends with zero bits: after 2 (or 3) characters of the last
# group, the last character's low 4 (or 2) bits are unused and must be zero.
_CANONICAL_LAST_BYTE = {
    2: frozenset(b"AQgw"),
    3: frozenset(b"AEIMQUYcgkosw048"),
}
_PADDING = (b"", b"", b"==", b"=")
# Bytes searched for as integers: "x in data" then runs memchr (a bytes needle does not).
_DOT, _OPEN_BRACKET = b".["
_MAX_NUMERIC_DATE = 253402300799  # 9999-12-31T23:59:59Z
#: The ``iss`` of tokens when no issuer is configured (RFC 9068 section 2.2 requires one).
DEFAULT_ISSUER = "tokenauth"
#: The ``aud`` of tokens when no audience is configured and no issuer either; with an
#: issuer configured, the audience defaults to the issuer (one service that issues
#: and accepts its own tokens).
DEFAULT_AUDIENCE = "tokenauth"
#: The ``client_id`` of tokens when none is configured (RFC 9068 section 2.2).
DEFAULT_CLIENT_ID = "tokenauth"
#: Claims an application's ``extra_claims`` hook may not set: those of JWT (RFC 7519
#: section 4.1) and of access tokens (RFC 9068 section 2.2), which tokenauth sets and
#: checks itself, and those that name authentication or key facts (OpenID Connect
#: Core section 2, RFC 7800, RFC 8693) that a resource server would trust.
RESERVED_CLAIMS = frozenset(
    {
        "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "scope", "auth_time",
        "acr", "amr", "azp", "nonce", "sid", "cnf", "act", "may_act", "typ", "at_hash",
    }
)  # fmt: skip
#: Largest an application's own claims may be, as compact JSON (bytes).
MAX_EXTRA_CLAIMS_SIZE = 4096
#: The claims the validator types itself; every other member is an application's own.
_TYPED_CLAIMS = frozenset(
    {"sub", "jti", "iat", "exp", "iss", "aud", "client_id", "scope", "nbf", "auth_time"}
)

#: An issue-time hook: the principal a token is for, to the application's own claims.
ExtraClaims = Callable[[Principal], Mapping[str, object]]
#: Verified tokens remembered per validator, by default.
DEFAULT_CACHE_SIZE = 10_000
#: Distinct token headers remembered per key set (a key set has a few keys, each one header).
_MAX_HEADERS = 64


@dataclass(frozen=True, slots=True)
class TokenRejected:
    """A token that did not validate, and why.

    Attributes:
        reason: The precise cause.
        description: Safe to send to the client (RFC 6750 ``error_description``).
        claims: For an expired token whose signature checked out, its claims, so
            the caller can remove it from the store; otherwise None.
    """

    reason: Reason
    description: str
    claims: Claims | None = None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A freshly signed token and the record to store for it.

    Attributes:
        token: The compact JWT. Secret: never log it.
        claims: Its claims.
        record: What the token store keeps.
    """

    token: str = field(repr=False)
    claims: Claims
    record: TokenRecord


class TokenIssuer(Protocol):
    """Turns an authenticated principal into a signed token and its store record."""

    @property
    def ttl(self) -> int:
        """Seconds a new token lives."""
        ...

    def issue(self, principal: Principal, *, now: int) -> IssuedToken:
        """Sign a new token for ``principal`` at Unix time ``now``."""
        ...


class TokenValidator(Protocol):
    """Checks a token's form, signature and claims; the store check comes after."""

    def validate(self, token: str, *, now: int) -> Claims | TokenRejected:
        """Return the verified claims, or why the token is rejected."""
        ...


def _b64url_decode(text: str) -> bytes | None:
    # RFC 7515 section 2 and appendix C: no padding, URL-safe alphabet, and only
    # the canonical encoding (zero bits in the unused tail), which PyJWT does not check.
    if not text.isascii():
        return None
    return _b64url_decode_ascii(text.encode("ascii"))


# The same acceptance as _b64url_decode_reference, in fewer steps: one translation maps
# '-' and '_' to '+' and '/', and the characters base64url does not use ('+', '/' and
# '=') to '!', so the standard decoder in strict mode refuses every character outside
# the alphabet; the last character is checked for zero bits in its unused tail.
if sys.version_info >= (3, 11):

    def _b64url_decode_ascii(data: bytes) -> bytes | None:
        tail = len(data) % 4
        if tail and (tail == 1 or data[-1] not in _CANONICAL_LAST_BYTE[tail]):
            return None
        try:
            return binascii.a2b_base64(
                data.translate(_TO_STANDARD_ALPHABET) + _PADDING[tail], strict_mode=True
            )
        except binascii.Error:
            return None

else:  # pragma: no cover - Python 3.10 has no strict mode: check the alphabet first
    _STANDARD_BASE64 = re.compile(rb"[A-Za-z0-9+/]*={0,2}")

    def _b64url_decode_ascii(data: bytes) -> bytes | None:
        tail = len(data) % 4
        if tail and (tail == 1 or data[-1] not in _CANONICAL_LAST_BYTE[tail]):
            return None
        standard = data.translate(_TO_STANDARD_ALPHABET) + _PADDING[tail]
        if not _STANDARD_BASE64.fullmatch(standard):
            return None
        try:
            return binascii.a2b_base64(standard)
        except binascii.Error:
            return None


def _b64url_decode_reference(text: str) -> bytes | None:
    """The plain statement of what :func:`_b64url_decode` accepts (kept for the tests)."""
    if len(text) % 4 == 1 or not _B64URL.fullmatch(text):
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):  # pragma: no cover - the regex rules these out
        return None
    if b64url(raw) != text:
        return None
    return raw


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        # RFC 7515 section 5.2 / RFC 8725 section 3.x: reject duplicate members.
        raise ValueError("duplicate member")
    return out


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
#: Deepest nesting of arrays and objects accepted in a header or payload.
MAX_JSON_DEPTH = 32


def _too_deep(text: str) -> bool:
    depth = 0
    for char in _JSON_STRING.sub("", text):
        if char in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _json_object(raw: bytes) -> dict[str, Any] | None:
    # Nesting is only counted when there can be any: our own tokens hold a single
    # object, its "{" first and no "[", which two C-level searches establish.
    if (
        (_OPEN_BRACKET in raw or raw.rfind(b"{") > 0)
        and raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH
        and _too_deep(raw.decode("utf-8", "replace"))
    ):
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = None
    # orjson keeps the last of duplicate members, reads big integers as floats and
    # has rules of its own; a dict it writes back byte for byte has none of that in
    # it (a dict cannot hold a member twice). Anything else takes the strict road.
    if type(value) is dict and orjson.dumps(value) == raw:
        return value
    return _json_object_strict(raw)


def _json_object_strict(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(
            raw.decode("utf-8"),
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            object_pairs_hook=_no_duplicates,
        )
    except (ValueError, RecursionError):
        # RecursionError: deeply nested arrays or objects.
        return None
    return value if isinstance(value, dict) else None


def _numeric_date(value: object) -> int | None:
    if type(value) is int:  # the common case, first
        return value if 0 <= value <= _MAX_NUMERIC_DATE else None
    # RFC 7519 section 2: NumericDate; bool is an int in Python, and not a date.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float):
        value = math.floor(value)
    if not 0 <= value <= _MAX_NUMERIC_DATE:
        return None
    return int(value)


def _text(value: object, limit: int) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= limit:
        if value.isascii():
            return value
        try:
            # JSON escapes can smuggle in lone surrogates, which no store can hold.
            value.encode("utf-8")
        except UnicodeEncodeError:
            return None
        return value
    return None


def _audiences(value: object) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


#: Frozen, so one instance serves every rejection of this kind.
_BAD_CLAIMS = TokenRejected(Reason.BAD_CLAIMS, "The token's claims are missing or malformed.")


class JWTValidator:
    """Validates our JWTs strictly; see the module docstring for what strict means.

    Tokens are RFC 9068 access tokens: ``iss``, ``aud`` and ``client_id`` are
    required along with ``sub``, ``jti``, ``iat`` and ``exp``. Members the
    validator does not type itself are the application's own claims, read back
    as :attr:`Claims.extra`.

    Args:
        keys: The key set; ``kid`` picks the key, the key fixes the algorithm.
        issuer: The ``iss`` claim must equal it (default :data:`DEFAULT_ISSUER`).
        audience: The ``aud`` claim must contain one of these (default: the
            issuer when one is given, else :data:`DEFAULT_AUDIENCE`).
        leeway: Seconds of clock skew tolerated on ``exp``, ``nbf`` and ``iat`` (0 to 300).
        max_lifetime: Longest ``exp - iat`` accepted, in seconds.
        max_length: Longest token accepted, in characters.
        cache_size: How many verified tokens to remember, by their exact text, so
            that a repeat skips parsing and the signature check (0 turns this off).
            An entry answers only while every time check would pass again, and is
            forgotten when the key set changes. The store check is not cached.
    """

    __slots__ = (
        "_audience",
        "_headers",
        "_issuer",
        "_keys",
        "_leeway",
        "_max_length",
        "_max_lifetime",
        "_single_audiences",
        "_verified",
    )

    def __init__(
        self,
        keys: KeySet,
        *,
        issuer: str | None = None,
        audience: str | Iterable[str] | None = None,
        leeway: int = 5,
        max_lifetime: int = 30 * 86400,
        max_length: int = MAX_TOKEN_LENGTH,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        """Configure the checks."""
        if not 0 <= leeway <= MAX_LEEWAY:
            raise ConfigurationError(f"leeway must be between 0 and {MAX_LEEWAY} seconds")
        if max_lifetime <= 0 or max_length <= 0:
            raise ConfigurationError("max_lifetime and max_length must be positive")
        if cache_size < 0:
            raise ConfigurationError("cache_size must be 0 (off) or more")
        self._keys = keys
        self._issuer = issuer or DEFAULT_ISSUER
        if audience is None:
            audience = issuer or DEFAULT_AUDIENCE
        self._audience = frozenset([audience] if isinstance(audience, str) else audience)
        if not self._audience:
            raise ConfigurationError("audience must name at least one audience")
        self._single_audiences: dict[str, tuple[str, ...]] = {n: (n,) for n in self._audience}
        self._leeway = leeway
        self._max_lifetime = max_lifetime
        self._max_length = max_length
        self._verified = VerifiedTokens(cache_size) if cache_size else None
        # Encoded header -> the key it names, for headers that passed every check.
        self._headers: dict[bytes, Key] = {}

    @property
    def keys(self) -> KeySet:
        """The key set tokens are verified against."""
        return self._keys

    @keys.setter
    def keys(self, keys: KeySet) -> None:
        # New keys: what was verified or looked up under the old ones no longer counts.
        self._headers = {}
        self._keys = keys
        if self._verified is not None:
            self._verified.clear()

    @property
    def cache_size(self) -> int:
        """How many verified tokens are remembered at most (0: none)."""
        return 0 if self._verified is None else self._verified.max_entries

    def validate(self, token: str, *, now: int) -> Claims | TokenRejected:
        """Validate form, header, signature and claims of ``token`` at time ``now``.

        Returns:
            The typed claims, or a :class:`TokenRejected`. An expired token whose
            signature is good is rejected with its claims attached.
        """
        verified = self._verified
        if verified is not None:
            # The warm path: VerifiedTokens.get written out, but for dropping an entry
            # out of its span, which the method does.
            entry = verified._entries.get(token)
            if entry is not None:
                if entry[1] <= now < entry[2]:
                    return entry[0]
                verified.get(token, now)
        if len(token) > self._max_length:
            return TokenRejected(Reason.TOKEN_TOO_LARGE, "The token is too large.")
        # Everything from here works on the token's bytes: the signing input, the parts
        # to decode and the signature text are slices of them, with no text-to-bytes
        # step of their own. A character outside ASCII becomes "?", which base64url
        # never holds, so the header's or the signature's decoding refuses it; in the
        # payload it is refused before the signature check, as the plain path does
        # (it could not encode the signing input).
        data = token.encode("ascii", "replace")
        # Split at the last dot, then at the first: the signing input (the token up to
        # its last dot) and the three parts come out as they are needed.
        signing_input, _, encoded_signature = data.rpartition(b".")
        encoded_header, dot, encoded_payload = signing_input.partition(b".")
        if not dot or _DOT in encoded_payload:
            return TokenRejected(Reason.MALFORMED_TOKEN, "The token is not a signed JWT.")
        key = self._headers.get(encoded_header)
        if key is None or (key.not_after is not None and now > key.not_after):
            found = self._key_for(encoded_header, now)
            if isinstance(found, TokenRejected):
                return found
            key = found
        if not token.isascii():
            payload_text = token[len(encoded_header) + 1 : len(signing_input)]
            if not payload_text.isascii():
                return TokenRejected(Reason.MALFORMED_TOKEN, "The token payload is malformed.")
        if key.alg == "HS256":
            # Compared as text: see Key._verify_hmac_encoded.
            good = key._verify_hmac_encoded(signing_input, encoded_signature)
        else:
            signature = _b64url_decode_ascii(encoded_signature)
            good = signature is not None and key.verify(signing_input, signature)
        if not good:
            return TokenRejected(Reason.BAD_SIGNATURE, "The token signature is not valid.")
        raw_payload = _b64url_decode_ascii(encoded_payload)
        payload: dict[str, Any] | None = None
        if raw_payload is None:
            pass
        elif _OPEN_BRACKET in raw_payload or raw_payload.rfind(b"{") > 0:
            payload = _json_object(raw_payload)  # nesting to count: see there
        else:
            # _json_object written out for a flat object (one "{", no "["), the shape
            # of our own payloads: this runs on every first sight of a token.
            try:
                payload = orjson.loads(raw_payload)
            except orjson.JSONDecodeError:
                payload = None
            if type(payload) is not dict or orjson.dumps(payload) != raw_payload:
                payload = _json_object_strict(raw_payload)
        if payload is None:
            return TokenRejected(Reason.MALFORMED_TOKEN, "The token payload is malformed.")
        result = self._check_claims(payload, now)
        if verified is not None and isinstance(result, Claims):
            leeway = self._leeway
            until = result.exp + leeway
            if key.not_after is not None:
                until = min(until, key.not_after + 1)
            since = result.iat if result.nbf is None else max(result.iat, result.nbf)
            verified.put(token, result, now, since - leeway, until)
        return result

    def _key_for(self, encoded_header: bytes, now: int) -> Key | TokenRejected:
        """The key a token header names, after every check of the header."""
        raw_header = _b64url_decode_ascii(encoded_header)
        header = None if raw_header is None else _json_object(raw_header)
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
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None or (key.not_after is not None and now > key.not_after):
            return TokenRejected(Reason.UNKNOWN_KEY, "The token was signed with an unknown key.")
        if alg != key.alg:
            return TokenRejected(Reason.WRONG_ALGORITHM, "The token's algorithm is not accepted.")
        # Remembered for this key set only (the setter starts afresh); a remembered
        # key past its retirement is looked up again, and refused, by the caller.
        headers = self._headers
        if len(headers) < _MAX_HEADERS:
            headers[encoded_header] = key
        return key

    def _check_claims(self, payload: dict[str, Any], now: int) -> Claims | TokenRejected:
        bad = _BAD_CLAIMS
        try:
            sub, jti, iat, exp = payload["sub"], payload["jti"], payload["iat"], payload["exp"]
        except KeyError:
            # A required claim is missing: nothing checked before this has another reason.
            return bad
        # What our own tokens carry (ASCII text, integer dates in range) is accepted
        # here without a call; anything else gets the full checks of _text and
        # _numeric_date, which accept the same common case.
        if not (type(sub) is str and sub.isascii() and 0 < len(sub) <= MAX_SUBJECT_LENGTH):
            sub = _text(sub, MAX_SUBJECT_LENGTH)
        if not (type(jti) is str and jti.isascii() and 0 < len(jti) <= MAX_JTI_LENGTH):
            jti = _text(jti, MAX_JTI_LENGTH)
        if not (type(iat) is int and 0 <= iat <= _MAX_NUMERIC_DATE):
            iat = _numeric_date(iat)
        if not (type(exp) is int and 0 <= exp <= _MAX_NUMERIC_DATE):
            exp = _numeric_date(exp)
        if sub is None or jti is None or iat is None or exp is None:
            return bad
        if exp < iat or exp - iat > self._max_lifetime:
            return bad
        nbf = None
        if "nbf" in payload:
            nbf = _numeric_date(payload["nbf"])
            if nbf is None:
                return bad
        # RFC 9068 section 2.2: iss, aud and client_id are required of an access token.
        iss = payload.get("iss")
        if iss != self._issuer:
            if type(iss) is not str:
                return bad
            return TokenRejected(Reason.WRONG_ISSUER, "The token was issued by someone else.")
        # An accepted audience named alone, as our own tokens do, is one lookup that
        # also gives its 1-tuple; anything else gets the full checks.
        raw_aud = payload.get("aud")
        aud = self._single_audiences.get(raw_aud) if type(raw_aud) is str else None
        if aud is None:
            aud = _audiences(raw_aud)
            if aud is None:
                return bad
            if self._audience.isdisjoint(aud):
                return TokenRejected(
                    Reason.WRONG_AUDIENCE, "The token is meant for another audience."
                )
        client_id = payload.get("client_id")
        if not (type(client_id) is str and client_id.isascii() and 0 < len(client_id) <= 255):
            client_id = _text(client_id, 255)
            if client_id is None:
                return bad
        # Seven required members; scope and nbf are typed too; the rest is the
        # application's own (counted, so a token without any costs no loop).
        typed = 7
        scope: tuple[str, ...] = ()
        if "scope" in payload:
            if not isinstance(payload["scope"], str):
                return bad
            scope = tuple(payload["scope"].split())
            typed += 1
        extra = EMPTY
        auth_time = None
        if len(payload) > typed + (nbf is not None):
            # Looked at only past the members our tokens straight from a login carry.
            if "auth_time" in payload:
                auth_time = _numeric_date(payload["auth_time"])
                # A login after the token it issued is no login time at all.
                if auth_time is None or auth_time > iat:
                    return bad
                typed += 1
            if len(payload) > typed + (nbf is not None):
                extra = JSONObject({k: v for k, v in payload.items() if k not in _TYPED_CLAIMS})
        claims = claims_of(sub, jti, iat, exp, iss, aud, scope, nbf, client_id, extra, auth_time)
        leeway = self._leeway
        if iat > now + leeway:
            return TokenRejected(Reason.NOT_YET_VALID, "The token was issued in the future.")
        if nbf is not None and nbf > now + leeway:
            return TokenRejected(Reason.NOT_YET_VALID, "The token is not valid yet.")
        # RFC 7519 section 4.1.4: not accepted on or after the expiry time.
        if now - leeway >= exp:
            return TokenRejected(Reason.EXPIRED, "The token has expired.", claims)
        return claims


#: Shortest and longest token lifetime the issuer accepts, in seconds.
MIN_TTL = 1
MAX_TTL = 30 * 86400


def checked_extra_claims(claims: Mapping[str, object]) -> JSONObject:
    """An application's own claims, checked and frozen, as a token will carry them.

    Raises:
        ConfigurationError: A name is reserved (see :data:`RESERVED_CLAIMS`) or
            not a non-empty string, a value is not JSON (only ``None``, ``bool``,
            ``int``, finite ``float``, ``str``, lists and string-keyed dicts of
            them), or the whole is larger than :data:`MAX_EXTRA_CLAIMS_SIZE`.
    """
    fix = "; fix the extra_claims hook"
    if not isinstance(claims, Mapping):
        raise ConfigurationError(
            f"extra_claims returned a {type(claims).__name__}, not a mapping of claims{fix}"
        )
    names: Iterable[object] = claims  # a hook's output: checked, not trusted
    for name in names:
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"claim names are non-empty strings, not {name!r}{fix}")
        if name in RESERVED_CLAIMS:
            raise ConfigurationError(
                f"the claim {name!r} is reserved: tokenauth sets and checks it itself "
                f"(the reserved names: {', '.join(sorted(RESERVED_CLAIMS))}){fix}"
            )
    try:
        frozen = JSONObject(claims)
        encoded = orjson.dumps(claims)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise ConfigurationError(f"extra claims must be JSON values: {exc}{fix}") from exc
    if len(encoded) > MAX_EXTRA_CLAIMS_SIZE or _too_deep(encoded.decode("utf-8")):
        raise ConfigurationError(
            f"extra claims take {len(encoded)} bytes of JSON; at most "
            f"{MAX_EXTRA_CLAIMS_SIZE} bytes, nested at most {MAX_JSON_DEPTH - 1} deep, fit "
            f"in a token{fix} (keep large data server-side, keyed by the subject)"
        )
    return frozen


class JWTIssuer:
    """Signs access tokens with the key set's signing key.

    Every token is an RFC 9068 access token: ``iss``, ``sub``, ``aud``,
    ``client_id``, ``iat``, ``exp`` and ``jti``, with ``scope`` when the
    principal has scopes, and the application's own claims if a hook adds them.

    Args:
        keys: The key set; its signing key signs.
        ttl: Token lifetime in seconds (1 s to 30 days). Lifetimes of a few seconds
            suit service-to-service calls and demonstrations of expiry; the
            validator's leeway still applies on top of them.
        issuer: The ``iss`` claim (default :data:`DEFAULT_ISSUER`).
        audience: The ``aud`` claim (default: the issuer when one is given,
            else :data:`DEFAULT_AUDIENCE`).
        client_id: The ``client_id`` claim (default :data:`DEFAULT_CLIENT_ID`).
        extra_claims: Called with the principal of every new token; returns the
            application's own claims to add (roles, a tenant...), which must be
            JSON, at most :data:`MAX_EXTRA_CLAIMS_SIZE` bytes, and not
            :data:`RESERVED_CLAIMS`. It runs on every login: keep it quick.
    """

    __slots__ = ("_audience", "_client_id", "_extra_claims", "_issuer", "_keys", "_ttl")

    def __init__(
        self,
        keys: KeySet,
        *,
        ttl: int = 3600,
        issuer: str | None = None,
        audience: str | None = None,
        client_id: str | None = None,
        extra_claims: ExtraClaims | None = None,
    ) -> None:
        """Configure the claims."""
        if not MIN_TTL <= ttl <= MAX_TTL:
            raise ConfigurationError(
                f"the token lifetime (ttl) must be {MIN_TTL} s to 30 days ({MAX_TTL} s), not {ttl}"
            )
        self._keys = keys
        self._ttl = ttl
        self._issuer = issuer or DEFAULT_ISSUER
        self._audience = audience or issuer or DEFAULT_AUDIENCE
        self._client_id = client_id or DEFAULT_CLIENT_ID
        for name, value in (("issuer", self._issuer), ("audience", self._audience),
                            ("client_id", self._client_id)):  # fmt: skip
            if _text(value, 255) is None:
                raise ConfigurationError(f"{name} must be text of 1 to 255 characters")
        self._extra_claims = extra_claims

    @property
    def ttl(self) -> int:
        """Seconds a new token lives."""
        return self._ttl

    @property
    def keys(self) -> KeySet:
        """The key set tokens are signed with."""
        return self._keys

    @keys.setter
    def keys(self, keys: KeySet) -> None:
        self._keys = keys

    def issue(
        self,
        principal: Principal,
        *,
        now: int,
        auth_time: int | None = None,
        session: str | None = None,
        not_after: int | None = None,
    ) -> IssuedToken:
        """Sign a new token for ``principal`` at Unix time ``now``.

        Args:
            principal: Who the token is for.
            now: The issue time, Unix seconds.
            auth_time: When the login the token descends from happened, if not
                ``now``; the token then carries it as ``auth_time``. A token
                issued by its login leaves it out: its ``iat`` is the login time.
            session: The login session the token belongs to, when refresh tokens
                are on: the record carries it, and the ``jti`` starts with it
                (``<session>.<random>``) so that a store can keep a session's
                records together.
            not_after: The latest ``exp`` the token may have (the end of its login
                session), when it is sooner than ``now + ttl``; after ``now``.

        Raises:
            ConfigurationError: The ``extra_claims`` hook returned claims that
                cannot go in a token (see :func:`checked_extra_claims`).
        """
        key = self._keys.signer(now)
        extra = EMPTY
        if self._extra_claims is not None:
            extra = checked_extra_claims(self._extra_claims(principal))
        # 128 random bits (RFC 7519 section 4.1.7: unique with negligible collision).
        jti = secrets.token_urlsafe(16)
        expires = (
            now + self._ttl if not_after is None else max(now, min(now + self._ttl, not_after))
        )
        if session is not None:
            jti = f"{session}.{jti}"
        claims = Claims(
            sub=principal.subject,
            jti=jti,
            iat=now,
            exp=expires,
            iss=self._issuer,
            aud=(self._audience,),
            scope=principal.scope,
            client_id=self._client_id,
            extra=extra,
            auth_time=auth_time if auth_time is not None and auth_time != now else None,
        )
        # "alg" first, so every token starts the same recognisable way.
        header = {"alg": key.alg, "kid": key.kid, "typ": TOKEN_TYPE}
        # orjson writes compact canonical JSON, which the validator reads fastest.
        encoded = b64url(orjson.dumps(header)) + "." + b64url(orjson.dumps(claims.to_json()))
        signature = key.sign(encoded.encode("ascii"))
        record = TokenRecord(
            jti=jti,
            subject=principal.subject,
            issued_at=now,
            expires_at=expires,
            method=principal.method,
            api_key_id=principal.api_key_id,
            session=session,
        )
        return IssuedToken(f"{encoded}.{b64url(signature)}", claims, record)
