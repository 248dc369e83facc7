"""Every row of the HTTP contract (DESIGN.md), at the core level."""

from __future__ import annotations

import base64
import json
import threading

import pytest

from tokenauth import (
    Authenticated,
    BadRequest,
    EventKind,
    Granted,
    HttpsRequired,
    KeySet,
    LoggedOut,
    MemoryStore,
    Principal,
    Reason,
    StoreUnavailable,
    StoreUnreachableError,
    TokenAuth,
    TokenRecord,
    Unauthorized,
)
from tokenauth.testing import FrozenClock

from .conftest import KEYS, Setup, basic


def header(result: object, name: str) -> str | None:
    for key, value in result.headers:  # type: ignore[attr-defined]
        if key.lower() == name.lower():
            return str(value)
    return None


# -- login -----------------------------------------------------------------------


def test_login_valid(setup: Setup) -> None:
    """Valid Basic login: 200, token, token_type, expires_in, no-store."""
    result = setup.auth.login(basic("alice", "correct horse"), secure=True)
    assert isinstance(result, Granted)
    body = json.loads(result.body)
    assert set(body) == {"token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["token"].startswith("eyJhbGciOiJSUzI1Ni")
    assert header(result, "Cache-Control") == "no-store"
    assert result.principal.subject == "alice"
    record = setup.store.get(result.claims.jti)
    assert record is not None
    assert record.method == "password"
    assert record.expires_at == setup.clock() + 3600


def test_login_with_api_key(setup: Setup) -> None:
    """An API key as the username with an empty password gets the same 200."""
    result = setup.auth.login(basic(setup.api_key, ""), secure=True)
    assert isinstance(result, Granted)
    assert result.principal.subject == "svc-export"
    assert result.principal.api_key_id == setup.api_key_id
    record = setup.store.get(result.claims.jti)
    assert record is not None
    assert record.api_key_id == setup.api_key_id
    key = setup.api_keys.get_key(setup.api_key_id)
    assert key is not None
    assert key.last_used_at == int(setup.clock())


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer abc",
        "Basic not-base64!",
        "Basic " + base64.b64encode(b"\xff:x").decode(),
        "Basic " + base64.b64encode(b"al\x00ice:x").decode(),
        "Basic " + base64.b64encode(b"alice").decode(),
        "Basic " + base64.b64encode(b":pw").decode(),
    ],
)
def test_login_malformed_is_400(setup: Setup, authorization: str | None) -> None:
    """Missing or malformed credentials: 400 invalid_request, nothing stored."""
    result = setup.auth.login(authorization, secure=True)
    assert isinstance(result, BadRequest)
    assert result.status == 400
    assert json.loads(result.body)["error"] == "invalid_request"
    assert len(setup.store) == 0


def test_login_refusals_are_identical(setup: Setup) -> None:
    """Wrong password, unknown user, unknown or revoked API key: one and the same 401."""
    setup.auth.revoke_api_key(setup.api_key_id)
    attempts = [
        basic("alice", "wrong"),
        basic("mallory", "correct horse"),
        basic("tka_" + "A" * 38, ""),
        basic(setup.api_key, ""),
    ]
    results = [setup.auth.login(a, secure=True) for a in attempts]
    assert all(isinstance(r, Unauthorized) for r in results)
    rendered = {(r.status, r.headers, r.body) for r in results}
    assert len(rendered) == 1
    (status, headers, body) = rendered.pop()
    assert status == 401
    assert ("WWW-Authenticate", 'Basic realm="example", charset="UTF-8"') in headers
    assert json.loads(body)["error"] == "invalid_credentials"
    reasons = [r.reason for r in results]  # type: ignore[union-attr]
    assert reasons == [
        Reason.BAD_PASSWORD, Reason.UNKNOWN_USER, Reason.UNKNOWN_API_KEY, Reason.API_KEY_REVOKED,
    ]  # fmt: skip
    assert len(setup.store) == 0


# -- secured paths -----------------------------------------------------------------


def test_bearer_header_allowed(setup: Setup) -> None:
    """A valid token in the header: Authenticated with principal and claims."""
    token = setup.login_token()
    result = setup.auth.authenticate(f"Bearer {token}", secure=True)
    assert isinstance(result, Authenticated)
    assert result.principal.subject == "alice"
    assert result.principal.scope == ("read",)
    assert result.claims.sub == "alice"


def test_query_token_allowed_and_switchable(setup: Setup) -> None:
    """?token= is accepted by default, and refused with 400 when switched off."""
    token = setup.login_token()
    assert isinstance(
        setup.auth.authenticate(None, query=f"token={token}", secure=True), Authenticated
    )
    strict = TokenAuth(keys=KEYS, store=setup.store, allow_query_token=False, clock=setup.clock)
    result = strict.authenticate(None, query=f"token={token}", secure=True)
    assert isinstance(result, BadRequest)


