"""The request value: what the core reads of one HTTP request, built once by a binding.

A binding (ASGI, WSGI, a custom server) reads the few things the contract
depends on from its framework's request and hands them over as one
:class:`Request`; the front doors and their flows take it whole. A new input
(a header, a peer property) is one new field here, not a new parameter in
every signature.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from ._frozen import maker
from ._http import Query

__all__ = ["Request", "RequestFields"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """One HTTP request, as the core sees it.

    Build it with keywords (``Request(authorization=header, secure=True)``);
    bindings on a hot path use :meth:`of`, which takes every field positionally
    and builds the same value for less.

    Attributes:
        authorization: The ``Authorization`` header value, or None when absent.
            A binding joins repeated fields with ``", "`` (RFC 9110 section
            5.3), so two headers reach the core as one malformed value.
        query: The raw query string (undecoded), or a mapping of parameter
            names to one or many values; ``""`` when there is none.
        secure: Whether this connection is TLS, as the server saw it.
        client: The peer's address, or None when the server does not know it.
        forwarded_proto: ``X-Forwarded-Proto``, believed from trusted proxies only.
        forwarded: ``Forwarded`` (RFC 7239), believed from trusted proxies only.
        user_agent: The ``User-Agent`` header, for audit events; never decides anything.
    """

    authorization: str | None = None
    query: Query | None = ""
    secure: bool
    client: str | None = None
    forwarded_proto: str | None = None
    forwarded: str | None = None
    user_agent: str | None = None

    if TYPE_CHECKING:

        @staticmethod
        def of(
            authorization: str | None,
            query: Query | None,
            secure: bool,
            client: str | None,
            forwarded_proto: str | None,
            forwarded: str | None,
            user_agent: str | None,
        ) -> Request:
            """``Request(...)`` with every field given positionally, in declaration order."""


class _RequiredFields(TypedDict):
    secure: bool


class RequestFields(_RequiredFields, total=False):
    """The fields of :class:`Request` other than ``authorization``, as keywords.

    The front doors' keyword form (``auth.authenticate(header, secure=True)``)
    takes these and builds the :class:`Request`.
    """

    query: Query | None
    client: str | None
    forwarded_proto: str | None
    forwarded: str | None
    user_agent: str | None


_make_request: Callable[..., Request] = maker(Request)
Request.of = staticmethod(_make_request)  # type: ignore[method-assign]
