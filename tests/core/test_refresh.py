"""Refresh tokens in the core: the front door's refresh flow and the token-request parser."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenauth import (
    FORM_CONTENT_TYPE,
    MAX_FORM_BODY,
    AsyncMemoryStore,
    AsyncTokenAuth,
    BadRequest,
    ConfigurationError,
    EventKind,
    Granted,
    InvalidGrant,
    KeySet,
    MemoryApiKeyRegistry,
    MemoryStore,
    MemoryUserRegistry,
    Reason,
    RefreshGrant,
    Request,
    SecurityEvent,
    TokenAuth,
    parse_token_form,
)
from tokenauth.testing import FrozenClock
from tokenauth.testing import strategies as ts

from .conftest import PEPPER, basic

KEYS = KeySet.generate("HS256")
HTTPS = Request(secure=True)


def form(token: str, **extra: str) -> bytes:
    fields = {"grant_type": "refresh_token", "refresh_token": token, **extra}
    return "&".join(f"{k}={quote(v, safe='')}" for k, v in fields.items()).encode()


class Door:
    def __init__(self, **options: Any) -> None:
        self.clock = FrozenClock(1_800_000_000)
        self.store = MemoryStore()
        self.users = MemoryUserRegistry()
        self.api_keys = MemoryApiKeyRegistry()
        self.events: list[SecurityEvent] = []
        settings: dict[str, Any] = {"refresh_ttl": 600, "session_lifetime": 3600, "ttl": 300}
        settings.update(options)
        self.auth = TokenAuth(
            keys=KEYS, store=self.store, users=self.users, api_keys=self.api_keys,
            pepper=PEPPER, hasher=ts.fast_hasher(), clock=self.clock,
            on_event=self.events.append, **settings,
        )  # fmt: skip
        self.auth.add_user("alice", "correct horse", scope=("read", "write"))

    def login(self, user: str = "alice", password: str = "correct horse") -> Granted:
        result = self.auth.login(basic(user, password), secure=True)
        assert isinstance(result, Granted), result
        return result

    def refresh(self, token: str, request: Request = HTTPS, **extra: str) -> Any:
        return self.auth.refresh(request, body=form(token, **extra), content_type=FORM_CONTENT_TYPE)

    def valid(self, token: str) -> bool:
        return self.auth.authenticate(f"Bearer {token}", secure=True).__class__.__name__ == (
            "Authenticated"
        )


@pytest.fixture
def door() -> Door:
    return Door()


def test_login_answers_carry_a_refresh_token_only_when_enabled(door: Door) -> None:
    """With refresh on the login body has refresh_token; off, the body is as it always was."""
    granted = door.login()
    body = json.loads(granted.body)
    assert body["refresh_token"] == granted.refresh_token
    assert body["refresh_token"].startswith("tkr_")
    assert set(body) == {"token", "token_type", "expires_in", "refresh_token"}
    off = TokenAuth(keys=KEYS, store=MemoryStore(), users=door.users, hasher=ts.fast_hasher())
    plain = off.login(basic("alice", "correct horse"), secure=True)
    assert isinstance(plain, Granted)
    assert set(json.loads(plain.body)) == {"token", "token_type", "expires_in"}


def test_refresh_rotates_and_the_old_token_stops_working(door: Door) -> None:
    """200 with a new pair; the refresh token presented cannot be used again."""
    granted = door.login()
    assert granted.refresh_token is not None
    door.clock.advance(30)
    fresh = door.refresh(granted.refresh_token)
    assert isinstance(fresh, Granted)
    assert fresh.status == 200
    assert ("Cache-Control", "no-store") in fresh.headers
    assert fresh.refresh_token not in (None, granted.refresh_token)
    assert fresh.claims.auth_time == granted.claims.iat, "the login time carries over"
    assert fresh.claims.scope == ("read", "write")
    assert door.valid(fresh.token)
    again = door.refresh(granted.refresh_token)
    assert isinstance(again, InvalidGrant)
    assert again.reason is Reason.REFRESH_TOKEN_REUSED


def test_reuse_ends_the_whole_session(door: Door) -> None:
    """A rotated-out token presented again revokes every access and refresh token of its login."""
    granted = door.login()
    other = door.login()
    assert granted.refresh_token
    assert other.refresh_token
    first = door.refresh(granted.refresh_token)
    assert isinstance(first, Granted)
    assert first.refresh_token
    second = door.refresh(first.refresh_token)
    assert isinstance(second, Granted)
    assert second.refresh_token
    reused = door.refresh(granted.refresh_token)
    assert isinstance(reused, InvalidGrant)
    assert json.loads(reused.body)["error"] == "invalid_grant"
    assert reused.status == 400
    for token in (granted.token, first.token, second.token):
        assert not door.valid(token), "an access token outlived its session"
    assert isinstance(door.refresh(second.refresh_token), InvalidGrant)
    # Another login of the same user is another session: untouched.
    assert door.valid(other.token)
    assert isinstance(door.refresh(other.refresh_token), Granted)
    ended = [e for e in door.events if e.kind is EventKind.SESSION_REVOKED]
    assert [e.reason for e in ended] == [Reason.REFRESH_TOKEN_REUSED]
    assert ended[0].count == 6  # 3 access tokens and 3 refresh tokens
    assert ended[0].session is not None


def test_refresh_tokens_expire_and_the_session_has_an_absolute_end() -> None:
    """Each refresh token lives refresh_ttl; no chain of refreshes outlives session_lifetime."""
    door = Door(refresh_ttl=600, session_lifetime=1000)
    granted = door.login()
    token = granted.refresh_token
    assert token
    door.clock.advance(600)
    expired = door.refresh(token)
    assert isinstance(expired, InvalidGrant)
    assert expired.reason is Reason.REFRESH_TOKEN_EXPIRED
    granted = door.login()
    token = granted.refresh_token
    assert token
    start = door.clock()
    while True:
        door.clock.advance(500)
        result = door.refresh(token)
        if not isinstance(result, Granted):
            break
        assert result.refresh_token
        token = result.refresh_token
    assert door.clock() - start <= 1000 + 500
    assert isinstance(result, InvalidGrant)
    assert result.reason is Reason.REFRESH_TOKEN_EXPIRED


def test_unknown_and_malformed_refresh_tokens_are_invalid_grants(door: Door) -> None:
    """Whatever the token, one answer: 400 invalid_grant."""
    granted = door.login()
    assert granted.refresh_token
    session = granted.refresh_token[4:26]
    for token in ("nope", "tkr_" + session + "." + "A" * 43, granted.token, "x" * 1000):
        result = door.refresh(token)
        assert isinstance(result, InvalidGrant), token
        assert result.reason is Reason.UNKNOWN_REFRESH_TOKEN
    assert door.valid(granted.token), "an unknown token ended someone's session"


def test_disabling_a_user_or_revoking_a_key_ends_their_sessions(door: Door) -> None:
    """disable_user, revoke_api_key and revoke_subject end sessions, refresh tokens included."""
    granted = door.login()
    assert granted.refresh_token
    door.auth.disable_user("alice")
    assert isinstance(door.refresh(granted.refresh_token), InvalidGrant)
    key, record = door.auth.create_api_key("svc", "cron")
    by_key = door.login(key, "")
    assert by_key.refresh_token
    door.auth.revoke_api_key(record.key_id)
    assert isinstance(door.refresh(by_key.refresh_token), InvalidGrant)
    assert not door.valid(by_key.token)


def test_a_user_disabled_behind_the_front_doors_back_cannot_refresh(door: Door) -> None:
    """The registry is asked at each refresh: disabled there alone still ends the session."""
    granted = door.login()
    assert granted.refresh_token
    door.users.set_disabled("alice", True)
    result = door.refresh(granted.refresh_token)
    assert isinstance(result, InvalidGrant)
    assert result.reason is Reason.SESSION_ENDED
    assert not door.valid(granted.token)


def test_scopes_narrow_on_request_and_follow_the_registry(door: Door) -> None:
    """scope= narrows the new access token; a scope taken from the user is dropped."""
    granted = door.login()
    assert granted.refresh_token
    narrowed = door.refresh(granted.refresh_token, scope="read")
    assert isinstance(narrowed, Granted)
    assert narrowed.refresh_token
    assert narrowed.claims.scope == ("read",)
    wider = door.refresh(narrowed.refresh_token, scope="read admin")
    assert isinstance(wider, BadRequest)
    assert json.loads(wider.body)["error"] == "invalid_scope"
    # The refresh token keeps the session's scope; the registry now grants less.
    door.users._update("alice", scope=("read",))
    fewer = door.refresh(narrowed.refresh_token)
    assert isinstance(fewer, Granted)
    assert fewer.claims.scope == ("read",)


def test_plain_http_refuses_and_ends_the_exposed_session(door: Door) -> None:
    """A refresh token sent in clear is exposed: 403, and its session ends."""
    granted = door.login()
    assert granted.refresh_token
    refused = door.refresh(granted.refresh_token, Request(secure=False))
    assert refused.status == 403
    assert json.loads(refused.body)["error"] == "https_required"
    assert not door.valid(granted.token)
    assert isinstance(door.refresh(granted.refresh_token), InvalidGrant)
    ended = [e for e in door.events if e.kind is EventKind.SESSION_REVOKED]
    assert ended[-1].reason is Reason.HTTPS_REQUIRED


def test_refresh_off_answers_unsupported_grant_type() -> None:
    """A server without refresh says so, 400 unsupported_grant_type."""
    auth = TokenAuth(keys=KEYS, store=MemoryStore())
    result = auth.refresh(HTTPS, body=form("tkr_x"), content_type=FORM_CONTENT_TYPE)
    assert isinstance(result, BadRequest)
    assert json.loads(result.body)["error"] == "unsupported_grant_type"
    assert ("Cache-Control", "no-store") in result.headers


class _OldStore:
    """A user's store from before refresh tokens: the token-store methods only."""

    def __init__(self) -> None:
        self.inner = MemoryStore()

    def __getattr__(self, name: str) -> Any:
        if name in ("add", "get", "remove", "remove_subject", "list_subject", "purge_expired",
                    "close"):  # fmt: skip
            return getattr(self.inner, name)
        raise AttributeError(name)


