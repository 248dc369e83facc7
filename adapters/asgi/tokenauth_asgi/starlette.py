"""Starlette idioms: ``@requires`` answered the RFC 6750 way, and core results as responses.

Starlette's own ``@requires("admin")`` answers a missing scope with a bare
``403 Forbidden``. This one takes the same arguments and decorates the same
endpoints, and answers as the contract says: 401 with the bearer challenge
when no token was checked, 403 ``insufficient_scope`` naming the scopes when
the token lacks one::

    from tokenauth_asgi.starlette import requires

    @requires("admin")
    async def admin(request):
        return JSONResponse({"user": request.user.display_name})

A path that needs a recent login (RFC 9470 step-up) says so with
``max_age``, alone (``@requires_recent_login(300)``) or beside scopes
(``@requires("payments", max_age=300)``); an older login gets 401
``insufficient_user_authentication`` with ``max_age``.

It needs :class:`~tokenauth_asgi.TokenAuthMiddleware` in front of the app.
Needs Starlette: ``pip install 'tokenauth-asgi[starlette]'``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from starlette.responses import Response

from tokenauth import Failure, login_max_age, scope_tokens

from ._middleware import check_access
from ._scope import Rendered
from ._types import Scope

__all__ = ["requires", "requires_recent_login", "result_response"]

F = TypeVar("F", bound=Callable[..., Any])


def result_response(result: Rendered) -> Response:
    """A Starlette response with the status, headers and body the core rendered."""
    return Response(result.body, status_code=result.status, headers=dict(result.headers))


def requires(
    scopes: str | Iterable[str] = (), *, any_of: bool = False, max_age: int | None = None
) -> Callable[[F], F]:
    """Let an endpoint run only when the request's token has ``scopes`` (and a recent login).

    The same use as Starlette's ``requires``: decorate a function endpoint
    (sync or async) that takes ``request`` (or ``websocket``), or a method of an
    ``HTTPEndpoint``. A refused WebSocket is closed with code 1008.

    Args:
        scopes: The scopes needed: one name, a space-separated string or a list.
        any_of: Any one of them is enough (default: all are needed).
        max_age: The most seconds since the token's login (RFC 9470 step-up);
            None, the default, accepts any login. Scopes are checked first.

    Raises:
        ConfigurationError: A scope name is not an RFC 6749 scope token, or
            ``max_age`` is not whole seconds from 0 to a year.
    """
    wanted = scope_tokens(scopes)
    age = None if max_age is None else login_max_age(max_age)

    def refusal_for(connection_scope: Scope) -> Failure | None:
        return check_access(connection_scope, wanted, any_of=any_of, max_age=age)

    def decorator(func: F) -> F:
        names = list(inspect.signature(func).parameters)
        found = [name for name in names if name in ("request", "websocket")]
        if not found:
            raise TypeError(f'{func.__qualname__} takes no "request" or "websocket" argument')
        name = found[0]
        index = names.index(name)

        def connection(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            # Where Starlette passes the Request (or WebSocket): by name or by position.
            return kwargs[name] if name in kwargs else args[index]

        if name == "websocket":

            @functools.wraps(func)
            async def websocket_wrapper(*args: Any, **kwargs: Any) -> None:
                websocket = connection(args, kwargs)
                if refusal_for(websocket.scope) is not None:
                    await websocket.close(code=1008)  # policy violation
                    return
                await func(*args, **kwargs)

            return websocket_wrapper  # type: ignore[return-value]  # same signature

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                refusal = refusal_for(connection(args, kwargs).scope)
                if refusal is not None:
                    return result_response(refusal)
                return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]  # same signature

        @functools.wraps(func)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            refusal = refusal_for(connection(args, kwargs).scope)
            if refusal is not None:
                return result_response(refusal)
            return func(*args, **kwargs)

        return sync_wrapper  # type: ignore[return-value]  # same signature

    return decorator


def requires_recent_login(max_age: int) -> Callable[[F], F]:
    """Let an endpoint run only when the request's token comes from a recent login (RFC 9470).

    ``@requires_recent_login(300)`` is ``@requires(max_age=300)``: a token
    whose login is more than ``max_age`` seconds old gets 401
    ``insufficient_user_authentication`` with ``max_age``, so the client logs
    in again and retries.

    Raises:
        ConfigurationError: ``max_age`` is not whole seconds from 0 to a year.
    """
    return requires(max_age=max_age)
