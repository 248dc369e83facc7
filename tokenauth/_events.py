"""Security events for audit and alerting, and a logging filter that redacts tokens.

Every event goes to the ``tokenauth.audit`` logger with structured fields (in
``record.tokenauth``) and to an optional hook. No event carries a token, a
password or an API key: a field that looks like one, whatever the client sent
(an API key typed as a username with a password, a token pasted as one), is
redacted when the event is made, so the hook, the structured fields and the
message all see the redacted text.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from dataclasses import fields as dataclass_fields
from enum import Enum

from ._query import is_token_name
from ._results import Reason

__all__ = ["EventKind", "RedactingFilter", "SecurityEvent", "redact"]

audit_logger = logging.getLogger("tokenauth.audit")
# A library adds no handlers of its own, and keeps Python from printing its events
# through the last-resort handler when the application configured no logging.
logging.getLogger("tokenauth").addHandler(logging.NullHandler())


class EventKind(str, Enum):
    """What happened."""

    LOGIN_GRANTED = "login_granted"
    LOGIN_REFUSED = "login_refused"
    TOKEN_ISSUED = "token_issued"
    TOKEN_REFRESHED = "token_refreshed"
    REFRESH_REFUSED = "refresh_refused"
    SESSION_REVOKED = "session_revoked"
    TOKEN_REJECTED = "token_rejected"
    TOKEN_EXPIRED_REMOVED = "token_expired_removed"
    TOKEN_REVOKED = "token_revoked"
    SUBJECT_REVOKED = "subject_revoked"
    API_KEY_REVOKED = "api_key_revoked"
    HTTPS_VIOLATION = "https_violation"
    ACCESS_DENIED = "access_denied"
    STORE_UNAVAILABLE = "store_unavailable"


_LEVELS = {
    EventKind.LOGIN_GRANTED: logging.INFO,
    EventKind.TOKEN_ISSUED: logging.INFO,
    EventKind.TOKEN_REFRESHED: logging.INFO,
    EventKind.REFRESH_REFUSED: logging.WARNING,
    EventKind.SESSION_REVOKED: logging.WARNING,
    EventKind.TOKEN_EXPIRED_REMOVED: logging.INFO,
    EventKind.TOKEN_REVOKED: logging.INFO,
    EventKind.SUBJECT_REVOKED: logging.INFO,
    EventKind.API_KEY_REVOKED: logging.INFO,
    EventKind.LOGIN_REFUSED: logging.WARNING,
    EventKind.TOKEN_REJECTED: logging.WARNING,
    EventKind.HTTPS_VIOLATION: logging.WARNING,
    EventKind.ACCESS_DENIED: logging.WARNING,
    EventKind.STORE_UNAVAILABLE: logging.ERROR,
}


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """One security-relevant thing that happened.

    Attributes:
        kind: What happened.
        at: Unix time.
        subject: The user or key subject concerned, when known (never an API key).
        jti: The token id concerned (not a secret: it cannot be used as a token).
        api_key_id: The public id of the API key concerned.
        reason: Why, for refusals and rejections.
        client: The client's address, as the server saw it.
        count: How many tokens, for bulk revocations.
        detail: For store outages, what failed and how to fix it (the store
            adapter's message, redacted).
        session: The login session concerned, for refresh tokens (its public
            id: not a secret, it cannot be used as a token).
    """

    kind: EventKind
    at: int
    subject: str | None = None
    jti: str | None = None
    api_key_id: str | None = None
    reason: Reason | None = None
    client: str | None = None
    count: int | None = None
    detail: str | None = None
    session: str | None = None

    def __post_init__(self) -> None:
        # The text fields may come from the client (a refused username, a peer
        # address): whatever looks like a credential is redacted here, once, so
        # no consumer of the event can see it.
        for name in _TEXT_FIELDS:
            value = getattr(self, name)
            if value is not None:
                cleaned = redact(value)
                if cleaned is not value and cleaned != value:
                    object.__setattr__(self, name, cleaned)

    def fields(self) -> dict[str, str | int]:
        """The event as flat, JSON-ready fields, leaving out what is unset."""
        out: dict[str, str | int] = {}
        for name, value in asdict(self).items():
            if value is None:
                continue
            out[name] = value.value if isinstance(value, Enum) else value
        return out


#: Every text field of an event, present and future: each is redacted when the event is made.
_TEXT_FIELDS = tuple(f.name for f in dataclass_fields(SecurityEvent) if "str" in str(f.type))

EventHook = Callable[[SecurityEvent], None]


def heard(kind: EventKind, hook: EventHook | None) -> bool:
    """Whether an event of ``kind`` would reach anyone: ``hook``, or the audit log at its level.

    Checked before an event is built, so that a server nobody listens to pays
    nothing for its events (building one, with its redaction, costs about ten
    microseconds).
    """
    return hook is not None or audit_logger.isEnabledFor(_LEVELS[kind])


def emit(event: SecurityEvent, hook: EventHook | None) -> None:
    """Log ``event`` and pass it to ``hook``; a failing hook is logged, never raised."""
    level = _LEVELS[event.kind]
    if audit_logger.isEnabledFor(level):
        fields = event.fields()
        text = " ".join(
            f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in fields.items()
        )
        audit_logger.log(level, "%s", text, extra={"tokenauth": fields})
    if hook is not None:
        try:
            hook(event)
        except Exception:
            audit_logger.exception("the security event hook failed on %s", event.kind.value)


# A query parameter: its separator, its raw name and its raw value. Whether the
# name reads as "token" is decided by tokenauth._query, as extraction decides it.
_QUERY_PARAMETER = re.compile(r"(^|[?&;\s])([^=&\s?#\"';]*)=([^&\s\"';]*)")

_PATTERNS = (
    # Authorization header values.
    (re.compile(r"\b(Bearer|Basic)(\s+)[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE), r"\1\2[REDACTED]"),
    # Anything shaped like a JWS compact token, or its first two parts, with its
    # dots plain or percent-encoded.
    (
        re.compile(
            r"eyJ[A-Za-z0-9_-]{4,}(?:\.|%2[Ee])[A-Za-z0-9_-]+(?:(?:\.|%2[Ee])[A-Za-z0-9_-]*)?"
        ),
        "[REDACTED]",
    ),
    # Our API keys, also when something is glued in front of one.
    (re.compile(r"tka_[A-Za-z0-9]{20,}"), "[REDACTED]"),
    # Our refresh tokens: the session id and the secret after it.
    (re.compile(r"tkr_[A-Za-z0-9_-]{8,}(?:(?:\.|%2[Ee])[A-Za-z0-9_-]*)?"), "[REDACTED]"),
)


def _redact_parameter(match: re.Match[str]) -> str:
    if not is_token_name(match[2], ignore_case=True):
        return match[0]
    return f"{match[1]}{match[2]}=[REDACTED]"


def redact(text: str) -> str:
    """Replace tokens, credentials and API keys in ``text`` with ``[REDACTED]``.

    Redacted are: the value of every query parameter whose name reads as
    ``token`` once percent-decoded (``?tok%65n=`` too, in any case), the
    credentials of ``Bearer`` and ``Basic`` values, anything shaped like a JWT
    (also with ``%2E`` for its dots) and anything shaped like an API key or a
    refresh token.
    """
    if _MAY_HOLD_SECRET.search(text) is None:
        return text
    if "=" in text:
        text = _QUERY_PARAMETER.sub(_redact_parameter, text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


#: What every one of the patterns above needs somewhere in the text (a superset of
#: their matches): most texts (a username, an address, an id) have none of it, and
#: one search is then all their redaction costs.
_MAY_HOLD_SECRET = re.compile(r"=|eyJ|tk[ar]_|(?i:bearer|basic)\s")


#: What every LogRecord has; anything else came with ``extra=`` (or a filter).
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


def _redact_value(value: object) -> object:
    """``value`` with secrets redacted from its strings; the same object when none were."""
    if isinstance(value, str):
        cleaned = redact(value)
        return value if cleaned == value else cleaned
    if isinstance(value, dict):
        items = {k: _redact_value(v) for k, v in value.items()}
        return value if all(items[k] is v for k, v in value.items()) else items
    if isinstance(value, list | tuple):
        parts = [_redact_value(v) for v in value]
        if all(a is b for a, b in zip(parts, value, strict=True)):
            return value
        return parts if isinstance(value, list) else tuple(parts)
    return value


class RedactingFilter(logging.Filter):
    """A logging filter that redacts tokens and credentials from every record.

    Attach it to the handlers of access logs (uvicorn's, gunicorn's, your own)
    so that ``?token=`` URLs never reach a log file::

        handler.addFilter(RedactingFilter())
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record with secrets redacted; never drops a record.

        The format arguments are redacted one by one, so formatters that read
        ``record.args`` (uvicorn's access log does) keep working; if a secret
        only appears once message and arguments are joined, the joined message
        replaces both.
        """
        self._redact_traceback(record)
        self._redact_attributes(record)
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError):  # args that do not fit the format
            return True
        cleaned = redact(message)
        if cleaned == message:
            return True
        args = record.args
        redacted_args: tuple[object, ...] | dict[str, object] | None = None
        if isinstance(args, tuple):
            redacted_args = tuple(redact(a) if isinstance(a, str) else a for a in args)
        elif isinstance(args, dict):
            # Keep the mapping's own type: gunicorn's access log uses a dict subclass
            # that answers "-" for missing keys.
            redacted_args = copy.copy(args)
            for key, value in args.items():
                if isinstance(value, str):
                    redacted_args[key] = redact(value)
        if redacted_args:
            try:
                candidate = str(record.msg) % redacted_args
            except (TypeError, ValueError, KeyError):
                candidate = None
            if candidate is not None and redact(candidate) == candidate:
                record.args = redacted_args
                return True
        record.msg = cleaned
        record.args = None
        return True

    @staticmethod
    def _redact_attributes(record: logging.LogRecord) -> None:
        # Attributes added with ``extra=`` reach JSON formatters as they are.
        for name in record.__dict__.keys() - _RECORD_ATTRIBUTES:
            value = record.__dict__[name]
            cleaned = _redact_value(value)
            if cleaned is not value:
                record.__dict__[name] = cleaned

    @staticmethod
    def _redact_traceback(record: logging.LogRecord) -> None:
        # An exception's message may quote a token: format the traceback now, so
        # formatters use this redacted text instead of formatting it again.
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
