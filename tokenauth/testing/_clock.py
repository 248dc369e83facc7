from __future__ import annotations

import threading

__all__ = ["FrozenClock"]


class FrozenClock:
    """A clock that stands still until told to move; pass it as ``clock=`` anywhere.

    Args:
        now: The Unix time it shows at first.
    """

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        """Create a clock showing ``now``."""
        self._now = float(now)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        """Return the time the clock shows."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (which may not be negative)."""
        if seconds < 0:
            raise ValueError("a FrozenClock only moves forward")
        with self._lock:
            self._now += seconds

    def set(self, now: float) -> None:
        """Show ``now`` from here on."""
        with self._lock:
            self._now = float(now)
