"""The demo's server: listening sockets, a self-signed certificate, redacting logs, uvicorn.

What makes it worth copying into a production set-up:

- Its sockets are TCP sockets with ``TCP_NODELAY``. A socket made by
  ``socket.create_server`` has protocol 0, so asyncio does not recognise it as
  TCP and never sets ``TCP_NODELAY`` on the connections it accepts: each small
  TLS response then waits for the client's delayed ACK (about 40 ms on Linux),
  some 22 requests/s on one keep-alive connection.
- It runs on uvloop and parses HTTP with httptools when they are installed (the
  standard loop's memory grew without levelling off under sustained load).
- SIGTERM (or Ctrl+C) stops it gracefully within seconds: no new connections,
  requests in flight finish (up to :data:`IN_FLIGHT_LIMIT` seconds), and idle
  keep-alive connections are closed. A TLS connection waits for the client's
  own close_notify once closed, 30 s by default when an idle client never reads
  (a ``requests.Session`` pool), so an idle connection still there after
  :data:`IDLE_CLOSE_GRACE` seconds is cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import os
import signal
import socket
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tokenauth.cli import fail

_T = TypeVar("_T")

#: Seconds a request in flight at SIGTERM may take to finish before it is cancelled.
IN_FLIGHT_LIMIT = 10.0
#: Seconds an idle connection gets to finish its TLS close once asked, before it is cut.
IDLE_CLOSE_GRACE = 0.5


@dataclass
class Listener:
    """A bound listening socket and the URL it serves."""

    sock: socket.socket
    url: str


def bind(host: str, port: int, what: str, flag: str) -> Listener:
    """Listen on ``host:port`` (0 for any free port), or fail naming the option to change."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        fail(f"cannot resolve --host {host!r}: {exc.strerror}")
    family, _, _, _, address = infos[0]
    try:
        sock = tcp_listener(family, address)
    except OSError as exc:
        fail(f"cannot listen for {what} on {host}:{port}: {exc.strerror}; choose another {flag}")
    bound = sock.getsockname()
    shown = f"[{bound[0]}]" if family == socket.AF_INET6 else bound[0]
    scheme = "https" if what == "HTTPS" else "http"
    return Listener(sock, f"{scheme}://{shown}:{bound[1]}")


def tcp_listener(family: socket.AddressFamily, address: Any) -> socket.socket:
    """A listening TCP socket whose accepted connections have ``TCP_NODELAY`` set.

    The socket is made with ``IPPROTO_TCP`` (so that asyncio sets ``TCP_NODELAY``
    on what it accepts), and the option is set on the listener too: Linux copies
    it to every accepted connection, whatever loop serves them.
    """
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if os.name not in ("nt", "cygwin"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
        sock.listen(socket.SOMAXCONN)
    except OSError:
        sock.close()
        raise
    return sock


def event_loop_factory() -> tuple[Callable[[], asyncio.AbstractEventLoop], str]:
    """Uvloop's loop when uvloop is installed, else asyncio's; and its name."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop, "asyncio"
    return uvloop.new_event_loop, "uvloop"


def http_parser() -> str:
    """Uvicorn's ``http`` setting: httptools when installed, else h11."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "httptools"


def run(main: Coroutine[Any, Any, _T]) -> _T:
    """Run ``main`` to completion on the best event loop installed (uvloop, else asyncio)."""
    factory, _ = event_loop_factory()
    loop = factory()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def self_signed(directory: Path, host: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, ::1, localhost and ``host``, and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    try:
        extra: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        extra = x509.DNSName(host)
    if extra not in names and host not in ("0.0.0.0", "::"):  # noqa: S104 - comparing, not binding
        names.append(extra)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tokenauth demo")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return cert_file, key_file


def log_config() -> dict[str, Any]:
    """Uvicorn's logging, with every handler behind the redacting filter, plus audit events."""
    redact = ["redact"]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "tokenauth.RedactingFilter"}},
        "formatters": {
            "default": {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": "%(levelprefix)s %(message)s",
            },
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
            },
            "audit": {"format": "%(levelname)-8s audit: %(message)s"},
        },
        "handlers": {
            "default": {"formatter": "default", "class": "logging.StreamHandler",
                        "stream": "ext://sys.stderr", "filters": redact},
            "access": {"formatter": "access", "class": "logging.StreamHandler",
                       "stream": "ext://sys.stdout", "filters": redact},
            "audit": {"formatter": "audit", "class": "logging.StreamHandler",
                      "stream": "ext://sys.stderr", "filters": redact},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO", "filters": redact},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False,
                               "filters": redact},
            "tokenauth": {"handlers": ["audit"], "level": "INFO", "propagate": False},
        },
    }  # fmt: skip


