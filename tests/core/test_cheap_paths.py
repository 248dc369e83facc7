"""The cheaper constructions and memos of the request path give exactly what the plain ones give."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import inspect
import ipaddress
import pickle
import types
import weakref
from typing import Any

import argon2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenauth import (
    AsyncMemoryStore,
    AsyncTokenAuth,
    Authenticated,
    Claims,
    ConfigurationError,
    JSONObject,
    JWTValidator,
    KeySet,
    MemoryStore,
    Principal,
    TokenAuth,
    TokenRejected,
)
from tokenauth._claims import principal_of
from tokenauth._drivers import awaitable, call_of
from tokenauth._frontdoor import _default_hash_slots
from tokenauth._http import _B64TOKEN, _is_b64token, extract_bearer
from tokenauth._jwt import _numeric_date, _text
from tokenauth._results import Reason, authenticated_of
from tokenauth._store import MAX_JTI_LENGTH, MAX_SUBJECT_LENGTH, TokenRecord
from tokenauth.extend import (
    Call,
    TrustedProxies,
)

texts = st.text(max_size=8)
scopes = st.lists(st.text(min_size=1, max_size=5), max_size=3).map(tuple)
dates = st.integers(min_value=0, max_value=2**40)


def _same(built: Any, plain: Any) -> None:
    assert type(built) is type(plain)
    assert built == plain
    assert hash(built) == hash(plain)
    assert repr(built) == repr(plain)
    assert pickle.loads(pickle.dumps(built)) == plain  # noqa: S301 - our own bytes
    assert copy.copy(built) == plain
    first = dataclasses.fields(plain)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(built, first, None)


ascii_texts = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=8
)
words = st.lists(st.text(alphabet="abc:", min_size=1, max_size=4), min_size=1, max_size=3)


@given(
    ascii_texts, ascii_texts, st.integers(0, 2**33), st.integers(10, 2**20), st.none() | texts,
    st.none() | words, st.none() | st.integers(0, 100),
)  # fmt: skip
def test_the_validator_builds_what_claims_builds(
    sub: str, jti: str, iat: int, life: int, iss: str | None, scope: Any, before: int | None
) -> None:
    """The validator builds its Claims as a draft turned into the frozen class: the
    result is an ordinary Claims in every way a caller can look at."""
    issuer = iss or "tokenauth"
    payload: dict[str, Any] = {
        "sub": sub, "jti": jti, "iat": iat, "exp": iat + life, "iss": issuer, "aud": "api",
        "client_id": "cli",
    }  # fmt: skip
    nbf = None if before is None else max(0, iat - before)
    for name, value in (("scope", scope and " ".join(scope)), ("nbf", nbf)):
        if value is not None:
            payload[name] = value
    validator = JWTValidator(
        KeySet.generate("HS256"), issuer=issuer, audience="api", max_lifetime=2**21
    )
    built = validator._check_claims(payload, now=iat)
    assert isinstance(built, Claims)
    plain = Claims(sub, jti, iat, iat + life, issuer, ("api",), tuple(scope or ()), nbf, "cli")
    _same(built, plain)
    match built:
        case Claims(sub=matched_sub, jti=matched_jti):
            assert (matched_sub, matched_jti) == (sub, jti)
    assert built.to_json() == plain.to_json()


@given(texts, st.sampled_from(["password", "api_key"]), st.none() | texts, scopes, texts)
def test_principal_and_authenticated_builders(
    subject: str, method: Any, key_id: str | None, scope: Any, token: str
) -> None:
    extra = JSONObject({"tenant": subject})
    principal = principal_of(subject, method, key_id, scope, extra)
    _same(principal, Principal(subject, method, key_id, scope, extra))
    claims = Claims(subject or "s", "j", 1, 2)
    _same(authenticated_of(principal, claims, token), Authenticated(principal, claims, token))


def test_call_of_builds_a_plain_call() -> None:
    _same(call_of(len, ("ab",)), Call(len, ("ab",)))


values = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-5, max_value=2**41)
    | st.floats(allow_nan=False, allow_infinity=False)  # JSON has neither
    | st.text(max_size=3)
    | st.text(alphabet="é\ud800a", min_size=1, max_size=3)
    | st.just("x" * (MAX_SUBJECT_LENGTH + 1))
    | st.just("y" * MAX_JTI_LENGTH)
    | st.lists(st.integers(), max_size=2)
)


#: The members RFC 9068 adds to every token, as a default validator accepts them.
RFC9068_MEMBERS = {"iss": "tokenauth", "aud": "tokenauth", "client_id": "tokenauth"}


@settings(max_examples=400)
@given(values, values, values, values)
def test_inline_claim_checks_agree_with_the_general_ones(
    sub: object, jti: object, iat: object, exp: object
) -> None:
    """What the common-case lane accepts, _text and _numeric_date accept too, and alike."""
    validator = JWTValidator(KeySet.generate("HS256"), max_lifetime=2**42)
    payload = {"sub": sub, "jti": jti, "iat": iat, "exp": exp, **RFC9068_MEMBERS}
    result = validator._check_claims(payload, now=0)
    parts = (
        _text(sub, MAX_SUBJECT_LENGTH),
        _text(jti, MAX_JTI_LENGTH),
        _numeric_date(iat),
        _numeric_date(exp),
    )
    if None in parts:
        assert isinstance(result, TokenRejected)
        assert result.reason is Reason.BAD_CLAIMS
        return
    if isinstance(result, TokenRejected):
        # Only the span of the dates is left to be wrong with these claims.
        assert result.reason is not Reason.BAD_CLAIMS or parts[3] < parts[2]  # type: ignore[operator]
        claims = result.claims
    else:
        claims = result
    if claims is not None:
        assert (claims.sub, claims.jti, claims.iat, claims.exp) == parts


@settings(max_examples=300)
@given(
    st.lists(st.ip_addresses().map(str) | st.text(max_size=6), min_size=1, max_size=20),
    st.lists(
        st.sampled_from(["127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8", "192.168.1.0/24"]),
        max_size=3,
    ),
)
def test_trusted_proxies_remember_the_same_decision(peers: list[str], nets: list[str]) -> None:
    proxies = TrustedProxies.of(nets)
    networks = [ipaddress.ip_network(n) for n in nets]

    def plain(peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer.strip("[]"))
        except ValueError:
            return False
        return any(address in network for network in networks)

    for _ in range(2):  # the second pass answers from memory
        for peer in peers:
            assert (peer in proxies) == plain(peer)


def test_trusted_proxies_memory_is_bounded_and_not_compared() -> None:
    proxies = TrustedProxies.of(["10.0.0.0/8"])
    for i in range(5000):
        assert f"10.0.{i // 256}.{i % 256}" in proxies
    assert len(proxies._decided) <= 4096
    assert proxies == TrustedProxies.of(["10.0.0.0/8"])
    assert "_decided" not in repr(proxies)


def test_default_hash_slots_follow_cores_and_lanes(monkeypatch: pytest.MonkeyPatch) -> None:
    four = argon2.PasswordHasher(parallelism=4)
    one = argon2.PasswordHasher(parallelism=1)
    for cores, lanes, want in (
        (2, four, 1),
        (7, four, 1),
        (8, four, 2),
        (2, one, 2),
        (None, one, 1),
    ):
        monkeypatch.setattr("os.cpu_count", lambda cores=cores: cores)
        assert _default_hash_slots(lanes) == want
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert _default_hash_slots(None) == 2  # the default profile runs 4 lanes


def test_max_concurrent_hashes_stays_configurable() -> None:
    keys = KeySet.generate("HS256")
    auth = AsyncTokenAuth(keys=keys, store=AsyncMemoryStore(), max_concurrent_hashes=3)
    assert auth.max_concurrent_hashes == 3
    assert AsyncTokenAuth(keys=keys, store=AsyncMemoryStore()).max_concurrent_hashes >= 1
    with pytest.raises(ConfigurationError):
        AsyncTokenAuth(keys=keys, store=AsyncMemoryStore(), max_concurrent_hashes=0)


token_text = st.text(alphabet="AZaz09-._~+/= \t=é\x00", max_size=12)


@settings(max_examples=500)
@given(token_text)
def test_b64token_check_matches_the_grammar(text: str) -> None:
    assert _is_b64token(text) == bool(_B64TOKEN.fullmatch(text))


@settings(max_examples=500)
@given(
    st.sampled_from(["Bearer", "bearer", "BEARER", "Basic", "", "Bearer\t"]),
    st.sampled_from([" ", "  ", "\t", ""]),
    token_text,
    st.sampled_from(["", "token=abc", "token=a&token=b", "x=1"]),
)
def test_one_step_bearer_header_decides_as_the_full_parse(
    scheme: str, gap: str, token: str, query: str
) -> None:
    """A leading blank skips the one-step case; the full parse must say the same."""
    header = f"{scheme}{gap}{token}"
    for allow in (True, False):
        quick = extract_bearer(header, query, realm="api", allow_query=allow)
        full = extract_bearer(f" {header}", query, realm="api", allow_query=allow)
        assert quick == full


class _AwaitableTuple(tuple[int, ...]):
    """A subclass of a type the driver knows, made awaitable: the type check must not pass it."""

    def __await__(self) -> Any:
        yield from ()
        return 0


@types.coroutine
def _generator_coroutine() -> Any:
    yield from ()


def test_awaitable_answers_as_inspect_isawaitable() -> None:
    record = TokenRecord(jti="j" * 22, subject="s", issued_at=0, expires_at=1, method="password")
    loop = asyncio.new_event_loop()
    coroutine = AsyncMemoryStore().get("x")
    generator = _generator_coroutine()
    plain: list[object] = [None, True, 0, "", b"", (), [], record, object(), {}]
    waiting: list[object] = [_AwaitableTuple(), generator, coroutine, loop.create_future()]
    try:
        for value in plain:
            assert awaitable(value) is inspect.isawaitable(value) is False, value
        for value in waiting:
            assert awaitable(value) is inspect.isawaitable(value) is True, value
    finally:
        coroutine.close()
        generator.close()
        loop.close()


@pytest.mark.parametrize("door", [TokenAuth, AsyncTokenAuth])
def test_front_door_settings_live_in_slots(door: Any) -> None:
    store = MemoryStore() if door is TokenAuth else AsyncMemoryStore()
    auth: Any = door(
        keys=KeySet.generate("HS256"), store=store, refresh_ttl=600, max_tokens_per_subject=3
    )
    # A setting added to __init__ but not to _Flows.__slots__ lands here: add it there.
    assert vars(auth) == {}
    reference = weakref.ref(auth)
    assert id(reference()) == id(auth)
    # An instance still takes what an application or a test sets on it.
    auth.note = "x"
    auth.authenticate = lambda *args, **kwargs: None
    assert auth.authenticate("x", secure=True) is None
    assert vars(auth).keys() == {"note", "authenticate"}
