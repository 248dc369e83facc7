"""Test kit for tokenauth users: a frozen clock, strategies and the store contracts.

Needs the ``testing`` extra (``pip install 'tokenauth-core[testing]'``) for Hypothesis and pytest.
"""

from __future__ import annotations

from . import strategies
from ._clock import FrozenClock
from ._contract import AsyncTokenStoreContract, TokenStoreContract
from ._registry_contract import (
    ApiKeyRegistryContract,
    AsyncApiKeyRegistryContract,
    AsyncUserRegistryContract,
    UserRegistryContract,
)

__all__ = [
    "ApiKeyRegistryContract",
    "AsyncApiKeyRegistryContract",
    "AsyncTokenStoreContract",
    "AsyncUserRegistryContract",
    "FrozenClock",
    "TokenStoreContract",
    "UserRegistryContract",
    "strategies",
]
