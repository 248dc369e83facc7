"""RFC 7617 Basic credentials: strict parsing, 400 for everything malformed."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given

from tokenauth import (
    BadRequest,
    Reason,
)
from tokenauth.extend import (
    BasicCredentials,
    parse_basic,
)
from tokenauth.testing import strategies as ts


def test_rfc7617_example_aladdin() -> None:
    """RFC 7617 section 2: QWxhZGRpbjpvcGVuIHNlc2FtZQ== is Aladdin / open sesame."""
    assert parse_basic("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==") == BasicCredentials(
        "Aladdin", "open sesame"
    )


def test_rfc7617_example_utf8() -> None:
    """RFC 7617 section 2.1: dGVzdDoxMjPCow== is test / 123£ in UTF-8."""
    credentials = parse_basic("Basic dGVzdDoxMjPCow==")
    assert credentials == BasicCredentials("test", "123£")


def test_scheme_is_case_insensitive_and_spaces_allowed() -> None:
    """The auth-scheme is case-insensitive and followed by one or more spaces."""
    for header in ("basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "BASIC   QWxhZGRpbjpvcGVuIHNlc2FtZQ=="):
        assert parse_basic(header) == BasicCredentials("Aladdin", "open sesame")


def test_password_may_contain_colons() -> None:
    """The user-id ends at the first colon; the rest, colons included, is the password."""
    header = "Basic " + base64.b64encode(b"bob:a:b::c").decode()
    assert parse_basic(header) == BasicCredentials("bob", "a:b::c")


def test_empty_password_is_an_api_key_login() -> None:
    """A username with an empty password is an API-key login."""
    credentials = parse_basic("Basic " + base64.b64encode(b"tka_key:").decode())
    assert isinstance(credentials, BasicCredentials)
    assert credentials.is_api_key
    assert credentials.username == "tka_key"


def test_missing_header_is_400_missing_credentials() -> None:
    """No header at all is a 400 that says credentials are missing."""
    for header in (None, "", "   "):
        result = parse_basic(header)
        assert isinstance(result, BadRequest)
        assert result.status == 400
        assert result.reason is Reason.MISSING_CREDENTIALS
        assert result.json["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("header", "why"),
    [
        ("Bearer abc", "scheme"),
        ("Basic", "base64"),
        ("Basic !!!!", "base64"),
        ("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ", "base64"),  # padding missing
        ("Basic QWxhZGRpbjpvcGVuIHNlc2FtZR==", "canonical"),  # unused bits set
        ("Basic " + base64.b64encode(b"\xff\xfe:pw").decode(), "UTF-8"),
        ("Basic " + base64.b64encode(b"bob\x00:pw").decode(), "control"),
        ("Basic " + base64.b64encode(b"bob:p\nw").decode(), "control"),
        ("Basic " + base64.b64encode(b"bob").decode(), "colon"),
        ("Basic " + base64.b64encode(b":pw").decode(), "empty username"),
        ("Basic " + "A" * 9000, "too large"),
    ],
)
def test_malformed_headers_are_400(header: str, why: str) -> None:
    """Each malformed header is refused with a 400 that explains what is wrong."""
    result = parse_basic(header)
    assert isinstance(result, BadRequest), why
    assert result.status == 400
    assert why.lower() in result.description.lower()
    assert result.challenge is None


@given(ts.basic_headers())
def test_well_formed_headers_round_trip(login: ts.BasicLogin) -> None:
    """Any well-formed header decodes to exactly the username and password encoded."""
    assert parse_basic(login.header) == BasicCredentials(login.username, login.password)


@given(ts.malformed_basic_headers())
def test_malformed_headers_never_parse(header: str) -> None:
    """Every malformed header is a 400, never credentials and never an exception."""
    result = parse_basic(header)
    assert isinstance(result, BadRequest)
    assert result.status == 400
