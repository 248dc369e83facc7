"""Scopes: whether a valid token may do what a request asks.

A secured path may demand scopes: all of a set, or any one of it. The decision
is made here once, so every binding answers a token that lacks one with the
same bytes: ``403``, ``WWW-Authenticate: Bearer realm="...",
error="insufficient_scope", scope="..."`` and a JSON body (RFC 6750 section
3.1). A requirement is built once (when a route is declared) and checked on
every request with one set operation; its refusal is built once too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from ._errors import ConfigurationError
from ._results import Authenticated, InsufficientScope

__all__ = ["ScopeRequirement", "authorize", "scope_tokens"]

# RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), which also
# keeps a scope safe inside the challenge's quoted string.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


def scope_tokens(scopes: str | Iterable[str]) -> tuple[str, ...]:
    """The scope tokens of ``scopes``, checked, in order, without repeats.

    Args:
        scopes: A space-separated string (``"read write"``) or an iterable of scopes.

    Returns:
        The scopes as a tuple.

    Raises:
        ConfigurationError: A scope is empty or holds a space, a quote, a
            backslash or a character outside printable ASCII.
    """
    # Checked at run time too: scopes often come from settings files.
    items: list[object] = []
    items.extend(scopes.split(" ") if isinstance(scopes, str) else scopes)
    out: dict[str, None] = {}
    for item in items:
        if not isinstance(item, str) or not _SCOPE_TOKEN.fullmatch(item):
            raise ConfigurationError(
                f"{item!r} is not a scope: RFC 6749 section 3.3 allows printable ASCII "
                "without spaces, double quotes or backslashes; pass scopes as a list of "
                'such names (e.g. ["read", "admin"])'
            )
        out[item] = None
    return tuple(out)


@dataclass(frozen=True, slots=True)
class ScopeRequirement:
    """The scopes a path needs, and the one refusal for a token without them.

    Build it with :meth:`of` when a route is declared; :meth:`check` runs per request.

    Attributes:
        required: The scopes, in the order given.
        any_of: True when any one of them is enough, False when all are needed.
        refusal: The 403 a token that falls short gets.
    """

    required: tuple[str, ...]
    any_of: bool
    refusal: InsufficientScope = field(repr=False)
    _wanted: frozenset[str] = field(repr=False, compare=False)

    @classmethod
    def of(
        cls, scopes: str | Iterable[str], *, realm: str, any_of: bool = False
    ) -> ScopeRequirement:
        """A requirement for ``scopes`` (all of them, or ``any_of``), answered in ``realm``.

        Raises:
            ConfigurationError: No scope was given, or one is not a valid scope token.
        """
        required = scope_tokens(scopes)
        if not required:
            raise ConfigurationError(
                "a scope requirement needs at least one scope; leave the check out "
                "for a path that any valid token may use"
            )
        refusal = InsufficientScope.make(realm, required, any_of=any_of)
        return cls(required, any_of, refusal, frozenset(required))

    def allows(self, granted: Iterable[str]) -> bool:
        """Whether a token granted ``granted`` meets this requirement."""
        if self.any_of:
            return not self._wanted.isdisjoint(granted)
        return self._wanted.issubset(granted)

    def check(self, result: Authenticated) -> Authenticated | InsufficientScope:
        """``result`` itself when its token has the scopes, else :attr:`refusal`."""
        if self.allows(result.claims.scope):
            return result
        return self.refusal


def authorize(
    result: Authenticated, scopes: str | Iterable[str], *, realm: str, any_of: bool = False
) -> Authenticated | InsufficientScope:
    """Check that an authenticated request's token has ``scopes`` (all, or ``any_of``).

    The one-off form of :meth:`ScopeRequirement.check`; a binding that checks
    the same scopes on every request builds the requirement once instead.

    Args:
        result: The request's :class:`~tokenauth.Authenticated` result.
        scopes: The scopes needed, as a list or a space-separated string.
        realm: The realm named in the challenge (the front door's ``realm``).
        any_of: Any one of ``scopes`` is enough (default: all are needed).

    Returns:
        ``result``, or :class:`~tokenauth.InsufficientScope` (403) to render as it says.
    """
    return ScopeRequirement.of(scopes, realm=realm, any_of=any_of).check(result)
