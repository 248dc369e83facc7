"""The one-pass reading of a scope gives what the per-header reading gives."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tokenauth import Request
from tokenauth_asgi._scope import header, request_of

names = st.sampled_from(
    [
        b"authorization",
        b"Authorization",
        b"x-forwarded-proto",
        b"forwarded",
        b"FORWARDED",
        b"host",
        b"User-Agent",
    ]
)
headers = st.lists(st.tuples(names, st.binary(max_size=6)), max_size=6)
schemes = st.sampled_from(["http", "https", "ws", "wss", "HTTPS", "Wss", "ftp"])


@given(headers, st.binary(max_size=8), schemes, st.none() | st.tuples(st.text(max_size=5)))
def test_request_of_matches_header(
    pairs: list[tuple[bytes, bytes]], query: bytes, scheme: str, client: Any
) -> None:
    scope: dict[str, Any] = {"type": "http", "headers": pairs, "query_string": query}
    scope["scheme"] = scheme
    if client is not None:
        scope["client"] = (client[0], 1234)
    inputs = request_of(scope)
    assert inputs == Request(
        authorization=inputs.authorization,
        query=inputs.query,
        secure=inputs.secure,
        client=inputs.client,
        forwarded_proto=inputs.forwarded_proto,
        forwarded=inputs.forwarded,
        user_agent=inputs.user_agent,
    )
    assert inputs.authorization == header(scope, b"authorization")
    assert inputs.forwarded_proto == header(scope, b"x-forwarded-proto")
    assert inputs.forwarded == header(scope, b"forwarded")
    assert inputs.user_agent == header(scope, b"user-agent")
    assert inputs.query == query.decode("latin-1")
    assert inputs.secure == (scheme.lower() in ("https", "wss"))
    assert inputs.client == (None if client is None else client[0])
