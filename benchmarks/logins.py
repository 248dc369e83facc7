"""Logins: API-key logins per algorithm, refresh against login, a password-login flood, bursts."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from typing import Any

from tokenauth import (
    FORM_CONTENT_TYPE,
    AsyncMemoryStore,
    AsyncTokenAuth,
    Authenticated,
    Granted,
    InvalidGrant,
    KeySet,
    LoginThrottle,
    MemoryApiKeyRegistry,
    MemoryCounters,
    MemoryStore,
    MemoryUserRegistry,
    Request,
    TokenAuth,
)

PEPPER = b"benchmark-pepper-" * 2


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def api_key_logins(alg: Any, seconds: float) -> float:
    """API-key logins per second: HMAC of the key, a registry lookup, signing, a store add."""
    auth = TokenAuth(
        keys=KeySet.generate(alg), store=MemoryStore(), api_keys=MemoryApiKeyRegistry(),
        pepper=PEPPER,
    )  # fmt: skip
    key, _ = auth.create_api_key("svc-export")
    header = _basic(key, "")
    count = 0
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < deadline:
        for _ in range(50):
            result = auth.login(header, secure=True)
            if not isinstance(result, Granted):
                raise AssertionError(f"the API-key login failed: {result}")
        count += 50
    return count / (time.perf_counter() - start)


def _rate(step: Any, seconds: float) -> float:
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(10):
            step()
        count += 10
    return count / (time.perf_counter() - start)


def refresh_vs_logins(seconds: float, rounds: int = 3) -> dict[str, float]:
    """Refreshes per second beside password and API-key logins, ES256, on the memory store.

    The three run in turns (``rounds`` times, ``seconds`` each, the best of each
    kept), on one front door, so that the machine's load weighs on all alike.
    A refresh is the form parse, an HMAC, a store read, a registry read,
    signing, and one atomic rotation; a password login adds argon2 (the default
    profile), an API-key login an HMAC and a registry read instead.
    """
    users = MemoryUserRegistry()
    auth = TokenAuth(
        keys=KeySet.generate("ES256"), store=MemoryStore(), users=users,
        api_keys=MemoryApiKeyRegistry(), pepper=PEPPER, refresh_ttl=3600,
    )  # fmt: skip
    auth.add_user("alice", "correct horse battery")
    key, _ = auth.create_api_key("svc-export")
    password, api_key = _basic("alice", "correct horse battery"), _basic(key, "")
    first = auth.login(password, secure=True)
    assert isinstance(first, Granted)
    assert first.refresh_token is not None
    chain = [first.refresh_token]
    request = Request(secure=True)

    def login(header: str) -> None:
        if not isinstance(auth.login(header, secure=True), Granted):
            raise AssertionError("a login failed")

    def refresh() -> None:
        body = f"grant_type=refresh_token&refresh_token={chain[0]}".encode()
        result = auth.refresh(request, body=body, content_type=FORM_CONTENT_TYPE)
        if not isinstance(result, Granted) or result.refresh_token is None:
            raise AssertionError(f"a refresh failed: {result}")
        chain[0] = result.refresh_token

    best = {"refresh": 0.0, "password_login": 0.0, "api_key_login": 0.0}
    for _ in range(rounds):
        best["refresh"] = max(best["refresh"], _rate(refresh, seconds))
        best["password_login"] = max(
            best["password_login"], _rate(lambda: login(password), seconds)
        )
        best["api_key_login"] = max(best["api_key_login"], _rate(lambda: login(api_key), seconds))
    reused = auth.refresh(
        request, body=f"grant_type=refresh_token&refresh_token={first.refresh_token}".encode(),
        content_type=FORM_CONTENT_TYPE,
    )  # fmt: skip
    assert isinstance(reused, InvalidGrant), "the chain's first token was not used up"
    return best


async def _flood(seconds: float, flooders: int, cap: int | None = None) -> dict[str, float]:
    users = MemoryUserRegistry()
    # Flooders log in again the moment they are answered: with shedding on, a
    # 503 would come back at once and the loop would spin; this measures the cap.
    auth = AsyncTokenAuth(
        keys=KeySet.generate("RS256"), store=AsyncMemoryStore(), users=users,
        max_concurrent_hashes=cap, max_login_wait=None,
    )  # fmt: skip
    await auth.add_user("alice", "correct horse battery")
    granted = await auth.login(_basic("alice", "correct horse battery"), secure=True)
    assert isinstance(granted, Granted)
    bearer = f"Bearer {granted.token}"

    async def validate_for(duration: float) -> float:
        count = 0
        start = time.perf_counter()
        deadline = start + duration
        while time.perf_counter() < deadline:
            result = await auth.authenticate(bearer, secure=True)
            if not isinstance(result, Authenticated):
                raise AssertionError(f"validation failed: {result}")
            count += 1
            # Each request is its own turn of the event loop, as in a server.
            await asyncio.sleep(0)
        return count / (time.perf_counter() - start)

    quiet = await validate_for(seconds)
    logins = 0
    stop = asyncio.Event()

    async def flooder() -> None:
        nonlocal logins
        while not stop.is_set():
            await auth.login(_basic("alice", "correct horse battery"), secure=True)
            logins += 1

    tasks = [asyncio.create_task(flooder()) for _ in range(flooders)]
    await asyncio.sleep(0.2)
    start_logins, start = logins, time.perf_counter()
    busy = await validate_for(seconds)
    login_rate = (logins - start_logins) / (time.perf_counter() - start)
    stop.set()
    await asyncio.gather(*tasks)
    return {
        "flooders": flooders,
        "max_concurrent_hashes": auth.max_concurrent_hashes,
        "validations_per_second_quiet": quiet,
        "validations_per_second_during_flood": busy,
        "ratio": busy / quiet,
        "password_logins_per_second": login_rate,
    }


#: The login-flood table: (label, max_login_wait, throttled, wrong passwords).
BURSTS = (
    ("200 good logins, queued (max_login_wait=None)", None, False, False),
    ("200 good logins, shed past 3 s (the default)", 3.0, False, False),
    ("200 guesses at one account, throttle and shedding on", 3.0, True, True),
)
#: The same flood on the sync front door (logins in threads, as a threaded WSGI
#: server runs them): only the shed row, since queued threads cannot be given up on.
SYNC_BURSTS = (("200 good logins, sync TokenAuth in threads, shed past 3 s", 3.0),)
#: A login answered later than this counts as lost: most clients have given up.
ANSWER_WITHIN = 5.0
#: How long the bench waits for a burst before it cancels the logins still queued.
GIVE_UP_AFTER = 20.0


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")


async def _burst(
    logins: int, *, max_login_wait: float | None, throttled: bool, wrong: bool
) -> dict[str, Any]:
    """``logins`` password logins at once, with validations running beside them."""
    users = MemoryUserRegistry()
    auth = AsyncTokenAuth(
        keys=KeySet.generate("RS256"), store=AsyncMemoryStore(), users=users,
        max_login_wait=max_login_wait,
        throttle=LoginThrottle(MemoryCounters()) if throttled else None,
    )  # fmt: skip
    await auth.add_user("alice", "correct horse battery")
    granted = await auth.login(_basic("alice", "correct horse battery"), secure=True)
    assert isinstance(granted, Granted)
    bearer = f"Bearer {granted.token}"
    latencies: list[float] = []
    done = asyncio.Event()

    async def validate() -> None:
        while not done.is_set():
            # A request every millisecond; its latency counts from when it was due,
            # so the time the event loop took to come back to it is included.
            due = time.perf_counter() + 0.001
            await asyncio.sleep(0.001)
            result = await auth.authenticate(bearer, secure=True)
            latencies.append(max(0.0, time.perf_counter() - due))
            if not isinstance(result, Authenticated):
                raise AssertionError(f"validation failed: {result}")

    async def quiet(duration: float) -> list[float]:
        validator = asyncio.create_task(validate())
        await asyncio.sleep(duration)
        done.set()
        await validator
        measured = latencies[:]
        latencies.clear()
        done.clear()
        return measured

    quiet_latencies = await quiet(1.0)
    start = time.perf_counter()

    async def one(i: int) -> tuple[int, float]:
        password = f"guess {i}" if wrong else "correct horse battery"
        result = await auth.login(
            Request(authorization=_basic("alice", password), secure=True, client="203.0.113.7")
        )
        return result.status, time.perf_counter() - start

    validator = asyncio.create_task(validate())
    tasks = [asyncio.create_task(one(i)) for i in range(logins)]
    finished, unanswered = await asyncio.wait(tasks, timeout=GIVE_UP_AFTER)
    for task in unanswered:  # queued behind the hashes still running: give up on them
        task.cancel()
    await asyncio.gather(*unanswered, return_exceptions=True)
    done.set()
    await validator
    answers = [task.result() for task in finished]
    return _burst_result(logins, quiet_latencies, latencies, answers, len(unanswered))


def _burst_result(
    logins: int,
    quiet_latencies: list[float],
    latencies: list[float],
    answers: list[tuple[int, float]],
    unanswered: int,
) -> dict[str, Any]:
    """One row of the login-flood table, from the answers (status, seconds) that came."""
    within = [status for status, at in answers if at <= ANSWER_WITHIN]
    return {
        "logins": logins,
        "validation_p99_ms_quiet": _p99(quiet_latencies) * 1e3,
        "validation_p99_ms": _p99(latencies) * 1e3,
        "answered_within_5s": len(within) / logins,
        "share": {str(code): within.count(code) / logins for code in (200, 401, 429, 503)},
        "unanswered_after_s": GIVE_UP_AFTER,
        "unanswered": unanswered / logins,
        "slowest_s": max((at for _, at in answers), default=float("nan")),
    }


def _sync_burst(logins: int, *, max_login_wait: float) -> dict[str, Any]:
    """``logins`` password logins at once on :class:`TokenAuth`, each in its own thread.

    As a threaded WSGI server runs them, with validations in another thread
    beside them (one due every millisecond, latency counted from when it was due).
    """
    auth = TokenAuth(
        keys=KeySet.generate("RS256"), store=MemoryStore(), users=MemoryUserRegistry(),
        max_login_wait=max_login_wait,
    )  # fmt: skip
    auth.add_user("alice", "correct horse battery")
    granted = auth.login(_basic("alice", "correct horse battery"), secure=True)
    assert isinstance(granted, Granted)
    bearer = f"Bearer {granted.token}"
    latencies: list[float] = []
    done = threading.Event()

    def validate() -> None:
        while not done.is_set():
            due = time.perf_counter() + 0.001
            time.sleep(0.001)
            result = auth.authenticate(bearer, secure=True)
            latencies.append(max(0.0, time.perf_counter() - due))
            if not isinstance(result, Authenticated):
                raise AssertionError(f"validation failed: {result}")

    validator = threading.Thread(target=validate)
    validator.start()
    time.sleep(1.0)
    done.set()
    validator.join()
    quiet_latencies = latencies[:]
    latencies.clear()
    done.clear()
    answers: list[tuple[int, float]] = []
    gate = threading.Barrier(logins + 1)
    start = 0.0

    def one() -> None:
        gate.wait()
        result = auth.login(_basic("alice", "correct horse battery"), secure=True)
        answers.append((result.status, time.perf_counter() - start))

    threads = [threading.Thread(target=one, daemon=True) for _ in range(logins)]
    for thread in threads:
        thread.start()
    validator = threading.Thread(target=validate)
    validator.start()
    start = time.perf_counter()
    gate.wait()
    for thread in threads:  # a thread still hashing at the deadline is left to finish
        thread.join(max(0.0, start + GIVE_UP_AFTER - time.perf_counter()))
    done.set()
    validator.join()
    answered = list(answers)
    return _burst_result(logins, quiet_latencies, latencies, answered, logins - len(answered))


def run(*, seconds: float, burst: int = 200) -> dict[str, Any]:
    rates = {alg: api_key_logins(alg, seconds) for alg in ("RS256", "ES256", "EdDSA", "HS256")}
    refresh = refresh_vs_logins(seconds)
    flood = asyncio.run(_flood(seconds, flooders=64))
    # The former fixed cap, for comparison: 4 hashes of 4 lanes each.
    flood_at_4 = asyncio.run(_flood(seconds, flooders=64, cap=4))
    bursts = {
        label: asyncio.run(_burst(burst, max_login_wait=wait, throttled=throttled, wrong=wrong))
        for label, wait, throttled, wrong in BURSTS
    }
    for label, wait in SYNC_BURSTS:
        bursts[label] = _sync_burst(burst, max_login_wait=wait)
    return {
        "api_key_per_second": rates, "flood": flood, "flood_at_4": flood_at_4, "bursts": bursts,
        "refresh": refresh,
    }  # fmt: skip


def describe_refresh(rates: dict[str, float]) -> list[str]:
    """The refresh-against-login table, as docs/performance.md quotes it."""
    lines = [
        "| ES256, memory store, one thread | per second | a refresh is |",
        "|---|---:|---:|",
        f"| refresh (rotation) | {rates['refresh']:,.0f} | |",
    ]
    for key, label in (("password_login", "password login"), ("api_key_login", "API-key login")):
        ratio = rates["refresh"] / rates[key]
        lines.append(f"| {label} | {rates[key]:,.0f} | {ratio:,.1f}x as fast |")
    return lines


def describe(measured: dict[str, Any]) -> str:
    lines = ["| API-key logins, by signing algorithm | logins/s |", "|---|---:|"]
    for alg, rate in measured["api_key_per_second"].items():
        lines.append(f"| {alg} | {rate:,.0f} |")
    lines.append("")
    lines.append(
        "An RSA-2048 signature alone takes about 0.3 ms, which bounds RS256 logins near "
        "3,000-3,500/s per core; HS256 and EdDSA logins are bound by the rest of the flow."
    )
    if "refresh" in measured:
        lines += ["", *describe_refresh(measured["refresh"])]
    for key, label in (("flood", "default cap"), ("flood_at_4", "former cap of 4")):
        flood = measured[key]
        lines.append("")
        lines.append(
            f"Password-login flood, {label} ({flood['flooders']} clients logging in without "
            f"pause, at most {flood['max_concurrent_hashes']} argon2 hashes at once): "
            f"{flood['password_logins_per_second']:,.0f} logins/s while validation ran at "
            f"{flood['validations_per_second_during_flood']:,.0f}/s, against "
            f"{flood['validations_per_second_quiet']:,.0f}/s without the flood "
            f"({flood['ratio']:.2f}x)."
        )
    lines.append("")
    lines.append(
        "Login floods: all logins sent at once, validations of a live token running beside "
        "them. A login answered after 5 s counts as lost (most clients have given up)."
    )
    lines.append("")
    lines.append(
        "| burst | validation p99, quiet → flood | answered within 5 s | 200 | 401 | 429 | 503 "
        "| slowest answer |"
    )
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, burst in measured.get("bursts", {}).items():
        share = burst["share"]
        lines.append(
            f"| {label} | {burst['validation_p99_ms_quiet']:.1f} → "
            f"{burst['validation_p99_ms']:.1f} ms | {burst['answered_within_5s']:.0%} | "
            + " | ".join(f"{share[code]:.0%}" for code in ("200", "401", "429", "503"))
            + (
                f" | still queued at {burst['unanswered_after_s']:.0f} s: "
                f"{burst['unanswered']:.0%} |"
                if burst["unanswered"]
                else f" | {burst['slowest_s']:.1f} s |"
            )
        )
    return "\n".join(lines)
