"""Pure parsers for what arrives over HTTP: Basic credentials, bearer tokens, the scheme.

Nothing here does I/O or raises for client input: every function returns a
value or a :class:`~tokenauth.BadRequest`.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args
from urllib.parse import parse_qsl

from ._errors import ConfigurationError
from ._query import TOKEN_PARAMETER, may_carry_token, token_values
from ._results import BadRequest, Reason

__all__ = [
    "MAX_AUTHORIZATION_LENGTH",
    "MAX_QUERY_LENGTH",
    "BasicCredentials",
    "Query",
    "TrustedProxies",
    "extract_bearer",
    "is_secure",
    "parse_basic",
]

#: Longest ``Authorization`` header value looked at; longer is refused before decoding.
MAX_AUTHORIZATION_LENGTH = 8192
#: Longest query string looked at for a ``token`` parameter.
MAX_QUERY_LENGTH = 16384

#: Peer addresses whose trusted-proxy decision is remembered, per TrustedProxies.
_MAX_PEERS_REMEMBERED = 4096

#: Which forwarding header a trusted proxy's request is believed by when the two disagree.
ForwardedConflict = Literal["plain", "forwarded", "x-forwarded-proto"]

#: A query string as received, or a mapping of parameter names to one or many values.
Query = str | Mapping[str, str | Sequence[str]]

# RFC 4648 section 4, with padding; the canonical check comes after decoding.
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
# RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_B64TOKEN_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
# C0 controls, DEL and C1 controls (RFC 7617 section 2: no control characters).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class BasicCredentials:
    """A decoded ``Authorization: Basic`` header (RFC 7617).

    Attributes:
        username: The user-id, or the API key when ``password`` is empty.
        password: The password; empty for an API-key login. Never logged.
    """

    username: str
    password: str = field(repr=False)

    @property
    def is_api_key(self) -> bool:
        """True when the client sent an API key as the username and no password."""
        return self.password == ""


def _is_b64token(text: str) -> bool:
    """Whether ``_B64TOKEN`` matches all of ``text``, in under half the regex's time.

    Deleting every b64token character from the ASCII bytes must leave nothing,
    once the trailing ``=`` padding is set aside (and something must precede it).
    """
    body = text.rstrip("=")
    return (
        bool(body) and body.isascii() and not body.encode("ascii").translate(None, _B64TOKEN_CHARS)
    )


def _malformed(description: str) -> BadRequest:
    return BadRequest.login(Reason.MALFORMED_CREDENTIALS, description)


def _split_scheme(value: str) -> tuple[str, str]:
    # RFC 9110 section 11.4: credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
    scheme, _, rest = value.strip(" \t").partition(" ")
    return scheme.lower(), rest.strip(" ")


def parse_basic(authorization: str | None) -> BasicCredentials | BadRequest:
    """Parse an ``Authorization: Basic`` header value strictly.

    The scheme is case-insensitive; the credentials must be canonical, padded
    base64 of UTF-8 text without control characters, split at the first colon
    (so passwords may contain colons), with a non-empty user-id.

    Args:
        authorization: The header value, or None when the header is absent.

    Returns:
        The credentials, or a 400 result saying what is wrong.
    """
    if authorization is None or not authorization.strip(" \t"):
        return BadRequest.login(
            Reason.MISSING_CREDENTIALS,
            "Send your credentials with HTTP Basic authentication "
            "(Authorization: Basic base64(username:password)).",
        )
    if len(authorization) > MAX_AUTHORIZATION_LENGTH:
        return _malformed("The Authorization header is too large.")
    scheme, encoded = _split_scheme(authorization)
    if scheme != "basic":
        return _malformed("Use the Basic authentication scheme to log in.")
    if not encoded or len(encoded) % 4 or not _BASE64.fullmatch(encoded):
        return _malformed("The Basic credentials are not valid base64.")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        return _malformed("The Basic credentials are not valid base64.")
    if base64.b64encode(raw).decode("ascii") != encoded:
        # Non-zero padding bits: another encoder would not have produced this.
        return _malformed("The Basic credentials are not canonical base64.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return _malformed("The Basic credentials are not valid UTF-8.")
    if _CONTROL.search(text):
        return _malformed("The Basic credentials contain control characters.")
    username, colon, password = text.partition(":")
    if not colon:
        return _malformed("The Basic credentials have no colon between username and password.")
    if not username:
        return _malformed("The Basic credentials have an empty username.")
    return BasicCredentials(username, password)


def extract_bearer(
    authorization: str | None,
    query: Query | None,
    *,
    realm: str,
    allow_query: bool,
) -> str | BadRequest | None:
    """Find the bearer token of a request, from the header or the query string.

    A ``Basic`` (or any other non-Bearer) ``Authorization`` header counts as no
    token. A Bearer scheme without a token, with two tokens or with characters
    outside RFC 6750's ``b64token``, a token both in the header and in the query,
    and a repeated ``token`` parameter are 400 ``invalid_request``.

    Args:
        authorization: The ``Authorization`` header value, or None.
        query: The raw query string, or a mapping of parameters, or None.
        realm: The realm for the challenge of a 400 result.
        allow_query: Whether ``?token=`` is accepted at all.

    Returns:
        The token, None when the request carries none, or a 400 result.
    """
    header_token: str | None = None
    if authorization is not None and len(authorization) <= MAX_AUTHORIZATION_LENGTH:
        # The well-formed case in one step: "Bearer", one space, a b64token. The
        # steps below give this same token for such a header; any other takes them.
        scheme, _, rest = authorization.partition(" ")
        if (scheme == "Bearer" or scheme.lower() == "bearer") and _is_b64token(rest):
            header_token = rest
    if header_token is None and authorization is not None and authorization.strip(" \t"):
        if len(authorization) > MAX_AUTHORIZATION_LENGTH:
            return BadRequest.bearer(
                realm, Reason.MALFORMED_REQUEST, "The Authorization header is too large."
            )
        scheme, rest = _split_scheme(authorization)
        if scheme == "bearer":
            if not rest:
                return BadRequest.bearer(
                    realm, Reason.MALFORMED_REQUEST, "The Bearer scheme needs a token."
                )
            if " " in rest or "\t" in rest:
                return BadRequest.bearer(
                    realm, Reason.MALFORMED_REQUEST, "Send exactly one bearer token."
                )
            if not _is_b64token(rest):
                return BadRequest.bearer(
                    realm, Reason.MALFORMED_REQUEST, "The bearer token has invalid characters."
                )
            header_token = rest
    query_tokens = _query_tokens(query)
    if isinstance(query_tokens, BadRequest):
        return BadRequest.bearer(realm, query_tokens.reason, query_tokens.description)
    if not query_tokens:
        return header_token
    if not allow_query:
        return BadRequest.bearer(
            realm,
            Reason.MALFORMED_REQUEST,
            "Tokens in the query string are disabled; use the Authorization header.",
        )
    if len(query_tokens) > 1:
        return BadRequest.bearer(
            realm, Reason.MALFORMED_REQUEST, "The token parameter is repeated."
        )
    if header_token is not None:
        return BadRequest.bearer(
            realm,
            Reason.MALFORMED_REQUEST,
            "Send the token in the Authorization header or the query string, not both.",
        )
    token = query_tokens[0]
    if not _is_b64token(token):
        return BadRequest.bearer(
            realm, Reason.MALFORMED_REQUEST, "The token parameter is empty or malformed."
        )
    return token


def carries_no_query_token(query: Query | None) -> bool:
    """Whether ``query`` certainly adds nothing to :func:`extract_bearer`'s answer.

    True only where the query is looked at no further: absent, or a string of
    acceptable size in which no parameter name can read as ``token`` (see
    :func:`tokenauth._query.may_carry_token`: neither ``token`` nor a percent
    escape in it), or a mapping without a ``token`` entry. Then the answer
    depends on the ``Authorization`` header alone.
    """
    if query is None:
        return True
    if isinstance(query, str):
        return len(query) <= MAX_QUERY_LENGTH and not may_carry_token(query)
    return query.get(TOKEN_PARAMETER) is None


def _query_tokens(query: Query | None) -> list[str] | BadRequest:
    if query is None or carries_no_query_token(query):
        return []
    if isinstance(query, str):
        if len(query) > MAX_QUERY_LENGTH:
            return BadRequest.login(Reason.MALFORMED_REQUEST, "The query string is too large.")
        try:
            return token_values(query)
        except UnicodeDecodeError:
            return BadRequest.login(Reason.MALFORMED_REQUEST, "The query string is not UTF-8.")
    value = query.get(TOKEN_PARAMETER)
    if value is None:  # pragma: no cover - carries_no_query_token answered this
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


#: Most pieces of one request the plain-HTTP path tries as exposed credentials.
MAX_EXPOSED_CANDIDATES = 16
_PIECES = re.compile(r"[\s,]+")


def exposed_credentials(authorization: str | None, query: Query | None) -> list[str]:
    """Every string of a request that may be a credential, for the plain-HTTP path.

    Whatever the request's shape (two ``Authorization`` headers joined with a
    comma, ``Bearer T junk``, ``Bearer T,``, a token in header and query, a
    repeated ``token`` parameter), this lists each b64token-shaped piece of the
    ``Authorization`` value, the user-id and password of any Basic credentials
    in it, and every ``token`` query value: at most
    :data:`MAX_EXPOSED_CANDIDATES`, in order, without repeats.
    """
    found: list[str] = []
    if authorization:
        for piece in _PIECES.split(authorization[:MAX_AUTHORIZATION_LENGTH]):
            if not _is_b64token(piece):
                continue
            found.append(piece)
            credentials = parse_basic(f"Basic {piece}")
            if isinstance(credentials, BasicCredentials):
                found.extend(p for p in (credentials.username, credentials.password) if p)
    found.extend(query_token_candidates(query))
    return list(dict.fromkeys(found))[:MAX_EXPOSED_CANDIDATES]


def query_token_candidates(query: Query | None) -> list[str]:
    """Every ``token`` value ``query`` carries, however malformed the request is otherwise.

    For the plain-HTTP path, which revokes whatever was exposed: a repeated
    parameter gives every value, an oversized query its first
    :data:`MAX_QUERY_LENGTH` characters' worth, undecodable bytes are replaced.
    """
    if query is None or carries_no_query_token(query):
        return []
    if isinstance(query, str):
        text = query[:MAX_QUERY_LENGTH]
        pairs = parse_qsl(text, keep_blank_values=True, errors="replace")
        return [value for name, value in pairs if name == TOKEN_PARAMETER]
    tokens = _query_tokens(query)
    return tokens if isinstance(tokens, list) else []


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """Addresses whose ``Forwarded`` / ``X-Forwarded-Proto`` headers are believed.

    When a trusted proxy's request carries both headers and they disagree
    (``Forwarded: proto=https`` but ``X-Forwarded-Proto: http``), one of them
    was most likely sent by the client and passed through: the request counts
    as plain HTTP, unless ``on_conflict`` names the header your proxy sets.

    Args:
        networks: IP addresses or networks, e.g. ``["127.0.0.1", "10.0.0.0/8"]``.
        on_conflict: ``"plain"`` (the default: fail closed), ``"forwarded"`` or
            ``"x-forwarded-proto"`` (believe that header when the two disagree).
    """

    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    on_conflict: ForwardedConflict = "plain"
    # The decision per peer address string: parsing it with ipaddress costs more
    # than the rest of a request's check (a few distinct peers, mostly the proxy).
    _decided: dict[str, bool] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    @classmethod
    def of(
        cls, networks: Iterable[str] | TrustedProxies, *, on_conflict: ForwardedConflict = "plain"
    ) -> TrustedProxies:
        """Build from strings; raises ConfigurationError for anything that is not an address.

        A :class:`TrustedProxies` is returned as it is.
        """
        if isinstance(networks, TrustedProxies):
            return networks
        if on_conflict not in get_args(ForwardedConflict):
            raise ConfigurationError(
                f"on_conflict must be one of {get_args(ForwardedConflict)}, not {on_conflict!r}"
            )
        parsed = []
        for item in networks:
            try:
                parsed.append(ipaddress.ip_network(item, strict=False))
            except ValueError as exc:
                raise ConfigurationError(f"not an IP address or network: {item!r}") from exc
        return cls(tuple(parsed), on_conflict)

    def __contains__(self, client: object) -> bool:
        """True when ``client`` (an address string) is one of the trusted proxies."""
        if not isinstance(client, str) or not self.networks:
            return False
        decided = self._decided.get(client)
        if decided is None:
            decided = self._decide(client)
            if len(self._decided) >= _MAX_PEERS_REMEMBERED:
                self._decided.clear()
            self._decided[client] = decided
        return decided

    def _decide(self, client: str) -> bool:
        try:
            address = ipaddress.ip_address(client.strip("[]"))
        except ValueError:
            return False
        return any(address in network for network in self.networks)


def _last_forwarded_proto(forwarded: str) -> str | None:
    # RFC 7239 section 4: the last element was added by the nearest proxy.
    last = forwarded.rsplit(",", 1)[-1]
    for pair in last.split(";"):
        name, _, value = pair.strip().partition("=")
        if name.strip().lower() == "proto":
            return value.strip().strip('"').lower()
    return None


def is_secure(
    *,
    secure: bool,
    client: str | None,
    forwarded_proto: str | None,
    forwarded: str | None,
    trusted_proxies: TrustedProxies,
) -> bool:
    """Decide whether the client's request came over HTTPS.

    The transport's own answer holds unless the peer is a trusted proxy that
    says otherwise in ``Forwarded`` or ``X-Forwarded-Proto``. When both are
    present and disagree, the request counts as plain HTTP (fail closed) unless
    ``trusted_proxies.on_conflict`` names the header to believe.

    Args:
        secure: Whether this connection is TLS.
        client: The peer's address, as the server saw it.
        forwarded_proto: The ``X-Forwarded-Proto`` header, if any.
        forwarded: The ``Forwarded`` header, if any.
        trusted_proxies: Peers whose forwarding headers count.

    Returns:
        True when the request counts as HTTPS.
    """
    if client is None or client not in trusted_proxies:
        return secure
    by_forwarded = _last_forwarded_proto(forwarded) if forwarded else None
    by_x = forwarded_proto.rsplit(",", 1)[-1].strip().lower() if forwarded_proto else None
    if by_forwarded is not None and by_x is not None and by_forwarded != by_x:
        if trusted_proxies.on_conflict == "forwarded":
            return by_forwarded == "https"
        if trusted_proxies.on_conflict == "x-forwarded-proto":
            return by_x == "https"
        return False
    proto = by_forwarded if by_forwarded is not None else by_x
    return secure if proto is None else proto == "https"
