"""The demo API served by ``tokenauth demo``: a secured path, a health check and the endpoints."""

from __future__ import annotations

from tokenauth import AsyncTokenAuth

from ._endpoints import TokenAuthApp, not_found
from ._middleware import authenticated
from ._scope import send_json
from ._types import Receive, Scope, Send

__all__ = ["demo_app"]


async def _routes(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        await not_found(scope, receive, send)
        return
    path, method = scope.get("path", ""), scope["method"]
    if path == "/health":
        if method in ("GET", "HEAD"):
            await send_json(send, 200, {"status": "ok"})
        else:
            await send_json(send, 405, {"error": "method_not_allowed"}, [("Allow", "GET, HEAD")])
        return
    found = authenticated(scope)
    if path == "/me" and found is not None:
        if method == "GET":
            document = {**found.claims.to_json(), "method": found.principal.method}
            if found.principal.api_key_id is not None:
                document["api_key_id"] = found.principal.api_key_id
            await send_json(send, 200, document, [("Cache-Control", "no-store")])
        else:
            await send_json(send, 405, {"error": "method_not_allowed"}, [("Allow", "GET")])
        return
    await not_found(scope, receive, send)


def demo_app(auth: AsyncTokenAuth) -> TokenAuthApp:
    """The demo API: ``/token``, ``/me``, ``/logout``, ``/.well-known/jwks.json``, ``/health``.

    Args:
        auth: The configured front door.

    Returns:
        An ASGI app; every path but ``/health``, ``/token`` and the JWKS needs a token,
        and every path refuses plain HTTP.
    """
    return TokenAuthApp(auth, _routes, exclude=["/health"])
