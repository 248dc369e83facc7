"""A uvicorn ``log_config`` that keeps tokens out of its access and error logs.

uvicorn's access log records the request line, query string included, so a
``?token=`` would be written in clear. :data:`LOG_CONFIG` is uvicorn's own
default logging configuration with :class:`tokenauth.RedactingFilter` on both
of its handlers, plus tokenauth's warnings (a store that fails, workers that do
not share keys) on standard error. Use it in code::

    uvicorn.run(app, log_config=tokenauth_asgi.uvicorn.LOG_CONFIG)

or write it to a file for the command line::

    python -m tokenauth_asgi.uvicorn > log_config.json
    uvicorn app:app --log-config log_config.json ...
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["LOG_CONFIG"]

#: uvicorn's default ``LOGGING_CONFIG`` with every handler redacting tokens.
LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "tokenauth.RedactingFilter"}},
    "formatters": {
        "default": {
            "()": "uvicorn.logging.DefaultFormatter",
            "fmt": "%(levelprefix)s %(message)s",
            "use_colors": None,
        },
        "access": {
            "()": "uvicorn.logging.AccessFormatter",
            "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
        },
    },
    "handlers": {
        "default": {
            "formatter": "default",
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "filters": ["redact"],
        },
        "access": {
            "formatter": "access",
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "filters": ["redact"],
        },
    },
    "loggers": {
        "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"level": "INFO"},
        "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        "tokenauth": {"handlers": ["default"], "level": "WARNING", "propagate": False},
    },
}


def main() -> None:
    """Print :data:`LOG_CONFIG` as JSON, for ``uvicorn --log-config``."""
    print(json.dumps(LOG_CONFIG, indent=2))


if __name__ == "__main__":
    main()
