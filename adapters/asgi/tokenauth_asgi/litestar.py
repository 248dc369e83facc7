"""Litestar idioms: a guard for scopes, and refusals rendered exactly as the core says.

::

    from tokenauth_asgi.litestar import exception_handlers, requires_scopes

    @get("/admin", guards=[requires_scopes("admin")])
    async def admin(request: Request) -> dict[str, str]:
        return {"user": request.user.display_name}

    app = Litestar(
        route_handlers=[admin],
        middleware=[DefineMiddleware(TokenAuthMiddleware, auth=auth)],
        exception_handlers=exception_handlers(),
    )

Without :func:`exception_handlers`, Litestar's own handler keeps the status and
the ``WWW-Authenticate`` challenge and writes its own JSON body.
Needs Litestar: ``pip install 'tokenauth-asgi[litestar]'``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ExceptionHandlersMap

from tokenauth import Failure, scope_tokens

from ._middleware import check_scopes

__all__ = ["TokenAuthFailed", "exception_handlers", "failure_handler", "requires_scopes"]

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]


class TokenAuthFailed(HTTPException):
    """Raised by the guard when the core refuses a request.

    Attributes:
        result: The core's failure, rendered as-is by :func:`failure_handler`.
    """

    def __init__(self, result: Failure) -> None:
        """Carry ``result``, with its status and headers for Litestar's own handler."""
        super().__init__(
            detail=result.description, status_code=result.status, headers=dict(result.headers)
        )
        self.result = result


def failure_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """Answer :class:`TokenAuthFailed` with the core's exact status, headers and body."""
    if not isinstance(exc, TokenAuthFailed):  # pragma: no cover - registered for this type
        raise exc
    result = exc.result
    headers = dict(result.headers)
    media_type = headers.pop("Content-Type", "application/json")
    return Response(result.body, status_code=result.status, headers=headers, media_type=media_type)


def exception_handlers() -> ExceptionHandlersMap:
    """The mapping to pass as ``Litestar(exception_handlers=...)``."""
    return {TokenAuthFailed: failure_handler}


def requires_scopes(scopes: str | Iterable[str], *, any_of: bool = False) -> Guard:
    """A guard that lets a handler run only when the request's token has ``scopes``.

    Args:
        scopes: The scopes needed: one name, a space-separated string or a list.
        any_of: Any one of them is enough (default: all are needed).

    Raises:
        ConfigurationError: A scope name is not an RFC 6749 scope token.
    """
    wanted = scope_tokens(scopes)

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        refusal = check_scopes(connection.scope, wanted, any_of=any_of)  # type: ignore[arg-type]
        if refusal is not None:
            raise TokenAuthFailed(refusal)

    return guard
