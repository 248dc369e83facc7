"""Scopes and the current user in plain WSGI, Flask, Django and Django REST framework.

Over real servers and TLS: cheroot for every flavour, gunicorn for Django and
DRF, and uvicorn running Django's ASGI handler, where the middleware runs
async. Each must answer: the right scope 200 with the loader's user; a missing
scope 403 with the exact ``insufficient_scope`` challenge and body; no token
401; a token whose subject the loader does not know 401.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.asgi.support import serve
from tests.wsgi.apps import PASSWORD, make_auth
from tests.wsgi.conftest import Certs, Server, Site, Swappable
from tests.wsgi.test_contract import basic, bearer
from tests.wsgi.test_gunicorn_logs import ROOT, _wait_for_port
from tokenauth import InsufficientScope, Unauthorized

REALM = "api"
ADMIN_REFUSAL = InsufficientScope.make(REALM, ("admin",))


def token(client: httpx.Client, base: str, user: str) -> str:
    response = client.post(f"{base}/token", headers={"Authorization": basic(f"{user}:{PASSWORD}")})
    assert response.status_code == 200, response.text
    value: str = response.json()["token"]
    return value


def check_scoped(client: httpx.Client, base: str, path: str) -> None:
    """The four answers every framework must give on a path that needs ``admin``."""
    url = f"{base}{path}"
    allowed = client.get(url, headers=bearer(token(client, base, "root")))
    assert allowed.status_code == 200, allowed.text
    assert allowed.json() == {"name": "Rita Root"}  # the loader's user object
    refused = client.get(url, headers=bearer(token(client, base, "alice")))
    assert refused.status_code == 403
    assert refused.reason_phrase == "Forbidden"
    assert refused.headers["www-authenticate"] == (
        f'Bearer realm="{REALM}", error="insufficient_scope", scope="admin"'
    )
    assert refused.content == ADMIN_REFUSAL.body
    missing = client.get(url)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == f'Bearer realm="{REALM}"'
    assert missing.content == Unauthorized.no_token(REALM).body
    ghost = client.get(url, headers=bearer(token(client, base, "ghost")))
    assert ghost.status_code == 401
    assert ghost.content == Unauthorized.unknown_subject(REALM).body


def test_scopes_and_current_user_over_tls(client: httpx.Client, site: Site) -> None:
    site.mount(make_auth())
    check_scoped(client, site.https, "/api/admin")
    if site.framework == "django":
        check_scoped(client, site.https, "/drf/admin")
        me = client.get(f"{site.https}/drf/me", headers=bearer(token(client, site.https, "alice")))
        assert me.json() == {"name": "Alice", "sub": "alice"}


@pytest.fixture
def django_site(servers: tuple[Swappable, Server, Server]) -> Site:
    app, tls, plain = servers
    return Site("django", tls.url, plain.url, app)


def test_drf_refusals_keep_the_challenge_without_the_exception_handler(
    client: httpx.Client, django_site: Site
) -> None:
    """Without tokenauth's exception handler DRF writes its own JSON, but keeps the status
    and the RFC 6750 challenge."""
    site = django_site
    from django.test import override_settings
    from rest_framework.settings import api_settings

    site.mount(make_auth())
    alice = bearer(token(client, site.https, "alice"))
    rest = {
        "DEFAULT_AUTHENTICATION_CLASSES": ["tokenauth_wsgi.drf.TokenAuthentication"],
        "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
        "UNAUTHENTICATED_USER": "tokenauth.AnonymousUser",
    }
    with override_settings(REST_FRAMEWORK=rest):
        api_settings.reload()
        try:
            refused = client.get(f"{site.https}/drf/admin", headers=alice)
            missing = client.get(f"{site.https}/drf/admin")
        finally:
            api_settings.reload()
    assert refused.status_code == 403
    assert refused.headers["www-authenticate"] == ADMIN_REFUSAL.challenge
    assert refused.json() == ADMIN_REFUSAL.json
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == f'Bearer realm="{REALM}"'


@pytest.fixture
def gunicorn_django(certs: Certs, tmp_path: Path) -> Iterator[str]:
    error_log, key_file = tmp_path / "error.log", tmp_path / "key"
    env = {
        **os.environ,
        "TOKENAUTH_TEST_FRAMEWORK": "django",
        "TOKENAUTH_TEST_KEY_FILE": str(key_file),
    }
    command = [
        sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:0", "--workers", "1",
        "--certfile", str(certs.cert_file), "--keyfile", str(certs.key_file),
        "--error-logfile", str(error_log), "tests.wsgi.gunicorn_app:app",
    ]  # fmt: skip
    proc = subprocess.Popen(command, cwd=ROOT, env=env)  # our own command line
    try:
        yield f"https://127.0.0.1:{_wait_for_port(proc, error_log, key_file)}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_django_and_drf_under_gunicorn(client: httpx.Client, gunicorn_django: str) -> None:
    check_scoped(client, gunicorn_django, "/api/admin")
    check_scoped(client, gunicorn_django, "/drf/admin")


def test_django_async_middleware_under_uvicorn(
    client: httpx.Client, certs: Certs, django_site: Site
) -> None:
    """Django's ASGI handler runs the middleware async (the core's check in a thread)."""
    django_site.mount(make_auth())  # configures Django and sets settings.TOKENAUTH
    from django.core.handlers.asgi import ASGIHandler

    from tokenauth_wsgi.django import TokenAuthMiddleware

    assert TokenAuthMiddleware.async_capable
    with serve(ASGIHandler(), tls=certs) as url:  # type: ignore[arg-type]
        check_scoped(client, url, "/api/admin")
        check_scoped(client, url, "/drf/admin")