def test_a_store_without_refresh_serves_with_refresh_off_and_is_refused_with_it_on() -> None:
    """Refresh off: an old store works as before. On: a ConfigurationError names what it lacks."""
    users = MemoryUserRegistry()
    auth = TokenAuth(keys=KEYS, store=_OldStore(), users=users, hasher=ts.fast_hasher())
    auth.add_user("alice", "correct horse")
    assert isinstance(auth.login(basic("alice", "correct horse"), secure=True), Granted)
    assert auth.revoke_subject("alice") == 1
    with pytest.raises(ConfigurationError, match="start_session, get_refresh, rotate_refresh"):
        TokenAuth(keys=KEYS, store=_OldStore(), refresh_ttl=600)
    with pytest.raises(ConfigurationError, match="refresh_ttl"):
        TokenAuth(keys=KEYS, store=MemoryStore(), refresh_ttl=10)
    with pytest.raises(ConfigurationError, match="session_lifetime needs refresh"):
        TokenAuth(keys=KEYS, store=MemoryStore(), session_lifetime=3600)


def test_the_async_front_door_gives_the_same_answers() -> None:
    """One flow serves both front doors: the same bodies, byte for byte, but the tokens."""

    async def run() -> list[int]:
        auth = AsyncTokenAuth(
            keys=KEYS, store=AsyncMemoryStore(), users=MemoryUserRegistry(),
            hasher=ts.fast_hasher(), refresh_ttl=True,
        )  # fmt: skip
        await auth.add_user("alice", "correct horse")
        granted = await auth.login(basic("alice", "correct horse"), secure=True)
        assert isinstance(granted, Granted)
        assert granted.refresh_token
        body = form(granted.refresh_token)
        fresh = await auth.refresh(HTTPS, body=body, content_type=FORM_CONTENT_TYPE)
        reused = await auth.refresh(HTTPS, body=body, content_type=FORM_CONTENT_TYPE)
        assert isinstance(reused, InvalidGrant)
        assert reused.body == InvalidGrant.make(Reason.UNKNOWN_REFRESH_TOKEN).body
        return [fresh.status, reused.status]

    import asyncio

    assert asyncio.run(run()) == [200, 400]


