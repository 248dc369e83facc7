"""A bounded cache of verified tokens: the validator's warm path.

A token that passed every check of :class:`~tokenauth.JWTValidator` is kept,
keyed by its exact text, with the span of time in which the same checks would
pass again. A repeat of that token within the span skips the parsing and the
signature check; anything else (another string, even one that differs in a
single byte, or the same string outside its span) takes the full path. So a
forged or re-signed token can never hit, and an entry stops answering the moment
its token expires, or its key retires.

The cache holds no decision of the store's: the caller still asks the store
about every token, so a revocation takes effect on the next request.
"""

from __future__ import annotations

import threading

from ._claims import Claims

__all__ = ["VerifiedTokens"]


class VerifiedTokens:
    """Verified claims by exact token text, each valid for a span of Unix time.

    Reads take no lock (one dict lookup); insertions and evictions do. When full,
    the oldest entry goes first; each insertion also drops the oldest entries
    whose span has ended, so expired tokens do not linger.

    Args:
        max_entries: How many tokens to keep (at least 1).
    """

    __slots__ = ("_entries", "_lock", "max_entries")

    def __init__(self, max_entries: int) -> None:
        """Create an empty cache for ``max_entries`` tokens."""
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._entries: dict[str, tuple[Claims, int, int]] = {}
        self._lock = threading.Lock()

    def get(self, token: str, now: int) -> Claims | None:
        """The claims of ``token`` if it was verified and ``now`` is inside its span."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        if entry[1] <= now < entry[2]:
            return entry[0]
        # Out of its span: the full path decides, and an expired token is rejected there.
        # Under the lock: put() walks the oldest entries and must not see one vanish.
        with self._lock:
            self._entries.pop(token, None)
        return None

    def put(
        self, token: str, claims: Claims, *, now: int, valid_from: int, valid_until: int
    ) -> None:
        """Keep ``claims`` for ``token``, answering while ``valid_from <= now < valid_until``."""
        entries = self._entries
        with self._lock:
            # The two oldest entries are dropped if their span has ended (written out:
            # this runs on every first sight of a token).
            if entries:
                oldest = next(iter(entries))
                if entries[oldest][2] <= now:
                    del entries[oldest]
                    if entries:
                        oldest = next(iter(entries))
                        if entries[oldest][2] <= now:
                            del entries[oldest]
                if len(entries) >= self.max_entries:
                    while len(entries) >= self.max_entries:
                        del entries[next(iter(entries))]
            entries[token] = (claims, valid_from, valid_until)

    def clear(self) -> None:
        """Forget every token (on key rotation)."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        """How many tokens are kept."""
        return len(self._entries)
