"""What a store failure means and what to do about it: the health probe and the outage log.

A store or registry that fails makes the flows answer 503 (fail closed). The
operator needs the adapter's own message, which names the fix ("the tokenauth
tables are missing ...; create them with: tokenauth db init --store URL"), once
per cause rather than once per request. :func:`health_flow` asks the store and
the registries one cheap question each, so a server can report its state
(``/health``) and refuse to start when the store is not set up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson

from ._drivers import Call, Flow
from ._errors import StoreError, StoreUnreachableError
from ._events import redact

__all__ = ["Health", "OutageLog", "describe", "health_flow", "say"]

_log = logging.getLogger("tokenauth")

#: Names no real record has: the probe only asks, it never finds or writes anything.
PROBE = "tokenauth-health-probe"
#: Seconds before the same cause of an outage is logged again.
RELOG_AFTER = 60
#: Distinct causes remembered at most; a flood of new ones is still logged, never stored.
MAX_CAUSES = 64
_JSON = ("Content-Type", "application/json")
_NO_STORE = ("Cache-Control", "no-store")


@dataclass(frozen=True, slots=True)
class Health:
    """The state of a front door's token store and registries.

    Attributes:
        ok: Every store and registry answered.
        reachable: False when the service did not answer (it may come back by
            itself); True when it answered, even with an error, since then
            waiting will not help and the ``detail`` says what to fix.
        detail: Why it is not ok, naming the fix; for logs and operators, never
            sent to clients.
    """

    ok: bool
    reachable: bool = True
    detail: str | None = None

    @property
    def status(self) -> int:
        """200 when ok, else 503."""
        return 200 if self.ok else 503

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """JSON, never cached."""
        return (_JSON, _NO_STORE)

    @property
    def body(self) -> bytes:
        """``{"status": "ok"}`` or ``{"status": "unavailable"}``: no detail for clients."""
        return orjson.dumps({"status": "ok" if self.ok else "unavailable"})


def describe(exc: BaseException) -> str:
    """The actionable text of a store failure, redacted; never a token or a parameter."""
    text = str(exc).strip()
    if isinstance(exc, StoreError):
        message = text or type(exc).__name__
    else:  # OSError and the like, from a store that does not wrap its driver's errors
        message = f"the token store did not answer ({type(exc).__name__}: {text})"
    if isinstance(exc, StoreUnreachableError | OSError) and "check that" not in message:
        message += "; check that the service is running and reachable from this host"
    return redact(message)


def health_flow(store: Any, users: Any, api_keys: Any) -> Flow[Health]:
    """Ask the store and each registry one question; how that went, as :class:`Health`."""
    try:
        yield Call(store.get, (PROBE,))
        if users is not None and hasattr(users, "get_user"):
            yield Call(users.get_user, (PROBE,))
        if api_keys is not None and hasattr(api_keys, "get_key"):
            yield Call(api_keys.get_key, (PROBE,))
    except (StoreError, OSError) as exc:
        unreachable = isinstance(exc, StoreUnreachableError | OSError)
        return Health(False, reachable=not unreachable, detail=describe(exc))
    return Health(True)


def say(level: int, message: str) -> None:
    """Log on ``tokenauth``; if nothing would show it, on standard error all the same.

    The library's own NullHandler keeps an unconfigured ``tokenauth`` logger
    quiet, and an operator would then never see why every request gets 503.
    """
    if _heard(_log):
        _log.log(level, "%s", message)
    elif level >= logging.WARNING:
        record = _log.makeRecord(_log.name, level, __file__, 0, "%s", (message,), None)
        if logging.lastResort is not None:
            logging.lastResort.handle(record)


def _heard(logger: logging.Logger) -> bool:
    current: logging.Logger | None = logger
    while current is not None:
        if any(not isinstance(h, logging.NullHandler) for h in current.handlers):
            return True
        current = current.parent if current.propagate else None
    return False


class OutageLog:
    """Logs each distinct cause of an outage once, then again only after a quiet minute."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    def report(self, detail: str, now: int) -> None:
        """Log ``detail`` unless the same cause was logged less than a minute ago."""
        last = self._last.get(detail)
        if last is not None and now - last < RELOG_AFTER:
            return
        if len(self._last) >= MAX_CAUSES:
            self._last.clear()
        self._last[detail] = now
        say(logging.ERROR, f"token store or registry unavailable: {detail}")
