"""Test kit for tokenauth users: a frozen clock, strategies and the store contract.

Needs the ``testing`` extra (``pip install tokenauth[testing]``) for Hypothesis and pytest.
"""

from __future__ import annotations

from ._clock import FrozenClock
from ._contract import AsyncTokenStoreContract, TokenStoreContract

__all__ = ["AsyncTokenStoreContract", "FrozenClock", "TokenStoreContract"]
