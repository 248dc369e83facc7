"""Real servers for the ASGI tests: uvicorn in a thread, over TLS with a throwaway CA."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import argon2
import trustme
import uvicorn

from tokenauth import (
    AsyncMemoryStore,
    AsyncTokenAuth,
    Key,
    KeySet,
    MemoryApiKeyRegistry,
    MemoryUserRegistry,
    StoreUnreachableError,
    TokenRecord,
    generate_api_key,
    new_user,
)
from tokenauth.testing import FrozenClock
from tokenauth_asgi import ASGIApp

ISSUER = "https://api.test"
AUDIENCE = "api.test"
REALM = "test-api"
PEPPER = b"p" * 32
#: Cheap argon2 parameters: the tests check behaviour, not hashing cost.
FAST_HASHER = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
START_WAIT = 15.0


@dataclass
class TLS:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost."""

    cert_file: Path
    key_file: Path
    client_context: ssl.SSLContext

    @classmethod
    def make(cls, directory: Path) -> TLS:
        ca = trustme.CA()
        leaf = ca.issue_cert("127.0.0.1", "localhost")
        cert_file, key_file = directory / "cert.pem", directory / "key.pem"
        leaf.cert_chain_pems[0].write_to_path(cert_file)
        for extra in leaf.cert_chain_pems[1:]:
            extra.write_to_path(cert_file, append=True)
        leaf.private_key_pem.write_to_path(key_file)
        context = ssl.create_default_context()
        ca.configure_trust(context)
        return cls(cert_file, key_file, context)


class FlakyStore(AsyncMemoryStore):
    """The in-memory store, which can be switched off to act like an unreachable service."""

    __slots__ = ("down",)

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise StoreUnreachableError("the test switched the store off")

    async def add(self, record: TokenRecord) -> None:
        self._check()
        await super().add(record)

    async def get(self, jti: str) -> TokenRecord | None:
        self._check()
        return await super().get(jti)

    async def remove(self, jti: str) -> bool:
        self._check()
        return await super().remove(jti)


@dataclass
class World:
    """One configured front door and the credentials it knows."""

    auth: AsyncTokenAuth
    store: FlakyStore
    clock: FrozenClock
    keys: KeySet
    users: MemoryUserRegistry
    api_keys: MemoryApiKeyRegistry
    api_key: str = field(repr=False)
    api_key_id: str
    revoked_api_key: str = field(repr=False)


def make_world(keys: KeySet | None = None, **options: Any) -> World:
    """A front door with user alice (password "correct horse") and two API keys, one revoked."""
    clock = FrozenClock(time.time())
    keys = keys or KeySet.generate("RS256")
    store = FlakyStore()
    users = MemoryUserRegistry()
    api_keys = MemoryApiKeyRegistry()
    now = int(clock())
    users.add_user(new_user("alice", "correct horse", now=now, hasher=FAST_HASHER))
    users.add_user(new_user("zoë", "pässword:with:colons", now=now, hasher=FAST_HASHER))
    key, record = generate_api_key(subject="billing", name="cron", pepper=PEPPER, now=now)
    api_keys.add_key(record)
    revoked, revoked_record = generate_api_key(subject="old", name="old", pepper=PEPPER, now=now)
    api_keys.add_key(revoked_record)
    api_keys.revoke_key(revoked_record.key_id, now)
    settings: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, "realm": REALM}
    settings.update(options)
    auth = AsyncTokenAuth(
        keys=keys, store=store, users=users, api_keys=api_keys, pepper=PEPPER,
        hasher=FAST_HASHER, clock=clock, **settings,
    )  # fmt: skip
    return World(auth, store, clock, keys, users, api_keys, key, record.key_id, revoked)


def free_socket() -> socket.socket:
    """A listening-ready TCP socket bound to an ephemeral loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def free_port() -> int:
    """An ephemeral loopback port that was free a moment ago."""
    with free_socket() as sock:
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def serve(app: ASGIApp | Any, *, tls: TLS | None, **config: Any) -> Iterator[str]:
    """Run ``app`` on uvicorn in a thread; yields the base URL; always stops the server."""
    sock = free_socket()
    port = sock.getsockname()[1]
    tls_options: dict[str, Any] = {}
    if tls is not None:
        tls_options = {"ssl_certfile": str(tls.cert_file), "ssl_keyfile": str(tls.key_file)}
    options: dict[str, Any] = {
        "log_level": "warning", "lifespan": "off", "ws": "none", "proxy_headers": False,
        "access_log": False,
    }  # fmt: skip
    options.update(config)
    server = uvicorn.Server(uvicorn.Config(app, **tls_options, **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_WAIT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(START_WAIT)
        sock.close()


def basic(username: str | bytes, password: str | bytes = b"") -> str:
    """An ``Authorization: Basic`` value for these credentials."""
    user = username.encode() if isinstance(username, str) else username
    secret = password.encode() if isinstance(password, str) else password
    return "Basic " + base64.b64encode(user + b":" + secret).decode("ascii")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def signed(key: Key, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A compact JWS of ``header`` and ``claims`` signed by ``key``, whatever the header says."""
    parts = [b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode())]
    signing_input = ".".join(parts).encode()
    return ".".join([*parts, b64url(key.sign(signing_input))])


def payload(token: str) -> dict[str, Any]:
    """The (unverified) claims of a compact JWS."""
    part = token.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return data
