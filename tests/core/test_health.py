"""Store failures that say what to do: logged once per cause, carried by the event, reported
by health(), and a store that is not set up stops start-up with its fix."""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import pytest

from tokenauth import (
    AsyncMemoryStore,
    AsyncTokenAuth,
    ConfigurationError,
    KeySet,
    MemoryStore,
    MemoryUserRegistry,
    SecurityEvent,
    StoreError,
    StoreUnreachableError,
    TokenAuth,
)
from tokenauth._health import say
from tokenauth.testing import FrozenClock
from tokenauth.testing import strategies as ts

KEYS = KeySet.generate("ES256")
MISSING = (
    "reading a token: the tokenauth tables are missing (OperationalError); "
    "create them with: tokenauth db init --store URL"
)
BASIC = "Basic " + base64.b64encode(b"alice:pw").decode()


class BrokenStore(MemoryStore):
    """Every call fails with the given error, as a store without its tables does."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def get(self, jti: str) -> Any:
        raise self.error

    def add(self, record: Any) -> None:
        raise self.error


class AsyncBrokenStore(AsyncMemoryStore):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    async def get(self, jti: str) -> Any:
        raise self.error


def _auth(error: Exception, events: list[SecurityEvent], clock: FrozenClock) -> TokenAuth:
    users = MemoryUserRegistry()
    auth = TokenAuth(
        keys=KEYS,
        store=BrokenStore(error),
        users=users,
        hasher=ts.fast_hasher(),
        clock=clock,
        on_event=events.append,
    )
    auth.add_user("alice", "pw")
    return auth


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tokenauth"]


def test_the_cause_is_logged_once_per_minute_and_carried_by_the_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events: list[SecurityEvent] = []
    clock = FrozenClock(1_700_000_000)
    auth = _auth(StoreError(MISSING), events, clock)
    caplog.set_level(logging.ERROR, logger="tokenauth")
    for _ in range(5):
        assert auth.login(BASIC, secure=True).status == 503
    assert _errors(caplog) == [f"token store or registry unavailable: {MISSING}"]
    outages = [e for e in events if e.kind.value == "store_unavailable"]
    assert len(outages) == 5
    assert all(e.detail == MISSING for e in outages)
    clock.advance(61)
    auth.login(BASIC, secure=True)
    assert len(_errors(caplog)) == 2, "the same cause is logged again after a quiet minute"
    auth.store = BrokenStore(StoreUnreachableError("reading a token: Redis did not answer"))
    auth.login(BASIC, secure=True)
    assert len(_errors(caplog)) == 3, "a new cause is logged at once"


def test_a_secret_in_the_cause_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    events: list[SecurityEvent] = []
    token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"
    auth = _auth(StoreError(f"failed on {token}"), events, FrozenClock(1_700_000_000))
    caplog.set_level(logging.ERROR, logger="tokenauth")
    auth.login(BASIC, secure=True)
    assert token not in " ".join(_errors(caplog))
    assert all(token not in (e.detail or "") for e in events)


def test_check_raises_for_a_store_that_answered_but_is_not_set_up() -> None:
    auth = _auth(StoreError(MISSING), [], FrozenClock(1_700_000_000))
    health = auth.health()
    assert (health.ok, health.reachable, health.status) == (False, True, 503)
    assert health.body == b'{"status":"unavailable"}', "the cause is never sent to clients"
    with pytest.raises(ConfigurationError, match="tokenauth db init --store URL"):
        auth.check()


def test_check_only_logs_a_store_that_does_not_answer(caplog: pytest.LogCaptureFixture) -> None:
    auth = _auth(StoreUnreachableError("Redis did not answer"), [], FrozenClock(1_700_000_000))
    caplog.set_level(logging.ERROR, logger="tokenauth")
    health = auth.check()  # it may come up later: starting is allowed
    assert (health.ok, health.reachable) == (False, False)
    assert "check that the service is running" in (health.detail or "")
    assert len(_errors(caplog)) == 1


def test_a_healthy_store() -> None:
    auth = TokenAuth(keys=KEYS, store=MemoryStore(), users=MemoryUserRegistry())
    health = auth.check()
    assert (health.ok, health.status, health.body) == (True, 200, b'{"status":"ok"}')


def test_the_async_front_door_checks_the_same_way() -> None:
    auth = AsyncTokenAuth(keys=KEYS, store=AsyncBrokenStore(StoreError(MISSING)))
    with pytest.raises(ConfigurationError, match="tables are missing"):
        asyncio.run(auth.check())
    assert not asyncio.run(auth.health()).ok


def test_an_unconfigured_logger_still_reaches_standard_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no logging set up, tokenauth's NullHandler would swallow the cause."""
    logger = logging.getLogger("tokenauth")
    monkeypatch.setattr(logger, "propagate", False)
    say(logging.ERROR, "the store is down; start it")
    assert "the store is down; start it" in capsys.readouterr().err
