"""Redaction: no event, log record or message ever holds a credential.

The guarantee (docs/security.md, "What never reaches a log"): whatever a client
sends, wherever it puts it, no :class:`~tokenauth.SecurityEvent` field, no
attribute of a ``tokenauth`` log record and no exception message holds a string
shaped like an API key or a token. RFC 6750 section 5.3 ("Don't store bearer
tokens in ... logs") and RFC 8725 section 3.10's advice on logging apply.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenauth import EventKind, RedactingFilter, _events, generate_api_key, redact

from .conftest import PEPPER, PROXY, Deployment, Recorder, basic, deploy

#: What "looks like a credential" means to this test, written independently of
#: the product's own patterns: an API key's prefix and body, or the first two
#: parts of a JWS, with plain or percent-encoded dots.
LOOKS_SECRET = re.compile(
    r"tka_[A-Za-z0-9]{12,}|eyJ[A-Za-z0-9_-]{4,}(?:\.|%2[Ee])[A-Za-z0-9_-]{4,}"
)

SECRET_KINDS = ("api_key", "api_key_typo", "foreign_api_key", "token", "tampered_token")
LOGIN_PLACES = (
    "key_as_username_no_password", "key_as_username_with_password", "as_password",
    "glued_to_username", "bearer_at_login", "raw_header", "basic_unencoded",
)  # fmt: skip
REQUEST_PLACES = (
    "bearer", "bearer_junk", "bearer_comma", "two_headers", "basic_username", "query",
    "query_encoded_name", "query_repeated", "header_and_query", "raw_header",
)  # fmt: skip


def _secret(world: Deployment, kind: str) -> str:
    if kind == "api_key":
        return world.api_key
    if kind == "api_key_typo":
        return world.api_key[:-1] + ("x" if world.api_key[-1] != "x" else "y")
    if kind == "foreign_api_key":
        return generate_api_key(subject="x", name="", pepper=PEPPER, now=0)[0]
    token = world.token()
    if kind == "tampered_token":
        return token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    return token


def _login_header(place: str, secret: str) -> str:
    return {
        "key_as_username_no_password": basic(secret, ""),
        "key_as_username_with_password": basic(secret, "x"),
        "as_password": basic("alice", secret),
        "glued_to_username": basic("me" + secret, "pw"),
        "bearer_at_login": f"Bearer {secret}",
        "raw_header": secret,
        "basic_unencoded": f"Basic {secret}:x",
    }[place]


def _request(place: str, secret: str) -> tuple[str | None, str | None]:
    encoded = secret.replace(".", "%2E")
    return {
        "bearer": (f"Bearer {secret}", None),
        "bearer_junk": (f"Bearer {secret} junk", None),
        "bearer_comma": (f"Bearer {secret},", None),
        "two_headers": (f"Bearer {secret}, Bearer {secret}", None),
        "basic_username": (basic(secret, "x"), None),
        "query": (None, f"token={secret}"),
        "query_encoded_name": (None, f"tok%65n={encoded}"),
        "query_repeated": (None, f"token={secret}&token={secret}"),
        "header_and_query": (f"Bearer {secret}", f"token={secret}"),
        "raw_header": (secret, None),
    }[place]


def _texts(value: Any) -> Iterator[str]:
    """Every string inside ``value`` (records' attributes, event fields, nested containers)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _texts(key)
            yield from _texts(item)
    elif isinstance(value, list | tuple | set):
        for item in value:
            yield from _texts(item)
    elif value is not None and not isinstance(value, int | float | bool):
        yield repr(value)


def _record_texts(record: logging.LogRecord) -> Iterator[str]:
    yield record.getMessage()
    if record.exc_info:
        yield logging.Formatter().formatException(record.exc_info)
    yield from _texts({k: v for k, v in vars(record).items() if k not in ("exc_info", "args")})
    yield from _texts(record.args)


def _assert_clean(world: Deployment, recorder: Recorder, secret: str, errors: list[str]) -> None:
    texts = [*errors]
    for event in world.events:
        texts.extend(_texts(event.fields()))
        texts.append(repr(event))
    for record in recorder.records:
        texts.extend(_record_texts(record))
    for text in texts:
        assert secret not in text, text
        assert not LOOKS_SECRET.search(text), text


def _run(world: Deployment, asynchronous: bool, method: str, *args: Any, **kwargs: Any) -> None:
    door: Any = world.async_auth if asynchronous else world.auth
    outcome = getattr(door, method)(*args, **kwargs)
    if asynchronous:
        asyncio.run(outcome)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(SECRET_KINDS),
    flow=st.sampled_from(("login", "request", "logout")),
    login_place=st.sampled_from(LOGIN_PLACES),
    request_place=st.sampled_from(REQUEST_PLACES),
    secure=st.booleans(),
    proxied=st.sampled_from((None, "https", "http")),
    asynchronous=st.booleans(),
)
def test_no_credential_reaches_an_event_a_record_or_a_message(
    kind: str,
    flow: str,
    login_place: str,
    request_place: str,
    secure: bool,
    proxied: str | None,
    asynchronous: bool,
) -> None:
    """Keys and tokens, valid or not, sent anywhere a client can put them, are never echoed."""
    world = deploy()
    secret = _secret(world, kind)
    world.events.clear()
    recorder = Recorder()
    logger = logging.getLogger("tokenauth")
    logger.addHandler(recorder)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    errors: list[str] = []
    # A client may put the secret in any header the core reads, the User-Agent too.
    transport: dict[str, Any] = {
        "secure": secure, "client": "192.0.2.7", "user_agent": f"curl/8.5 {secret}",
    }  # fmt: skip
    if proxied is not None:
        transport.update(client=PROXY, forwarded_proto=proxied)
    try:
        if flow == "login":
            _run(world, asynchronous, "login", _login_header(login_place, secret), **transport)
        elif flow == "request":
            header, query = _request(request_place, secret)
            _run(world, asynchronous, "authenticate", header, query=query, **transport)
        else:
            _run(world, asynchronous, "logout", secret)
    except Exception as exc:  # pragma: no cover - a client's input never raises
        errors.append(f"{type(exc).__name__}: {exc}")
        raise
    finally:
        logger.removeHandler(recorder)
        logger.setLevel(old_level)
        _assert_clean(world, recorder, secret, errors)


