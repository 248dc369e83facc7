"""Instructions per request in uvicorn, counted by callgrind: what protection costs, repeatably.

``python -m benchmarks.instructions [--baseline REV] [--endpoints asgi,starlette] [--requests N]``

The end-to-end benchmark measures requests/s, which moves by several percent
from run to run on a shared machine. This one serves the same app
(``benchmarks._app``: one uvicorn worker, a bare ASGI callable, a Starlette
route or a FastAPI path operation, unprotected or behind
``tokenauth_asgi``'s middleware with the in-memory store) under
``valgrind --tool=callgrind`` and counts the instructions the server runs per
request. The count does not depend on what else the machine is doing, so two
versions can be compared to a fraction of a percent.

Each mode's server starts with counting off, takes 200 requests to warm up,
then serves a short and a long batch on one keep-alive connection; the
difference of the two counts divided by the difference of the two batch
sizes is the cost of one request, free of start-up and shut-down. The
protected requests carry ``X-Forwarded-Proto: https`` from loopback, a trusted
proxy, as in the end-to-end benchmark; the unprotected ones carry the same
headers and a real token, so the difference is tokenauth's work alone.

``--baseline REV`` measures that git revision too, from a temporary worktree,
and prints the change in the ratio. It needs valgrind (``apt-get install -y
valgrind``); each measurement takes about a minute per thousand requests.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .e2e import _free_port, _wait_for

ROOT = Path(__file__).resolve().parent.parent
_COLLECTED = re.compile(r"Collected : (\d+)")
_WARM_UP = 200
_ENDPOINTS = ("asgi", "starlette", "fastapi")


@dataclass(frozen=True)
class Count:
    """Instructions per request of one version of one endpoint, unprotected and protected."""

    endpoint: str
    unprotected: float
    protected: float

    @property
    def ratio(self) -> float:
        """Unprotected over protected: the share of the protected cost that is the app's."""
        return self.unprotected / self.protected


def _control(*args: object) -> None:
    subprocess.run(["callgrind_control", *map(str, args)], check=True, capture_output=True)


def _serve_and_count(tree: Path, endpoint: str, mode: str, requests: int) -> int:
    """Instructions the server ran for ``requests`` requests after the warm-up."""
    port = _free_port()
    out = Path(tempfile.mkdtemp(prefix="tokenauth-callgrind-")) / "callgrind.out"
    paths = [str(tree), str(tree / "adapters" / "asgi")]
    env = dict(os.environ, PYTHONHASHSEED="0", PYTHONPATH=os.pathsep.join(paths))
    command = [
        "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
        sys.executable, "-m", "benchmarks._app", endpoint, mode, str(port),
    ]  # fmt: skip
    server = subprocess.Popen(
        command, cwd=tree, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        # Both modes measured print "TOKEN <token> <loop> <http>" before serving.
        first = server.stdout.readline().split()
        if len(first) < 2 or first[0] != "TOKEN":
            server.kill()
            _, err = server.communicate()
            raise RuntimeError(f"the {endpoint} {mode} server did not start:\n{err[-2000:]}")
        _wait_for(port, timeout=120)
        headers = {"X-Forwarded-Proto": "https", "Authorization": f"Bearer {first[1]}"}
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

        def send(count: int) -> None:
            for _ in range(count):
                connection.request("GET", "/", headers=headers)
                response = connection.getresponse()
                body = response.read()
                if response.status != 200:
                    raise RuntimeError(f"{endpoint} {mode}: {response.status} {body!r}")

        _control("-i", "on", server.pid)  # count from here
        send(_WARM_UP)
        _control("-z", server.pid)  # and forget the warm-up
        send(requests)
        connection.close()
        server.send_signal(2)  # SIGINT: uvicorn stops, callgrind writes its totals
        _, err = server.communicate(timeout=300)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
        shutil.rmtree(out.parent, ignore_errors=True)
    found = _COLLECTED.search(err)
    if found is None:
        raise RuntimeError(f"callgrind printed no count for {endpoint} {mode}:\n{err[-2000:]}")
    return int(found.group(1))


def per_request(tree: Path, endpoint: str, mode: str, requests: int) -> float:
    """Instructions per request: a short and a long batch, their difference divided out."""
    short = _serve_and_count(tree, endpoint, mode, requests // 4)
    long = _serve_and_count(tree, endpoint, mode, requests)
    return (long - short) / (requests - requests // 4)


def count(tree: Path, endpoint: str, requests: int) -> Count:
    """Both modes of one endpoint in ``tree``."""
    return Count(
        endpoint,
        per_request(tree, endpoint, "unprotected_with_token", requests),
        per_request(tree, endpoint, "memory", requests),
    )


@contextmanager
def checkout(revision: str) -> Iterator[Path]:
    """A temporary detached worktree of ``revision``, removed afterwards."""
    place = Path(tempfile.mkdtemp(prefix="tokenauth-baseline-")) / "tree"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(place), revision],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield place
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(place)],
            check=False, capture_output=True,
        )  # fmt: skip
        shutil.rmtree(place.parent, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__)
    parser.add_argument("--baseline", help="a git revision to measure beside this checkout")
    parser.add_argument("--endpoints", default="asgi,starlette", help="asgi, starlette, fastapi")
    parser.add_argument("--requests", type=int, default=2000, help="requests in the long batch")
    args = parser.parse_args(argv)
    endpoints = [e for e in args.endpoints.split(",") if e]
    unknown = sorted(set(endpoints) - set(_ENDPOINTS))
    if unknown or not endpoints:
        parser.error(f"unknown endpoint {', '.join(unknown)}: pick from {', '.join(_ENDPOINTS)}")
    if args.requests < 100:
        parser.error("--requests must be at least 100")
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("valgrind is not installed: apt-get install -y valgrind", file=sys.stderr)
        return 2
    started = time.monotonic()
    rows: list[tuple[Count, Count | None]] = []
    with checkout(args.baseline) if args.baseline else _nothing() as base:
        for endpoint in endpoints:
            here = count(ROOT, endpoint, args.requests)
            there = count(base, endpoint, args.requests) if base is not None else None
            rows.append((here, there))
    print("| endpoint | version | unprotected | protected | added | unprotected / protected |")
    print("|---|---|---:|---:|---:|---:|")
    for here, there in rows:
        for name, row in (("baseline", there), ("this checkout", here)):
            if row is None:
                continue
            added = row.protected - row.unprotected
            print(
                f"| {row.endpoint} | {name} | {row.unprotected:,.0f} | {row.protected:,.0f} "
                f"| {added:,.0f} | {row.ratio:.4f} |"
            )
        if there is not None:
            change = here.ratio / there.ratio - 1
            print(f"| {here.endpoint} | change of the ratio | | | | {change:+.2%} |")
    print(f"\n{time.monotonic() - started:.0f} s")
    return 0


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
