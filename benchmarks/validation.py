"""Validation cost: the floors, other libraries, and tokenauth cold and warm, per store.

A *validation* here is what the core does for every request once it holds the
token: the validator's checks, then the store check (``get`` by ``jti`` and the
subject compared), as ``TokenAuth._check_token`` does. ``authenticate`` rows
add the rest of a request's work in the core (header parsing, the HTTPS
decision, the flow driver, the result object).
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import os
import secrets
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tokenauth import (
    DEFAULT_AUDIENCE,
    Authenticated,
    Claims,
    JWTIssuer,
    JWTValidator,
    KeySet,
    MemoryStore,
    Principal,
    TokenAuth,
    TokenStore,
    open_store,
)
from tokenauth._keys import Algorithm

from ._timing import Batch, Row, interleaved, loop

REDIS_URL = os.environ.get("TOKENAUTH_BENCH_REDIS", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get(
    "TOKENAUTH_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ALICE = Principal("alice", "password")
#: HS256's second floor: see hmac_from_states.
HMAC_STATES_FLOOR = "floor: HMAC from precomputed key states"


@dataclass
class Tokens:
    """A key set, one token to repeat, and a pool of distinct tokens for first sights."""

    keys: KeySet
    token: str
    pool: list[str]
    now: int


def issue_tokens(alg: Algorithm, pool: int, store: TokenStore | None = None) -> Tokens:
    keys = KeySet.generate(alg)
    issuer = JWTIssuer(keys, ttl=3600)
    now = int(time.time())
    issued = [issuer.issue(ALICE, now=now) for _ in range(pool + 1)]
    if store is not None:
        for each in issued:
            store.add(each.record)
    return Tokens(keys, issued[0].token, [each.token for each in issued[1:]], now)


def _split(token: str) -> tuple[bytes, bytes]:
    head, _, signature = token.rpartition(".")
    return head.encode(), pyjwt.utils.base64url_decode(signature)


def floor(keys: KeySet, token: str) -> Callable[[], object]:
    """The bare signature check with ``cryptography`` or ``hmac``: nothing can cost less."""
    signing_input, signature = _split(token)
    key: Any = keys.signing
    alg = key.alg
    if alg == "HS256":
        secret: bytes = key._secret
        return lambda: hmac.compare_digest(hmac.digest(secret, signing_input, "sha256"), signature)
    public = key._public
    if alg == "RS256":
        assert isinstance(public, rsa.RSAPublicKey)
        pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
        return lambda: public.verify(signature, signing_input, pkcs1, sha256)
    if alg == "ES256":
        assert isinstance(public, ec.EllipticCurvePublicKey)
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        ecdsa = ec.ECDSA(hashes.SHA256())
        return lambda: public.verify(der, signing_input, ecdsa)
    assert isinstance(public, ed25519.Ed25519PublicKey)
    return lambda: public.verify(signature, signing_input)


def hmac_from_states(keys: KeySet, token: str) -> Callable[[], object]:
    """HMAC-SHA256 verify from precomputed key states (RFC 2104), as tokenauth computes it.

    ``hmac.digest`` hashes the padded key again on every call; two SHA-256 states
    that have absorbed it, copied per message, give the same MAC for less. A
    second floor for HS256, so that a ratio is never flattered by a cheaper MAC.
    """
    signing_input, signature = _split(token)
    secret: bytes = keys.signing._secret  # type: ignore[assignment]  # an HS256 key
    padded = secret.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    def verify() -> bool:
        mac = inner.copy()
        mac.update(signing_input)
        final = outer.copy()
        final.update(mac.digest())
        return hmac.compare_digest(final.digest(), signature)

    if not verify():
        raise AssertionError("the precomputed-state HMAC disagrees with the token")
    return verify


def peers(keys: KeySet, token: str, now: int) -> dict[str, Callable[[], object]]:
    """What a user would pick instead: each library's decode with its claim checks."""
    key: Any = keys.signing
    alg = key.alg
    material: Any = key._secret if alg == "HS256" else key.to_pem()
    verify_key: Any = material if alg == "HS256" else key._public
    out: dict[str, Callable[[], object]] = {
        # Our tokens carry aud (RFC 9068): PyJWT checks it against the same audience.
        "PyJWT jwt.decode": lambda: pyjwt.decode(
            token, verify_key, algorithms=[alg], audience=DEFAULT_AUDIENCE
        ),
    }
    if importlib.util.find_spec("joserfc") is not None:
        from joserfc import jwt as jose_jwt
        from joserfc.jwk import OctKey, RSAKey

        jkey: Any = OctKey.import_key(material) if alg == "HS256" else RSAKey.import_key(material)
        registry = jose_jwt.JWTClaimsRegistry()

        def joserfc_decode() -> object:
            decoded = jose_jwt.decode(token, jkey, algorithms=[alg])
            registry.validate(decoded.claims)
            return decoded

        out["joserfc jwt.decode"] = joserfc_decode
    if importlib.util.find_spec("authlib") is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # authlib ships no type information; the benchmark only calls it.
            from authlib.jose import JsonWebToken  # type: ignore[import-untyped]

        authlib_jwt = JsonWebToken([alg])

        def authlib_decode() -> object:
            claims = authlib_jwt.decode(token, material)
            claims.validate()
            return claims

        out["authlib jwt.decode"] = authlib_decode
    return out


