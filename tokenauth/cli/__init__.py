"""The ``tokenauth`` command: keys, API keys, users, tokens and the database, plus plug-ins.

Exit codes: 0 success, 1 an error the message explains (a missing file, an
unknown user, an unreachable store), 2 a usage error, 130 interrupted.

One module per command group (``_keys``, ``_apikeys``, ``_users``, ``_tokens``,
``_db``); what they share is in ``_common`` and ``_stores``. Other packages add
commands through the ``tokenauth.commands`` entry-point group: each entry point
names a function that takes the ``tokenauth`` parser's subcommands
(:data:`Commands`) and adds its own parser, with ``run`` set to a function of the
parsed arguments that returns the exit code. ``tokenauth_asgi`` adds ``demo``
this way, so the core never imports an adapter. The names exported here are
what such a command may use.

Users and API keys live in registries. ``memory://`` keeps them only inside a
running ``tokenauth demo``; persistent ones come from a store backend (found by
URL scheme under the ``tokenauth.stores`` entry-point group) that offers the
optional methods ``open_user_registry(url)`` and ``open_api_key_registry(url)``.
``tokens list`` with no ``--subject`` uses a store's optional ``list_all()``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any, cast

from tokenauth import StoreError, TokenAuthError

from . import _apikeys, _db, _keys, _tokens, _users
from ._common import (
    ALGORITHMS,
    DEFAULT_STORE,
    DEFAULT_TTL,
    PEPPER_BYTES,
    PEPPER_ENV,
    CliError,
    Commands,
    Parser,
    add_keys_option,
    add_store_option,
    fail,
    load_or_create_keys,
    parse_api_key_option,
    parse_user_option,
    port_number,
    positive_int,
    read_pepper,
    say,
    without_password,
)
from ._stores import keeps_accounts, prepare_store

__all__ = [
    "ALGORITHMS",
    "DEFAULT_STORE",
    "DEFAULT_TTL",
    "PEPPER_BYTES",
    "PEPPER_ENV",
    "CliError",
    "Commands",
    "add_keys_option",
    "add_store_option",
    "build_parser",
    "fail",
    "keeps_accounts",
    "load_or_create_keys",
    "main",
    "parse_api_key_option",
    "parse_user_option",
    "port_number",
    "positive_int",
    "prepare_store",
    "read_pepper",
    "say",
    "without_password",
]

#: The entry-point group of commands that other packages add to ``tokenauth``.
COMMANDS_GROUP = "tokenauth.commands"

#: Commands that a tokenauth package adds: what each does, and the install that brings
#: it, so that ``tokenauth demo`` without the ASGI binding says what to install.
_KNOWN_PLUGINS: dict[str, tuple[str, str]] = {
    "demo": ("run the HTTPS demo API", "pip install 'tokenauth-asgi[uvicorn]'"),
}

_BUILT_IN: tuple[Callable[[Commands], None], ...] = (
    _keys.add_commands,
    _apikeys.add_commands,
    _users.add_commands,
    _db.add_commands,
    _tokens.add_commands,
)


def _add_plugins(commands: Commands) -> None:
    """Add the commands registered under ``tokenauth.commands``, or say how to get them."""
    found = {ep.name: ep for ep in entry_points(group=COMMANDS_GROUP)}
    for name in sorted(set(found) | set(_KNOWN_PLUGINS)):
        what, install = _KNOWN_PLUGINS.get(name, ("", ""))
        if name not in found:
            message = f"`tokenauth {name}` comes with another package; install it: {install}"
        else:
            try:
                # The providing package first: a package that is gone (or blocked) refuses
                # even when one of its modules is still loaded in this process.
                import_module(found[name].module.partition(".")[0])
                add: Callable[[Commands], None] = found[name].load()
            except ImportError as exc:
                message = f"`tokenauth {name}` cannot be loaded ({exc})"
                message += f"; reinstall its package: {install}" if install else ""
            else:
                add(commands)
                continue
        _add_missing(commands, name, what, message)


def _add_missing(commands: Commands, name: str, what: str, message: str) -> None:
    """A command that only explains how to install the package that provides it."""
    parser = commands.add_parser(name, help=f"{what} (not installed)", add_help=False)

    def missing(args: argparse.Namespace) -> int:
        fail(message)

    parser.set_defaults(run=missing, accepts_any=True)


def _versions() -> str:
    """``tokenauth X.Y.Z``, and the version of each installed package that adds to it."""
    # The distribution that installs this command, whatever it is named on the index.
    scripts = entry_points(group="console_scripts", name="tokenauth")
    core = next((ep.dist for ep in scripts if ep.dist is not None), None)
    found = [f"tokenauth {core.version} ({core.name})" if core else "tokenauth (not installed)"]
    adders = {ep.dist.name: ep.dist.version for ep in entry_points(group=COMMANDS_GROUP) if ep.dist}
    found += [f"{name} {adders[name]}" for name in sorted(adders)]
    return "; ".join(found)


class _Version(argparse.Action):
    """``--version``: computed when asked for, not on every run."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        print(_versions())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The ``tokenauth`` argument parser, with every command (built in and plugged in)."""
    parser = Parser(
        prog="tokenauth",
        description="JWT bearer-token authentication for HTTP APIs: demo server and admin tools.",
    )
    parser.add_argument("--version", action=_Version)
    commands = cast(
        "Commands", parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    )
    _add_plugins(commands)
    for add in _BUILT_IN:
        add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tokenauth`` command; returns its exit code.

    Args:
        argv: The arguments after the program name (default: ``sys.argv[1:]``).
    """
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_any", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except CliError as exc:
        print(f"tokenauth: error: {exc}", file=sys.stderr)
    except StoreError as exc:
        where = without_password(getattr(args, "store", "") or "")
        print(f"tokenauth: error: the store at {where} failed: {exc}", file=sys.stderr)
    except TokenAuthError as exc:  # configuration errors: bad key files, bad URLs, bad names
        print(f"tokenauth: error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`tokenauth tokens list | head`): stop quietly, as
        # Unix tools do, and keep Python from complaining while it flushes stdout.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return 1
