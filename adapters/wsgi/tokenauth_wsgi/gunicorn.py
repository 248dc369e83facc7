"""A gunicorn logger that keeps tokens, credentials and API keys out of its logs.

gunicorn's access log records the request line (with ``?token=``), the
``Referer`` and the Basic username (an API key, for API-key logins). Use::

    gunicorn --logger-class tokenauth_wsgi.gunicorn.RedactingLogger ...
"""

from __future__ import annotations

import logging
from typing import Any

# gunicorn ships no type information.
from gunicorn.glogging import Logger  # type: ignore[import-untyped]

from tokenauth import RedactingFilter, redact

__all__ = ["RedactingLogger"]


class RedactingLogger(Logger):  # type: ignore[misc]  # gunicorn's Logger is untyped (Any)
    """gunicorn's logger, with every access-log field and error message redacted."""

    def setup(self, cfg: Any) -> None:
        """Set up as gunicorn does, then filter the error log."""
        super().setup(cfg)
        error_log: logging.Logger = self.error_log
        if not any(isinstance(f, RedactingFilter) for f in error_log.filters):
            error_log.addFilter(RedactingFilter())

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        """The access-log fields, each string redacted.

        Redacting the fields, rather than filtering the record, keeps gunicorn's
        case-insensitive field lookup working for custom formats.
        """
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        return {k: redact(v) if isinstance(v, str) else v for k, v in atoms.items()}
