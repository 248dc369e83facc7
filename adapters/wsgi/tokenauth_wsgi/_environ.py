"""Translation between a WSGI environ and the core: request in, result out.

Everything framework-specific (Flask, Django) goes through these functions, so
every framework feeds the core the same inputs and renders its results the
same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from tokenauth import (
    JWKS_MAX_AGE,
    MAX_FORM_BODY,
    AnonymousUser,
    Authenticated,
    AuthResult,
    Claims,
    Failure,
    LoginResult,
    LogoutResult,
    Principal,
    Reason,
    RefreshResult,
    Request,
    Response,
    TokenAuth,
    TokenUser,
    Unauthorized,
    is_refresh_request,
)

__all__ = [
    "ENVIRON_AUTH",
    "ENVIRON_AUTHENTICATED",
    "ENVIRON_CLAIMS",
    "ENVIRON_PRINCIPAL",
    "ENVIRON_USER",
    "Renderable",
    "Rendered",
    "UserLoader",
    "authenticate_environ",
    "authenticated",
    "check_access",
    "check_recent_login",
    "check_scopes",
    "claims_of",
    "current_user",
    "is_missing_token",
    "is_secure_environ",
    "jwks_environ",
    "load_user",
    "login_environ",
    "logout_environ",
    "principal_of",
    "read_form_body",
    "render",
    "request_of",
    "status_line",
]

#: Environ key holding the :class:`~tokenauth.Authenticated` result of a secured request.
ENVIRON_AUTHENTICATED = "tokenauth.authenticated"
#: Environ key holding the :class:`~tokenauth.Principal` of a secured request.
ENVIRON_PRINCIPAL = "tokenauth.principal"
#: Environ key holding the verified :class:`~tokenauth.Claims` of a secured request.
ENVIRON_CLAIMS = "tokenauth.claims"
#: Environ key holding the user a ``user_loader`` returned for the request's token.
ENVIRON_USER = "tokenauth.user"
#: Environ key holding the front door that checked the request (for scope checks).
ENVIRON_AUTH = "tokenauth.auth"

#: The application's user for a token's subject; None when there is none.
UserLoader = Callable[[str], Any]

Environ = Mapping[str, Any]


#: What :func:`render` takes: every core result but :class:`~tokenauth.Authenticated`.
Renderable = Response


@dataclass(frozen=True, slots=True)
class Rendered:
    """A result as WSGI wants it.

    Attributes:
        status: The status code.
        status_line: The PEP 3333 status string, e.g. ``"401 Unauthorized"``.
        headers: The core's response headers, unchanged.
        body: The response body.
    """

    status: int
    status_line: str
    headers: list[tuple[str, str]]
    body: bytes


def status_line(status: int) -> str:
    """The PEP 3333 status string for ``status``, with its RFC 9110 reason phrase."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:  # a code the standard library does not name
        return f"{status} Unknown"


def render(result: Renderable) -> Rendered:
    """Render a core result (or anything with ``status``, ``headers`` and ``body``).

    Args:
        result: A login, authentication or logout result that is not
            :class:`~tokenauth.Authenticated` (that one lets the request through).

    Returns:
        The status line, headers and body to send, exactly as the core says.
    """
    return Rendered(result.status, status_line(result.status), list(result.headers), result.body)


def _header(environ: Environ, name: str) -> str | None:
    value = environ.get(name)
    return value if isinstance(value, str) else None


def request_of(environ: Environ) -> Request:
    """Read the core's :class:`~tokenauth.Request` from a WSGI environ (or ``request.META``).

    PEP 3333: ``wsgi.url_scheme`` is ``"https"`` when the server terminated TLS
    itself; forwarding headers count only from trusted proxies, which the core
    decides. The raw ``QUERY_STRING`` goes to the core untouched, so that it
    sees a repeated ``token`` parameter.
    """
    get = environ.get
    return Request.of(
        _header(environ, "HTTP_AUTHORIZATION"),
        _header(environ, "QUERY_STRING"),
        get("wsgi.url_scheme") == "https",
        _header(environ, "REMOTE_ADDR"),
        _header(environ, "HTTP_X_FORWARDED_PROTO"),
        _header(environ, "HTTP_FORWARDED"),
        _header(environ, "HTTP_USER_AGENT"),
    )


