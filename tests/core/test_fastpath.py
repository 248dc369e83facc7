"""The validation fast path decides exactly as the plain path: no optimisation weakens a check."""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tokenauth import (
    AsyncMemoryStore,
    AsyncTokenAuth,
    Authenticated,
    Claims,
    JWTIssuer,
    JWTValidator,
    Key,
    KeySet,
    MemoryStore,
    Principal,
    Response,
    StoreError,
    TokenAuth,
    TokenRecord,
    TokenRejected,
    system_clock,
)
from tokenauth._jwt import (
    MAX_JSON_DEPTH,
    _b64url_decode,
    _b64url_decode_reference,
    _json_object,
    _json_object_strict,
    _too_deep,
)
from tokenauth._keys import b64url
from tokenauth.testing import FrozenClock
from tokenauth.testing import strategies as ts

NOW = 1_800_000_000
RS = KeySet.generate("RS256")
HS = KeySet.generate("HS256")
B64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= \n.é"


@settings(max_examples=500)
@given(st.text(alphabet=B64_CHARS, max_size=12) | st.binary(max_size=20).map(b64url))
def test_base64url_decoding_matches_the_reference(text: str) -> None:
    """The fast decoder accepts and decodes exactly what the plain, canonical one does."""
    assert _b64url_decode(text) == _b64url_decode_reference(text)


JSON_PIECES = st.sampled_from(
    ['{"a":1', ',"a":2', ',"b":"x"', "}", "[", "]", "NaN", "1e400", "Infinity", '"\\ud800"',
     "123456789012345678901234567890", " ", "1.5", '{"c":{"d":1,"d":2}}', "null", "true"]
)  # fmt: skip


@settings(max_examples=500)
@given(
    st.lists(JSON_PIECES, max_size=8).map(lambda p: "".join(p).encode())
    | st.binary(max_size=40)
    | st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5)).map(
        lambda d: json.dumps(d, separators=(",", ":")).encode()
    )
)
def test_json_reading_matches_the_strict_parser(raw: bytes) -> None:
    """orjson's road and the strict stdlib road agree: duplicates, NaN, big ints, surrogates."""
    assert _json_object(raw) == _json_object_strict(raw)


def test_duplicate_members_still_refused_on_the_fast_road() -> None:
    """orjson keeps the last duplicate; the fast road must not let that through."""
    assert _json_object(b'{"sub":"a","sub":"b"}') is None
    assert _json_object(b'{"sub":"a","x":{"k":1,"k":2}}') is None


def outcome(result: Claims | TokenRejected) -> object:
    return result if isinstance(result, Claims) else (result.reason, result.claims)


@pytest.mark.parametrize("keys", [RS, HS], ids=["RS256", "HS256"])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_warm_path_answers_as_the_cold_path(keys: KeySet, data: Any) -> None:
    """Over any sequence of tokens (good, forged, tampered, expired) and times, cache or not."""
    issuer = JWTIssuer(keys, ttl=120)
    good = [issuer.issue(Principal(f"u{i}", "password"), now=NOW).token for i in range(3)]
    warm, cold = JWTValidator(keys, leeway=5), JWTValidator(keys, leeway=5, cache_size=0)
    steps = data.draw(
        st.lists(
            st.tuples(
                st.sampled_from(good) | ts.bad_tokens(keys, now=NOW).map(lambda s: s.token),
                st.integers(-20, 200),
            ),
            min_size=1,
            max_size=25,
        )
    )
    for token, offset in steps:
        assert outcome(warm.validate(token, now=NOW + offset)) == outcome(
            cold.validate(token, now=NOW + offset)
        )


def test_a_re_signed_token_never_hits_the_cache() -> None:
    """Same header and payload, another signature: a different string, checked in full."""
    token = JWTIssuer(HS).issue(Principal("alice", "password"), now=NOW).token
    validator = JWTValidator(HS)
    assert isinstance(validator.validate(token, now=NOW), Claims)
    head, _, signature = token.rpartition(".")
    forged = f"{head}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'AQ'}"
    other = KeySet.generate("HS256")
    resigned = f"{head}.{b64url(other.signing.sign(head.encode()))}"
    for bad in (forged, resigned):
        result = validator.validate(bad, now=NOW)
        assert isinstance(result, TokenRejected)
        assert result.reason.name in {"BAD_SIGNATURE", "MALFORMED_TOKEN"}