def test_purge_removes_expired_refresh_tokens(door: Door) -> None:
    """purge_expired purges expired refresh tokens too."""
    granted = door.login()
    assert granted.refresh_token
    door.clock.advance(601)
    door.auth.purge_expired()
    result = door.refresh(granted.refresh_token)
    assert isinstance(result, InvalidGrant)
    assert result.reason is Reason.UNKNOWN_REFRESH_TOKEN


# -- the token-request parser ------------------------------------------------------------

TOKEN = "tkr_" + "a" * 22 + "." + "b" * 43


def error_of(result: RefreshGrant | BadRequest) -> str:
    assert isinstance(result, BadRequest), result
    assert result.status == 400
    return result.error


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        (form(TOKEN), "application/json", "invalid_request"),
        (form(TOKEN), None, "invalid_request"),
        (form(TOKEN) + b"&grant_type=refresh_token", FORM_CONTENT_TYPE, "invalid_request"),
        (form(TOKEN) + b"&refresh_token=x", FORM_CONTENT_TYPE, "invalid_request"),
        (b"grant_type=refresh_token", FORM_CONTENT_TYPE, "invalid_request"),
        (b"refresh_token=x", FORM_CONTENT_TYPE, "invalid_request"),
        (b"grant_type=password&username=a", FORM_CONTENT_TYPE, "unsupported_grant_type"),
        (b"grant_type=refresh_token&refresh_token=%zz", FORM_CONTENT_TYPE, "invalid_request"),
        (b"grant_type=refresh_token&refresh_token=%ff", FORM_CONTENT_TYPE, "invalid_request"),
        (b"grant_type=refresh_token&refresh_token", FORM_CONTENT_TYPE, "invalid_request"),
        ("grant_type=refresh_token&refresh_token=é".encode(), FORM_CONTENT_TYPE, "invalid_request"),
        (form(TOKEN, scope='a"b'), FORM_CONTENT_TYPE, "invalid_scope"),
        (form(TOKEN) + b"&pad=" + b"x" * MAX_FORM_BODY, FORM_CONTENT_TYPE, "invalid_request"),
    ],
)
def test_malformed_token_requests(body: bytes, content_type: str | None, error: str) -> None:
    """Each malformed request is a 400 with its RFC 6749 section 5.2 error code."""
    assert error_of(parse_token_form(body, content_type)) == error


