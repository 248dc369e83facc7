"""The one reading of a query string's ``token`` parameter.

Extraction (:func:`~tokenauth._http.extract_bearer`), the repeat path of the
front doors and log redaction all ask this module, so that no query string can
mean one thing to the parser and another to a shortcut or to the log filter.
The reading is that of :func:`urllib.parse.parse_qsl`: parameters separated by
``&``, each name and value percent-decoded with ``+`` as a space (so
``?tok%65n=`` is the ``token`` parameter).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote_plus

__all__ = ["TOKEN_PARAMETER", "is_token_name", "may_carry_token", "token_values"]

#: The query parameter a bearer token may travel in (RFC 6750 section 2.3).
TOKEN_PARAMETER = "token"  # noqa: S105 - a parameter name, not a password


def may_carry_token(query: str) -> bool:
    """False only when no parameter of ``query`` can be named ``token`` once decoded.

    A name decodes to ``token`` only if it holds ``token`` literally or has a
    percent escape; a query with neither is certainly without one, and is read
    no further.
    """
    return TOKEN_PARAMETER in query or "%" in query


def token_values(query: str) -> list[str]:
    """Every value of the ``token`` parameter, decoded, in order.

    Raises:
        UnicodeDecodeError: A name or value is not UTF-8 once percent-decoded.
    """
    if not may_carry_token(query):
        return []
    pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=False, errors="strict")
    return [value for name, value in pairs if name == TOKEN_PARAMETER]


def is_token_name(raw_name: str, *, ignore_case: bool = False) -> bool:
    """Whether a raw (still encoded) parameter name reads as ``token``.

    Args:
        raw_name: The name as it appears in the query string.
        ignore_case: Also count ``Token``, ``TOKEN``... (log redaction errs this way).
    """
    name = unquote_plus(raw_name, errors="replace") if "%" in raw_name else raw_name
    return (name.lower() if ignore_case else name) == TOKEN_PARAMETER