def test_the_cache_is_bounded_and_drops_expired_entries() -> None:
    validator = JWTValidator(HS, cache_size=3)
    issuer = JWTIssuer(HS, ttl=60)
    tokens = [issuer.issue(Principal("alice", "password"), now=NOW).token for _ in range(5)]
    for token in tokens:
        validator.validate(token, now=NOW)
    assert validator.cache_size == 3
    assert validator._verified is not None
    assert len(validator._verified) == 3
    later = issuer.issue(Principal("alice", "password"), now=NOW + 120).token
    validator.validate(later, now=NOW + 120)
    # Inserting at a time past the old entries' expiry swept the oldest of them.
    assert len(validator._verified) <= 2


def test_key_rotation_empties_the_cache() -> None:
    """Tokens verified under a key set no longer count once the set changes."""
    keys = KeySet.generate("HS256")
    clock = FrozenClock(NOW)
    auth = TokenAuth(keys=keys, store=MemoryStore(), clock=clock)
    issued = auth.issuer.issue(Principal("alice", "password"), now=NOW)
    auth.store.add(issued.record)
    assert isinstance(auth.authenticate(f"Bearer {issued.token}", secure=True), Authenticated)
    auth._set_keys(KeySet.generate("HS256"))
    result = auth.authenticate(f"Bearer {issued.token}", secure=True)
    assert not isinstance(result, Authenticated)
    assert result.status == 401


def test_a_retired_key_stops_answering_from_the_cache() -> None:
    old = KeySet.generate("RS256")
    token = JWTIssuer(old).issue(Principal("alice", "password"), now=NOW).token
    rotated = old.rotate(KeySet.generate("RS256").signing, retire_after=NOW + 10)
    validator = JWTValidator(rotated)
    assert isinstance(validator.validate(token, now=NOW + 10), Claims)
    result = validator.validate(token, now=NOW + 11)
    assert isinstance(result, TokenRejected)
    assert result.reason.name == "UNKNOWN_KEY"


