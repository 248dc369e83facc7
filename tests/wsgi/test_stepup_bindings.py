"""Step-up (RFC 9470) in plain WSGI, Flask, Django and Django REST framework, over TLS.

Each flavour's idiom for "this path needs a login at most 60 s old" (the
``check_recent_login`` helper, Flask's and Django's decorators on sync and
async views, DRF's ``HasRecentLogin``) must answer exactly as the core
decides: a fresh login 200; an older one 401 with the core's
``insufficient_user_authentication`` challenge, headers and body, byte for
byte; no token 401; and where a scope is needed too, the missing scope first.
"""

from __future__ import annotations

import httpx
import pytest

from tests.asgi.support import serve
from tests.wsgi.apps import PASSWORD, STEP_UP_AGE, make_auth
from tests.wsgi.conftest import Certs, Server, Site, Swappable
from tests.wsgi.test_contract import basic, bearer
from tokenauth import ConfigurationError, Failure, InsufficientScope, StepUpRequired, Unauthorized
from tokenauth.testing import FrozenClock

REALM = "api"
STEP_UP = StepUpRequired.make(REALM, STEP_UP_AGE)
#: Headers a server or framework adds on its own, which the core's result does not carry.
_SERVER_HEADERS = {"date", "server", "content-length", "transfer-encoding"}
#: DRF's APIView adds these to every response it finalizes, refusals included.
_DRF_HEADERS = {"allow", "vary"}
_REASONS = {401: "Unauthorized", 403: "Forbidden"}


def assert_renders(response: httpx.Response, result: Failure) -> None:
    """``response`` is ``result`` as the core rendered it: status line, every header, body."""
    assert response.status_code == result.status, response.text
    assert response.reason_phrase == _REASONS[result.status]
    added = _SERVER_HEADERS | (_DRF_HEADERS if response.url.path.startswith("/drf/") else set())
    sent = {k.lower(): v for k, v in response.headers.items() if k.lower() not in added}
    assert sent == {k.lower(): v for k, v in result.headers}
    assert response.content == result.body


def token(client: httpx.Client, base: str, user: str) -> dict[str, str]:
    response = client.post(f"{base}/token", headers={"Authorization": basic(f"{user}:{PASSWORD}")})
    assert response.status_code == 200, response.text
    return bearer(response.json()["token"])


def _paths(site: Site) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The step-up paths of ``site``'s flavour, and its scope-and-step-up paths."""
    if site.framework == "django":
        return ("/api/pay", "/api/pay-async", "/drf/pay"), ("/api/admin-pay", "/drf/admin-pay")
    return ("/api/pay", "/api/pay-async"), ("/api/admin-pay",)


def test_step_up_over_tls(client: httpx.Client, site: Site) -> None:
    clock = FrozenClock()
    site.mount(make_auth(clock=clock))
    check_step_up(client, site.https, clock, *_paths(site))


def test_step_up_in_django_under_asgi(
    client: httpx.Client, certs: Certs, servers: tuple[Swappable, Server, Server]
) -> None:
    """Under Django's ASGI handler the middleware and the async view run async."""
    clock = FrozenClock()
    site = Site("django", servers[1].url, servers[2].url, servers[0])
    site.mount(make_auth(clock=clock))  # configures Django and sets settings.TOKENAUTH
    from django.core.handlers.asgi import ASGIHandler

    with serve(ASGIHandler(), tls=certs) as url:  # type: ignore[arg-type]
        check_step_up(client, url, clock, *_paths(site))


def check_step_up(
    client: httpx.Client,
    base: str,
    clock: FrozenClock,
    paths: tuple[str, ...],
    scoped: tuple[str, ...],
) -> None:
    """The answers on ``paths`` (login <= 60 s old) and ``scoped`` (admin, and the same)."""
    root = token(client, base, "root")
    alice = token(client, base, "alice")
    for path in paths + scoped:
        fresh = client.get(f"{base}{path}", headers=root)
        assert fresh.status_code == 200, (path, fresh.text)
        assert fresh.json() == {"sub": "root"}
        assert_renders(client.get(f"{base}{path}"), Unauthorized.no_token(REALM))
    clock.advance(STEP_UP_AGE)
    for path in paths + scoped:
        assert client.get(f"{base}{path}", headers=root).status_code == 200, path
    clock.advance(1)
    for path in paths + scoped:
        assert_renders(client.get(f"{base}{path}", headers=root), STEP_UP)
    for path in scoped:  # the scope first: a fresh login would not give it
        assert_renders(
            client.get(f"{base}{path}", headers=alice), InsufficientScope.make(REALM, ("admin",))
        )
    again = token(client, base, "root")
    for path in paths + scoped:
        assert client.get(f"{base}{path}", headers=again).status_code == 200, path


def test_nonsense_max_age_fails_at_declaration() -> None:
    import flask

    from tokenauth_wsgi.flask import FlaskTokenAuth

    tokens = FlaskTokenAuth(make_auth(), flask.Flask("stepup"))
    with pytest.raises(ConfigurationError, match="max_age"):
        tokens.requires_recent_login(-5)
    with pytest.raises(ConfigurationError, match="max_age"):
        tokens.requires("admin", max_age=1.5)  # type: ignore[arg-type]
    from tests.wsgi.apps import django_app

    django_app(make_auth())  # configures Django
    from tokenauth_wsgi.django import requires, requires_recent_login
    from tokenauth_wsgi.drf import has_recent_login

    for declare in (
        lambda: requires_recent_login(True),
        lambda: requires("admin", max_age="60"),  # type: ignore[arg-type]
        lambda: has_recent_login(-1),
    ):
        with pytest.raises(ConfigurationError, match="max_age"):
            declare()
