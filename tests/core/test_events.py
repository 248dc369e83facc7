"""Security events reach logging and the hook; no secret ever reaches a log line."""

from __future__ import annotations

import logging

import pytest

import tokenauth
from tokenauth import EventKind, RedactingFilter, redact

from .conftest import Setup, basic


def test_a_full_session_logs_events_without_secrets(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    """Login, use, expiry, refusals and HTTPS violations are logged; no token, password or key."""
    caplog.set_level(logging.DEBUG, logger="tokenauth")
    token = setup.login_token()
    api_login = setup.auth.login(basic(setup.api_key, ""), secure=True)
    setup.auth.login(basic("alice", "wrong-password"), secure=True)
    # A wrong key: its last character changed (to one the key does not end with).
    wrong_key = setup.api_key[:-1] + ("x" if setup.api_key[-1] != "x" else "y")
    setup.auth.login(basic(wrong_key, ""), secure=True)
    setup.auth.authenticate(f"Bearer {token}", secure=True)
    setup.auth.authenticate(None, query=f"token={token}", secure=False)
    setup.clock.advance(4000)
    setup.auth.authenticate(f"Bearer {api_login.token}", secure=True)  # type: ignore[union-attr]
    text = "\n".join(r.getMessage() + repr(getattr(r, "tokenauth", "")) for r in caplog.records)
    for secret in (token, api_login.token, setup.api_key, "correct horse", "wrong-password"):  # type: ignore[union-attr]
        assert secret not in text
    assert setup.api_key[:-1] not in text
    kinds = [e.kind for e in setup.events]
    for kind in (
        EventKind.LOGIN_GRANTED, EventKind.TOKEN_ISSUED, EventKind.LOGIN_REFUSED,
        EventKind.HTTPS_VIOLATION, EventKind.TOKEN_REVOKED, EventKind.TOKEN_EXPIRED_REMOVED,
    ):  # fmt: skip
        assert kind in kinds, kind
    refused = [e for e in setup.events if e.kind is EventKind.LOGIN_REFUSED]
    assert refused[0].subject == "alice"
    assert refused[1].subject is None  # an API key is never named
    fields = [getattr(r, "tokenauth", None) for r in caplog.records if r.name == "tokenauth.audit"]
    assert all(isinstance(f, dict) and "kind" in f for f in fields)


def test_failing_hook_is_logged_not_raised(setup: Setup, caplog: pytest.LogCaptureFixture) -> None:
    """A broken audit hook does not break authentication."""

    def broken(event: tokenauth.SecurityEvent) -> None:
        raise RuntimeError("hook down")

    setup.auth.on_event = broken
    setup.login_token()
    assert any("hook failed" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ('GET /me?token=abc.def.ghi&x=1 HTTP/1.1" 200', "abc.def.ghi"),
        ("GET /me?a=1&TOKEN=secret123 HTTP/1.1", "secret123"),
        ("Authorization: Bearer abcdef123456", "abcdef123456"),
        ("Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "QWxhZGRpbjpvcGVuIHNlc2FtZQ"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl seen", "eyJzdWIiOiJhIn0"),
        ("key tka_abcdefghijklmnopqrstuvwxyz0123456789AB leaked", "tka_abcdefghijklmnop"),
    ],
)
def test_redact(line: str, secret: str) -> None:
    """Query tokens, Authorization values, JWTs and API keys are redacted."""
    cleaned = redact(line)
    assert secret not in cleaned
    assert "[REDACTED]" in cleaned


def test_filter_keeps_args_shape_for_access_loggers() -> None:
    """Args stay a tuple (uvicorn's access formatter reads them) with secrets redacted."""
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/me?token=eyJhbGciOi.eyJzdWIi.sig", "1.1", 200), None,
    )  # fmt: skip
    assert RedactingFilter().filter(record)
    assert isinstance(record.args, tuple)
    assert "eyJzdWIi" not in record.getMessage()
    assert "/me?token=[REDACTED]" in record.getMessage()


def test_filter_catches_secrets_split_between_message_and_args() -> None:
    """A secret only visible once message and args are joined is still redacted."""
    record = logging.LogRecord(
        "app", logging.INFO, __file__, 1, "GET /me?token=%s", ("opaque-secret-value",), None
    )
    RedactingFilter().filter(record)
    assert "opaque-secret-value" not in record.getMessage()


class _SafeAtoms(dict[str, object]):
    """Like gunicorn's access-log atoms: missing keys read as "-"."""

    def __getitem__(self, key: str) -> object:
        return super().get(key, "-")


def test_filter_keeps_mapping_args_type() -> None:
    """Mapping args keep their own type, so formats with missing keys still work."""
    atoms = _SafeAtoms({"r": "GET /me?token=eyJhbGciOi.eyJzdWIi.sig HTTP/1.1", "s": "200"})
    record = logging.LogRecord(
        "gunicorn.access", logging.INFO, __file__, 1, "%(r)s %(s)s %({x-missing}i)s", None, None
    )
    record.args = atoms
    assert RedactingFilter().filter(record)
    assert isinstance(record.args, _SafeAtoms)
    assert record.getMessage() == "GET /me?token=[REDACTED] HTTP/1.1 200 -"


def test_filter_redacts_tracebacks() -> None:
    """A token quoted in an exception message is redacted from the logged traceback."""
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz"
    try:
        raise ValueError(f"could not parse {token}")
    except ValueError:
        record = logging.LogRecord(
            "app", logging.ERROR, __file__, 1, "failed", None, __import__("sys").exc_info()
        )
    record.stack_info = f"Stack (most recent call last):\n  handle({token!r})"
    RedactingFilter().filter(record)
    formatted = logging.Formatter().format(record)
    assert token not in formatted
    assert "could not parse [REDACTED]" in formatted


def test_events_are_built_only_for_someone_who_hears_them(
    setup: Setup, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No hook and the audit log off: a login builds no event; either one on: it does."""
    built: list[EventKind] = []
    original = tokenauth.SecurityEvent.__post_init__

    def counting(event: tokenauth.SecurityEvent) -> None:
        built.append(event.kind)
        original(event)

    monkeypatch.setattr(tokenauth.SecurityEvent, "__post_init__", counting)
    caplog.set_level(logging.WARNING, logger="tokenauth.audit")
    setup.auth.on_event = None
    setup.login_token()
    assert built == []
    caplog.set_level(logging.INFO, logger="tokenauth.audit")
    setup.login_token()
    assert EventKind.LOGIN_GRANTED in built
    assert any(getattr(r, "tokenauth", {}).get("kind") == "login_granted" for r in caplog.records)
    built.clear()
    caplog.set_level(logging.WARNING, logger="tokenauth.audit")
    heard: list[tokenauth.SecurityEvent] = []
    setup.auth.on_event = heard.append
    setup.login_token()
    assert EventKind.LOGIN_GRANTED in built
    assert [e.kind for e in heard] == built
