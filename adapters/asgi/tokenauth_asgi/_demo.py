"""The demo API served by ``tokenauth demo``: secured paths, a health check and the endpoints."""

from __future__ import annotations

from tokenauth import AsyncTokenAuth

from ._endpoints import TokenAuthApp, not_found
from ._middleware import authenticated, check_scopes
from ._scope import send_json, send_result
from ._types import Receive, Scope, Send

__all__ = ["ADMIN_SCOPE", "demo_app"]

#: The scope ``GET /admin`` needs.
ADMIN_SCOPE = "admin"


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
    if path == "/admin" and found is not None:
        if method != "GET":
            await send_json(send, 405, {"error": "method_not_allowed"}, [("Allow", "GET")])
            return
        refusal = check_scopes(scope, ADMIN_SCOPE)
        if refusal is not None:
            await send_result(send, refusal)  # 403 insufficient_scope, as the core words it
            return
        document = {"sub": found.claims.sub, "scope": " ".join(found.claims.scope)}
        await send_json(send, 200, {**document, "admin": True}, [("Cache-Control", "no-store")])
        return
    await not_found(scope, receive, send)


def demo_app(auth: AsyncTokenAuth) -> TokenAuthApp:
    """The demo API: ``/token``, ``/me``, ``/admin``, ``/logout``, the JWKS, ``/health``.

    ``GET /admin`` needs the ``admin`` scope: a token without it gets 403
    ``insufficient_scope``.

    Args:
        auth: The configured front door.

    Returns:
        An ASGI app; every path but ``/health``, ``/token`` and the JWKS needs a token,
        and every path refuses plain HTTP.
    """
    return TokenAuthApp(auth, _routes, exclude=["/health"])
