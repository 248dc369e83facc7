"""Bearer tokens on requests: RFC 6750, and one reading of the query string.

RFC 6750 section 2 ("clients MUST NOT use more than one method to transmit the
token in each request"), section 2.3 (the ``access_token``-style query
parameter, here named ``token``, percent-encoded per the URI syntax), section 3
(challenges: no error code when no token was sent, ``invalid_request`` for a
malformed request). The query is read one way (``tokenauth._query``) by
extraction, by the front door's shortcut for repeated headers, and by the log
filter: ``?tok%65n=`` is the ``token`` parameter to all three.
"""

from __future__ import annotations

import pytest

from tokenauth import Authenticated, BadRequest, Request, Unauthorized, redact

from .conftest import Deployment


def _https(token: str | None = None, query: str = "") -> Request:
    authorization = None if token is None else f"Bearer {token}"
    return Request(authorization=authorization, query=query, secure=True)


@pytest.mark.parametrize("unrelated", ["", "&x=token", "&token_hint=1", "&q=%20"])
def test_an_encoded_token_name_is_read_the_same_whatever_else_the_query_holds(
    world: Deployment, unrelated: str
) -> None:
    """RFC 6750 s2.3 via RFC 3986 s2.1: ``tok%65n`` is ``token``, with or without other text."""
    token = world.token()
    result = world.auth.authenticate(_https(query=f"tok%65n={token}{unrelated}"))
    assert isinstance(result, Authenticated)


def test_encoded_dots_in_the_token_are_decoded(world: Deployment) -> None:
    """A token whose dots arrive as ``%2E`` is the same token."""
    token = world.token()
    query = "tok%65n=" + token.replace(".", "%2E")
    assert isinstance(world.auth.authenticate(_https(query=query)), Authenticated)


def test_header_and_encoded_query_token_is_400_even_on_a_repeat(world: Deployment) -> None:
    """RFC 6750 s2: one method per request, also when the header was seen before.

    The first request (header only) is remembered; the repeat with a token in
    the query under an encoded name must not be answered from memory.
    """
    token = world.token()
    assert isinstance(world.auth.authenticate(_https(token)), Authenticated)
    again = world.auth.authenticate(_https(token, query=f"tok%65n={token}"))
    assert isinstance(again, BadRequest)
    assert again.status == 400


def test_header_and_plain_query_token_is_400(world: Deployment) -> None:
    """RFC 6750 s2: the plain spelling too."""
    token = world.token()
    result = world.auth.authenticate(_https(token, query=f"token={token}"))
    assert isinstance(result, BadRequest)


def test_repeated_token_parameter_is_400(world: Deployment) -> None:
    """RFC 6750 s3.1 ``invalid_request``: a repeated parameter, spelt two ways."""
    token = world.token()
    result = world.auth.authenticate(_https(query=f"token={token}&tok%65n={token}"))
    assert isinstance(result, BadRequest)


def test_no_token_is_401_without_an_error_code(world: Deployment) -> None:
    """RFC 6750 s3.1: a request without credentials gets a bare challenge."""
    result = world.auth.authenticate(_https(query="q=token"))
    assert isinstance(result, Unauthorized)
    assert "error=" not in dict(result.headers)["WWW-Authenticate"]


def test_the_log_filter_redacts_what_extraction_accepts(world: Deployment) -> None:
    """Whatever query extraction takes a token from, the access-log line loses that token."""
    token = world.token()
    encoded = token.replace(".", "%2E")
    for query in (f"token={token}", f"tok%65n={encoded}", f"%74oken={token}&x=1"):
        assert isinstance(world.auth.authenticate(_https(query=query)), Authenticated)
        line = f'127.0.0.1:5000 - "GET /me?{query} HTTP/1.1" 200'
        cleaned = redact(line)
        assert token not in cleaned
        assert encoded not in cleaned