def test_a_well_formed_request_parses() -> None:
    """Parameters in any order, a charset parameter, unknown parameters ignored, + as space."""
    ct = "Application/X-WWW-Form-Urlencoded; charset=UTF-8"
    body = f"scope=read+write&client_id=x&refresh_token={TOKEN}&grant_type=refresh_token&&"
    parsed = parse_token_form(body.encode(), ct)
    assert parsed == RefreshGrant(TOKEN, ("read", "write"))
    assert TOKEN not in repr(parsed)


_VALUES = st.text(st.characters(codec="utf-8"), max_size=40)


@given(
    fields=st.dictionaries(
        st.sampled_from(["grant_type", "refresh_token", "scope", "client_id", "x"]),
        _VALUES,
        max_size=5,
    )
)
def test_parser_agrees_with_a_plain_model(fields: dict[str, str]) -> None:
    """Any encoded set of distinct fields: the parser's verdict follows from the fields alone."""
    body = "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in fields.items()).encode()
    result = parse_token_form(body, FORM_CONTENT_TYPE)
    if len(body) > MAX_FORM_BODY or not fields.get("grant_type"):
        assert error_of(result) == "invalid_request"
    elif fields["grant_type"] != "refresh_token":
        assert error_of(result) == "unsupported_grant_type"
    elif not fields.get("refresh_token"):
        assert error_of(result) == "invalid_request"
    elif isinstance(result, BadRequest):
        assert result.error == "invalid_scope"
        assert "scope" in fields
    else:
        assert result.refresh_token == fields["refresh_token"]
        if "scope" not in fields:
            assert result.scope is None


@given(body=st.binary(max_size=MAX_FORM_BODY + 64), content_type=st.none() | st.text(max_size=60))
def test_parser_never_raises(body: bytes, content_type: str | None) -> None:
    """Any bytes and any content type: a grant or a 400, never an exception."""
    result = parse_token_form(body, content_type)
    assert isinstance(result, RefreshGrant | BadRequest)
    if isinstance(result, BadRequest):
        assert result.status == 400
        assert result.error in ("invalid_request", "unsupported_grant_type", "invalid_scope")


@given(st.lists(st.sampled_from(["grant_type", "refresh_token", "scope"]), min_size=2))
def test_any_repeated_parameter_is_refused(names: list[str]) -> None:
    """A parameter sent twice (RFC 6749 section 3.2) is invalid_request, whichever it is."""
    if len(set(names)) == len(names):
        names.append(names[0])
    body = "&".join(f"{n}=refresh_token" for n in names).encode()
    assert error_of(parse_token_form(body, FORM_CONTENT_TYPE)) == "invalid_request"


def test_refresh_tokens_are_redacted_from_logs() -> None:
    """A refresh token in a log line (a form body, a URL) is redacted."""
    from tokenauth import redact

    assert TOKEN not in redact(f"body grant_type=refresh_token&refresh_token={TOKEN}")
    assert "tkr_" not in redact(f"GET /x?refresh_token={TOKEN}")


def test_revoke_sessions_ends_refresh_sessions_only(door: Door) -> None:
    """revoke_sessions: the sessions' refresh and access tokens go; other tokens stay."""
    granted = door.login()
    assert granted.refresh_token
    from tokenauth.testing import login as test_login

    plain = test_login(door.auth, "alice")
    assert door.auth.revoke_sessions("alice") == 1
    assert isinstance(door.refresh(granted.refresh_token), InvalidGrant)
    assert not door.valid(granted.token)
    assert door.valid(plain)
    assert door.auth.revoke_sessions("alice") == 0
    assert TokenAuth(keys=KEYS, store=_OldStore()).revoke_sessions("alice") == 0


def test_no_access_token_outlives_its_session() -> None:
    """Near the session's end a refreshed access token ends with it; expires_in says so."""
    door = Door(refresh_ttl=600, session_lifetime=700, ttl=300)
    granted = door.login()
    assert granted.refresh_token
    door.clock.advance(550)
    fresh = door.refresh(granted.refresh_token)
    assert isinstance(fresh, Granted)
    ends = granted.claims.iat + 700
    assert fresh.claims.exp == ends
    assert json.loads(fresh.body)["expires_in"] == ends - int(door.clock())
    short = Door(refresh_ttl=60, session_lifetime=60, ttl=300).login()
    assert short.claims.exp == short.claims.iat + 60
    assert short.expires_in == 60
