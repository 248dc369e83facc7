"""Timing: a failed login takes as long whoever the user is (DESIGN.md, the 401 row).

The contract: a wrong password, an unknown user and a disabled user get "the
same answer and the same time whichever it was". That must hold for a user
whose argon2 hash predates a change of parameters too (Django's
``harden_runtime`` exists for this): otherwise every user who has not logged in
since the change can be told apart by timing.

This is a security property, so it is measured: many samples, the kinds
interleaved in a fresh random order each round so that load on the machine
falls on all of them alike, compared by their medians. docs/security.md quotes
the bound.
"""

from __future__ import annotations

import random
import statistics
import time

import argon2

from tokenauth import MemoryStore, MemoryUserRegistry, TokenAuth, UserRecord, new_user

from .conftest import KEYS, basic

#: The bound: each kind's median within this fraction of the unknown user's.
TOLERANCE = 0.10
ROUNDS = 41
ATTEMPTS = 3


def _current() -> argon2.PasswordHasher:
    # Heavy enough that a check is tens of milliseconds (so scheduling noise is
    # small beside it), light enough to keep the test short.
    return argon2.PasswordHasher(time_cost=3, memory_cost=16384, parallelism=1)


def _stale() -> argon2.PasswordHasher:
    # The parameters a deployment used before raising them: a third of the work.
    return argon2.PasswordHasher(time_cost=1, memory_cost=16384, parallelism=1)


def _deployment() -> TokenAuth:
    users = MemoryUserRegistry()
    auth = TokenAuth(keys=KEYS, store=MemoryStore(), users=users, hasher=_current())
    auth.add_user("current", "right password")
    auth.add_user("disabled", "right password")
    users.set_disabled("disabled", True)
    users.add_user(new_user("stale", "right password", now=0, hasher=_stale()))
    return auth


def _medians(auth: TokenAuth) -> dict[str, float]:
    headers = {
        "unknown": basic("nobody", "wrong password"),
        "disabled": basic("disabled", "wrong password"),
        "current": basic("current", "wrong password"),
        "stale": basic("stale", "wrong password"),
    }
    samples: dict[str, list[float]] = {kind: [] for kind in headers}
    order = list(headers)
    rng = random.Random(15)
    for kind in order:  # warm up: the first check of each path pays for imports and caches
        auth.login(headers[kind], secure=True)
    for _ in range(ROUNDS):
        rng.shuffle(order)
        for kind in order:
            started = time.perf_counter()
            result = auth.login(headers[kind], secure=True)
            samples[kind].append(time.perf_counter() - started)
            assert result.status == 401
    return {kind: statistics.median(values) for kind, values in samples.items()}


def _spread(medians: dict[str, float]) -> float:
    base = medians["unknown"]
    return max(abs(value - base) / base for value in medians.values())


def test_failed_logins_take_the_same_time_for_every_kind_of_user() -> None:
    """Unknown, disabled, current-hash and stale-hash users: medians within 10%.

    A stale hash is one made with a third of the current work; before the
    top-up its wrong passwords answered in about a third of the time.
    """
    auth = _deployment()
    stale = auth.users.get_user("stale")
    assert isinstance(stale, UserRecord)
    assert auth.authenticator is not None
    spreads = []
    for _ in range(ATTEMPTS):
        medians = _medians(auth)
        spreads.append((_spread(medians), medians))
        if spreads[-1][0] <= TOLERANCE:
            break
    best, medians = min(spreads, key=lambda pair: pair[0])
    shown = [{k: round(v * 1000, 1) for k, v in m.items()} for _, m in spreads]
    assert best <= TOLERANCE, f"medians in ms, per attempt: {shown}"


def test_a_stale_hash_is_still_replaced_on_a_good_login() -> None:
    """The top-up touches failures only: a right password upgrades the stale hash."""
    auth = _deployment()
    assert auth.login(basic("stale", "right password"), secure=True).status == 200
    user = auth.users.get_user("stale")
    assert user is not None
    assert not _current().check_needs_rehash(user.password_hash)


def test_an_unreadable_hash_fails_in_the_same_time() -> None:
    """A corrupt hash in the registry answers 401, not faster than a real check."""
    users = MemoryUserRegistry()
    auth = TokenAuth(keys=KEYS, store=MemoryStore(), users=users, hasher=_current())
    users.add_user(UserRecord("broken", "$argon2id$v=19$garbage", 0))
    auth.add_user("current", "right password")
    started = time.perf_counter()
    assert auth.login(basic("broken", "x"), secure=True).status == 401
    broken = time.perf_counter() - started
    started = time.perf_counter()
    assert auth.login(basic("current", "x"), secure=True).status == 401
    current = time.perf_counter() - started
    # Generous: only "not an instant answer" is checked here; the medians test is the bound.
    assert broken > current / 3
