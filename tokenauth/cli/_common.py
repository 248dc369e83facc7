"""What every command shares: the error type, notes, option parsers, keys and the pepper."""

from __future__ import annotations

import argparse
import datetime
import getpass
import json
import os
import re
import secrets
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO, TypeAlias, cast, get_args
from urllib.parse import urlsplit, urlunsplit

from tokenauth import Algorithm, KeySet, is_well_formed_api_key

ALGORITHMS: tuple[str, ...] = get_args(Algorithm)
DEFAULT_STORE = "memory://"
DEFAULT_TTL = 3600
#: Seconds of clock skew the validator tolerates (the core's default leeway).
LEEWAY = 5
PEPPER_ENV = "TOKENAUTH_PEPPER"
PEPPER_BYTES = 32
DEMO_SERVICE = "demo-service"

#: What a command group's ``add_commands`` (and a ``tokenauth.commands`` entry point) is given:
#: the ``tokenauth`` parser's subcommands, to add its own parser to.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class CliError(Exception):
    """A failure the user can act on: printed as ``tokenauth: error: ...``, exit 1."""


def fail(message: str) -> NoReturn:
    """Stop the command with ``message``, which names the cause and the fix (exit code 1).

    Raises:
        CliError: Always.
    """
    raise CliError(message)


def say(message: str) -> None:
    """A note for the person at the terminal, on stderr so that stdout stays parseable."""
    print(f"tokenauth: {message}", file=sys.stderr, flush=True)


# -- the parser -------------------------------------------------------------------------------

#: An argument that starts with a dash and still is a value: a token id (``-lgOQ...``:
#: one in 64 starts with ``-``), a key id or a user name. One dash and a letter or
#: digit, or two dashes and at least 14 more id characters (no option is that long
#: and shaped so, and a jti is 22 characters), never an ``=``.
_DASHED_VALUE = re.compile(r"-[A-Za-z0-9_][A-Za-z0-9_-]*|--[A-Za-z0-9_-]{14,}")


class Parser(argparse.ArgumentParser):
    """An argument parser that reads an unknown dash-led word as a value, not an option.

    ``tokenauth tokens revoke -lgOQ...`` then revokes that token instead of failing
    with "unrecognized arguments"; known options (``--store``, ``-h``) keep their
    meaning, and ``--`` still ends the options.
    """

    def _parse_optional(self, arg_string: str) -> Any:
        if arg_string not in self._option_string_actions and _DASHED_VALUE.fullmatch(arg_string):
            return None  # a positional value
        return super()._parse_optional(arg_string)


# -- option parsers ---------------------------------------------------------------------------


def parse_user_option(value: str) -> tuple[str, str]:
    """Split ``NAME:PASSWORD`` at the first colon (user names cannot hold one; passwords can).

    Raises:
        argparse.ArgumentTypeError: No colon, an empty name or an empty password.
    """
    name, colon, password = value.partition(":")
    if not colon:
        raise argparse.ArgumentTypeError("expected NAME:PASSWORD")
    if not name:
        raise argparse.ArgumentTypeError("the user name is empty (expected NAME:PASSWORD)")
    if not password:
        raise argparse.ArgumentTypeError(
            "the password is empty (an empty password means an API-key login)"
        )
    return name, password


def parse_api_key_option(value: str) -> tuple[str, str]:
    """Split ``[SUBJECT:]KEY`` at the last colon (API keys never hold one).

    Returns:
        The subject (``demo-service`` when none is given) and the key.

    Raises:
        argparse.ArgumentTypeError: The key is not a well-formed tokenauth API key.
    """
    subject, colon, key = value.rpartition(":")
    if colon and not subject:
        raise argparse.ArgumentTypeError("the subject is empty (expected [SUBJECT:]KEY)")
    if not is_well_formed_api_key(key):
        raise argparse.ArgumentTypeError(
            "not a tokenauth API key (they look like tka_ and 38 letters and digits; "
            "make one with `tokenauth apikeys create` or let the demo make one)"
        )
    return (subject or DEMO_SERVICE), key


def positive_int(value: str) -> int:
    """An argparse type: a whole number of at least 1.

    Raises:
        argparse.ArgumentTypeError: Not a whole number, or below 1.
    """
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def port_number(value: str) -> int:
    """An argparse type: a TCP port, 0 to 65535.

    Raises:
        argparse.ArgumentTypeError: Not a number, or out of range.
    """
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError("a port is between 0 and 65535")
    return number