def test_an_api_key_sent_with_a_password_is_not_the_refused_subject(
    world: Deployment, recorder: Recorder
) -> None:
    """``curl -u "$KEY:x"``: the login_refused event names no key, in any of its forms."""
    result = world.auth.login(basic(world.api_key, "x"), secure=True)
    assert result.status == 401
    refused = [e for e in world.events if e.kind is EventKind.LOGIN_REFUSED]
    assert refused
    assert refused[-1].subject != world.api_key
    assert world.api_key not in repr(refused[-1].fields())
    audit = [r for r in recorder.records if r.name == "tokenauth.audit"]
    assert audit
    assert world.api_key not in repr(vars(audit[-1]))


def test_a_token_typed_as_a_username_is_not_the_refused_subject(world: Deployment) -> None:
    """A token pasted into the username field is redacted from the event too."""
    token = world.token()
    world.auth.login(basic(token, "pw"), secure=True)
    refused = [e for e in world.events if e.kind is EventKind.LOGIN_REFUSED]
    assert refused[-1].subject is not None
    assert token not in refused[-1].subject
    assert "[REDACTED]" in refused[-1].subject


def test_an_ordinary_refused_username_is_kept(world: Deployment) -> None:
    """Redaction leaves usernames alone: the audit trail still says who failed."""
    world.auth.login(basic("bob", "nope"), secure=True)
    assert world.events[-1].subject == "bob"


# -- the log filter: one reading of the query (see tokenauth._query) -----------------------

TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz"


def test_redact_reads_percent_encoded_names_and_dots() -> None:
    """``?tok%65n=`` with ``%2E`` for the dots is the token parameter: its value goes."""
    encoded = TOKEN.replace(".", "%2E")
    line = f'"GET /me?x=1&tok%65n={encoded}&y=2 HTTP/1.1" 200'
    cleaned = redact(line)
    assert encoded not in cleaned
    assert "c2lnbmF0dXJl" not in cleaned
    assert "x=1" in cleaned
    assert "y=2" in cleaned


def test_redact_reads_a_fully_encoded_name() -> None:
    """Every letter of the name may be escaped; the value still goes."""
    cleaned = redact("/me?%74%6F%6B%65%6E=opaque-secret-value")
    assert "opaque-secret-value" not in cleaned


def test_redact_leaves_other_parameters() -> None:
    """Parameters whose names do not read as ``token`` are not touched."""
    line = "/search?q=tokens&tokenish=1&page=2"
    assert redact(line) == line


def test_filter_redacts_structured_attributes() -> None:
    """A JSON formatter reads extra attributes: the filter cleans those as well."""
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "seen", None, None)
    extra = {"request": {"url": f"/me?token={TOKEN}", "who": "alice"}, "header": f"Bearer {TOKEN}"}
    record.__dict__.update(extra)
    assert RedactingFilter().filter(record)
    assert TOKEN not in repr(vars(record))
    assert record.__dict__["request"]["who"] == "alice"


def _redact_every_pattern(text: str) -> str:
    """``redact`` without its first search: every pattern applied to every text."""
    if "=" in text:
        text = _events._QUERY_PARAMETER.sub(_events._redact_parameter, text)
    for pattern, replacement in _events._PATTERNS:
        text = pattern.sub(replacement, text)
    return text


#: Texts built from the pieces the patterns look for, in any case and order.
_PIECES = st.sampled_from(
    ["=", "?", "&", ";", " ", "\t", ".", "%2E", "%2e", "eyJ", "EYJ", "tka_", "tkr_", "TKA_",
     "Bearer", "bEaReR", "basic", "BASIC", "token", "tok%65n", "a", "Z", "0", "-", "_", "/", "+"]
)  # fmt: skip


@given(st.lists(_PIECES | st.text(max_size=4), max_size=14).map("".join))
def test_redact_answers_as_every_pattern_would(text: str) -> None:
    assert redact(text) == _redact_every_pattern(text)
