"""Real servers for the WSGI binding: cheroot over TLS and over plain HTTP, in threads."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import trustme
from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

from tests.wsgi.apps import BUILDERS
from tokenauth import TokenAuth

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


@dataclass
class Swappable:
    """A WSGI app that forwards to whichever app a test mounted."""

    app: WSGIApplication | None = None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> object:
        assert self.app is not None, "no app mounted"
        return self.app(environ, start_response)


@dataclass
class Certs:
    ca: trustme.CA
    cert_file: Path
    key_file: Path
    client_context: ssl.SSLContext = field(repr=False)


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert.cert_chain_pems[0].write_to_path(cert_file)
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(cert_file, append=True)
    cert.private_key_pem.write_to_path(key_file)
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return Certs(ca, cert_file, key_file, context)


@dataclass
class Server:
    url: str
    server: wsgi.Server
    thread: threading.Thread


def _start(app: Swappable, certs: Certs | None) -> Server:
    server = wsgi.Server(("127.0.0.1", 0), app, numthreads=4, shutdown_timeout=1)
    scheme = "http"
    if certs is not None:
        server.ssl_adapter = BuiltinSSLAdapter(str(certs.cert_file), str(certs.key_file))
        scheme = "https"
    server.prepare()
    thread = threading.Thread(target=server.serve, name=f"cheroot-{scheme}", daemon=True)
    thread.start()
    port = server.bind_addr[1]
    return Server(f"{scheme}://127.0.0.1:{port}", server, thread)


def _stop(server: Server) -> None:
    server.server.stop()
    server.thread.join(timeout=10)
    assert not server.thread.is_alive(), "the server did not stop"


@dataclass
class Site:
    """The test API of one framework, served over HTTPS and plain HTTP."""

    framework: str
    https: str
    http: str
    mounted: Swappable

    def mount(self, auth: TokenAuth) -> TokenAuth:
        self.mounted.app = BUILDERS[self.framework](auth)
        return auth


@pytest.fixture(scope="session")
def servers(certs: Certs) -> Iterator[tuple[Swappable, Server, Server]]:
    app = Swappable()
    tls = _start(app, certs)
    try:
        plain = _start(app, None)
    except BaseException:
        _stop(tls)
        raise
    try:
        yield app, tls, plain
    finally:
        _stop(plain)
        _stop(tls)


@pytest.fixture(params=sorted(BUILDERS))
def site(request: pytest.FixtureRequest, servers: tuple[Swappable, Server, Server]) -> Site:
    app, tls, plain = servers
    app.app = None
    return Site(request.param, tls.url, plain.url, app)


@pytest.fixture(scope="session")
def client(certs: Certs) -> Iterator[httpx.Client]:
    with httpx.Client(verify=certs.client_context, timeout=10) as c:
        yield c
