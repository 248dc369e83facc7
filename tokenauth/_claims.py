"""Typed claims and principals: what a verified token says, and who logged in."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TypeAlias, TypeVar

from ._frozen import maker
from ._store import LoginMethod

__all__ = ["Claims", "JSONObject", "JSONValue", "Principal"]

T = TypeVar("T")

#: A JSON value as a token carries it, made immutable: arrays are tuples, objects
#: are :class:`JSONObject`.
JSONValue: TypeAlias = "bool | int | float | str | tuple[JSONValue, ...] | JSONObject | None"


class JSONObject(Mapping[str, JSONValue]):
    """An immutable, hashable JSON object: an application's own claims, read back.

    It is a read-only mapping whose values are :data:`JSONValue` (nested arrays
    are tuples, nested objects are :class:`JSONObject`); :meth:`get_as` reads a
    claim as a given type, and :meth:`to_json` gives plain dicts and lists back.
    """

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[str, object] = {}) -> None:
        """Freeze ``data``, which must hold JSON values only (see :func:`freeze_json`)."""
        self._data: dict[str, JSONValue] = {str(k): freeze_json(v) for k, v in data.items()}
        self._hash: int | None = None

    def __getitem__(self, name: str) -> JSONValue:
        """The claim ``name``; KeyError when absent."""
        return self._data[name]

    def __iter__(self) -> Iterator[str]:
        """The claim names, in the token's order."""
        return iter(self._data)

    def __len__(self) -> int:
        """How many claims."""
        return len(self._data)

    def __hash__(self) -> int:
        """A hash of the items, so that claims holding it stay hashable."""
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        """Equal to any mapping of the same JSON (lists and tuples alike)."""
        if isinstance(other, JSONObject):
            return self._data == other._data
        if not isinstance(other, Mapping):
            return NotImplemented
        try:
            return self._data == JSONObject(other)._data
        except TypeError:  # not JSON: not equal to any JSON object
            return False

    def __repr__(self) -> str:
        """Like a dict."""
        return f"JSONObject({self._data!r})"

    def get_as(self, name: str, kind: type[T]) -> T | None:
        """The claim ``name`` when it is of type ``kind``, else None.

        ``bool`` is not taken for ``int``, nor an ``int`` for ``float``: a claim
        reads back as the type the issuing hook gave it. JSON arrays read as
        ``tuple`` and objects as :class:`JSONObject`.

        Args:
            name: The claim's name.
            kind: The type expected, e.g. ``str``, ``int`` or ``tuple``.
        """
        value = self._data.get(name)
        if type(value) is bool and kind is not bool:
            return None
        return value if isinstance(value, kind) else None

    def to_json(self) -> dict[str, object]:
        """A plain, mutable copy: dicts and lists, ready for ``json.dumps``."""
        return {name: thaw_json(value) for name, value in self._data.items()}


#: No claims of the application's own: shared by every token without any.
EMPTY = JSONObject()


def freeze_json(value: object) -> JSONValue:
    """``value`` made immutable, checking on the way that it is JSON.

    Raises:
        TypeError: Something that is not a JSON value (a set, bytes, an object
            with a non-string key, a NaN or infinite float).
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"{value!r} is not a JSON number")
        return value
    if isinstance(value, JSONObject):
        return value
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("a JSON object's member names are strings")
        return JSONObject(value)
    if isinstance(value, list | tuple):
        return tuple(freeze_json(v) for v in value)
    raise TypeError(f"a {type(value).__name__} is not a JSON value")


def thaw_json(value: JSONValue) -> object:
    """The plain form of a frozen JSON value: lists and dicts again."""
    if isinstance(value, tuple):
        return [thaw_json(v) for v in value]
    if isinstance(value, JSONObject):
        return value.to_json()
    return value


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is authenticated, and how they logged in.

    Attributes:
        subject: The user name or the API key's subject; the tokens' ``sub``.
        method: ``"password"`` or ``"api_key"``.
        api_key_id: The public id of the API key used, for ``"api_key"`` logins.
        scope: The scopes granted.
        extra: The application's own claims of the token (see ``extra_claims`` of
            :class:`~tokenauth.JWTIssuer`); empty at login, before a token exists.
    """

    subject: str
    method: LoginMethod
    api_key_id: str | None = None
    scope: tuple[str, ...] = ()
    extra: JSONObject = EMPTY


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
        client_id: The OAuth client the token was issued to (RFC 9068 section 2.2).
        extra: The application's own claims, immutable (see :class:`JSONObject`).
        auth_time: When the login this token descends from happened, Unix seconds
            (OpenID Connect Core section 2), when the token says; a token without
            it was issued by its login, at ``iat`` (see :func:`~tokenauth.login_time`).
    """

    sub: str
    jti: str
    iat: int
    exp: int
    iss: str | None = None
    aud: tuple[str, ...] = ()
    scope: tuple[str, ...] = ()
    nbf: int | None = None
    client_id: str | None = None
    extra: JSONObject = EMPTY
    auth_time: int | None = None

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
        if self.client_id is not None:
            out["client_id"] = self.client_id
        if self.scope:
            out["scope"] = " ".join(self.scope)
        if self.nbf is not None:
            out["nbf"] = self.nbf
        if self.auth_time is not None:
            out["auth_time"] = self.auth_time
        if self.extra:
            out.update(self.extra.to_json())
        return out


#: ``Principal(...)`` and ``Claims(...)`` with every field given positionally, built
#: cheaply (see ``tokenauth._frozen``): one of each per request on the request path.
principal_of: Callable[[str, LoginMethod, str | None, tuple[str, ...], JSONObject], Principal] = (
    maker(Principal)
)
claims_of: Callable[..., Claims] = maker(Claims)
