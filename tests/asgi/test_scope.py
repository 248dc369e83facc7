"""Reading the core's inputs from an ASGI scope, and the scopes that are not plain HTTP."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tokenauth import Granted
from tokenauth.extend import extract_bearer
from tokenauth_asgi import Message, Scope, TokenAuthMiddleware, request_of
from tokenauth_asgi._scope import header

from .support import basic, make_world

names = st.sampled_from([b"authorization", b"forwarded", b"x-forwarded-proto", b"x-other"])
values = st.binary(max_size=40).filter(lambda v: b"\r" not in v and b"\n" not in v)
header_lists = st.lists(st.tuples(names, values), max_size=6)
b64tokens = st.from_regex(r"[A-Za-z0-9\-._~+/]+=*", fullmatch=True)


@given(header_lists, names)
def test_header_joins_every_field_of_that_name_and_loses_no_byte(
    headers: list[tuple[bytes, bytes]], name: bytes
) -> None:
    found = header({"headers": headers}, name)
    matching = [value for key, value in headers if key == name]
    if not matching:
        assert found is None
    else:
        assert found is not None
        assert found.encode("latin-1") == b", ".join(matching)


@given(header_lists, names)
def test_header_names_match_whatever_their_case(
    headers: list[tuple[bytes, bytes]], name: bytes
) -> None:
    upper = [(key.upper(), value) for key, value in headers]
    assert header({"headers": upper}, name) == header({"headers": headers}, name)


@given(st.binary(max_size=200), st.sampled_from(["http", "https", "HTTPS", "ws", "wss", None]))
def test_query_stays_raw_and_scheme_decides_secure(query: bytes, scheme: str | None) -> None:
    scope: Scope = {"type": "http", "query_string": query, "headers": []}
    if scheme is not None:
        scope["scheme"] = scheme
    inputs = request_of(scope)
    assert isinstance(inputs.query, str)
    assert inputs.query.encode("latin-1") == query
    assert inputs.secure is (scheme is not None and scheme.lower() in ("https", "wss"))
    assert inputs.client is None


@given(b64tokens)
def test_a_bearer_header_reaches_the_core_intact(token: str) -> None:
    scope: Scope = {"headers": [(b"authorization", f"Bearer {token}".encode())]}
    inputs = request_of(scope)
    assert extract_bearer(inputs.authorization, inputs.query, realm="r", allow_query=True) == token


@given(b64tokens)
def test_a_query_token_reaches_the_core_intact(token: str) -> None:
    from urllib.parse import quote

    scope: Scope = {"query_string": f"a=1&token={quote(token, safe='')}".encode(), "headers": []}
    inputs = request_of(scope)
    assert extract_bearer(inputs.authorization, inputs.query, realm="r", allow_query=True) == token


def _run(app: Any, scope: Scope, incoming: list[Message]) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


async def _accept(scope: Scope, receive: Any, send: Any) -> None:
    await send({"type": "websocket.accept"})


def _ws_scope(**extra: Any) -> Scope:
    scope: Scope = {
        "type": "websocket", "scheme": "wss", "path": "/ws", "query_string": b"",
        "headers": [], "client": ("127.0.0.1", 5000),
    }  # fmt: skip
    scope.update(extra)
    return scope


def test_websocket_without_token_is_closed_before_accept() -> None:
    world = make_world()
    sent = _run(TokenAuthMiddleware(_accept, auth=world.auth), _ws_scope(), [])
    assert sent == [{"type": "websocket.close", "code": 1008}]


def test_websocket_denial_response_carries_the_contract_answer() -> None:
    world = make_world()
    scope = _ws_scope(extensions={"websocket.http.response": {}})
    sent = _run(TokenAuthMiddleware(_accept, auth=world.auth), scope, [])
    assert sent[0]["type"] == "websocket.http.response.start"
    assert sent[0]["status"] == 401
    assert [b"www-authenticate", b'Bearer realm="test-api"'] in sent[0]["headers"]


def test_websocket_with_a_valid_token_is_let_through() -> None:
    world = make_world()
    granted = asyncio.run(world.auth.login(basic("alice", "correct horse"), secure=True))
    assert isinstance(granted, Granted)
    scope = _ws_scope(query_string=f"token={granted.token}".encode())
    sent = _run(TokenAuthMiddleware(_accept, auth=world.auth), scope, [])
    assert sent == [{"type": "websocket.accept"}]
    assert scope["user"].display_name == "alice"


def test_lifespan_passes_through() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    world = make_world()
    _run(TokenAuthMiddleware(app, auth=world.auth), {"type": "lifespan"}, [])
    assert seen == ["lifespan"]


def test_open_paths_must_be_paths() -> None:
    import pytest

    from tokenauth import ConfigurationError

    with pytest.raises(ConfigurationError):
        TokenAuthMiddleware(_accept, auth=make_world().auth, exclude=["health"])


def test_repeated_requests_get_the_scope_of_their_own_result() -> None:
    """The middleware reuses a result's TokenUser and TokenCredentials only for that very
    result: a repeat gets equal values, and a changed record or a revocation is seen."""
    world = make_world()
    granted = asyncio.run(world.auth.login(basic("alice", "correct horse"), secure=True))
    assert isinstance(granted, Granted)
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        seen.append(scope)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = TokenAuthMiddleware(app, auth=world.auth)

    def request() -> list[Message]:
        scope: Scope = {
            "type": "http", "scheme": "https", "path": "/", "query_string": b"",
            "headers": [(b"authorization", f"Bearer {granted.token}".encode())],
            "client": ("127.0.0.1", 5000),
        }  # fmt: skip
        return _run(middleware, scope, [])

    request()
    request()
    first, second = seen
    assert first is not second
    assert first["tokenauth"] is second["tokenauth"]  # the core remembered the header
    assert first["user"] == second["user"]
    assert first["user"].principal == first["tokenauth"].principal
    assert first["auth"].scopes == first["tokenauth"].claims.scope
    # The same jti, now recorded as an API-key login: a new result, new scope values.
    inner = world.store.sync
    record = inner.get(granted.claims.jti)
    assert record is not None
    inner.remove(record.jti)
    inner.add(replace(record, method="api_key", api_key_id="k1"))
    request()
    assert seen[-1]["user"].principal.api_key_id == "k1"
    assert seen[-1]["tokenauth"].principal.api_key_id == "k1"
    inner.remove(record.jti)
    assert request()[0]["status"] == 401
    assert len(seen) == 3
