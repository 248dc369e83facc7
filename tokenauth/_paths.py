"""Which request paths a binding secures: whole-segment prefixes, read the cautious way.

Both web bindings decide "does this path need a token?" here, so a path means
the same in ASGI and WSGI: ``paths`` secures prefixes (None: every path),
``exclude`` leaves prefixes open, ``optional`` marks prefixes where a token is
checked when sent and not required.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ._errors import ConfigurationError

__all__ = ["PathMatcher", "PathRule"]

#: A predicate on a request path: True when it is secured.
PathRule = Callable[[str], bool]

_SLASHES = re.compile(r"/{2,}")


def _forms(path: str) -> set[str]:
    # Servers and frameworks disagree on "//" and dot segments: werkzeug routes
    # "/api/../x" to a "/api/<path:p>" rule, a proxy may resolve it to "/x". So a
    # path is looked at both as sent (slashes merged) and fully normalised.
    collapsed = _SLASHES.sub("/", "/" + path)
    return {collapsed, posixpath.normpath(collapsed)}


def _clean_prefix(prefix: str) -> str:
    cleaned = posixpath.normpath(_SLASHES.sub("/", "/" + prefix))
    return "/" if cleaned == "/" else cleaned.rstrip("/")


@dataclass(frozen=True, slots=True)
class PathMatcher:
    """Which request paths are secured: under ``include`` and not under ``exclude``.

    Prefixes match whole segments: ``/api`` covers ``/api`` and ``/api/x``,
    not ``/apix``. When in doubt the path is secured: it counts as included if
    any reading of it (as sent, or with ``.`` and ``..`` resolved) is included,
    and as excluded only if every reading is excluded.

    Args:
        include: Path prefixes to secure; None secures every path.
        exclude: Path prefixes left open (a health check, say).
    """

    include: tuple[str, ...] | None
    exclude: tuple[str, ...] = ()

    @classmethod
    def of(cls, include: Iterable[str] | None, exclude: Iterable[str] = ()) -> PathMatcher:
        """Build from prefixes as a user writes them (each starts with ``/``).

        Raises:
            ConfigurationError: A prefix does not start with ``/``.
        """
        include = None if include is None else list(include)
        exclude = list(exclude)
        for prefix in [*(include or ()), *exclude]:
            if not isinstance(prefix, str) or not prefix.startswith("/"):
                raise ConfigurationError(
                    f"a path prefix starts with '/': {prefix!r} (write '/{prefix}' to mean that)"
                )
        return cls(
            None if include is None else tuple(_clean_prefix(p) for p in include),
            tuple(_clean_prefix(p) for p in exclude),
        )

    @property
    def everything(self) -> bool:
        """True when every path is secured (no ``include`` list, nothing excluded)."""
        return self.include is None and not self.exclude

    @staticmethod
    def _under(path: str, prefixes: tuple[str, ...]) -> bool:
        return any(p == "/" or path == p or path.startswith(p + "/") for p in prefixes)

    def __call__(self, path: str) -> bool:
        """True when ``path`` (``PATH_INFO``, or an ASGI scope's ``path``) is secured."""
        forms = _forms(path)
        included = self.include is None or any(self._under(f, self.include) for f in forms)
        excluded = bool(self.exclude) and all(self._under(f, self.exclude) for f in forms)
        return included and not excluded
