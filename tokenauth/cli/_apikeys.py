"""``tokenauth apikeys``: create, list and revoke API keys."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from tokenauth import ApiKeyRecord, generate_api_key

from ._common import (
    PEPPER_ENV,
    Column,
    Commands,
    add_json_option,
    add_store_option,
    fail,
    print_json,
    print_listing,
    read_pepper,
    say,
    text,
    when,
)
from ._stores import api_keys_at, front_door, token_store


def key_json(record: ApiKeyRecord) -> dict[str, Any]:
    """An API key's record as printed: never the key or its digest."""
    return {
        "key_id": record.key_id,
        "subject": record.subject,
        "name": record.name,
        "created_at": record.created_at,
        "last_used_at": record.last_used_at,
        "revoked_at": record.revoked_at,
        "scope": " ".join(record.scope),
    }


KEY_COLUMNS: list[Column] = [
    ("KEY ID", "key_id", text),
    ("SUBJECT", "subject", text),
    ("NAME", "name", text),
    ("CREATED", "created_at", when),
    ("LAST USED", "last_used_at", when),
    ("REVOKED", "revoked_at", when),
    ("SCOPE", "scope", text),
]


def _cmd_apikeys_create(args: argparse.Namespace) -> int:
    pepper = read_pepper(args.pepper_file, create=True)
    registry = api_keys_at(args.store)
    key, record = generate_api_key(
        subject=args.subject, name=args.name, pepper=pepper, now=int(time.time()),
        scope=tuple(args.scope),
    )  # fmt: skip
    registry.add_key(record)
    say(f"created API key {record.key_id} for {record.subject}: it is shown this once")
    print_json({**key_json(record), "key": key})
    return 0


def _cmd_apikeys_list(args: argparse.Namespace) -> int:
    keys = [key_json(r) for r in api_keys_at(args.store).list_keys(args.subject)]
    print_listing(keys, KEY_COLUMNS, as_json=args.json, what="API keys")
    return 0


def _cmd_apikeys_revoke(args: argparse.Namespace) -> int:
    registry = api_keys_at(args.store)
    if registry.get_key(args.key_id) is None:
        fail(f"no API key with id {args.key_id!r} (see `tokenauth apikeys list`)")
    with token_store(args.store) as store:
        count = front_door(store, registry).revoke_api_key(args.key_id)
    say(f"revoked API key {args.key_id} and {count} token(s) it had issued")
    return 0


def add_commands(commands: Commands) -> None:
    """Add ``tokenauth apikeys create|list|revoke``."""
    apikeys = commands.add_parser("apikeys", help="API keys: create, list, revoke")
    apikeys_commands = apikeys.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = apikeys_commands.add_parser("create", help="create a key (printed once)")
    create.add_argument("subject", help="who the key logs in as")
    create.add_argument("--name", default="", help="a label, e.g. 'nightly export'")
    create.add_argument("--scope", action="append", default=[], help="a scope (repeatable)")
    create.add_argument(
        "--pepper-file", type=Path, metavar="FILE",
        help=f"the server's API-key pepper (hex; created if missing); or set ${PEPPER_ENV}",
    )  # fmt: skip
    add_store_option(create)
    create.set_defaults(run=_cmd_apikeys_create)
    listing = apikeys_commands.add_parser("list", help="the keys, as a table or JSON lines")
    add_json_option(listing)
    listing.add_argument("--subject", help="only the keys of this subject")
    add_store_option(listing)
    listing.set_defaults(run=_cmd_apikeys_list)
    revoke = apikeys_commands.add_parser("revoke", help="revoke a key and every token it issued")
    revoke.add_argument("key_id", help="the key's id (not the key)")
    add_store_option(revoke)
    revoke.set_defaults(run=_cmd_apikeys_revoke)
