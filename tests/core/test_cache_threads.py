"""The warm cache under threads: insertions, evictions and expiries never collide."""

from __future__ import annotations

import sys
import threading

from tokenauth import Claims, JWTIssuer, JWTValidator, KeySet, Principal, TokenRejected
from tokenauth._cache import VerifiedTokens

KEYS = KeySet.generate("HS256")
NOW = 1_800_000_000


def test_threads_hammering_a_tiny_cache_across_expiry() -> None:
    """Many threads, a cache of 4, tokens expiring mid-run: right answers, no exception."""
    issuer = JWTIssuer(KEYS, ttl=60)
    tokens = [issuer.issue(Principal(f"user{i}", "password"), now=NOW).token for i in range(40)]
    validator = JWTValidator(KEYS, cache_size=4, leeway=0)
    errors: list[BaseException] = []
    wrong: list[str] = []

    def work(offset: int) -> None:
        try:
            for step in range(400):
                token = tokens[(offset + step) % len(tokens)]
                now = NOW + (step % 120)  # before and after the tokens' expiry at NOW + 60
                result = validator.validate(token, now=now)
                expired = now >= NOW + 60
                if expired != isinstance(result, TokenRejected) or (
                    not expired and not isinstance(result, Claims)
                ):
                    wrong.append(f"{step}: {result!r}")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i * 7,)) for i in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, to meet the races
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert wrong == []


def test_threads_inserting_evicting_and_clearing_without_a_lock() -> None:
    """put, get and clear from many threads on a cache of 2: no exception, and a hit is
    always the claims stored for that very token, inside its span."""
    cache = VerifiedTokens(2)
    claims = {
        f"token{i}": Claims(sub=f"user{i}", jti=f"jti{i}", iat=NOW, exp=NOW + 60) for i in range(16)
    }
    names = list(claims)
    errors: list[BaseException] = []
    wrong: list[str] = []

    def work(offset: int) -> None:
        try:
            for step in range(2000):
                token = names[(offset + step) % len(names)]
                now = NOW + (step * 7 + offset) % 90  # entries end at NOW + 60
                if step % 97 == 0:
                    cache.clear()
                elif step % 2:
                    cache.put(token, claims[token], now, NOW, NOW + 60)
                else:
                    hit = cache.get(token, now)
                    if hit is not None and (hit is not claims[token] or now >= NOW + 60):
                        wrong.append(f"{token} at {now}: {hit!r}")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i * 5,)) for i in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert wrong == []
    # Racing insertions may leave a few extra entries; one more insertion trims them.
    cache.put("last", claims["token0"], NOW, NOW, NOW + 60)
    assert len(cache) <= 2
