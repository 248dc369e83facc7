"""Stored, valid tokens for an app's own tests, without a password or a login request."""

from __future__ import annotations

from tokenauth import AsyncTokenAuth, Principal, TokenAuth

__all__ = ["alogin", "login"]


def _principal(subject: str, scope: tuple[str, ...]) -> Principal:
    return Principal(subject, "password", scope=scope)


def login(auth: TokenAuth, subject: str, *, scope: tuple[str, ...] = ()) -> str:
    """Issue a token for ``subject`` with ``auth``'s own keys and claims, and store it.

    The token is what a password login would have returned: signed with the
    app's signing key, with its issuer, audience and lifetime, and recorded in
    its store, so the app accepts it until it expires or is revoked. No user
    needs to exist and no password is hashed, so tests stay fast.

    Args:
        auth: The app's front door.
        subject: Who the token is for.
        scope: The scopes the token carries.

    Returns:
        The token, for ``Authorization: Bearer <token>``.
    """
    issued = auth.issuer.issue(_principal(subject, scope), now=int(auth.clock()))
    auth.store.add(issued.record)
    return issued.token


async def alogin(auth: AsyncTokenAuth, subject: str, *, scope: tuple[str, ...] = ()) -> str:
    """:func:`login` for an :class:`~tokenauth.AsyncTokenAuth` (its store is awaited)."""
    issued = auth.issuer.issue(_principal(subject, scope), now=int(auth.clock()))
    await auth.store.add(issued.record)
    return issued.token
