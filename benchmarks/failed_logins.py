"""Failed logins: median time per kind of user, with the default argon2 parameters.

python -m benchmarks.failed_logins [--rounds N]

Four kinds of failed login go through ``TokenAuth.login``: an unknown user, a
disabled user, a wrong password for a user whose hash has the current
parameters, and a wrong password for a user whose hash was made with a third of
the work (``time_cost=1`` where the default is 3): the case a change of
parameters leaves behind. Rounds are interleaved in a fresh order each time so
that load from elsewhere falls on every kind alike; each kind's median is
printed with its distance from the unknown user's. docs/security.md quotes a run.
"""

from __future__ import annotations

import argparse
import base64
import random
import statistics
import time

import argon2

from tokenauth import (
    KeySet,
    MemoryStore,
    MemoryUserRegistry,
    TokenAuth,
    default_password_hasher,
    new_user,
)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def measure(rounds: int) -> dict[str, float]:
    """Median seconds of a failed login for each kind of user."""
    current = default_password_hasher()
    stale = argon2.PasswordHasher(
        time_cost=1, memory_cost=current.memory_cost, parallelism=current.parallelism
    )
    users = MemoryUserRegistry()
    auth = TokenAuth(keys=KeySet.generate("ES256"), store=MemoryStore(), users=users)
    auth.add_user("current", "right password")
    auth.add_user("disabled", "right password")
    users.set_disabled("disabled", True)
    users.add_user(new_user("stale", "right password", now=0, hasher=stale))
    headers = {
        "unknown": _basic("nobody", "wrong"),
        "disabled": _basic("disabled", "wrong"),
        "current": _basic("current", "wrong"),
        "stale": _basic("stale", "wrong"),
    }
    samples: dict[str, list[float]] = {kind: [] for kind in headers}
    order = list(headers)
    shuffle = random.Random(0).shuffle
    for kind in order:
        auth.login(headers[kind], secure=True)
    for _ in range(rounds):
        shuffle(order)
        for kind in order:
            started = time.perf_counter()
            auth.login(headers[kind], secure=True)
            samples[kind].append(time.perf_counter() - started)
    return {kind: statistics.median(values) for kind, values in samples.items()}


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=25)
    args = parser.parse_args()
    medians = measure(args.rounds)
    base = medians["unknown"]
    current = default_password_hasher()
    print(
        f"argon2id t={current.time_cost} m={current.memory_cost} KiB p={current.parallelism}, "
        f"{args.rounds} rounds"
    )
    for kind, value in medians.items():
        print(f"{kind:>9}: {value * 1000:7.1f} ms  ({(value - base) / base:+.1%})")


if __name__ == "__main__":
    main()
