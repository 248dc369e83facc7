"""The demo's server: TCP_NODELAY on what it accepts, and a graceful, quick SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.asgi.support import free_port
from tokenauth_asgi._demo_server import bind, event_loop_factory, http_parser

from .test_demo import READY, START_WAIT

pytest.importorskip("uvicorn")

#: The bound the issue sets: a container runtime's stop timeout is often 10 s.
STOP_BOUND = 5.0


def _accepted_nodelay(listener: socket.socket) -> int:
    host, port = listener.getsockname()[:2]
    with socket.create_connection((host, port)) as client:
        accepted, _ = listener.accept()
        with accepted, client:
            return accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_connections_the_demo_accepts_have_tcp_nodelay() -> None:
    listener = bind("127.0.0.1", 0, "HTTPS", "--port")
    with listener.sock:
        assert listener.sock.proto == socket.IPPROTO_TCP  # asyncio sets TCP_NODELAY itself then
        assert _accepted_nodelay(listener.sock) != 0


def test_a_create_server_listener_accepts_without_tcp_nodelay() -> None:
    """The cause of the 44 ms answers: what the check above would catch."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        assert listener.proto == 0
        assert _accepted_nodelay(listener) == 0


def test_the_demo_picks_uvloop_and_httptools_when_installed() -> None:
    pytest.importorskip("uvloop")
    pytest.importorskip("httptools")
    assert event_loop_factory()[1] == "uvloop"
    assert http_parser() == "httptools"


# A server of the demo's (serve(), as `tokenauth demo` runs it) whose /slow takes a second.
SERVER = """
import asyncio, json, sys
from pathlib import Path
import uvicorn
from tokenauth_asgi._demo_server import bind, run, self_signed, serve

async def app(scope, receive, send):
    if scope["path"] == "/slow":
        await asyncio.sleep(1.0)
    body = scope["path"].encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

workdir = Path(sys.argv[1])
listener = bind("127.0.0.1", 0, "HTTPS", "--port")
cert, key = self_signed(workdir, "127.0.0.1")
ready = lambda: (workdir / "ready").write_text(json.dumps([listener.url, str(cert)]))
run(serve(app, listener, None, None, cert, key, uvicorn, ready))
print("stopped")
"""


def _request(sock: ssl.SSLSocket, path: str) -> None:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())


def _response(sock: ssl.SSLSocket) -> bytes:
    """One whole response (the test app always sends Content-Length)."""
    data = b""
    while True:
        head, found, body = data.partition(b"\r\n\r\n")
        if found:
            fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
            if len(body) >= int(fields[b"content-length"]):
                return data
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def test_sigterm_finishes_requests_in_flight_and_cuts_idle_connections(tmp_path: Path) -> None:
    """SIGTERM with an idle keep-alive client and a request in flight: the request is
    answered in full, and the server is gone within 5 s (not the 30 s of a TLS close)."""
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(tmp_path)], stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + START_WAIT
        while not (tmp_path / "ready").exists():
            assert server.poll() is None, "the server exited"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        url, cacert = json.loads((tmp_path / "ready").read_text())
        port = int(url.rsplit(":", 1)[1])
        context = ssl.create_default_context(cafile=cacert)
        idle, busy = (
            context.wrap_socket(
                socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1"
            )
            for _ in range(2)
        )
        with idle, busy:
            _request(idle, "/fast")
            assert _response(idle).endswith(b"/fast")  # a keep-alive connection, now idle
            _request(busy, "/slow")
            time.sleep(0.3)  # /slow is being served: it takes a second
            stopping = time.monotonic()
            server.send_signal(signal.SIGTERM)
            assert _response(busy).startswith(b"HTTP/1.1 200")
            output, _ = server.communicate(timeout=30)
            took = time.monotonic() - stopping
            assert idle.recv(1) == b""  # the idle connection was closed
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0, output
    assert b"stopped" in output
    assert took < STOP_BOUND


def test_the_demo_stops_within_seconds_with_an_idle_keep_alive_client(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "tokenauth.cli", "demo", "--port", str(port),
             "--http-port", "0"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + START_WAIT
        while READY not in log.read_text():
            assert demo.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert "serving on uvloop with the httptools HTTP parser" in log.read_text()
        with httpx.Client(verify=False) as client:  # noqa: S501 - the demo's own certificate
            assert client.get(f"https://127.0.0.1:{port}/health").status_code == 200
            stopping = time.monotonic()
            demo.send_signal(signal.SIGTERM)  # the client's pooled connection stays open
            demo.wait(timeout=30)
            took = time.monotonic() - stopping
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 0, log.read_text()
    assert took < STOP_BOUND, log.read_text()
