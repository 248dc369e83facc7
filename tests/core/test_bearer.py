"""RFC 6750 token extraction from the Authorization header and the query string."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenauth import (
    BadRequest,
)
from tokenauth.extend import (
    TrustedProxies,
    extract_bearer,
    is_secure,
)

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"


def extract(authorization: str | None, query: object = None, *, allow_query: bool = True) -> object:
    return extract_bearer(authorization, query, realm="api", allow_query=allow_query)  # type: ignore[arg-type]


def test_header_token() -> None:
    """A Bearer header yields its token; the scheme is case-insensitive."""
    assert extract(f"Bearer {TOKEN}") == TOKEN
    assert extract(f"bearer   {TOKEN}") == TOKEN


def test_query_token_raw_and_mapping() -> None:
    """?token= works from a raw query string and from a mapping."""
    assert extract(None, f"a=1&token={TOKEN}") == TOKEN
    assert extract(None, {"token": TOKEN}) == TOKEN
    assert extract(None, {"token": [TOKEN]}) == TOKEN


def test_no_token_and_basic_count_as_none() -> None:
    """No header, an empty one, a Basic or other scheme: no token (401 without error code)."""
    for header in (None, "", "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "Digest x=1"):
        assert extract(header, "a=1") is None


@pytest.mark.parametrize(
    ("header", "query", "fragment"),
    [
        ("Bearer", None, "needs a token"),
        ("Bearer ", None, "needs a token"),
        (f"Bearer {TOKEN} {TOKEN}", None, "exactly one"),
        ("Bearer a,b", None, "invalid characters"),
        (f"Bearer {TOKEN}", f"token={TOKEN}", "not both"),
        (None, f"token={TOKEN}&token={TOKEN}", "repeated"),
        (None, {"token": [TOKEN, TOKEN]}, "repeated"),
        (None, "token=", "empty or malformed"),
        (None, "token=a%20b", "empty or malformed"),
        (None, "token=%ff", "not UTF-8"),
        ("Bearer " + "a" * 9000, None, "too large"),
        (None, "token=" + "a" * 17000, "too large"),
    ],
)
def test_malformed_requests_are_400(header: str | None, query: object, fragment: str) -> None:
    """Malformed requests are 400 invalid_request with a Bearer challenge naming the error."""
    result = extract(header, query)
    assert isinstance(result, BadRequest)
    assert result.status == 400
    assert fragment in result.description
    assert result.challenge is not None
    assert result.challenge.startswith('Bearer realm="api", error="invalid_request"')


def test_query_tokens_can_be_switched_off() -> None:
    """With query tokens off, ?token= is a clear 400 rather than silently ignored."""
    result = extract(None, f"token={TOKEN}", allow_query=False)
    assert isinstance(result, BadRequest)
    assert "disabled" in result.description
    assert extract(f"Bearer {TOKEN}", "x=1", allow_query=False) == TOKEN


_b64token = st.from_regex(r"[A-Za-z0-9\-._~+/]{1,200}=*", fullmatch=True)


@given(_b64token)
def test_any_b64token_is_extracted(token: str) -> None:
    """Every RFC 6750 b64token in a Bearer header comes back unchanged."""
    assert extract(f"Bearer {token}") == token


@given(st.text(max_size=300), st.text(max_size=300))
def test_arbitrary_input_never_raises(header: str, query: str) -> None:
    """Whatever the header and query, the result is a token, None or a 400."""
    result = extract(header, query)
    assert result is None or isinstance(result, str | BadRequest)


def test_forwarded_headers_only_from_trusted_proxies() -> None:
    """X-Forwarded-Proto and Forwarded count only when the peer is a trusted proxy."""
    proxies = TrustedProxies.of(["10.0.0.0/8", "::1"])
    common = {"forwarded": None, "trusted_proxies": proxies}
    assert not is_secure(secure=False, client="203.0.113.9", forwarded_proto="https", **common)  # type: ignore[arg-type]
    assert is_secure(secure=False, client="10.1.2.3", forwarded_proto="https", **common)  # type: ignore[arg-type]
    assert is_secure(secure=False, client="::1", forwarded_proto="http, https", **common)  # type: ignore[arg-type]
    assert not is_secure(secure=True, client="10.1.2.3", forwarded_proto="http", **common)  # type: ignore[arg-type]
    assert is_secure(
        secure=False, client="10.0.0.1", forwarded_proto=None,
        forwarded='for=1.2.3.4;proto=http, for=10.0.0.2;proto="https"', trusted_proxies=proxies,
    )  # fmt: skip
    assert is_secure(
        secure=False, client="10.0.0.1", forwarded_proto="https",
        forwarded='for=10.0.0.2;proto="https"', trusted_proxies=proxies,
    )  # fmt: skip
    assert not is_secure(
        secure=False, client="198.51.100.1", forwarded_proto=None,
        forwarded="proto=https", trusted_proxies=proxies,
    )  # fmt: skip
