"""The app the end-to-end benchmark serves with uvicorn.

``python -m benchmarks._app ENDPOINT MODE PORT [URL]``

``ENDPOINT`` is ``asgi`` (a bare ASGI callable that answers ``200 ok`` and does
nothing else), ``starlette`` (the same answer from a Starlette route) or
``fastapi`` (from a FastAPI path operation, the most common trivial endpoint on
uvicorn). ``MODE`` is ``unprotected``,
``unprotected_with_token``, ``memory`` or ``redis`` (then ``URL``, the store
URL). Protected, the endpoint first authenticates the request with
:class:`~tokenauth.AsyncTokenAuth`, through ``tokenauth_asgi``'s middleware
when that package is installed and through the few lines below otherwise. It
prints ``TOKEN <token>`` (a token it stored) before serving.

TLS is taken to end at a proxy on loopback, as in most deployments: the client
sends ``X-Forwarded-Proto: https`` and loopback is a trusted proxy.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from typing import TYPE_CHECKING, Any, cast

import uvicorn

from tokenauth import (
    AsyncMemoryStore,
    AsyncTokenAuth,
    AsyncTokenStore,
    Authenticated,
    JWTIssuer,
    KeySet,
    MemoryStore,
    Principal,
    Request,
    open_async_store,
    open_store,
)

Scope = dict[str, Any]
_OK_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")],
}
_OK_BODY = {"type": "http.response.body", "body": b"ok"}


async def ok(scope: Scope, receive: Any, send: Any) -> None:
    await send(_OK_START)
    await send(_OK_BODY)


class Protect:
    """A minimal bearer middleware: the core decides, this only translates."""

    def __init__(self, app: Any, auth: AsyncTokenAuth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        authorization = forwarded_proto = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"x-forwarded-proto":
                forwarded_proto = value.decode("latin-1")
        client = scope.get("client")
        query = scope.get("query_string", b"").decode("latin-1")
        result = await self.auth.authenticate(
            Request.of(
                authorization, query or None, scope.get("scheme") == "https",
                client[0] if client else None, forwarded_proto, None, None,
            )
        )  # fmt: skip
        if isinstance(result, Authenticated):
            scope["tokenauth"] = result
            await self.app(scope, receive, send)
            return
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in result.headers]
        await send({"type": "http.response.start", "status": result.status, "headers": headers})
        await send({"type": "http.response.body", "body": result.body})


if TYPE_CHECKING:
    from tokenauth_asgi import ASGIApp


def endpoint(kind: str) -> Any:
    """The endpoint to serve: the bare ASGI callable, or an app with one route."""
    if kind == "asgi":
        return ok
    if kind == "fastapi":
        from fastapi import FastAPI
        from fastapi.responses import PlainTextResponse as FastAPIText

        api = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

        @api.get("/", response_class=FastAPIText)
        async def root() -> str:
            return "ok"

        return api
    if kind != "starlette":
        raise ValueError(f"unknown endpoint kind: {kind!r}")
    from starlette.applications import Starlette
    from starlette.requests import Request as StarletteRequest
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def hello(request: StarletteRequest) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/", hello)])


def build(mode: str, url: str | None, kind: str = "asgi") -> tuple[Any, str]:
    """The app and a stored token, made before uvicorn starts its event loop."""
    inner = endpoint(kind)
    if mode == "unprotected":
        return inner, ""
    if mode == "unprotected_with_token":
        # The same requests as the protected runs (a real token in the header), no check:
        # what carrying the token costs the server before tokenauth does anything.
        token = JWTIssuer(KeySet.generate("RS256")).issue(Principal("bench", "password"), now=0)
        return inner, token.token
    # The record goes in through a synchronous store: no event loop exists yet, and
    # the async store's connections must belong to uvicorn's loop.
    sync_store = MemoryStore() if mode == "memory" else open_store(url or "")
    store: AsyncTokenStore = (
        AsyncMemoryStore(sync_store) if isinstance(sync_store, MemoryStore)
        else open_async_store(url or "")
    )  # fmt: skip
    auth = AsyncTokenAuth(keys=KeySet.generate("RS256"), store=store, trusted_proxies=["127.0.0.1"])
    issued = auth.issuer.issue(Principal("bench", "password"), now=int(time.time()))
    sync_store.add(issued.record)
    if importlib.util.find_spec("tokenauth_asgi") is not None:
        from tokenauth_asgi import TokenAuthMiddleware

        return TokenAuthMiddleware(cast("ASGIApp", inner), auth=auth), issued.token
    return Protect(inner, auth), issued.token


def main(argv: list[str]) -> None:
    kind, mode, port = argv[0], argv[1], int(argv[2])
    url = argv[3] if len(argv) > 3 else None
    loop_name = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    app, token = build(mode, url, kind)
    if mode == "redis":
        # The store's local view started its thread; give it a moment to be tracking.
        time.sleep(0.5)
    print(f"TOKEN {token} {loop_name} {http}", flush=True)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
        lifespan="off", proxy_headers=False, loop=loop_name, http=http, workers=1,
    )  # fmt: skip
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main(sys.argv[1:])
