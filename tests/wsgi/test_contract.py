"""Every row of the HTTP contract, through each WSGI flavour, over cheroot and TLS with httpx.

Each test runs three times: pure WSGI (middleware and endpoints app), Flask
(extension and decorator) and Django (middleware and views).
"""

from __future__ import annotations

import base64
import logging
from http import HTTPStatus
from typing import Any

import httpx
import pytest

from tests.wsgi.apps import PASSWORD, make_auth
from tests.wsgi.conftest import Site
from tokenauth import (
    Granted,
    KeySet,
    MemoryStore,
    StoreUnreachableError,
    TokenAuth,
    TokenRecord,
)
from tokenauth.testing import FrozenClock

JSON = "application/json"


def basic(raw: bytes | str) -> str:
    data = raw.encode() if isinstance(raw, str) else raw
    return "Basic " + base64.b64encode(data).decode("ascii")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def expect(response: httpx.Response, status: int) -> Any:
    """Check the status line and, for JSON answers, return the body."""
    assert response.status_code == status, response.text
    assert response.reason_phrase == HTTPStatus(status).phrase
    if response.headers.get("content-type") == JSON:
        return response.json()
    return None


def login(client: httpx.Client, site: Site, authorization: str | None, **kw: Any) -> Any:
    headers = {} if authorization is None else {"Authorization": authorization}
    return client.post(f"{site.https}/token", headers=headers, **kw)


def token_for(client: httpx.Client, site: Site) -> str:
    body = expect(login(client, site, basic(f"alice:{PASSWORD}")), 200)
    token: str = body["token"]
    return token


def _granted(auth: TokenAuth) -> str:
    """A token from ``auth`` directly, not through the site."""
    result = auth.login(basic(f"alice:{PASSWORD}"), secure=True)
    assert isinstance(result, Granted)
    return result.token


class FailingStore:
    """A token store whose backend is down: every call fails as a real one would."""

    def _down(self, *args: object) -> Any:
        raise StoreUnreachableError("connection refused")

    add = get = remove = remove_subject = list_subject = purge_expired = _down

    def close(self) -> None:
        pass


# -- login ---------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_login_with_a_password_grants_a_token(
    client: httpx.Client, site: Site, method: str
) -> None:
    site.mount(make_auth())
    response = client.request(
        method, f"{site.https}/token", headers={"Authorization": basic(f"alice:{PASSWORD}")}
    )
    body = expect(response, 200)
    assert set(body) == {"token", "token_type", "expires_in"}
    assert body["token"].startswith("eyJhbGciOiJSUzI1Ni")
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == JSON


def test_login_with_an_api_key_and_empty_password_grants_a_token(
    client: httpx.Client, site: Site
) -> None:
    auth = site.mount(make_auth())
    key, _ = auth.create_api_key("alice", "ci")
    response = login(client, site, basic(f"{key}:"))
    body = expect(response, 200)
    assert response.headers["cache-control"] == "no-store"
    me = expect(client.get(f"{site.https}/api/me", headers=bearer(body["token"])), 200)
    assert me["method"] == "api_key"


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer abc",
        "Basic !!!not-base64",
        basic(b"\xff\xfe:password"),
        basic("al\x01ice:password"),
        basic("alice-without-colon"),
        basic(":password"),
    ],
    ids=["missing", "not-basic", "bad-base64", "bad-utf8", "control", "no-colon", "no-user"],
)
def test_malformed_login_is_400(client: httpx.Client, site: Site, authorization: str) -> None:
    site.mount(make_auth())
    response = login(client, site, authorization)
    body = expect(response, 400)
    assert body["error"] == "invalid_request"
    assert body["error_description"]
    assert response.headers["cache-control"] == "no-store"


