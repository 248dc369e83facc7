"""``python -m tokenauth_sqlalchemy init URL`` and ``... purge URL``."""

from __future__ import annotations

import argparse
import sys

from tokenauth import ConfigurationError, StoreError

from ._admin import init_db, purge_expired


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m tokenauth_sqlalchemy",
        description="Set up and maintain tokenauth's tables in an SQL database.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="create the tables, or upgrade them to this version")
    init.add_argument("url", help="store URL, e.g. postgresql+psycopg://user@host/db")
    purge = commands.add_parser("purge", help="delete expired token records, in short batches")
    purge.add_argument("url", help="store URL")
    args = parser.parse_args(argv)
    try:
        if args.command == "init":
            print(init_db(args.url))
        else:
            print(f"purged {purge_expired(args.url)} expired token records")
    except (ConfigurationError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
