from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .support import TLS, serve


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLS:
    directory: Path = tmp_path_factory.mktemp("tls")
    return TLS.make(directory)


@pytest.fixture
def client_of(tls: TLS) -> Iterator[Callable[[Any], httpx.Client]]:
    """Serve an app on uvicorn over TLS and give a client for it; everything stops at the end."""
    stack: list[Any] = []

    def open_client(app: Any) -> httpx.Client:
        server = serve(app, tls=tls)
        url = server.__enter__()
        client = httpx.Client(base_url=url, verify=tls.client_context, timeout=10)
        stack.append((server, client))
        return client

    yield open_client
    for server, client in stack:
        client.close()
        server.__exit__(None, None, None)
