"""The demo server before and after its server work, side by side (issue 13, item 3).

Both serve the same demo app over TLS from their own process:

- ``before``: what ``tokenauth demo`` did until now. A listener from
  ``socket.create_server`` (protocol 0, so asyncio never sets ``TCP_NODELAY`` on
  what it accepts) and the standard asyncio loop.
- ``after``: ``tokenauth_asgi._demo_server`` as the demo runs it now: a TCP
  listener with ``TCP_NODELAY``, uvloop and httptools.

A client on one keep-alive connection calls ``GET /me`` with a token as fast as
it can, one request after the other (the case delayed ACKs punish); then four
such clients run at once for a while, and the server's resident memory is read
after the first quarter of that and at its end.

    .venv/bin/python -m benchmarks.demo_server [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.client
import json
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

MODES = ("before", "after")
USER, PASSWORD = "bench", "bench-password"
#: Longest wait for a server to exit on SIGTERM (it is killed then).
STOP_WAIT = 45.0


def _serve(mode: str, ready: Path) -> None:
    import uvicorn

    from tokenauth import AsyncTokenAuth, KeySet, MemoryUserRegistry, new_user, open_async_store
    from tokenauth_asgi._demo import demo_app
    from tokenauth_asgi._demo_server import Listener, bind, run, self_signed, serve

    workdir = Path(tempfile.mkdtemp(prefix="bench-demo-"))
    cert, key = self_signed(workdir, "127.0.0.1")
    users = MemoryUserRegistry()
    users.add_user(new_user(USER, PASSWORD, now=int(time.time())))
    if mode == "before":
        sock = socket.create_server(("127.0.0.1", 0))
        listener = Listener(sock, f"https://127.0.0.1:{sock.getsockname()[1]}")
    else:
        listener = bind("127.0.0.1", 0, "HTTPS", "--port")
    auth = AsyncTokenAuth(
        keys=KeySet.generate("ES256"),
        store=open_async_store("memory://"),
        users=users,
        issuer=listener.url,
    )

    def started() -> None:
        ready.write_text(json.dumps({"url": listener.url, "cacert": str(cert)}))

    app = demo_app(auth)
    if mode == "after":
        run(serve(app, listener, None, None, cert, key, uvicorn, started))
        return
    config = uvicorn.Config(
        app, ssl_certfile=str(cert), ssl_keyfile=str(key), log_level="warning",
        lifespan="off", ws="none",
    )  # fmt: skip
    server = uvicorn.Server(config)

    async def main() -> None:
        task = asyncio.create_task(server.serve(sockets=[listener.sock]))
        while not server.started:
            await asyncio.sleep(0.02)
        started()
        await task

    asyncio.run(main())


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class _Client:
    def __init__(self, url: str, cacert: str) -> None:
        context = ssl.create_default_context(cafile=cacert)
        host, port = url.removeprefix("https://").rsplit(":", 1)
        self.connection = http.client.HTTPSConnection(host, int(port), context=context)
        basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        token = json.loads(self._get("/token", {"Authorization": f"Basic {basic}"}))["token"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def _get(self, path: str, headers: dict[str, str]) -> bytes:
        self.connection.request("GET", path, headers=headers)
        response = self.connection.getresponse()
        body = response.read()
        assert response.status == 200, (response.status, body)
        return body

    def run_for(self, seconds: float) -> int:
        count, deadline = 0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._get("/me", self.headers)
            count += 1
        return count


def measure(mode: str, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        ready = Path(directory) / "ready.json"
        server = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.demo_server", "--serve", mode, str(ready)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while not ready.exists() or not ready.read_text():
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the {mode} server did not start")
                time.sleep(0.05)
            where = json.loads(ready.read_text())
            one = _Client(where["url"], where["cacert"])
            one.run_for(0.5)  # warm-up
            rps = one.run_for(seconds) / seconds
            clients = [_Client(where["url"], where["cacert"]) for _ in range(4)]
            counts: list[int] = []
            load = seconds * 4
            threads = [
                threading.Thread(target=lambda c=c: counts.append(c.run_for(load))) for c in clients
            ]
            for thread in threads:
                thread.start()
            time.sleep(load / 4)
            rss_early = _rss_mb(server.pid)
            for thread in threads:
                thread.join()
            rss_end = _rss_mb(server.pid)
            # Stop it as a container runtime would, with the clients' connections open and idle.
            stopping = time.monotonic()
            server.terminate()
            try:
                server.wait(timeout=STOP_WAIT)
            except subprocess.TimeoutExpired:
                server.kill()
            stop_seconds = time.monotonic() - stopping
            return {
                "stop_seconds_with_idle_connections": stop_seconds,
                "one_connection_rps": rps,
                "four_connections_rps": sum(counts) / load,
                "rss_mb_after_quarter": rss_early,
                "rss_mb_at_end": rss_end,
            }
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()


def run_all(seconds: float) -> dict[str, dict[str, Any]]:
    """Measure both servers, each in its own process, one after the other."""
    return {mode: measure(mode, seconds) for mode in MODES}


def describe(measured: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| server | one keep-alive connection, requests/s | four connections, requests/s "
        "| RSS after 1/4 of the load, MB | RSS at the end, MB | SIGTERM to exit, s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for mode, row in measured.items():
        lines.append(
            f"| {mode} | {row['one_connection_rps']:,.0f} | {row['four_connections_rps']:,.0f} "
            f"| {row['rss_mb_after_quarter']:.1f} | {row['rss_mb_at_end']:.1f} "
            f"| {row['stop_seconds_with_idle_connections']:.1f} |"
        )
    ratio = measured["after"]["one_connection_rps"] / measured["before"]["one_connection_rps"]
    lines.append(f"\none keep-alive connection, after / before: {ratio:,.1f}x")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.demo_server")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--serve", nargs=2, metavar=("MODE", "READY_FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        _serve(args.serve[0], Path(args.serve[1]))
        return 0
    print(describe(run_all(args.seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
