from __future__ import annotations

from pathlib import Path

import pytest

from .support import TLS


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLS:
    directory: Path = tmp_path_factory.mktemp("tls")
    return TLS.make(directory)
