"""The user a binding hands to an application when it has no user object of its own.

Frameworks expect a "current user" with a few attributes (Starlette's and
Litestar's ``request.user``, Django's ``request.user``, Flask's
``current_user``). Without a user loader, the bindings give a
:class:`TokenUser`: the token's principal and claims, with those attributes.
Where a path lets a request in without a token, they give an
:class:`AnonymousUser`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._claims import Claims, Principal

__all__ = ["AnonymousUser", "TokenUser"]


@dataclass(frozen=True, slots=True)
class TokenUser:
    """The authenticated caller, as the token describes them.

    It has the attributes of Starlette's ``BaseUser`` and the ones Django's
    views look at, without importing either.

    Attributes:
        principal: Who the token was issued to, and how they logged in.
        claims: The token's verified claims.
    """

    principal: Principal
    claims: Claims

    @property
    def is_authenticated(self) -> bool:
        """Always True."""
        return True

    @property
    def is_anonymous(self) -> bool:
        """Always False."""
        return False

    @property
    def display_name(self) -> str:
        """The subject."""
        return self.principal.subject

    @property
    def identity(self) -> str:
        """The subject."""
        return self.principal.subject

    @property
    def username(self) -> str:
        """The subject."""
        return self.principal.subject

    def get_username(self) -> str:
        """The subject (Django's name for it)."""
        return self.principal.subject


@dataclass(frozen=True, slots=True)
class AnonymousUser:
    """Nobody: the user on a path that needs no token, when none was sent."""

    @property
    def is_authenticated(self) -> bool:
        """Always False."""
        return False

    @property
    def is_anonymous(self) -> bool:
        """Always True."""
        return True

    @property
    def display_name(self) -> str:
        """Empty."""
        return ""

    @property
    def identity(self) -> str:
        """Empty."""
        return ""

    @property
    def username(self) -> str:
        """Empty."""
        return ""

    def get_username(self) -> str:
        """Empty."""
        return ""
