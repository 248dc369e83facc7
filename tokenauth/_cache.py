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

from ._claims import Claims

__all__ = ["VerifiedTokens"]


class VerifiedTokens:
    """Verified claims by exact token text, each valid for a span of Unix time.

    When full, the oldest entry goes first; each insertion also drops the oldest
    entries whose span has ended, so expired tokens do not linger.

    No lock is taken: every step is one operation on the dict (atomic in CPython),
    and each step copes with what other threads may have done since the last one
    (an entry gone, another one in). An entry is never changed once stored, so a
    reader sees a whole entry or none. Threads inserting at the same moment can
    leave a few more entries than ``max_entries`` until the next insertions.

    Args:
        max_entries: How many tokens to keep (at least 1).
    """

    __slots__ = ("_entries", "max_entries")

    def __init__(self, max_entries: int) -> None:
        """Create an empty cache for ``max_entries`` tokens."""
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._entries: dict[str, tuple[Claims, int, int]] = {}

    def get(self, token: str, now: int) -> Claims | None:
        """The claims of ``token`` if it was verified and ``now`` is inside its span."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        if entry[1] <= now < entry[2]:
            return entry[0]
        # Out of its span: the full path decides, and an expired token is rejected there.
        # Another thread may have dropped it already, hence the default.
        self._entries.pop(token, None)
        return None

    def put(self, token: str, claims: Claims, now: int, valid_from: int, valid_until: int) -> None:
        """Keep ``claims`` for ``token``, answering while ``valid_from <= now < valid_until``."""
        entries = self._entries
        try:
            if entries:
                # The two oldest entries are dropped if their span has ended (written
                # out: this runs on every first sight of a token). Another thread may
                # drop an entry between two steps, hence get and pop with a default.
                oldest = next(iter(entries))
                entry = entries.get(oldest)
                if entry is not None and entry[2] <= now:
                    entries.pop(oldest, None)
                    if entries:
                        oldest = next(iter(entries))
                        entry = entries.get(oldest)
                        if entry is not None and entry[2] <= now:
                            entries.pop(oldest, None)
                while len(entries) >= self.max_entries:
                    entries.pop(next(iter(entries)), None)
        except (RuntimeError, StopIteration):
            # Another thread changed the dict between the making of an iterator and
            # its first step (RuntimeError), or emptied it (StopIteration): what is
            # left of the sweep falls to the next insertion.
            pass
        entries[token] = (claims, valid_from, valid_until)

    def clear(self) -> None:
        """Forget every token (on key rotation)."""
        self._entries.clear()

    def __len__(self) -> int:
        """How many tokens are kept."""
        return len(self._entries)