def test_every_wrong_credential_gets_the_same_401(client: httpx.Client, site: Site) -> None:
    auth = site.mount(make_auth())
    key, record = auth.create_api_key("alice", "old")
    auth.revoke_api_key(record.key_id)
    other = make_auth()
    unknown_key, _ = other.create_api_key("alice", "elsewhere")
    answers = []
    for authorization in [
        basic("alice:wrong password"),
        basic(f"nobody:{PASSWORD}"),
        basic(f"{unknown_key}:"),
        basic(f"{key}:"),
    ]:
        response = login(client, site, authorization)
        body = expect(response, 401)
        answers.append((body, response.headers["www-authenticate"]))
    assert answers[0][0]["error"] == "invalid_credentials"
    assert answers[0][1] == 'Basic realm="api", charset="UTF-8"'
    assert all(answer == answers[0] for answer in answers)


# -- secured paths -----------------------------------------------------------------


def test_bearer_token_is_allowed_and_the_handler_sees_who(client: httpx.Client, site: Site) -> None:
    site.mount(make_auth())
    token = token_for(client, site)
    me = expect(client.get(f"{site.https}/api/me", headers=bearer(token)), 200)
    assert me["sub"] == "alice"
    assert me["method"] == "password"
    assert me["scope"] == ["read"]
    assert len(me["jti"]) > 10