def is_secure_environ(auth: TokenAuth, environ: Environ) -> bool:
    """Whether the request counts as HTTPS, by the core's rules and ``auth``'s trusted proxies."""
    return auth.is_https(request_of(environ))


def read_form_body(environ: Environ) -> bytes:
    """The request body, at most :data:`tokenauth.MAX_FORM_BODY` + 1 bytes of it.

    Read from ``wsgi.input`` up to ``CONTENT_LENGTH`` (or, on a server that marks
    its input terminated, to the end), never more than the limit and one byte,
    so an over-size body is refused by the core without being read whole.
    """
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    try:
        length = int(environ.get("CONTENT_LENGTH") or -1)
    except ValueError:
        length = -1
    if length < 0:
        if not environ.get("wsgi.input_terminated"):
            return b""  # PEP 3333: without a length, reading could wait for ever
        length = MAX_FORM_BODY + 1
    data = stream.read(min(length, MAX_FORM_BODY + 1))
    return bytes(data)


def login_environ(
    auth: TokenAuth, environ: Environ, *, body: bytes | None = None
) -> LoginResult | RefreshResult:
    """Run the core's login, or its refresh, for the request described by ``environ``.

    A ``POST`` with a form body is a refresh (``grant_type=refresh_token``, see
    :func:`tokenauth.is_refresh_request`); anything else is a Basic login.

    Args:
        auth: The configured core.
        environ: The WSGI environ (or Django's ``request.META``).
        body: The body, when the framework has read it already; by default it
            is read from ``wsgi.input`` with a limit (see :func:`read_form_body`).

    Returns:
        The core's result, to render with :func:`render`.
    """
    request = request_of(environ)
    content_type = _header(environ, "CONTENT_TYPE")
    if is_refresh_request(str(environ.get("REQUEST_METHOD", "GET")), content_type):
        data = read_form_body(environ) if body is None else body[: MAX_FORM_BODY + 1]
        return auth.refresh(request, body=data, content_type=content_type)
    return auth.login(request)


def authenticate_environ(auth: TokenAuth, environ: Environ) -> AuthResult:
    """Run the core's token check for the request described by ``environ``.

    Args:
        auth: The configured core.
        environ: The WSGI environ (or Django's ``request.META``).

    Returns:
        :class:`~tokenauth.Authenticated`, or a failure to render with :func:`render`.
    """
    return auth.authenticate(request_of(environ))


def logout_environ(auth: TokenAuth, environ: Environ) -> LogoutResult:
    """Revoke the token the request carries, after the same checks as a secured path.

    Args:
        auth: The configured core.
        environ: The WSGI environ (or Django's ``request.META``).

    Returns:
        :class:`~tokenauth.LoggedOut` (204) or a failure, to render with :func:`render`.
    """
    result = authenticate_environ(auth, environ)
    if not isinstance(result, Authenticated):
        return result
    return auth.logout(result.token)


@dataclass(frozen=True, slots=True)
class Document:
    """A JSON response the binding makes itself (JWKS, 404, 405), rendered like a result."""

    status: int
    json: object
    extra: tuple[tuple[str, str], ...] = ()

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """Response headers: JSON, then any extra ones."""
        return (("Content-Type", "application/json"), *self.extra)

    @property
    def body(self) -> bytes:
        """The JSON body, encoded."""
        return json.dumps(self.json).encode()


def jwks_environ(auth: TokenAuth, environ: Environ) -> Renderable:
    """The JWKS document of ``auth``'s public keys, or 403 over plain HTTP.

    Args:
        auth: The configured core.
        environ: The WSGI environ (or Django's ``request.META``).

    Returns:
        Something to render with :func:`render`.
    """
    request = request_of(environ)
    if not auth.is_https(request):
        return auth.refuse_plain_http(request)
    # Public keys only; a short cache lets verifiers pick up a rotation soon.
    return Document(200, auth.keys.jwks(), (("Cache-Control", f"max-age={JWKS_MAX_AGE}"),))


def store_authenticated(
    environ: dict[str, Any], result: Authenticated, auth: TokenAuth | None = None
) -> None:
    """Put an authenticated result (and the front door that decided it) where handlers look."""
    environ[ENVIRON_AUTHENTICATED] = result
    environ[ENVIRON_PRINCIPAL] = result.principal
    environ[ENVIRON_CLAIMS] = result.claims
    if auth is not None:
        environ[ENVIRON_AUTH] = auth


