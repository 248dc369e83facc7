"""Finding stores and registries by URL."""

from __future__ import annotations

import pytest

from tokenauth import (
    ConfigurationError,
    open_api_key_registry,
    open_user_registry,
)
from tokenauth.extend import (
    store_backend,
)


def test_memory_backend_keeps_no_registries() -> None:
    """The in-memory backend offers no persistent registries, and says so clearly."""
    assert hasattr(store_backend("memory://"), "open")
    with pytest.raises(ConfigurationError, match="keeps no users"):
        open_user_registry("memory://")
    with pytest.raises(ConfigurationError, match="keeps no API keys"):
        open_api_key_registry("memory://")


def test_unknown_scheme_names_the_package() -> None:
    """A known scheme whose adapter is missing names the package to install."""
    with pytest.raises(
        ConfigurationError, match="no token store is registered for the URL scheme 'ftp'"
    ):
        store_backend("ftp://x")
