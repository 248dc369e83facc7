"""Typed claims and principals: what a verified token says, and who logged in."""

from __future__ import annotations

from dataclasses import dataclass

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


# Building a frozen dataclass costs one object.__setattr__ per field, which shows
# on every first sight of a token and every request. A draft class with the same
# slots (so the same memory layout) takes plain attribute stores; the finished
# object then becomes the frozen class, which Python allows between classes of
# identical layout. The result is an ordinary instance of the public class: same
# equality, hash, repr, immutability and pickling. The draft has no __init__, so
# calling the class makes one more cheaply than object.__new__(draft) does.


class _ClaimsDraft:
    __slots__ = Claims.__slots__
    sub: str
    jti: str
    iat: int
    exp: int
    iss: str | None
    aud: tuple[str, ...]
    scope: tuple[str, ...]
    nbf: int | None


class _PrincipalDraft:
    __slots__ = Principal.__slots__
    subject: str
    method: LoginMethod
    api_key_id: str | None
    scope: tuple[str, ...]


def principal_of(
    subject: str, method: LoginMethod, api_key_id: str | None, scope: tuple[str, ...]
) -> Principal:
    """``Principal(...)`` with every field given, cheaper to build (see the drafts above)."""
    draft = _PrincipalDraft()
    draft.subject = subject
    draft.method = method
    draft.api_key_id = api_key_id
    draft.scope = scope
    draft.__class__ = Principal  # type: ignore[assignment]  # same slots: see above
    return draft  # type: ignore[return-value]  # it is a Principal now