def add_store_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--store URL`` (default ``memory://``) to a command."""
    parser.add_argument(
        "--store", default=DEFAULT_STORE, metavar="URL",
        help=f"token store URL, e.g. sqlite:///t.db or redis://host/0 (default {DEFAULT_STORE})",
    )  # fmt: skip


def add_keys_option(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """Add ``--keys FILE``, the key set file, to a command."""
    parser.add_argument(
        "--keys", type=Path, required=required, metavar="FILE",
        help="the key set file (JSON, private: keep it secret)",
    )  # fmt: skip


# -- keys and pepper --------------------------------------------------------------------------


def load_keys(path: Path) -> KeySet:
    """Read a key set that must exist; a file that is there but unreadable is an error."""
    if not path.exists():
        fail(f"no key set at {path}; create one with: tokenauth keys generate --keys {path}")
    return KeySet.load(path)


def load_or_create_keys(path: Path, alg: str | None) -> KeySet:
    """Read the key set at ``path``, or create it when (and only when) the file is missing.

    Args:
        path: The key set file.
        alg: The algorithm asked for, if any; an existing file must sign with it.
    """
    if path.exists() or path.is_symlink():
        keys = KeySet.load(path)  # never regenerated: tokens it signed must keep verifying
        if alg is not None and keys.signing.alg != alg:
            fail(
                f"{path} signs with {keys.signing.alg}, not {alg}; to switch, run: "
                f"tokenauth keys rotate --keys {path} --alg {alg}"
            )
        return keys
    keys = KeySet.generate(cast("Algorithm", alg or "RS256"))
    keys.save(path)
    say(f"created a new {keys.signing.alg} key set in {path} (kid {keys.signing.kid})")
    return keys


def _read_pepper(text: str, where: str) -> bytes:
    try:
        pepper = bytes.fromhex(text.strip())
    except ValueError:
        fail(f"the pepper in {where} is not hex")
    if len(pepper) < PEPPER_BYTES:
        fail(f"the pepper in {where} is {len(pepper)} bytes; it must be at least {PEPPER_BYTES}")
    return pepper


def read_pepper(path: Path | None, *, create: bool) -> bytes:
    """The API-key pepper: ``--pepper-file``, else ``$TOKENAUTH_PEPPER``, else an error.

    Args:
        path: The ``--pepper-file`` given, if any.
        create: Make a new pepper file (mode 0600) when ``path`` is missing.
    """
    if path is not None:
        if path.exists() or path.is_symlink():
            try:
                text = path.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                fail(f"cannot read the pepper file {path}: {exc}")
            return _read_pepper(text, str(path))
        if not create:
            fail(f"no pepper file at {path}")
        pepper = secrets.token_bytes(PEPPER_BYTES)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(pepper.hex() + "\n")
        say(f"created a new API-key pepper in {path}: keep it secret, and keep it")
        return pepper
    env = os.environ.get(PEPPER_ENV)
    if env:
        return _read_pepper(env, f"${PEPPER_ENV}")
    fail(f"API keys need the server's pepper: pass --pepper-file FILE or set ${PEPPER_ENV} (hex)")


# -- input and output -------------------------------------------------------------------------


def read_password(*, from_stdin: bool) -> str:
    """A new password: the first line of stdin, or asked twice on the terminal."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            fail("no password on standard input")
        return password
    if not sys.stdin.isatty():
        fail("no terminal to ask for the password on: pass --password-stdin and pipe it in")
    first = getpass.getpass("New password: ")
    if first != getpass.getpass("Repeat it: "):
        fail("the passwords differ")
    return first


def print_json(document: dict[str, Any], out: TextIO | None = None) -> None:
    """Print one JSON object on one line (the output of every listing under ``--json``)."""
    print(json.dumps(document, ensure_ascii=False, sort_keys=False), file=out or sys.stdout)


def add_json_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--json`` to a listing: one JSON object per line instead of a table."""
    parser.add_argument(
        "--json", action="store_true",
        help="one JSON object per line (for scripts) instead of a table",
    )  # fmt: skip


def when(value: object) -> str:
    """A Unix time as a UTC date and time for a table; ``-`` for none."""
    if not isinstance(value, int):
        return "-"
    moment = datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
    return f"{moment:%Y-%m-%d %H:%M:%S}Z"


#: A table column: its heading, the key in the JSON document, and how to show the value.
Column = tuple[str, str, Callable[[Any], str]]


def text(value: object) -> str:
    """A value as a table cell: ``-`` for none or empty."""
    return "-" if value is None or value == "" else str(value)


def print_listing(
    documents: Sequence[dict[str, Any]], columns: Sequence[Column], *, as_json: bool, what: str
) -> None:
    """Print a listing: JSON lines with ``--json``, else an aligned table (nothing if empty).

    Args:
        documents: One JSON object per item.
        columns: The table's columns.
        as_json: ``--json`` was given.
        what: The items' name in the plural, for the note when there are none.
    """
    if as_json:
        for document in documents:
            print_json(document)
        return
    if not documents:
        say(f"no {what}")
        return
    rows = [[heading for heading, _, _ in columns]]
    rows += [[show(d.get(key)) for _, key, show in columns] for d in documents]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def without_password(url: str) -> str:
    """``url`` with any password in it replaced, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
