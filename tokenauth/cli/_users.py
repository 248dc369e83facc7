"""``tokenauth users``: list, add and delete password users, change, disable, enable them."""

from __future__ import annotations

import argparse
import time
from typing import Any

from tokenauth import AlreadyExistsError, UserRecord, new_user

from ._common import (
    Column,
    Commands,
    add_json_option,
    add_store_option,
    fail,
    print_listing,
    read_password,
    say,
    text,
    when,
)
from ._stores import front_door, token_store, users_at


def _cmd_users_add(args: argparse.Namespace) -> int:
    registry = users_at(args.store)
    password = read_password(from_stdin=args.password_stdin)
    record = new_user(args.name, password, now=int(time.time()), scope=tuple(args.scope))
    try:
        registry.add_user(record)
    except AlreadyExistsError:
        fail(f"a user named {record.username!r} already exists (change the password: passwd)")
    say(f"added user {record.username}")
    return 0


def _revoke_subject(url: str, subject: str) -> int:
    with token_store(url) as store:
        return front_door(store).revoke_subject(subject)


def _cmd_users_passwd(args: argparse.Namespace) -> int:
    registry = users_at(args.store)
    if registry.get_user(args.name) is None:
        fail(f"no user named {args.name!r}")
    password = read_password(from_stdin=args.password_stdin)
    record = new_user(args.name, password, now=int(time.time()))
    registry.set_password_hash(args.name, record.password_hash)
    message = f"changed the password of {args.name}"
    if not args.keep_tokens:
        message += f" and revoked {_revoke_subject(args.store, args.name)} token(s)"
    else:
        # The tokens stay until they expire; no refresh may extend them past that.
        with token_store(args.store) as store:
            ended = front_door(store).revoke_sessions(args.name)
        if ended:
            message += f" and ended {ended} refresh session(s)"
    say(message)
    return 0


def _cmd_users_disable(args: argparse.Namespace) -> int:
    if not users_at(args.store).set_disabled(args.name, True):
        fail(f"no user named {args.name!r}")
    count = _revoke_subject(args.store, args.name)
    say(f"disabled {args.name} and revoked {count} token(s)")
    return 0


def _cmd_users_enable(args: argparse.Namespace) -> int:
    if not users_at(args.store).set_disabled(args.name, False):
        fail(f"no user named {args.name!r}")
    say(f"enabled {args.name}")
    return 0


def user_json(record: UserRecord) -> dict[str, Any]:
    """A user's record as printed: never the password hash."""
    return {
        "username": record.username,
        "created_at": record.created_at,
        "disabled": record.disabled,
        "scope": " ".join(record.scope),
    }


USER_COLUMNS: list[Column] = [
    ("USERNAME", "username", text),
    ("CREATED", "created_at", when),
    ("DISABLED", "disabled", lambda v: "yes" if v else "no"),
    ("SCOPE", "scope", text),
]


def _cmd_users_list(args: argparse.Namespace) -> int:
    users = [user_json(u) for u in users_at(args.store).list_users()]
    print_listing(users, USER_COLUMNS, as_json=args.json, what="users")
    return 0


def _cmd_users_delete(args: argparse.Namespace) -> int:
    registry = users_at(args.store)
    delete = getattr(registry, "delete_user", None)
    if delete is None:
        fail(
            "this store's user registry cannot delete users; refuse their logins with: "
            f"tokenauth users disable {args.name} --store URL"
        )
    if not delete(args.name):
        fail(f"no user named {args.name!r} (see `tokenauth users list`)")
    count = _revoke_subject(args.store, args.name)
    say(f"deleted {args.name} and revoked {count} token(s)")
    return 0


def _add_password_stdin(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin", action="store_true",
        help="read the password from the first line of standard input instead of asking",
    )  # fmt: skip


def add_commands(commands: Commands) -> None:
    """Add ``tokenauth users add|passwd|disable|enable``."""
    users = commands.add_parser(
        "users", help="password users: list, add, passwd, disable, enable, delete"
    )
    users_commands = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = users_commands.add_parser("list", help="the users, as a table or JSON lines")
    add_json_option(listing)
    add_store_option(listing)
    listing.set_defaults(run=_cmd_users_list)
    add = users_commands.add_parser("add", help="add a user (asks for the password)")
    add.add_argument("name")
    add.add_argument("--scope", action="append", default=[], help="a scope (repeatable)")
    _add_password_stdin(add)
    add_store_option(add)
    add.set_defaults(run=_cmd_users_add)
    passwd = users_commands.add_parser("passwd", help="change a password, revoke the user's tokens")
    passwd.add_argument("name")
    passwd.add_argument("--keep-tokens", action="store_true", help="do not revoke their tokens")
    _add_password_stdin(passwd)
    add_store_option(passwd)
    passwd.set_defaults(run=_cmd_users_passwd)
    disable = users_commands.add_parser("disable", help="refuse a user's logins, revoke tokens")
    disable.add_argument("name")
    add_store_option(disable)
    disable.set_defaults(run=_cmd_users_disable)
    enable = users_commands.add_parser("enable", help="let a disabled user log in again")
    enable.add_argument("name")
    add_store_option(enable)
    enable.set_defaults(run=_cmd_users_enable)
    delete = users_commands.add_parser("delete", help="remove a user and revoke their tokens")
    delete.add_argument("name")
    add_store_option(delete)
    delete.set_defaults(run=_cmd_users_delete)