@pytest.mark.parametrize("authorization", [None, "", "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="])
def test_no_token_is_401_without_error_code(setup: Setup, authorization: str | None) -> None:
    """No token (a Basic header counts as none): 401 with a bare Bearer challenge."""
    result = setup.auth.authenticate(authorization, query="a=1", secure=True)
    assert isinstance(result, Unauthorized)
    assert header(result, "WWW-Authenticate") == 'Bearer realm="example"'


def test_malformed_bearer_requests_are_400(setup: Setup) -> None:
    """Scheme without token, two tokens, header and query, repeated query token: 400."""
    token = setup.login_token()
    cases = [
        ("Bearer", None),
        (f"Bearer {token} {token}", None),
        (f"Bearer {token}", f"token={token}"),
        (None, f"token={token}&token={token}"),
    ]
    for authorization, query in cases:
        result = setup.auth.authenticate(authorization, query=query, secure=True)
        assert isinstance(result, BadRequest), (authorization, query)
        challenge = header(result, "WWW-Authenticate")
        assert challenge is not None
        assert 'error="invalid_request"' in challenge
        assert json.loads(result.body)["error"] == "invalid_request"


def test_bad_tokens_are_401_invalid_token(setup: Setup) -> None:
    """Bad signature, wrong algorithm, unknown kid, wrong issuer: 401 invalid_token."""
    token = setup.login_token()
    head, body, sig = token.split(".")
    other = TokenAuth(keys=KeySet.generate("RS256"), store=MemoryStore(), clock=setup.clock)
    foreign = other.issuer.issue(Principal("alice", "password"), now=int(setup.clock())).token
    for bad in (f"{head}.{body}.{sig[:-4]}AAAA", foreign, f"{head}.{body}"):
        result = setup.auth.authenticate(f"Bearer {bad}", secure=True)
        assert isinstance(result, Unauthorized)
        challenge = header(result, "WWW-Authenticate")
        assert challenge is not None
        assert challenge.startswith(
            'Bearer realm="example", error="invalid_token", error_description='
        )
        assert json.loads(result.body)["error"] == "invalid_token"


def test_revoked_and_unstored_tokens_are_401(setup: Setup) -> None:
    """A token whose jti is not (or no longer) stored is refused."""
    token = setup.login_token()
    result = setup.auth.authenticate(f"Bearer {token}", secure=True)
    assert isinstance(result, Authenticated)
    assert setup.auth.revoke(result.claims.jti)
    again = setup.auth.authenticate(f"Bearer {token}", secure=True)
    assert isinstance(again, Unauthorized)
    assert again.reason is Reason.REVOKED


def test_expired_token_is_401_and_removed(setup: Setup) -> None:
    """An expired token is refused and removed from the store in the same validation."""
    token = setup.login_token()
    assert len(setup.store) == 1
    setup.clock.advance(3600 + 5)
    result = setup.auth.authenticate(f"Bearer {token}", secure=True)
    assert isinstance(result, Unauthorized)
    assert result.reason is Reason.EXPIRED
    assert "expired" in (header(result, "WWW-Authenticate") or "")
    assert len(setup.store) == 0
    assert [e.kind for e in setup.events].count(EventKind.TOKEN_EXPIRED_REMOVED) == 1


def test_fifty_concurrent_validations_of_one_expired_token(setup: Setup) -> None:
    """50 threads validating one expired token: all 401, exactly one removal, no exception."""
    token = setup.login_token()
    setup.clock.advance(4000)
    barrier = threading.Barrier(50)
    results: list[object] = []
    errors: list[BaseException] = []

    def validate() -> None:
        barrier.wait()
        try:
            results.append(setup.auth.authenticate(f"Bearer {token}", secure=True))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=validate) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 50
    assert all(isinstance(r, Unauthorized) and r.status == 401 for r in results)
    assert [e.kind for e in setup.events].count(EventKind.TOKEN_EXPIRED_REMOVED) == 1
    assert len(setup.store) == 0


def test_plain_http_is_refused_and_token_revoked(setup: Setup) -> None:
    """Plain HTTP: 403 https_required for login and secured paths; a presented token is revoked."""
    login = setup.auth.login(basic("alice", "correct horse"), secure=False)
    assert isinstance(login, HttpsRequired)
    assert login.status == 403
    assert json.loads(login.body)["error"] == "https_required"
    assert len(setup.store) == 0
    token = setup.login_token()
    result = setup.auth.authenticate(None, query=f"token={token}", secure=False)
    assert isinstance(result, HttpsRequired)
    assert header(result, "Location") is None
    assert len(setup.store) == 0
    assert isinstance(setup.auth.authenticate(f"Bearer {token}", secure=True), Unauthorized)


def test_forwarded_proto_from_trusted_proxy(setup: Setup) -> None:
    """Behind a trusted proxy, X-Forwarded-Proto decides; from anyone else it is ignored."""
    token = setup.login_token()
    via_proxy = setup.auth.authenticate(
        f"Bearer {token}", secure=False, client="10.0.0.7", forwarded_proto="https"
    )
    assert isinstance(via_proxy, Authenticated)
    spoofed = setup.auth.authenticate(
        f"Bearer {token}", secure=False, client="203.0.113.5", forwarded_proto="https"
    )
    assert isinstance(spoofed, HttpsRequired)


