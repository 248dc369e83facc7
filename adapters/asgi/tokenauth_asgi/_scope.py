"""From an ASGI scope to the core's inputs, and from a core result to ASGI messages.

Nothing here decides anything: the core does. This module only reads what the
server put in the scope and writes what the core says to answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from tokenauth import MAX_FORM_BODY, Request, Response

from ._types import Receive, Scope, Send

__all__ = ["Rendered", "header", "read_body", "request_of", "send_json", "send_result"]

#: Scope schemes that mean the connection itself is TLS (ASGI spec, "scheme").
_SECURE_SCHEMES = frozenset({"https", "wss"})


def header(scope: Scope, name: bytes) -> str | None:
    """The value of header ``name`` (lower-case bytes), or None when absent.

    Repeated fields are joined with ", " as RFC 9110 section 5.3 allows, so two
    ``Authorization`` headers reach the core as one malformed value (400), not
    as whichever came first. ASGI header values are bytes; latin-1 maps each
    byte to one character, so nothing is lost or refused on the way.
    """
    values = [value for key, value in scope.get("headers", ()) if key.lower() == name]
    if not values:
        return None
    return ", ".join(bytes(value).decode("latin-1") for value in values)


async def read_body(receive: Receive, limit: int = MAX_FORM_BODY) -> bytes:
    """The request body, read until its end or until more than ``limit`` bytes came.

    At most ``limit + 1`` bytes are kept, so a longer body is refused by the core
    (which sees it is over the limit) without being read whole.
    """
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = bytes(message.get("body", b""))
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)[: limit + 1]


def request_of(scope: Scope) -> Request:
    """Read the core's :class:`~tokenauth.Request` from an ``http`` or ``websocket`` scope.

    Every request to a secured path goes through here, so the headers are read
    in one pass (the same values :func:`header` gives: repeated fields joined
    with ", ") and the query string is decoded only when there is one.
    """
    authorization = forwarded_proto = forwarded = user_agent = None
    # Servers give bytes; bytes(value), for anything else, would copy bytes too.
    for key, value in scope.get("headers", ()):
        name = key.lower()
        if name == b"authorization":
            text = (value if type(value) is bytes else bytes(value)).decode("latin-1")
            authorization = text if authorization is None else f"{authorization}, {text}"
        elif name == b"x-forwarded-proto":
            text = (value if type(value) is bytes else bytes(value)).decode("latin-1")
            forwarded_proto = text if forwarded_proto is None else f"{forwarded_proto}, {text}"
        elif name == b"forwarded":
            text = (value if type(value) is bytes else bytes(value)).decode("latin-1")
            forwarded = text if forwarded is None else f"{forwarded}, {text}"
        elif name == b"user-agent":
            text = (value if type(value) is bytes else bytes(value)).decode("latin-1")
            user_agent = text if user_agent is None else f"{user_agent}, {text}"
    raw_query = scope.get("query_string", b"")
    scheme = scope.get("scheme", "http")
    secure = _SCHEME_IS_SECURE.get(scheme) if type(scheme) is str else None
    if secure is None:
        secure = str(scheme).lower() in _SECURE_SCHEMES
    client = scope.get("client")
    return _make_request(
        authorization,
        bytes(raw_query).decode("latin-1") if raw_query else "",
        secure,
        str(client[0]) if client else None,
        forwarded_proto,
        forwarded,
        user_agent,
    )


#: ``Request.of``, looked up once rather than on every request.
_make_request = Request.of

#: The usual scheme values and what they mean; anything else is lower-cased first.
_SCHEME_IS_SECURE = {"http": False, "https": True, "ws": False, "wss": True}


#: What every core result offers a server: a status, headers and a body.
Rendered = Response


def _encode(headers: Iterable[tuple[str, str]], body: bytes, status: int) -> list[list[bytes]]:
    out = [[name.lower().encode("latin-1"), value.encode("utf-8")] for name, value in headers]
    # RFC 9110 section 8.6: a 204 carries no Content-Length.
    if status != 204:
        out.append([b"content-length", str(len(body)).encode("ascii")])
    return out


async def send_result(send: Send, result: Rendered, *, websocket: bool = False) -> None:
    """Answer with ``result`` exactly as the core rendered it.

    Args:
        send: The ASGI send callable.
        result: Any core result (``Granted``, ``LoggedOut`` or a failure).
        websocket: Send it as a WebSocket denial response (the
            ``websocket.http.response`` extension) instead of an HTTP response.
    """
    prefix = "websocket.http.response" if websocket else "http.response"
    body = result.body
    await send(
        {
            "type": f"{prefix}.start",
            "status": result.status,
            "headers": _encode(result.headers, body, result.status),
        }
    )
    await send({"type": f"{prefix}.body", "body": body})


async def send_json(
    send: Send,
    status: int,
    document: object,
    headers: Iterable[tuple[str, str]] = (),
) -> None:
    """Answer with a JSON document, for the binding's own endpoints."""
    body = json.dumps(document).encode()
    all_headers = [("Content-Type", "application/json"), *headers]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": _encode(all_headers, body, status),
        }
    )
    await send({"type": "http.response.body", "body": body})