OPS = st.lists(
    st.tuples(
        st.sampled_from(["issue", "check", "check_plain", "revoke", "advance", "resign"]),
        st.integers(0, 5),
        st.sampled_from([0, 1]),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(OPS)
def test_two_servers_with_caches_agree_with_servers_without(ops: list[Any]) -> None:
    """Issue, validate (over HTTPS and plain HTTP), revoke, expire, re-sign: across two
    front doors sharing one store, cached and uncached answer alike at every step."""
    keys = KeySet.generate("HS256")
    clock = FrozenClock(NOW)

    def pair(cache: int) -> tuple[TokenAuth, TokenAuth, MemoryStore]:
        store = MemoryStore()
        made = [
            TokenAuth(
                keys=keys, store=store, clock=clock, ttl=60,
                token_validator=JWTValidator(keys, max_lifetime=60, cache_size=cache),
            )
            for _ in range(2)
        ]  # fmt: skip
        return made[0], made[1], store

    cached = pair(100)
    model = pair(0)
    tokens: list[str] = []
    other = KeySet.generate("HS256")
    for op, index, which in ops:
        if op == "issue":
            issued = cached[0].issuer.issue(Principal("alice", "password"), now=int(clock()))
            for _, _, store in (cached, model):
                store.add(issued.record)
            tokens.append(issued.token)
            continue
        if op == "advance":
            clock.advance(index * 13)
            continue
        if not tokens:
            continue
        token = tokens[index % len(tokens)]
        if op == "resign":
            head = token.rpartition(".")[0]
            token = f"{head}.{b64url(other.signing.sign(head.encode()))}"
        answers: list[object] = []
        for first, second, store in (cached, model):
            auth = (first, second)[which]
            if op == "revoke":
                claims = auth.validator.validate(token, now=int(clock()))
                answers.append(isinstance(claims, Claims) and store.remove(claims.jti))
            else:
                result = auth.authenticate(f"Bearer {token}", secure=op != "check_plain")
                answers.append(
                    (result.status if not isinstance(result, Authenticated) else 200,
                     getattr(result, "reason", None))
                )  # fmt: skip
        assert answers[0] == answers[1], (op, answers)
        assert len(cached[2]) == len(model[2])


# -- the front door's answer to a repeated Authorization header -------------------------

HEADER_OPS = st.lists(
    st.tuples(
        # Repeats of a plain check are what the remembered answers serve: most steps.
        st.sampled_from(
            ["issue", "check", "check", "check", "check_plain", "check_proxied_http",
             "check_proxied_https", "check_query_token", "check_other_query", "revoke",
             "replace", "advance", "resign", "rotate", "store_down"]
        ),
        st.integers(0, 3),
    ),
    min_size=5,
    max_size=40,
).map(lambda ops: [("issue", 0), ("check", 0), *ops])  # fmt: skip


class _DownStore(MemoryStore):
    """A memory store that can be made to fail like an unreachable one."""

    down = False

    def get(self, jti: str) -> TokenRecord | None:
        if self.down:
            raise StoreError("down")
        return super().get(jti)


def _answer(result: object) -> object:
    """Everything a caller can see of a result."""
    if isinstance(result, Authenticated):
        return ("ok", result.principal, result.claims, result.token)
    rendered: Response = result  # type: ignore[assignment]  # every other result renders
    return (rendered.status, getattr(result, "reason", None), rendered.headers, rendered.body)


@pytest.mark.parametrize("driver", ["sync", "async"])
@settings(max_examples=150, deadline=None)
@given(ops=HEADER_OPS)
# Sequences too specific for a random search to find often: the stored record changes
# under a remembered header (another API key, another subject).
@example(
    ops=[("issue", 0), ("check", 0), ("replace", 1), ("check", 0), ("replace", 2), ("check", 0)]
)
@example(ops=[("issue", 0), ("check", 0), ("replace", 3), ("check", 0)])
def test_a_repeated_header_is_answered_as_a_first_one(driver: str, ops: list[Any]) -> None:
    """A front door that remembers headers it authenticated answers exactly as one that
    cannot (its validator has no cache), over any sequence of logins, repeats, plain-HTTP
    and proxied requests, query tokens, revocations, re-stored records, expiry, forged
    signatures, key rotation and store failures."""
    keys = KeySet.generate("HS256")
    clock = FrozenClock(NOW)
    loop = asyncio.new_event_loop()

    def door(cache: int) -> tuple[TokenAuth | AsyncTokenAuth, _DownStore]:
        store = _DownStore()
        options: dict[str, Any] = {
            "keys": keys, "clock": clock, "ttl": 60, "trusted_proxies": ["10.0.0.1"],
            "token_validator": JWTValidator(keys, max_lifetime=60, cache_size=cache),
        }  # fmt: skip
        if driver == "sync":
            return TokenAuth(store=store, **options), store
        return AsyncTokenAuth(store=AsyncMemoryStore(store), **options), store

    def authenticate(auth: TokenAuth | AsyncTokenAuth, header: str, **kw: Any) -> object:
        result = auth.authenticate(header, **kw)
        if isinstance(auth, AsyncTokenAuth):
            result = loop.run_until_complete(result)  # type: ignore[arg-type]
        return result

    remembering, plain = door(100), door(0)
    tokens: list[str] = []
    other = KeySet.generate("HS256")
    try:
        for op, index in ops:
            if op == "issue":
                issued = remembering[0].issuer.issue(
                    Principal("alice", "password"), now=int(clock())
                )
                for _, store in (remembering, plain):
                    store.add(issued.record)
                tokens.append(issued.token)
                continue
            if op == "advance":
                clock.advance(index * 13)
                continue
            if op == "rotate":
                fresh = Key.generate("HS256")
                for auth, _ in (remembering, plain):
                    auth.rotate_keys(fresh)
                continue
            if op == "store_down":
                for _, store in (remembering, plain):
                    store.down = not store.down
                continue
            if not tokens:
                continue
            token = tokens[index % len(tokens)]
            if op in ("revoke", "replace"):
                claims = plain[0].validator.validate(token, now=int(clock()))
                if isinstance(claims, Claims):
                    for _, store in (remembering, plain):
                        record = store._by_jti.get(claims.jti)
                        store.remove(claims.jti)
                        if op == "replace" and record is not None:
                            # The same jti recorded for someone else, or as a login with
                            # another API key.
                            key_id = f"k{index}" if record.api_key_id != f"k{index}" else "k9"
                            store.add(
                                replace(record, subject="mallory") if index == 3
                                else replace(record, method="api_key", api_key_id=key_id)
                            )  # fmt: skip
                continue
            if op == "resign":
                head = token.rpartition(".")[0]
                tokens.append(f"{head}.{b64url(other.signing.sign(head.encode()))}")
                continue
            kw: dict[str, Any] = {"secure": op != "check_plain" and "proxied" not in op}
            if op.startswith("check_proxied"):
                kw |= {"client": "10.0.0.1", "forwarded_proto": op.rpartition("_")[2]}
            if op == "check_query_token":
                kw["query"] = f"token={token}"
            if op == "check_other_query":
                kw["query"] = "page=2"
            header = f"Bearer {token}"
            answers = [authenticate(auth, header, **kw) for auth, _ in (remembering, plain)]
            assert _answer(answers[0]) == _answer(answers[1]), (op, answers)
            assert len(remembering[1]) == len(plain[1])
    finally:
        loop.close()


def test_a_repeated_header_is_remembered_only_with_the_validator_cache() -> None:
    """The front door's memory of headers relies on the cache's identical answers."""
    clock = FrozenClock(NOW)
    for cache, remembered in ((100, 1), (0, 0)):
        auth = TokenAuth(
            keys=HS, store=MemoryStore(), clock=clock,
            token_validator=JWTValidator(HS, cache_size=cache),
        )  # fmt: skip
        issued = auth.issuer.issue(Principal("alice", "password"), now=NOW)
        auth.store.add(issued.record)
        first = auth.authenticate(f"Bearer {issued.token}", secure=True)
        second = auth.authenticate(f"Bearer {issued.token}", secure=True)
        assert isinstance(first, Authenticated)
        assert first == second
        assert len(auth._recent) == remembered
        assert (first is second) == bool(remembered)


def test_a_clock_set_after_construction_is_the_one_used() -> None:
    """The system clock is read without its wrapper; any other clock is called as given."""
    auth = TokenAuth(keys=HS, store=MemoryStore())
    assert auth.clock is system_clock
    assert abs(auth._now() - time.time()) < 5
    frozen = FrozenClock(NOW)
    auth.clock = frozen
    assert auth.clock is frozen
    assert auth._now() == NOW
    frozen.advance(7)
    assert auth._now() == NOW + 7


@settings(max_examples=300)
@given(st.binary(min_size=32, max_size=200), st.binary(max_size=300))
def test_hmac_from_pad_states_is_hmac(secret: bytes, message: bytes) -> None:
    """HS256 from the key's precomputed pad states is RFC 2104 HMAC, for short and long keys."""
    key = Key.from_secret(secret)
    assert key.sign(message) == hmac.digest(secret, message, "sha256")
    assert key.verify(message, hmac.digest(secret, message, "sha256"))
    # A copy made by a key rotation shares the states and still gives the same MACs.
    assert key.retiring_at(NOW).sign(message) == key.sign(message)


HMAC_KEY = HS.signing
HMAC_TEXT = b64url(HMAC_KEY.sign(b"m"))


def _hmac_text_variants() -> st.SearchStrategy[str]:
    """The right signature text, near misses of it, and arbitrary text."""
    near = st.builds(
        lambda i, c: HMAC_TEXT[:i] + c + HMAC_TEXT[i + 1 :],
        st.integers(0, len(HMAC_TEXT) - 1),
        st.sampled_from(B64_CHARS),
    )
    return st.one_of(
        st.just(HMAC_TEXT),
        near,
        st.just(HMAC_TEXT + "="),
        st.just(HMAC_TEXT[:-1]),
        st.text(alphabet=B64_CHARS, max_size=46),
        st.binary(max_size=40).map(b64url),
    )


@settings(max_examples=1000)
@given(_hmac_text_variants())
def test_hmac_compared_as_text_decides_as_decoding(text: str) -> None:
    """Comparing base64url texts accepts exactly what decoding strictly and comparing bytes
    accepts: a canonical encoding is unique, so a non-canonical or padded text never matches."""
    decoded = _b64url_decode_reference(text)
    expected = decoded is not None and HMAC_KEY.verify(b"m", decoded)
    # The validator hands over the token's bytes, with "?" for any character outside ASCII.
    assert HMAC_KEY._verify_hmac_encoded(b"m", text.encode("ascii", "replace")) == expected


def _nested(depth: int, kind: str) -> str:
    if kind == "array":
        return "[" * depth + "]" * depth
    return '{"k":' * depth + "1" + "}" * depth


@settings(max_examples=500)
@given(
    st.integers(1, 40),
    st.sampled_from(["array", "object"]),
    st.sampled_from(['{{"sub":"a","x":{}}}', '{{"x":{},"sub":"a"}}', "{}", '{{"a":[{}]}}']),
)
def test_nesting_limit_on_the_fast_road(depth: int, kind: str, template: str) -> None:
    """Nested values are refused beyond MAX_JSON_DEPTH on either road, whatever their place."""
    raw = template.format(_nested(depth, kind)).encode()
    expected = None if _too_deep(raw.decode()) else _json_object_strict(raw)
    assert _json_object(raw) == expected


def test_nesting_limit_boundary() -> None:
    inside = '{"x":' + _nested(MAX_JSON_DEPTH - 1, "array") + "}"
    assert _json_object(inside.encode()) is not None
    too_deep = '{"x":' + _nested(MAX_JSON_DEPTH, "object") + "}"
    assert _json_object(too_deep.encode()) is None
