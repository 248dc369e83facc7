"""Clocks: the flows never read the time themselves, they ask an injected clock."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Clock", "system_clock"]

#: A clock returns the current Unix time in seconds.
Clock = Callable[[], float]


def system_clock() -> float:
    """Return the current Unix time from the system's real-time clock."""
    return time.time()
