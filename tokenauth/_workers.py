"""Notice a front door whose keys or store cannot be shared by the server's worker processes.

gunicorn ``--workers N`` and uvicorn ``--workers N`` run N processes that each
import the application. A key set generated in each of them (``KeySet.generate``)
or an in-memory store gives every worker its own, and about ``(N-1)/N`` of the
requests then fail. Where the server can be recognised from the command lines
of this process and its parent (Linux ``/proc``), this logs a warning that names
the fix once, at start-up; elsewhere it stays silent.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ._health import say
from ._keys import KeySet
from ._memory import AsyncMemoryStore, MemoryStore

__all__ = ["server_workers", "warn_if_per_process"]

_SERVERS = ("gunicorn", "uvicorn")


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _workers_of(argv: list[str]) -> tuple[str, int] | None:
    """The server named in ``argv`` and its worker count, if it is gunicorn or uvicorn."""
    names = [Path(arg).name for arg in argv[:3]]
    server = next(
        (s for s in _SERVERS if any(n == s or n.startswith(s + "-") for n in names)), None
    )
    if server is None:
        return None
    count: str | None = None
    for i, arg in enumerate(argv):
        if arg in ("--workers", "-w") and i + 1 < len(argv):
            count = argv[i + 1]
        elif arg.startswith("--workers="):
            count = arg.partition("=")[2]
        elif arg.startswith("-w") and arg[2:].isdigit() and server == "gunicorn":
            count = arg[2:]
    # Both servers take their default worker count from WEB_CONCURRENCY.
    count = count or os.environ.get("WEB_CONCURRENCY")
    try:
        return server, int(count or "1")
    except ValueError:
        return None


def server_workers() -> tuple[str, int, bool] | None:
    """``(server, workers, forked_later)`` when this process serves several workers.

    ``forked_later`` is True when this process is the server's master, which
    imported the app before forking its workers (gunicorn ``--preload``): the
    workers then inherit one key set, but still each get a copy of any memory.
    """
    for pid, forked_later in ((os.getppid(), False), (os.getpid(), True)):
        found = _workers_of(_cmdline(pid))
        if found is not None and found[1] > 1:
            return found[0], found[1], forked_later
    return None


def warn_if_per_process(keys: KeySet, store: Any) -> None:
    """Log a warning if several workers will each have their own keys or store."""
    found = server_workers()
    if found is None:
        return
    server, workers, forked_later = found
    where = f"this process is one of {workers} {server} workers"
    if getattr(keys, "_in_process", False) and not forked_later:
        say(
            logging.WARNING,
            f"{where}, and its key set was generated in this process (KeySet.generate): "
            "each worker signs with its own key and refuses the others' tokens. Load one "
            "key set in every worker: keys=KeySet.load_or_create('/path/to/keys.json')",
        )
    if isinstance(store, MemoryStore | AsyncMemoryStore):
        say(
            logging.WARNING,
            f"{where}, and its token store is in this process's memory (memory://): a "
            "token issued by one worker is unknown to the others. Use a store they share: "
            "sqlite:///path/tokens.db on one machine, or PostgreSQL, MariaDB or Redis",
        )
