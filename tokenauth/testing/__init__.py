"""Test kit for tokenauth users: a frozen clock, logged-in tokens, strategies, the contracts.

Needs the ``testing`` extra (``pip install 'tokenauth-core[testing]'``) for Hypothesis and pytest.
"""

from __future__ import annotations

from . import strategies
from ._clock import FrozenClock
from ._contract import AsyncTokenStoreContract, TokenStoreContract
from ._counters_contract import AsyncLoginCountersContract, LoginCountersContract
from ._login import alogin, login
from ._refresh_contract import AsyncRefreshStoreContract, RefreshStoreContract
from ._registry_contract import (
    ApiKeyRegistryContract,
    AsyncApiKeyRegistryContract,
    AsyncUserRegistryContract,
    UserRegistryContract,
)

__all__ = [
    "ApiKeyRegistryContract",
    "AsyncApiKeyRegistryContract",
    "AsyncLoginCountersContract",
    "AsyncRefreshStoreContract",
    "AsyncTokenStoreContract",
    "AsyncUserRegistryContract",
    "FrozenClock",
    "LoginCountersContract",
    "RefreshStoreContract",
    "TokenStoreContract",
    "UserRegistryContract",
    "alogin",
    "login",
    "strategies",
]
