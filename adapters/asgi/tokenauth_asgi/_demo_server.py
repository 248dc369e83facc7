"""The demo's server: listening sockets, a self-signed certificate, redacting logs, uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import os
import signal
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenauth.cli import fail


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
        sock = socket.create_server(address, family=family)
    except OSError as exc:
        fail(f"cannot listen for {what} on {host}:{port}: {exc.strerror}; choose another {flag}")
    bound = sock.getsockname()
    shown = f"[{bound[0]}]" if family == socket.AF_INET6 else bound[0]
    scheme = "https" if what == "HTTPS" else "http"
    return Listener(sock, f"{scheme}://{shown}:{bound[1]}")


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


def quiet_signals(uvicorn: Any) -> Callable[[Any], Any]:
    """A uvicorn ``Server`` that leaves signals to the demo, which stops both listeners."""

    class Server(uvicorn.Server):  # type: ignore[misc]
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

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
        "log_config": log_config(), "lifespan": "off", "ws": "none",
        # tokenauth itself decides which peers' forwarding headers count (none here):
        # uvicorn's own handling would trust X-Forwarded-Proto from 127.0.0.1.
        "proxy_headers": False, "server_header": False,
    }  # fmt: skip
    server_class = quiet_signals(uvicorn)
    servers = [
        server_class(
            uvicorn.Config(app, ssl_certfile=str(cert_file), ssl_keyfile=str(key_file), **common)
        )
    ]
    sockets = [https.sock]
    if http is not None:
        servers.append(server_class(uvicorn.Config(refuser, **common)))
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
