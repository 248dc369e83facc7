"""Litestar idioms: guards for scopes and recent logins, refusals rendered as the core says.

::

    from tokenauth_asgi.litestar import exception_handlers, requires_scopes

    @get("/admin", guards=[requires_scopes("admin")])
    async def admin(request: Request) -> dict[str, str]:
        return {"user": request.user.display_name}

    @post("/payments", guards=[requires_recent_login(300)])  # RFC 9470 step-up
    async def pay(request: Request) -> dict[str, str]:
        ...

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

from tokenauth import Failure, login_max_age, scope_tokens

from ._middleware import check_access

__all__ = [
    "TokenAuthFailed",
    "exception_handlers",
    "failure_handler",
    "requires_recent_login",
    "requires_scopes",
]

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


def _guard(scopes: tuple[str, ...], any_of: bool, max_age: int | None) -> Guard:
    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        refusal = check_access(
            connection.scope,  # type: ignore[arg-type]  # a TypedDict; the same dict at runtime
            scopes, any_of=any_of, max_age=max_age,
        )  # fmt: skip
        if refusal is not None:
            raise TokenAuthFailed(refusal)

    return guard


def requires_scopes(
    scopes: str | Iterable[str], *, any_of: bool = False, max_age: int | None = None
) -> Guard:
    """A guard that lets a handler run only when the request's token has ``scopes``.

    Args:
        scopes: The scopes needed: one name, a space-separated string or a list.
        any_of: Any one of them is enough (default: all are needed).
        max_age: Also demand a login at most this many seconds old (RFC 9470),
            checked after the scopes; None accepts any login.

    Raises:
        ConfigurationError: A scope name is not an RFC 6749 scope token, or
            ``max_age`` is not whole seconds from 0 to a year.
    """
    wanted = scope_tokens(scopes)
    return _guard(wanted, any_of, None if max_age is None else login_max_age(max_age))


def requires_recent_login(max_age: int) -> Guard:
    """A guard that lets a handler run only after a login at most ``max_age`` seconds old.

    An older login gets 401 ``insufficient_user_authentication`` with
    ``max_age`` (RFC 9470): the client logs in again and retries.

    Raises:
        ConfigurationError: ``max_age`` is not whole seconds from 0 to a year.
    """
    return _guard((), False, login_max_age(max_age))
