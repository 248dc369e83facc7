"""``tokenauth db init``: create or upgrade a store's tables."""

from __future__ import annotations

import argparse

from ._common import Commands, add_store_option, say, without_password
from ._stores import prepare_store


def _cmd_db_init(args: argparse.Namespace) -> int:
    where = without_password(args.store)
    done = prepare_store(args.store)
    if done is None:
        say(f"the store at {where} keeps no tables: it needs no set-up, nothing to do")
    else:
        say(f"{where}: {done}")
    return 0


def add_commands(commands: Commands) -> None:
    """Add ``tokenauth db init``."""
    db = commands.add_parser("db", help="the store's database: init")
    db_commands = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    db_init = db_commands.add_parser(
        "init", help="create or upgrade the store's tables (safe to run again)"
    )
    add_store_option(db_init)
    db_init.set_defaults(run=_cmd_db_init)
