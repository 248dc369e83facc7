"""Typed claims and principals: what a verified token says, and who logged in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ._frozen import maker
from ._store import LoginMethod

__all__ = ["Claims", "Principal"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is authenticated, and how they logged in.

    Attributes:
        subject: The user name or the API key's subject; the tokens' ``sub``.
        method: ``"password"`` or ``"api_key"``.
        api_key_id: The public id of the API key used, for ``"api_key"`` logins.
        scope: The scopes granted.
    """

    subject: str
    method: LoginMethod
    api_key_id: str | None = None
    scope: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Claims:
    """The verified claims of a token (RFC 7519 section 4.1).

    Attributes:
        sub: Subject.
        jti: Unique token id.
        iat: Issued-at, Unix seconds.
        exp: Expiry, Unix seconds.
        iss: Issuer, when the token names one.
        aud: Audiences (a single string audience becomes a 1-tuple).
        scope: Scopes, from the space-separated ``scope`` claim (RFC 8693 section 4.2).
        nbf: Not-before, Unix seconds, when present.
    """

    sub: str
    jti: str
    iat: int
    exp: int
    iss: str | None = None
    aud: tuple[str, ...] = ()
    scope: tuple[str, ...] = ()
    nbf: int | None = None

    def to_json(self) -> dict[str, object]:
        """The claims as a JSON-ready dict, leaving out those that are absent."""
        out: dict[str, object] = {
            "sub": self.sub,
            "jti": self.jti,
            "iat": self.iat,
            "exp": self.exp,
        }
        if self.iss is not None:
            out["iss"] = self.iss
        if self.aud:
            out["aud"] = self.aud[0] if len(self.aud) == 1 else list(self.aud)
        if self.scope:
            out["scope"] = " ".join(self.scope)
        if self.nbf is not None:
            out["nbf"] = self.nbf
        return out


#: ``Principal(...)`` and ``Claims(...)`` with every field given positionally, built
#: cheaply (see ``tokenauth._frozen``): one of each per request on the request path.
principal_of: Callable[[str, LoginMethod, str | None, tuple[str, ...]], Principal] = maker(
    Principal
)
claims_of: Callable[..., Claims] = maker(Claims)