def check(validator: JWTValidator, store: TokenStore, token: str, now: int) -> bool:
    """One validation as the core does it: the validator, then the store check."""
    claims = validator.validate(token, now=now)
    if not isinstance(claims, Claims):
        raise AssertionError(f"the benchmark token was refused: {claims}")
    record = store.get(claims.jti)
    if record is None or record.subject != claims.sub:
        raise AssertionError("the benchmark token is not in the store")
    return True


def first_sights(make: Callable[[], JWTValidator], store: TokenStore, tokens: Tokens) -> Batch:
    """A fresh validator (empty cache) meets each token of the pool once: the cold path."""

    def batch() -> int:
        validator = make()
        for token in tokens.pool:
            check(validator, store, token, tokens.now)
        return len(tokens.pool)

    return batch


def repeats(validator: JWTValidator, store: TokenStore, tokens: Tokens, n: int) -> Batch:
    """The same token again and again: the warm path."""
    check(validator, store, tokens.token, tokens.now)
    return loop(lambda: check(validator, store, tokens.token, tokens.now), n)


def authenticate_repeats(auth: TokenAuth, token: str, n: int) -> Batch:
    header = f"Bearer {token}"

    def one() -> None:
        result = auth.authenticate(header, secure=True)
        if not isinstance(result, Authenticated):
            raise AssertionError(f"the benchmark token was refused: {result}")

    return loop(one, n)


def algorithm_rows(alg: Algorithm, *, rounds: int, pool: int, n: int) -> dict[str, Row]:
    """Floor, peers, and tokenauth cold and warm with the in-memory store, for one algorithm."""
    store = MemoryStore()
    tokens = issue_tokens(alg, pool, store)
    keys, token, now = tokens.keys, tokens.token, tokens.now
    cases: dict[str, Batch] = {"floor: raw signature check": loop(floor(keys, token), n)}
    if alg == "HS256":
        cases[HMAC_STATES_FLOOR] = loop(hmac_from_states(keys, token), n)
    if alg in ("RS256", "HS256"):
        for name, fn in peers(keys, token, now).items():
            cases[name] = loop(fn, n)
    cases["tokenauth cold (memory store)"] = first_sights(lambda: JWTValidator(keys), store, tokens)
    cases["tokenauth warm (memory store)"] = repeats(JWTValidator(keys), store, tokens, n * 10)
    auth = TokenAuth(keys=keys, store=store)
    cases["tokenauth authenticate() warm"] = authenticate_repeats(auth, token, n * 5)
    # Last-use tracking on, no write due: the one lookup and comparison it adds.
    tracked = TokenAuth(keys=keys, store=store, track_last_use=True, last_use_interval=86_400)
    cases["tokenauth authenticate() warm, last use tracked"] = authenticate_repeats(
        tracked, token, n * 5
    )
    cold_auth = TokenAuth(keys=keys, store=store, token_validator=JWTValidator(keys, cache_size=0))
    cases["tokenauth authenticate() cold"] = authenticate_repeats(cold_auth, token, n)
    store_only = MemoryStore()
    store_only.add(JWTIssuer(keys).issue(ALICE, now=now).record)
    jti = next(iter(store_only._by_jti))
    cases["floor: dict hit + exp check"] = loop(
        lambda: (r := store_only.get(jti)) is not None and r.expires_at > now, n * 10
    )
    return interleaved(cases, rounds=rounds, group=alg)


