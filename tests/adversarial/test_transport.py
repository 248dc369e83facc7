"""Transport: plain HTTP is refused, and whatever it exposed is revoked.

RFC 6750 section 5.3 ("always use TLS") and section 5.2 (a token that leaked
must be treated as compromised); RFC 9110 section 4.2.2 for what "https"
promises; RFC 7239 and the de-facto ``X-Forwarded-Proto`` for requests that
reach the server through a proxy. The contract row: "any request over plain
HTTP: refused (403), no redirect; a token presented over plain HTTP is revoked".
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tokenauth import (
    Authenticated,
    EventKind,
    HttpsRequired,
    Request,
    TokenAuth,
    Unauthorized,
)
from tokenauth.extend import TrustedProxies

from .conftest import PROXY, Deployment, basic


def _shapes(token: str) -> dict[str, Request]:
    """Every malformed way a client can put a token on the wire, sent over plain HTTP."""
    dotless = token.replace(".", "%2E")
    return {
        "header and query (RFC 6750 s2: one method per request)": Request(
            authorization=f"Bearer {token}", query=f"token={token}", secure=False
        ),
        "token repeated in the query": Request(query=f"token={token}&token={token}", secure=False),
        "two Authorization headers, joined (RFC 9110 s5.3)": Request(
            authorization=f"Bearer {token}, Bearer {token}", secure=False
        ),
        "Bearer T junk": Request(authorization=f"Bearer {token} junk", secure=False),
        "Bearer T,": Request(authorization=f"Bearer {token},", secure=False),
        "encoded name and dots": Request(query=f"tok%65n={dotless}", secure=False),
        "token as a Basic user-id": Request(authorization=basic(token, "x"), secure=False),
        "well-formed Bearer": Request(authorization=f"Bearer {token}", secure=False),
        "well-formed query": Request(query=f"token={token}", secure=False),
    }


SHAPES = list(_shapes("x.y.z"))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("path", ["secured path", "/token"])
def test_a_token_exposed_over_plain_http_is_revoked_whatever_the_shape(
    world: Deployment, shape: str, path: str
) -> None:
    """RFC 6750 s5.3: every candidate of a plain-HTTP request that validates is revoked."""
    token = world.token()
    request = _shapes(token)[shape]
    door = world.auth.login if path == "/token" else world.auth.authenticate
    result = door(request)
    assert isinstance(result, HttpsRequired)
    assert not world.valid(token)
    revoked = [e for e in world.events if e.kind is EventKind.TOKEN_REVOKED]
    assert revoked[-1].reason is not None
    assert revoked[-1].reason.value == "https_required"


def test_the_async_door_revokes_the_same(world: Deployment) -> None:
    """The async front door runs the same flow."""
    token = world.token()
    request = _shapes(token)["token repeated in the query"]
    result = asyncio.run(world.async_auth.authenticate(request))
    assert isinstance(result, HttpsRequired)
    assert not world.valid(token)


def test_other_tokens_survive(world: Deployment) -> None:
    """Only what the request carried is revoked, not every token of the user."""
    exposed, kept = world.token(), world.token()
    world.auth.authenticate(Request(authorization=f"Bearer {exposed} junk", secure=False))
    assert not world.valid(exposed)
    assert world.valid(kept)


def test_an_api_key_sent_in_clear_is_named_by_its_id(world: Deployment) -> None:
    """The https_violation event names the key's id (never the key); the key keeps working."""
    result = world.auth.login(Request(authorization=basic(world.api_key, ""), secure=False))
    assert isinstance(result, HttpsRequired)
    violation = next(e for e in world.events if e.kind is EventKind.HTTPS_VIOLATION)
    assert violation.api_key_id == world.api_key_id
    assert world.api_key not in repr(violation)
    assert world.auth.login(basic(world.api_key, ""), secure=True).status == 200


def test_revoking_api_keys_sent_in_clear_is_an_option(world: Deployment) -> None:
    """``revoke_exposed_api_keys=True``: the key and the tokens it issued are revoked."""
    granted = world.auth.login(basic(world.api_key, ""), secure=True)
    assert granted.status == 200
    world.auth.revoke_exposed_api_keys = True
    world.auth.authenticate(Request(authorization=f"Bearer {world.api_key}", secure=False))
    assert world.auth.login(basic(world.api_key, ""), secure=True).status == 401
    assert not world.valid(granted.token)  # type: ignore[union-attr]
    kinds = [e.kind for e in world.events]
    assert EventKind.API_KEY_REVOKED in kinds


# -- forwarding headers (RFC 7239) ---------------------------------------------------------


def _proxied(token: str, **headers: str) -> Request:
    return Request(authorization=f"Bearer {token}", secure=False, client=PROXY, **headers)


