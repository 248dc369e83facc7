"""Step-up: whether a valid token's login is recent enough for a request (RFC 9470).

A sensitive path (changing a password, paying, deleting an account) may demand
that the user logged in at most ``max_age`` seconds ago. Every token carries
the time of the login it descends from (the ``auth_time`` claim, OpenID
Connect Core section 2, or ``iat`` for a token that has none: every such token
was issued by a login), so the check needs no I/O. A token whose login is too
old is answered ``401`` with ``WWW-Authenticate: Bearer error=
"insufficient_user_authentication", max_age="N"``; the client sends the user
through a fresh login and retries with the new token.

A requirement is built once (when a route is declared) and checked per request
with one subtraction; its refusal is built once too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._claims import Claims
from ._errors import ConfigurationError
from ._results import Authenticated, StepUpRequired

__all__ = ["LoginAgeRequirement", "login_max_age", "login_time"]

#: The longest max_age accepted: a year (a larger one is almost surely a unit mistake).
_MAX_AGE_LIMIT = 366 * 86_400


def login_max_age(max_age: object) -> int:
    """``max_age`` itself, once checked: whole seconds from 0 to a year.

    Bindings call it where a route is declared (before any front door is at
    hand), so that a bad value fails at start-up rather than on a request.

    Raises:
        ConfigurationError: ``max_age`` is not an ``int`` from 0 to a year
            (a ``bool``, a ``float`` or a string is refused too).
    """
    if type(max_age) is not int or not 0 <= max_age <= _MAX_AGE_LIMIT:
        raise ConfigurationError(
            f"max_age must be a whole number of seconds from 0 to {_MAX_AGE_LIMIT}, not {max_age!r}"
        )
    return max_age


def login_time(claims: Claims) -> int:
    """When the login this token descends from happened, in Unix seconds.

    ``auth_time`` when the token carries it, else ``iat``: a token issued
    straight by a login was issued at the login.
    """
    return claims.iat if claims.auth_time is None else claims.auth_time


@dataclass(frozen=True, slots=True)
class LoginAgeRequirement:
    """A path's demand for a login at most ``max_age`` seconds old, and its one refusal.

    Attributes:
        max_age: The most seconds since the login the path accepts.
        refusal: The 401 a token with an older login gets.
    """

    max_age: int
    refusal: StepUpRequired = field(repr=False)

    @classmethod
    def of(cls, max_age: int, *, realm: str) -> LoginAgeRequirement:
        """The requirement for a login at most ``max_age`` seconds old, answered in ``realm``.

        Raises:
            ConfigurationError: ``max_age`` is not a whole number of seconds from 0
                to a year.
        """
        login_max_age(max_age)
        return cls(max_age, StepUpRequired.make(realm, max_age))

    def check(self, result: Authenticated, *, now: int) -> Authenticated | StepUpRequired:
        """``result`` itself when its login is recent enough at ``now``, else :attr:`refusal`."""
        if now - login_time(result.claims) <= self.max_age:
            return result
        return self.refusal