def _idle(connection: Any) -> bool:
    """Whether a uvicorn connection has no request in flight (h11 and httptools alike)."""
    cycle = getattr(connection, "cycle", None)
    return cycle is None or bool(getattr(cycle, "response_complete", True))


def server_class(uvicorn: Any) -> Callable[[Any], Any]:
    """A uvicorn ``Server`` that leaves signals to the demo and closes idle connections.

    Signals: the demo handles them, to stop both of its listeners at once.
    Shutdown: uvicorn stops accepting, lets requests in flight finish and asks
    each connection to close; a TLS connection whose client does not answer the
    close (an idle keep-alive pool) is cut after :data:`IDLE_CLOSE_GRACE` seconds
    instead of holding the exit for asyncio's 30 s TLS shutdown timeout.
    """

    class Server(uvicorn.Server):  # type: ignore[misc]
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            closing = asyncio.ensure_future(super().shutdown(sockets))
            idle_since: dict[Any, float] = {}
            loop = asyncio.get_running_loop()
            while not closing.done():
                now = loop.time()
                for connection in list(self.server_state.connections):
                    if not _idle(connection):
                        idle_since.pop(connection, None)
                    elif now - idle_since.setdefault(connection, now) >= IDLE_CLOSE_GRACE:
                        transport = getattr(connection, "transport", None)
                        if transport is not None:
                            transport.abort()
                await asyncio.wait([closing], timeout=0.05)
            await closing

    return Server


def on_stop_signals(stop: Callable[[], object]) -> Callable[[], None]:
    """Call ``stop`` on SIGINT or SIGTERM; returns the function that restores the handlers."""
    loop = asyncio.get_running_loop()
    handled = [signal.SIGINT, signal.SIGTERM]
    try:
        for sig in handled:
            loop.add_signal_handler(sig, stop)
    except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows, or not main thread
        return lambda: None

    def restore() -> None:
        for sig in handled:
            loop.remove_signal_handler(sig)

    return restore


async def serve(
    app: Any,
    https: Listener,
    http: Listener | None,
    refuser: Any,
    cert_file: Path,
    key_file: Path,
    uvicorn: Any,
    on_started: Callable[[], None],
) -> None:
    """Serve ``app`` over TLS on ``https`` and ``refuser`` on ``http`` until SIGINT or SIGTERM."""
    common: dict[str, Any] = {
        "log_config": log_config(), "lifespan": "off", "ws": "none", "http": http_parser(),
        "timeout_graceful_shutdown": IN_FLIGHT_LIMIT,
        # tokenauth itself decides which peers' forwarding headers count (none here):
        # uvicorn's own handling would trust X-Forwarded-Proto from 127.0.0.1.
        "proxy_headers": False, "server_header": False,
    }  # fmt: skip
    make_server = server_class(uvicorn)
    servers = [
        make_server(
            uvicorn.Config(app, ssl_certfile=str(cert_file), ssl_keyfile=str(key_file), **common)
        )
    ]
    sockets = [https.sock]
    if http is not None:
        servers.append(make_server(uvicorn.Config(refuser, **common)))
        sockets.append(http.sock)

    def stop_all() -> None:
        for server in servers:
            server.should_exit = True

    stop = on_stop_signals(stop_all)
    try:
        tasks = [
            asyncio.create_task(s.serve(sockets=[sock]))
            for s, sock in zip(servers, sockets, strict=True)
        ]
        while not all(s.started for s in servers):
            if any(t.done() for t in tasks):
                break
            await asyncio.sleep(0.02)
        else:
            on_started()
        await asyncio.gather(*tasks)
    finally:
        stop()