def _redis_available() -> str | None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"Redis at {REDIS_URL} did not answer ({type(exc).__name__})"
    finally:
        client.close()
    return None


def redis_rows(*, rounds: int, pool: int, n: int) -> tuple[dict[str, Row], str]:
    """RS256 tokens against Redis: a raw GET, the store without and with its local view."""
    why = _redis_available()
    if why is not None:
        return {}, why
    import redis

    prefix = f"tokenauth-bench:{uuid.uuid4().hex}:"
    plain = open_store(f"{REDIS_URL}?prefix={prefix}")
    viewed = open_store(f"{REDIS_URL}?prefix={prefix}&local_view=true")
    raw = redis.Redis.from_url(REDIS_URL)
    try:
        tokens = issue_tokens("RS256", pool, plain)
        keys = tokens.keys
        raw.set(f"{prefix}bench-raw", b"x" * 80)
        cases: dict[str, Batch] = {
            "floor: redis-py GET (loopback)": loop(lambda: raw.get(f"{prefix}bench-raw"), n),
            "tokenauth cold (Redis)": first_sights(lambda: JWTValidator(keys), plain, tokens),
            "tokenauth warm (Redis, direct GET)": repeats(JWTValidator(keys), plain, tokens, n),
            "tokenauth warm (Redis, local view)": repeats(
                JWTValidator(keys), viewed, tokens, n * 20
            ),
        }
        auth = TokenAuth(keys=keys, store=viewed)
        cases["tokenauth authenticate() warm (Redis, local view)"] = authenticate_repeats(
            auth, tokens.token, n * 10
        )
        return interleaved(cases, rounds=rounds, group="Redis"), ""
    finally:
        for key in raw.scan_iter(match=f"{prefix}*", count=1000):
            raw.delete(key)
        raw.close()
        plain.close()
        viewed.close()


def _validator_factory(keys: KeySet) -> Callable[[], JWTValidator]:
    return lambda: JWTValidator(keys)


def sql_rows(*, rounds: int, pool: int, n: int) -> tuple[dict[str, Row], str]:
    """SQLite and PostgreSQL through the SQLAlchemy adapter, when it is installed."""
    if importlib.util.find_spec("tokenauth_sqlalchemy") is None:
        return {}, "tokenauth_sqlalchemy is not importable (the SQLAlchemy adapter is not merged)"
    import sqlalchemy

    from tokenauth_sqlalchemy import Schema, init_db

    rows: dict[str, Row] = {}
    notes = []
    # Tables of the benchmark's own, created for the run and dropped after it.
    prefix = f"bench_{secrets.token_hex(4)}_"
    with tempfile.TemporaryDirectory() as tmp:
        for label, base in (("SQLite", f"sqlite:///{tmp}/bench.db"), ("PostgreSQL", POSTGRES_URL)):
            url = f"{base}{'&' if '?' in base else '?'}table_prefix={prefix}"
            try:
                init_db(url)
                store = open_store(url)
            except Exception as exc:  # a missing server or driver skips its rows
                notes.append(f"{label} skipped: {type(exc).__name__}")
                continue
            try:
                tokens = issue_tokens("RS256", pool, store)
                keys = tokens.keys
                cases: dict[str, Batch] = {
                    f"tokenauth cold ({label})": first_sights(
                        _validator_factory(keys), store, tokens
                    ),
                    f"tokenauth warm ({label})": repeats(JWTValidator(keys), store, tokens, n),
                }
                rows.update(interleaved(cases, rounds=rounds, group=label))
            except Exception as exc:
                notes.append(f"{label} failed: {type(exc).__name__}: {exc}")
            finally:
                store.close()
                engine = sqlalchemy.create_engine(base)
                schema = Schema(prefix)
                schema.metadata.drop_all(engine)
                with engine.begin() as connection:
                    connection.execute(
                        sqlalchemy.text(f"DROP TABLE IF EXISTS {schema.version_table}")
                    )
                engine.dispose()
    return rows, "; ".join(notes)