class _DownStore(MemoryStore):
    """A store whose backing service is gone: every call raises StoreUnreachableError."""

    def add(self, record: TokenRecord) -> None:
        raise StoreUnreachableError("connection refused")

    def get(self, jti: str) -> TokenRecord | None:
        raise StoreUnreachableError("connection refused")

    def remove(self, jti: str) -> bool:
        raise StoreUnreachableError("connection refused")


def test_store_unreachable_is_503_fail_closed(setup: Setup) -> None:
    """Store down: login and validation answer 503, never a token accepted or issued."""
    token = setup.login_token()
    down = TokenAuth(
        keys=KEYS, store=_DownStore(), users=setup.users, hasher=setup.auth._hasher,
        clock=setup.clock,
    )  # fmt: skip
    login = down.login(basic("alice", "correct horse"), secure=True)
    assert isinstance(login, StoreUnavailable)
    assert login.status == 503
    result = down.authenticate(f"Bearer {token}", secure=True)
    assert isinstance(result, StoreUnavailable)
    assert header(result, "Retry-After") == "5"
    setup.clock.advance(4000)
    expired = down.authenticate(f"Bearer {token}", secure=True)
    assert isinstance(expired, StoreUnavailable)


def test_logout_revokes_the_presented_token(setup: Setup) -> None:
    """logout(token) validates it, removes it, and answers 204."""
    token = setup.login_token()
    result = setup.auth.logout(token)
    assert isinstance(result, LoggedOut)
    assert result.status == 204
    assert isinstance(setup.auth.authenticate(f"Bearer {token}", secure=True), Unauthorized)
    assert isinstance(setup.auth.logout(token), Unauthorized)


def test_revoke_subject_logs_out_everywhere(setup: Setup) -> None:
    """revoke_subject removes every token of that subject and no other."""
    tokens = [setup.login_token() for _ in range(3)]
    other = setup.auth.login(basic(setup.api_key, ""), secure=True)
    assert isinstance(other, Granted)
    assert setup.auth.revoke_subject("alice") == 3
    for token in tokens:
        assert isinstance(setup.auth.authenticate(f"Bearer {token}", secure=True), Unauthorized)
    assert isinstance(setup.auth.authenticate(f"Bearer {other.token}", secure=True), Authenticated)


def test_revoking_an_api_key_revokes_its_tokens(setup: Setup) -> None:
    """Revoking an API key removes the tokens it issued and refuses new logins."""
    granted = setup.auth.login(basic(setup.api_key, ""), secure=True)
    assert isinstance(granted, Granted)
    password_token = setup.auth.login(basic("alice", "correct horse"), secure=True)
    assert setup.auth.revoke_api_key(setup.api_key_id) == 1
    assert isinstance(setup.auth.authenticate(f"Bearer {granted.token}", secure=True), Unauthorized)
    assert isinstance(setup.auth.login(basic(setup.api_key, ""), secure=True), Unauthorized)
    assert isinstance(password_token, Granted)
    assert isinstance(
        setup.auth.authenticate(f"Bearer {password_token.token}", secure=True), Authenticated
    )


def test_key_rotation_keeps_old_tokens_valid(setup: Setup) -> None:
    """After rotate_keys old tokens still validate; new tokens use the new kid."""
    old = setup.login_token()
    old_kid = setup.auth.keys.signing.kid
    setup.auth.rotate_keys()
    new = setup.login_token()
    assert setup.auth.keys.signing.kid != old_kid
    for token in (old, new):
        assert isinstance(setup.auth.authenticate(f"Bearer {token}", secure=True), Authenticated)
    setup.clock.advance(3600 + 10)
    setup.auth.rotate_keys()
    assert setup.auth.keys.get(old_kid) is None


def test_clock_is_injected() -> None:
    """Nothing reads the wall clock: a frozen clock decides expiry."""
    clock = FrozenClock(1000)
    auth = TokenAuth(keys=KEYS, store=MemoryStore(), clock=clock, ttl=60)
    granted = auth.issuer.issue(Principal("a", "password"), now=1000)
    auth.store.add(granted.record)
    assert isinstance(auth.authenticate(f"Bearer {granted.token}", secure=True), Authenticated)
    clock.advance(70)
    assert isinstance(auth.authenticate(f"Bearer {granted.token}", secure=True), Unauthorized)


def test_bearer_token_sent_to_login_over_http_is_revoked(setup: Setup) -> None:
    """A bearer token sent to the login endpoint over plain HTTP is revoked too."""
    token = setup.login_token()
    result = setup.auth.login(f"Bearer {token}", secure=False)
    assert isinstance(result, HttpsRequired)
    assert isinstance(setup.auth.authenticate(f"Bearer {token}", secure=True), Unauthorized)
