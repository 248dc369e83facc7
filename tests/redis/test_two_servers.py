"""Two server processes share one Redis: a token revoked through one is refused by the other."""

from __future__ import annotations

import base64
import select
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tokenauth import Granted, KeySet, MemoryUserRegistry, TokenAuth, open_store
from tokenauth.testing import strategies as ts


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


TIMEOUT = 30.0

#: The other server: its own TokenAuth on the same Redis and the same key file.
OTHER_SERVER = """
import sys
from tokenauth import KeySet, TokenAuth, open_store

auth = TokenAuth(keys=KeySet.load(sys.argv[2]), store=open_store(sys.argv[1]))
for line in sys.stdin:
    print(auth.authenticate("Bearer " + line.strip(), secure=True).__class__.__name__, flush=True)
"""


def test_revoked_in_one_server_refused_by_the_other(
    store_urls: Callable[[], str], tmp_path: Path
) -> None:
    """Log in on server A; B accepts the token; log out on A; B refuses it on its next request."""
    url = store_urls()
    keys = KeySet.generate("ES256")
    keys.save(tmp_path / "keys.json")
    store = open_store(url)
    auth = TokenAuth(keys=keys, store=store, users=MemoryUserRegistry(), hasher=ts.fast_hasher())
    auth.add_user("alice", "pw")
    other = subprocess.Popen(
        [sys.executable, "-c", OTHER_SERVER, url, str(tmp_path / "keys.json")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert other.stdin is not None
    assert other.stdout is not None

    def ask(token: str) -> str:
        assert other.stdin is not None
        assert other.stdout is not None
        other.stdin.write(token + "\n")
        other.stdin.flush()
        ready, _, _ = select.select([other.stdout], [], [], TIMEOUT)
        assert ready, "the other server did not answer in time"
        return other.stdout.readline().strip()

    try:
        granted = auth.login(basic("alice", "pw"), secure=True)
        assert isinstance(granted, Granted)
        assert ask(granted.token) == "Authenticated"
        assert auth.logout(granted.token).status == 204
        assert ask(granted.token) == "Unauthorized"
        second = auth.login(basic("alice", "pw"), secure=True)
        assert isinstance(second, Granted)
        assert ask(second.token) == "Authenticated"
        assert auth.revoke_subject("alice") == 1
        assert ask(second.token) == "Unauthorized"
    finally:
        other.stdin.close()
        other.wait(timeout=TIMEOUT)
        other.stdout.close()
        store.close()