def test_query_token_is_allowed_and_never_logged(
    client: httpx.Client, site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    site.mount(make_auth())
    token = token_for(client, site)
    me = expect(client.get(f"{site.https}/api/me", params={"token": token}), 200)
    assert me["sub"] == "alice"
    expect(client.get(f"{site.https}/api/me", params={"token": token + "x"}), 401)
    # The test's own HTTP client logs the URLs it requests; the server side must not.
    server_side = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert server_side, "the audit log saw nothing"
    assert all(token not in record.getMessage() for record in server_side)


def test_query_token_can_be_switched_off(client: httpx.Client, site: Site) -> None:
    site.mount(make_auth(allow_query_token=False))
    token = token_for(client, site)
    response = client.get(f"{site.https}/api/me", params={"token": token})
    body = expect(response, 400)
    assert body["error"] == "invalid_request"
    assert 'error="invalid_request"' in response.headers["www-authenticate"]
    expect(client.get(f"{site.https}/api/me", headers=bearer(token)), 200)


@pytest.mark.parametrize("authorization", [None, basic(f"alice:{PASSWORD}")])
def test_no_token_is_a_bare_bearer_challenge(
    client: httpx.Client, site: Site, authorization: str | None
) -> None:
    site.mount(make_auth())
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.get(f"{site.https}/api/me", headers=headers)
    expect(response, 401)
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize(
    ("authorization", "query"),
    [
        ("Bearer", ""),
        ("Bearer one two", ""),
        ("Bearer {token}", "token={token}"),
        (None, "token={token}&token={token}"),
    ],
    ids=["no-token", "two-tokens", "header-and-query", "repeated-query"],
)
def test_malformed_bearer_requests_are_400(
    client: httpx.Client, site: Site, authorization: str | None, query: str
) -> None:
    site.mount(make_auth())
    token = token_for(client, site)
    headers = {} if authorization is None else {"Authorization": authorization.format(token=token)}
    url = f"{site.https}/api/me?{query.format(token=token)}"
    response = client.get(url, headers=headers)
    body = expect(response, 400)
    assert body["error"] == "invalid_request"
    assert response.headers["www-authenticate"].startswith(
        'Bearer realm="api", error="invalid_request"'
    )


def _tampered(token: str) -> str:
    head, payload, signature = token.split(".")
    flipped = "A" if signature[0] != "A" else "B"
    return f"{head}.{payload}.{flipped}{signature[1:]}"


@pytest.mark.parametrize("case", ["bad-signature", "other-keys", "not-in-store", "revoked"])
def test_bad_tokens_are_401_invalid_token(client: httpx.Client, site: Site, case: str) -> None:
    auth = site.mount(make_auth())
    token = token_for(client, site)
    if case == "bad-signature":
        token = _tampered(token)
    elif case == "other-keys":
        stranger = make_auth(keys=KeySet.generate("ES256"))
        token = _granted(stranger)
    elif case == "not-in-store":
        auth.store.remove_subject("alice")
    else:
        expect(client.post(f"{site.https}/logout", headers=bearer(token)), 204)
    response = client.get(f"{site.https}/api/me", headers=bearer(token))
    body = expect(response, 401)
    assert body["error"] == "invalid_token"
    assert response.headers["www-authenticate"].startswith(
        'Bearer realm="api", error="invalid_token", error_description="'
    )


def test_expired_token_is_401_and_removed_from_the_store(client: httpx.Client, site: Site) -> None:
    clock = FrozenClock()
    store = MemoryStore()
    site.mount(make_auth(store=store, clock=clock))
    token = token_for(client, site)
    assert len(store) == 1
    clock.advance(3600 + 60)
    response = client.get(f"{site.https}/api/me", headers=bearer(token))
    body = expect(response, 401)
    assert body["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert len(store) == 0


# -- HTTPS --------------------------------------------------------------------------


def test_plain_http_is_refused_and_an_exposed_token_revoked(
    client: httpx.Client, site: Site
) -> None:
    site.mount(make_auth())
    token = token_for(client, site)
    for response in [
        client.post(f"{site.http}/token", headers={"Authorization": basic(f"alice:{PASSWORD}")}),
        client.get(f"{site.http}/api/me", headers=bearer(token)),
        client.get(f"{site.http}/.well-known/jwks.json"),
    ]:
        body = expect(response, 403)
        assert body["error"] == "https_required"
        assert "location" not in response.headers
    # The token crossed the network in clear: it no longer works, even over HTTPS.
    expect(client.get(f"{site.https}/api/me", headers=bearer(token)), 401)


@pytest.mark.parametrize(("trusted", "status"), [(["127.0.0.1"], 200), ([], 403)])
def test_forwarded_proto_counts_only_from_a_trusted_proxy(
    client: httpx.Client, site: Site, trusted: list[str], status: int
) -> None:
    site.mount(make_auth(trusted_proxies=trusted))
    token = token_for(client, site)
    headers = {**bearer(token), "X-Forwarded-Proto": "https"}
    expect(client.get(f"{site.http}/api/me", headers=headers), status)
    headers = {**bearer(token), "Forwarded": "for=10.0.0.1;proto=https"}
    expect(client.get(f"{site.http}/api/me", headers=headers), status)


# -- store, logout, JWKS, open paths -------------------------------------------------------


def test_unreachable_store_fails_closed_with_503(client: httpx.Client, site: Site) -> None:
    token = _granted(make_auth())
    site.mount(make_auth(store=FailingStore()))
    for response in [
        login(client, site, basic(f"alice:{PASSWORD}")),
        client.get(f"{site.https}/api/me", headers=bearer(token)),
    ]:
        body = expect(response, 503)
        assert body["error"] == "temporarily_unavailable"
        assert response.headers["retry-after"] == "5"


def test_logout_revokes_the_token_with_204(client: httpx.Client, site: Site) -> None:
    site.mount(make_auth())
    token = token_for(client, site)
    response = client.post(f"{site.https}/logout", headers=bearer(token))
    expect(response, 204)
    assert response.content == b""
    assert response.headers["cache-control"] == "no-store"
    expect(client.post(f"{site.https}/logout", headers=bearer(token)), 401)
    expect(client.post(f"{site.https}/logout"), 401)


def test_jwks_publishes_the_public_keys(client: httpx.Client, site: Site) -> None:
    auth = site.mount(make_auth())
    body = expect(client.get(f"{site.https}/.well-known/jwks.json"), 200)
    assert body == auth.keys.jwks()
    assert all("d" not in key for key in body["keys"])


def test_open_paths_pass_through_and_unknown_methods_are_405(
    client: httpx.Client, site: Site
) -> None:
    site.mount(make_auth())
    response = client.get(f"{site.https}/public")
    expect(response, 200)
    assert response.text == "open"
    # The 405 is the framework's own (werkzeug spells its reason in capitals).
    assert client.delete(f"{site.https}/token").status_code == 405


def test_token_record_is_what_the_store_holds(client: httpx.Client, site: Site) -> None:
    """The store keeps the jti and metadata, never the token."""
    store = MemoryStore()
    site.mount(make_auth(store=store))
    token = token_for(client, site)
    (record,) = store.list_subject("alice")
    assert isinstance(record, TokenRecord)
    assert token not in repr(record)
