"""``tokenauth db init``: create or upgrade a store's tables."""

from __future__ import annotations

import argparse

from ._common import Commands, add_store_option, fail, say, without_password
from ._stores import init_schema


def _cmd_db_init(args: argparse.Namespace) -> int:
    init = init_schema(args.store)
    if init is None:
        fail(f"the store at {without_password(args.store)} needs no set-up")
    init(args.store)
    say(f"the tables at {without_password(args.store)} are ready")
    return 0


def add_commands(commands: Commands) -> None:
    """Add ``tokenauth db init``."""
    db = commands.add_parser("db", help="the store's database: init")
    db_commands = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    db_init = db_commands.add_parser("init", help="create or upgrade the store's tables")
    add_store_option(db_init)
    db_init.set_defaults(run=_cmd_db_init)
