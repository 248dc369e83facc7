"""For authors of adapters and authenticators: the plumbing the front doors are built from.

Applications need none of this; :mod:`tokenauth` has what they call. Here are
the pieces a new store, a new framework binding or a custom authenticator is
written against:

- :class:`Call`, :data:`Flow`, :func:`run_sync`, :func:`run_async`: a flow is a
  generator that yields the I/O it needs as ``Call`` values and returns its
  result; a driver performs the calls. A custom
  :class:`~tokenauth.Authenticator` is such a flow (see the guide).
- :class:`StoreBackend`, :class:`RegistryBackend`, :func:`store_backend`: what a
  store package registers under the ``tokenauth.stores`` entry-point group, and
  the lookup by URL scheme that :func:`~tokenauth.open_store` uses.
- :func:`parse_basic`, :func:`extract_bearer`, :func:`is_secure`,
  :class:`BasicCredentials`, :class:`TrustedProxies`, :data:`Query`: the pure
  parsers of what arrives over HTTP, which the front doors apply for you.
- :class:`PathMatcher`, :data:`PathRule`: which request paths a binding
  secures (whole-segment prefixes, read the cautious way), so that a path
  means the same in every binding.
- :func:`frozen_maker`: the cheap constructor of frozen slotted dataclasses the
  request path uses, for a binding that builds its own such objects per request.

See ``docs/architecture.md`` for where each kind of change goes.
"""

from __future__ import annotations

from ._drivers import Call, Flow, run_async, run_sync
from ._frozen import maker as frozen_maker
from ._http import BasicCredentials, Query, TrustedProxies, extract_bearer, is_secure, parse_basic
from ._paths import PathMatcher, PathRule
from ._store import RegistryBackend, StoreBackend, store_backend

__all__ = [
    "BasicCredentials",
    "Call",
    "Flow",
    "PathMatcher",
    "PathRule",
    "Query",
    "RegistryBackend",
    "StoreBackend",
    "TrustedProxies",
    "extract_bearer",
    "frozen_maker",
    "is_secure",
    "parse_basic",
    "run_async",
    "run_sync",
    "store_backend",
]
