"""Load shedding in the sync front door, through each WSGI flavour on a real server over TLS.

The contract's row: a password login that the hash queue would keep waiting
longer than ``max_login_wait`` is answered 503 with ``Retry-After`` at once;
token validations (and API-key logins, which hash nothing) are unaffected.
Here the hashes are held at a gate, so "at once" is shown without timing
anything: the shed logins are answered while the admitted ones are still
stuck in their hash, and only one hash runs at a time (one slot).
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import argon2
import httpx
import pytest
from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

from tests.wsgi.apps import BUILDERS, KEYS, PASSWORD, PEPPER
from tests.wsgi.conftest import Certs
from tokenauth import MemoryApiKeyRegistry, MemoryStore, MemoryUserRegistry, TokenAuth

#: Seconds the test waits for something it expects to happen.
WAIT = 10


class GatedHasher(argon2.PasswordHasher):
    """A cheap hasher whose verifications wait at a gate, and say when they start."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.gate = threading.Event()
        self.started = threading.Semaphore(0)

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.started.release()
        assert self.gate.wait(WAIT)
        return super().verify(hash, password)


def basic(raw: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode("ascii")}


@pytest.fixture
def serve_threads(certs: Certs) -> Iterator[object]:
    """Start a cheroot server over TLS with enough threads for a flood; stop it afterwards."""
    started: list[tuple[wsgi.Server, threading.Thread]] = []

    def start(app: object) -> str:
        server = wsgi.Server(("127.0.0.1", 0), app, numthreads=16, shutdown_timeout=1)
        server.ssl_adapter = BuiltinSSLAdapter(str(certs.cert_file), str(certs.key_file))
        server.prepare()
        thread = threading.Thread(target=server.serve, daemon=True)
        thread.start()
        started.append((server, thread))
        return f"https://127.0.0.1:{server.bind_addr[1]}"

    yield start
    for server, thread in started:
        server.stop()
        thread.join(WAIT)


@pytest.mark.parametrize("framework", sorted(BUILDERS))
def test_logins_past_the_bound_get_503_at_once_and_validations_go_on(
    framework: str, serve_threads: object, certs: Certs
) -> None:
    hasher = GatedHasher()
    hasher.gate.set()
    auth = TokenAuth(
        keys=KEYS, store=MemoryStore(), users=MemoryUserRegistry(),
        api_keys=MemoryApiKeyRegistry(), pepper=PEPPER, hasher=hasher,
        max_concurrent_hashes=1, max_login_wait=2.5,
    )  # fmt: skip
    auth.add_user("alice", PASSWORD)
    key, _ = auth.create_api_key("svc")
    base = serve_threads(BUILDERS[framework](auth))  # type: ignore[operator]
    with httpx.Client(verify=certs.client_context, timeout=WAIT) as client:
        granted = client.post(f"{base}/token", headers=basic(f"alice:{PASSWORD}"))
        assert granted.status_code == 200
        while hasher.started.acquire(blocking=False):
            pass
        bearer = {"Authorization": f"Bearer {granted.json()['token']}"}
        hasher.gate.clear()
        # One hash now "takes" a second: with one slot and a 2.5 s bound, a login
        # with 0 or 1 ahead of it fits (1 s, 2 s); the rest are shed.
        for _ in range(50):
            auth.hash_queue.observe(1.0)
        with ThreadPoolExecutor(6) as pool:
            logins = [
                pool.submit(client.post, f"{base}/token", headers=basic(f"alice:{PASSWORD}"))
                for _ in range(6)
            ]
            # Four answers come back while the admitted two are held at the gate.
            answered = []
            for _ in range(WAIT * 100):
                answered = [f for f in logins if f.done()]
                if len(answered) == 4:
                    break
                threading.Event().wait(0.01)
            assert len(answered) == 4, "the shed logins were not answered while hashes ran"
            assert hasher.started.acquire(timeout=WAIT)  # one hash is running ...
            assert not hasher.started.acquire(timeout=0.2)  # ... and only one: one slot
            assert auth.hash_queue.pending == 2
            # Meanwhile validations and API-key logins go straight through.
            assert client.get(f"{base}/api/me", headers=bearer).status_code == 200
            by_key = client.post(f"{base}/token", headers=basic(f"{key}:"))
            assert by_key.status_code == 200
            hasher.gate.set()
            results = [f.result() for f in logins]
    shed = [r for r in results if r.status_code == 503]
    assert sorted(r.status_code for r in results) == [200, 200, 503, 503, 503, 503]
    for response in shed:
        assert int(response.headers["retry-after"]) >= 1
        assert response.json()["error"] == "temporarily_unavailable"
        assert "www-authenticate" not in response.headers
    assert auth.hash_queue.pending == 0


def test_without_a_bound_the_sync_front_door_queues_every_login() -> None:
    """max_login_wait=None: however long the learned hash time, every login is served."""
    auth = TokenAuth(
        keys=KEYS, store=MemoryStore(), users=MemoryUserRegistry(),
        hasher=argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
        max_login_wait=None,
    )  # fmt: skip
    auth.add_user("alice", PASSWORD)
    for _ in range(50):
        auth.hash_queue.observe(100.0)
    header = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: auth.login(header, secure=True).status, range(8)))
    assert results == [200] * 8
    assert auth.hash_queue.pending == 0
