"""Revocation reaches every process: two processes, two store clients, one Redis."""

from __future__ import annotations

import select
import subprocess
import sys
import time
from collections.abc import Callable

from tokenauth import TokenRecord, open_store

#: Every wait for the other process is bounded by this many seconds.
TIMEOUT = 30.0

#: The other process: a store of its own on the same URL, driven line by line over stdin.
CHILD = """
import sys
from tokenauth import open_store

store = open_store(sys.argv[1])
for line in sys.stdin:
    command, jti = line.split()
    if command == "get":
        print("present" if store.get(jti) is not None else "absent", flush=True)
    elif command == "remove":
        print("removed" if store.remove(jti) else "not-removed", flush=True)
store.close()
"""


class Child:
    def __init__(self, url: str) -> None:
        self.process = subprocess.Popen(  # this interpreter, this module's script
            [sys.executable, "-c", CHILD, url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, command: str, jti: str) -> str:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(f"{command} {jti}\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], TIMEOUT)
        assert ready, f"the other process did not answer {command!r} in time"
        return self.process.stdout.readline().strip()

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            assert self.process.wait(timeout=TIMEOUT) == 0
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            if self.process.stdout is not None:
                self.process.stdout.close()


def _record(jti: str) -> TokenRecord:
    now = int(time.time())
    return TokenRecord(
        jti=jti, subject="alice", issued_at=now, expires_at=now + 3600, method="password"
    )


def test_removal_in_one_process_is_seen_by_the_other(store_urls: Callable[[], str]) -> None:
    """A record removed through one store client is gone for another process's next get."""
    url = store_urls()
    store = open_store(url)
    child = Child(url)
    try:
        store.add(_record("two-a"))
        store.add(_record("two-b"))
        assert child.ask("get", "two-a") == "present"
        assert child.ask("get", "two-b") == "present"

        assert store.remove("two-a") is True
        assert child.ask("get", "two-a") == "absent"

        assert child.ask("remove", "two-b") == "removed"
        assert store.get("two-b") is None
        assert store.list_subject("alice") == []
    finally:
        try:
            child.close()
        finally:
            store.close()
