"""Every row of the HTTP contract, through the ASGI binding on uvicorn over TLS, with httpx."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest

from tokenauth import Key, KeySet
from tokenauth_asgi import (
    HttpsRequiredApp,
    Receive,
    Scope,
    Send,
    TokenAuthApp,
    TokenUser,
    authenticated,
)

from .support import (
    AUDIENCE,
    ISSUER,
    REALM,
    TLS,
    World,
    basic,
    make_world,
    payload,
    serve,
    signed,
)

JSON = "application/json"


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """A secured handler that shows what the middleware told it."""
    if scope["path"] == "/health":
        assert not scope["user"].is_authenticated
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    found = authenticated(scope)
    assert found is not None
    user = scope["user"]
    assert isinstance(user, TokenUser)
    body = json.dumps(
        {
            "claims": found.claims.to_json(),
            "subject": found.principal.subject,
            "method": found.principal.method,
            "user": user.display_name,
            "scopes": list(scope["auth"].scopes),
        }
    ).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"json")]}
    )
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


@pytest.fixture(scope="module")
def urls(world: World, tls: TLS) -> Iterator[tuple[str, str, str]]:
    app = TokenAuthApp(world.auth, echo, exclude=["/health"])
    with (
        serve(app, tls=tls) as https,
        serve(app, tls=None) as http,
        serve(HttpsRequiredApp(world.auth), tls=None) as refuser,
    ):
        yield https, http, refuser


@pytest.fixture(autouse=True)
def _reset(world: World) -> Iterator[None]:
    start = world.clock()
    yield
    world.clock.set(start)
    world.store.down = False


@pytest.fixture
def client(urls: tuple[str, str, str], tls: TLS) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=urls[0], verify=tls.client_context, timeout=10) as c:
        yield c


def login(client: httpx.Client, authorization: str) -> str:
    response = client.post("/token", headers={"Authorization": authorization})
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


# -- login ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_login_with_a_password_over_https_gives_a_token(
    client: httpx.Client, method: str, world: World
) -> None:
    response = client.request(
        method, "/token", headers={"Authorization": basic("alice", "correct horse")}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["token"].startswith("eyJhbGciOiJSUzI1Ni")
    assert payload(body["token"])["sub"] == "alice"


def test_login_with_a_non_ascii_user_and_colons_in_the_password(client: httpx.Client) -> None:
    token = login(client, basic("zoë", "pässword:with:colons"))
    assert payload(token)["sub"] == "zoë"


def test_login_with_an_api_key_as_username_and_no_password(
    client: httpx.Client, world: World
) -> None:
    response = client.post("/token", headers={"Authorization": basic(world.api_key)})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert payload(response.json()["token"])["sub"] == "billing"


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer abc.def.ghi",
        "Digest username=alice",
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"\xff\xfe:pw").decode(),
        "Basic " + base64.b64encode(b"al\x01ice:pw").decode(),
        "Basic " + base64.b64encode(b"alice-no-colon").decode(),
        "Basic " + base64.b64encode(b":password").decode(),
    ],
    ids=["missing", "bearer", "digest", "bad-base64", "bad-utf8", "control", "no-colon", "no-user"],
)
def test_malformed_login_is_400_invalid_request(
    client: httpx.Client, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.post("/token", headers=headers)
    assert response.status_code == 400
    assert response.headers["content-type"] == JSON
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["error"] == "invalid_request"
    assert body["error_description"]


def test_bad_credentials_are_401_and_indistinguishable(client: httpx.Client, world: World) -> None:
    attempts = [
        basic("alice", "wrong password"),
        basic("mallory", "correct horse"),
        basic("tka_" + "A" * 38),
        basic(world.revoked_api_key),
    ]
    answers = []
    for authorization in attempts:
        response = client.post("/token", headers={"Authorization": authorization})
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_credentials"
        answers.append((response.content, response.headers["www-authenticate"]))
    assert len(set(answers)) == 1
    assert answers[0][1] == f'Basic realm="{REALM}", charset="UTF-8"'


def test_login_endpoint_refuses_other_methods(client: httpx.Client) -> None:
    response = client.put("/token", headers={"Authorization": basic("alice", "correct horse")})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"


# -- secured paths -------------------------------------------------------------------------


def test_bearer_token_reaches_the_handler_with_principal_and_claims(client: httpx.Client) -> None:
    token = login(client, basic("alice", "correct horse"))
    response = client.get("/anything", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    body = response.json()
    assert body["subject"] == body["user"] == body["claims"]["sub"] == "alice"
    assert body["method"] == "password"
    assert body["claims"]["iss"] == ISSUER
    assert body["claims"]["aud"] == AUDIENCE
    assert body["claims"]["jti"] == payload(token)["jti"]


def test_api_key_tokens_carry_their_method(client: httpx.Client, world: World) -> None:
    token = login(client, basic(world.api_key))
    response = client.get("/me", headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 200
    assert response.json()["method"] == "api_key"


def test_token_in_the_query_string_is_accepted(client: httpx.Client) -> None:
    token = login(client, basic("alice", "correct horse"))
    response = client.get(f"/me?x=1&token={token}")
    assert response.status_code == 200
    assert response.json()["subject"] == "alice"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": basic("alice", "correct horse")}, {"Authorization": "Negotiate abc"}],
    ids=["none", "basic", "other-scheme"],
)
def test_no_token_is_a_bare_bearer_challenge(client: httpx.Client, headers: dict[str, str]) -> None:
    response = client.get("/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == f'Bearer realm="{REALM}"'
    assert "error=" not in response.headers["www-authenticate"]
    assert response.headers["content-type"] == JSON


@pytest.mark.parametrize(
    ("target", "headers"),
    [
        ("/me", [("Authorization", "Bearer")]),
        ("/me", [("Authorization", "Bearer one two")]),
        ("/me", [("Authorization", "Bearer one"), ("Authorization", "Bearer two")]),
        ("/me?token=abc", [("Authorization", "Bearer abc")]),
        ("/me?token=abc&token=abc", []),
        ("/me?token=", []),
    ],
    ids=["scheme-only", "two-tokens", "two-headers", "header-and-query",
         "repeated-query", "empty-query"],
)  # fmt: skip
def test_malformed_bearer_requests_are_400(
    client: httpx.Client, target: str, headers: list[tuple[str, str]]
) -> None:
    response = client.get(target, headers=headers)
    assert response.status_code == 400
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith(f'Bearer realm="{REALM}", error="invalid_request"')
    assert response.json()["error"] == "invalid_request"


def _bad_tokens(world: World, client: httpx.Client) -> dict[str, str]:
    good = login(client, basic("alice", "correct horse"))
    head, body, signature = good.split(".")
    flipped = signature[:-4] + ("AAAA" if not signature.endswith("AAAA") else "BBBB")
    claims = payload(good)
    ours = world.keys.signing
    stranger = KeySet.generate("ES256").signing
    rs256 = {"alg": "RS256", "typ": "JWT", "kid": ours.kid}
    # An HS256 header naming our RSA key's kid: the classic algorithm-confusion forgery.
    confused = {"alg": "HS256", "typ": "JWT", "kid": ours.kid}
    return {
        "bad-signature": f"{head}.{body}.{flipped}",
        "wrong-algorithm": signed(Key.from_secret(b"s" * 32), confused, claims),
        "unknown-kid": signed(
            stranger, {"alg": "ES256", "typ": "JWT", "kid": stranger.kid}, claims
        ),
        "wrong-issuer": signed(ours, rs256, {**claims, "iss": "https://evil.test"}),
        "wrong-audience": signed(ours, rs256, {**claims, "aud": "elsewhere"}),
        "not-in-store": signed(ours, rs256, {**claims, "jti": "never-stored"}),
    }


@pytest.mark.parametrize(
    "case",
    ["bad-signature", "wrong-algorithm", "unknown-kid", "wrong-issuer", "wrong-audience",
     "not-in-store"],
)  # fmt: skip
def test_bad_tokens_are_401_invalid_token(client: httpx.Client, world: World, case: str) -> None:
    token = _bad_tokens(world, client)[case]
    response = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, case
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith(
        f'Bearer realm="{REALM}", error="invalid_token", error_description="'
    )
    assert response.json()["error"] == "invalid_token"


def test_logout_revokes_the_token(client: httpx.Client) -> None:
    token = login(client, basic("alice", "correct horse"))
    bearer = {"Authorization": f"Bearer {token}"}
    response = client.post("/logout", headers=bearer)
    assert response.status_code == 204
    assert response.content == b""
    response = client.get("/me", headers=bearer)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert client.post("/logout", headers=bearer).status_code == 401


def test_revoked_subject_tokens_are_refused(client: httpx.Client, world: World) -> None:
    token = login(client, basic("zoë", "pässword:with:colons"))
    import asyncio

    assert asyncio.run(world.auth.revoke_subject("zoë")) >= 1
    response = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_expired_token_is_401_and_removed_from_the_store(
    client: httpx.Client, world: World
) -> None:
    token = login(client, basic("alice", "correct horse"))
    jti = payload(token)["jti"]
    assert world.store.sync.get(jti) is not None
    world.clock.advance(3600 + 60)
    response = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert world.store.sync.get(jti) is None


def test_public_paths_need_no_token(client: httpx.Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200


def test_jwks_publishes_the_public_keys(client: httpx.Client, world: World) -> None:
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert [k["kid"] for k in keys] == [world.keys.signing.kid]
    assert "d" not in keys[0]


# -- plain HTTP ---------------------------------------------------------------------------------


@pytest.mark.parametrize("listener", [1, 2], ids=["same-app", "refuser"])
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/token"), ("GET", "/me"), ("GET", "/health"), ("GET", "/.well-known/jwks.json"),
     ("POST", "/logout"), ("GET", "/nowhere")],
)  # fmt: skip
def test_plain_http_is_refused_without_redirect(
    urls: tuple[str, str, str], listener: int, method: str, path: str
) -> None:
    response = httpx.request(
        method, urls[listener] + path, headers={"Authorization": basic("alice", "correct horse")}
    )
    assert response.status_code == 403
    assert response.json()["error"] == "https_required"
    assert "location" not in response.headers


@pytest.mark.parametrize("listener", [1, 2], ids=["same-app", "refuser"])
@pytest.mark.parametrize("where", ["header", "query"])
def test_a_token_sent_over_plain_http_is_revoked(
    client: httpx.Client, urls: tuple[str, str, str], listener: int, where: str
) -> None:
    token = login(client, basic("alice", "correct horse"))
    if where == "header":
        response = httpx.get(urls[listener] + "/me", headers={"Authorization": f"Bearer {token}"})
    else:
        response = httpx.get(urls[listener] + f"/me?token={token}")
    assert response.status_code == 403
    assert response.json()["error"] == "https_required"
    again = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_token"


def test_forwarded_headers_from_an_untrusted_peer_do_not_make_http_secure(
    urls: tuple[str, str, str],
) -> None:
    response = httpx.get(
        urls[1] + "/health", headers={"X-Forwarded-Proto": "https", "Forwarded": "proto=https"}
    )
    assert response.status_code == 403


# -- fail closed ----------------------------------------------------------------------------------


def test_an_unreachable_store_is_503_and_nothing_is_accepted(
    client: httpx.Client, world: World
) -> None:
    token = login(client, basic("alice", "correct horse"))
    world.store.down = True
    response = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    response = client.post("/token", headers={"Authorization": basic("alice", "correct horse")})
    assert response.status_code == 503
    world.store.down = False
    assert client.get("/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