def authenticated(environ: Environ) -> Authenticated | None:
    """The result the binding stored for this request, or None when no token was checked."""
    value = environ.get(ENVIRON_AUTHENTICATED)
    return value if isinstance(value, Authenticated) else None


def principal_of(environ: Environ) -> Principal | None:
    """The principal the binding authenticated for this request, or None."""
    value = environ.get(ENVIRON_PRINCIPAL)
    return value if isinstance(value, Principal) else None


def claims_of(environ: Environ) -> Claims | None:
    """The verified claims of this request's token, or None."""
    value = environ.get(ENVIRON_CLAIMS)
    return value if isinstance(value, Claims) else None


def current_user(environ: Environ) -> Any:
    """The current user: the ``user_loader``'s, else a :class:`~tokenauth.TokenUser`.

    :class:`~tokenauth.AnonymousUser` when no token was checked (an open path,
    or an optional one with no token).
    """
    if ENVIRON_USER in environ:
        return environ[ENVIRON_USER]
    found = authenticated(environ)
    if found is None:
        return AnonymousUser()
    return TokenUser(found.principal, found.claims)


def load_user(
    auth: TokenAuth, loader: UserLoader | None, environ: dict[str, Any], result: Authenticated
) -> Renderable | None:
    """Run ``loader`` for the token's subject and keep its user; the refusal when it has none.

    Returns:
        None when the user was found (or there is no loader), else the 401 to send.
    """
    if loader is None:
        return None
    user = loader(result.principal.subject)
    if user is None:
        return Unauthorized.unknown_subject(auth.realm)
    environ[ENVIRON_USER] = user
    return None


def check_access(
    environ: Environ,
    scopes: str | Iterable[str] | None = None,
    *,
    any_of: bool = False,
    max_age: int | None = None,
) -> Failure | None:
    """None when this request's token may do what the path needs; else the refusal.

    The decision is the core's (``TokenAuth.authorize``): the token must have
    ``scopes`` (all, or ``any_of``) and, with ``max_age``, come from a login at
    most that many seconds old (RFC 9470 step-up). The refusal is the core's
    too: 401 with a bare challenge when no token was checked, 403
    ``insufficient_scope`` naming the scopes, or 401
    ``insufficient_user_authentication`` with ``max_age``.

    Raises:
        RuntimeError: No tokenauth middleware or decorator saw this request.
    """
    auth = environ.get(ENVIRON_AUTH)
    if not isinstance(auth, TokenAuth):
        raise RuntimeError(
            "a scope or login-age check needs tokenauth_wsgi.TokenAuthMiddleware (or a "
            "tokenauth decorator) in front of the view"
        )
    found = authenticated(environ)
    if found is None:
        return Unauthorized.no_token(auth.realm)
    outcome = auth.authorize(found, scopes or None, any_of=any_of, max_age=max_age)
    return None if isinstance(outcome, Authenticated) else outcome


def check_scopes(
    environ: Environ, scopes: str | Iterable[str], *, any_of: bool = False
) -> Failure | None:
    """None when this request's token has ``scopes`` (all, or ``any_of``); else the refusal.

    :func:`check_access` with scopes alone: 401 when no token was checked,
    403 ``insufficient_scope`` naming the scopes when the token lacks one.

    Raises:
        RuntimeError: No tokenauth middleware or decorator saw this request.
    """
    return check_access(environ, scopes, any_of=any_of)


def check_recent_login(environ: Environ, max_age: int) -> Failure | None:
    """None when this request's token comes from a login at most ``max_age`` seconds old.

    :func:`check_access` with the login age alone (RFC 9470): 401 when no
    token was checked, 401 ``insufficient_user_authentication`` with
    ``max_age`` when the login is older.

    Raises:
        RuntimeError: No tokenauth middleware or decorator saw this request.
    """
    return check_access(environ, max_age=max_age)


def is_missing_token(result: object) -> bool:
    """Whether ``result`` is the core's answer to a request that sent no token at all."""
    return type(result) is Unauthorized and result.reason is Reason.NO_TOKEN