def test_conflicting_forwarded_headers_fail_closed(world: Deployment) -> None:
    """``Forwarded: proto=https`` against the proxy's ``X-Forwarded-Proto: http``: plain HTTP.

    One of the two was most likely sent by the client and passed through; the
    request counts as plain, so it is refused and its token revoked.
    """
    token = world.token()
    request = _proxied(token, forwarded="for=192.0.2.1;proto=https", forwarded_proto="http")
    assert isinstance(world.auth.authenticate(request), HttpsRequired)
    assert not world.valid(token)


@pytest.mark.parametrize(
    ("on_conflict", "forwarded", "x_forwarded", "https"),
    [
        ("forwarded", "proto=https", "http", True),
        ("forwarded", "proto=http", "https", False),
        ("x-forwarded-proto", "proto=https", "http", False),
        ("x-forwarded-proto", "proto=http", "https", True),
        ("plain", "proto=https", "https", True),
        ("plain", "proto=http", "https", False),
    ],
)
def test_which_header_wins_a_conflict_is_configurable(
    world: Deployment, on_conflict: str, forwarded: str, x_forwarded: str, https: bool
) -> None:
    """``TrustedProxies.of(..., on_conflict=...)`` names the header a deployment's proxy sets."""
    auth = TokenAuth(
        keys=world.auth.keys, store=world.store,
        trusted_proxies=TrustedProxies.of([PROXY], on_conflict=on_conflict),  # type: ignore[arg-type]
    )  # fmt: skip
    request = Request(secure=False, client=PROXY, forwarded=forwarded, forwarded_proto=x_forwarded)
    assert auth.is_https(request) is https


def test_an_unknown_conflict_policy_is_refused() -> None:
    """A typo in on_conflict is a configuration error that lists the choices."""
    from tokenauth import ConfigurationError

    with pytest.raises(ConfigurationError, match="on_conflict must be one of"):
        TrustedProxies.of([PROXY], on_conflict="prefer-https")  # type: ignore[arg-type]


# -- disabling a user ------------------------------------------------------------------------


def test_disable_user_revokes_the_users_tokens(world: Deployment) -> None:
    """``disable_user`` in the core: logins refused and live tokens revoked at once."""
    token = world.token()
    assert world.auth.disable_user("alice") == 1
    assert isinstance(world.auth.authenticate(f"Bearer {token}", secure=True), Unauthorized)
    assert world.auth.login(basic("alice", "correct horse"), secure=True).status == 401


def test_async_disable_user_revokes_too(world: Deployment) -> None:
    """The async twin does the same."""
    token = world.token()
    assert asyncio.run(world.async_auth.disable_user("alice")) == 1
    assert not isinstance(world.auth.authenticate(f"Bearer {token}", secure=True), Authenticated)


def test_disable_user_names_a_missing_user(world: Deployment) -> None:
    """An unknown username is a configuration error naming it."""
    from tokenauth import ConfigurationError

    with pytest.raises(ConfigurationError, match="no user named 'nobody'"):
        world.auth.disable_user("nobody")


# -- every path of the bindings ------------------------------------------------------------


def _asgi(app: Any, method: str, token: str) -> int:
    """Call an ASGI app over plain HTTP with ``?token=T&token=T``; return the status."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "method": method, "path": "/x", "scheme": "http",
        "query_string": f"token={token}&token={token}".encode(), "headers": [],
        "client": ("192.0.2.7", 5000), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    return int(next(m["status"] for m in sent if m["type"] == "http.response.start"))


@pytest.mark.parametrize(
    ("endpoint", "method"),
    [("LoginEndpoint", "PUT"), ("JWKSEndpoint", "GET"), ("JWKSEndpoint", "POST")],
)
def test_asgi_endpoints_revoke_over_plain_http(
    world: Deployment, endpoint: str, method: str
) -> None:
    """A binding's own paths (a 405, the JWKS) refuse plain HTTP and revoke the same way."""
    tokenauth_asgi = pytest.importorskip("tokenauth_asgi")
    token = world.token()
    app = getattr(tokenauth_asgi, endpoint)(world.async_auth)
    assert _asgi(app, method, token) == 403
    assert not world.valid(token)


@pytest.mark.parametrize(("path", "method"), [("/token", "PUT"), ("/jwks", "GET")])
def test_wsgi_endpoints_revoke_over_plain_http(world: Deployment, path: str, method: str) -> None:
    """The WSGI endpoints' 405 and JWKS paths refuse plain HTTP and revoke the same way."""
    tokenauth_wsgi = pytest.importorskip("tokenauth_wsgi")
    token = world.token()
    app = tokenauth_wsgi.TokenEndpoints(world.auth, jwks_path="/jwks")
    statuses: list[str] = []
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "wsgi.url_scheme": "http",
        "QUERY_STRING": f"token={token}&token={token}", "REMOTE_ADDR": "192.0.2.7",
    }  # fmt: skip
    list(app(environ, lambda status, headers, exc_info=None: statuses.append(status)))
    assert statuses[0].startswith("403")
    assert not world.valid(token)
