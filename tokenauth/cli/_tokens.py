"""``tokenauth tokens``: list, revoke and purge issued tokens."""

from __future__ import annotations

import argparse
from typing import Any

from tokenauth import TokenRecord

from ._common import (
    Column,
    Commands,
    add_json_option,
    add_store_option,
    fail,
    print_listing,
    say,
    text,
    when,
)
from ._stores import all_records, front_door, token_store


def token_json(record: TokenRecord, last_used: int | None = None) -> dict[str, Any]:
    """A stored token's record as printed (never the token itself)."""
    document: dict[str, Any] = {
        "jti": record.jti,
        "sub": record.subject,
        "iat": record.issued_at,
        "exp": record.expires_at,
        "method": record.method,
    }
    optional = {
        "api_key_id": record.api_key_id,
        "last_used": last_used,
        "client": record.client,
        "user_agent": record.user_agent,
    }
    document.update((key, value) for key, value in optional.items() if value is not None)
    return document


#: The longest User-Agent a table shows; ``--json`` shows it whole.
_AGENT_WIDTH = 40


def _agent(value: object) -> str:
    shown = text(value)
    return shown if len(shown) <= _AGENT_WIDTH else shown[: _AGENT_WIDTH - 3] + "..."


TOKEN_COLUMNS: list[Column] = [
    ("JTI", "jti", text),
    ("SUBJECT", "sub", text),
    ("METHOD", "method", text),
    ("ISSUED", "iat", when),
    ("EXPIRES", "exp", when),
    ("API KEY", "api_key_id", text),
    ("LAST USED", "last_used", when),
    ("CLIENT", "client", text),
    ("USER AGENT", "user_agent", _agent),
]


def _last_uses(store: Any, records: list[TokenRecord]) -> dict[str, int | None]:
    """Each token's last use, from a store that keeps them (a SessionStore), else none."""
    list_sessions = getattr(store, "list_sessions", None)
    if not callable(list_sessions):
        return {}
    subjects = sorted({r.subject for r in records})
    return {s.jti: s.last_used_at for subject in subjects for s in list_sessions(subject)}


def _cmd_tokens_list(args: argparse.Namespace) -> int:
    with token_store(args.store) as store:
        if args.subject:
            records = [r for s in args.subject for r in store.list_subject(s)]
        else:
            records = all_records(store, args.store)
        last_used = _last_uses(store, records)
    documents = [token_json(r, last_used.get(r.jti)) for r in records]
    print_listing(documents, TOKEN_COLUMNS, as_json=args.json, what="stored tokens")
    return 0


def _cmd_tokens_revoke(args: argparse.Namespace) -> int:
    if not args.jti and not args.subject:
        fail("name the tokens to revoke: one or more JTIs, or --subject NAME")
    missing: list[str] = []
    with token_store(args.store) as store:
        door = front_door(store)
        count = 0
        for jti in args.jti:
            if door.revoke(jti):
                count += 1
            else:
                missing.append(jti)
        for subject in args.subject:
            count += door.revoke_subject(subject)
    say(f"revoked {count} token(s)")
    if missing:
        fail(f"no stored token with jti {', '.join(missing)}")
    return 0


def _cmd_tokens_purge(args: argparse.Namespace) -> int:
    with token_store(args.store) as store:
        count = front_door(store).purge_expired()
    say(f"purged {count} expired token(s)")
    print(count)
    return 0


def add_commands(commands: Commands) -> None:
    """Add ``tokenauth tokens list|revoke|purge``."""
    tokens = commands.add_parser("tokens", help="issued tokens: list, revoke, purge")
    tokens_commands = tokens.add_subparsers(dest="action", required=True, metavar="ACTION")
    tlist = tokens_commands.add_parser("list", help="the stored tokens, as a table or JSON lines")
    add_json_option(tlist)
    tlist.add_argument("--subject", action="append", default=[], help="only this subject's")
    add_store_option(tlist)
    tlist.set_defaults(run=_cmd_tokens_list)
    trevoke = tokens_commands.add_parser("revoke", help="revoke tokens by jti or by subject")
    trevoke.add_argument("jti", nargs="*", help="token ids (the jti claim)")
    trevoke.add_argument("--subject", action="append", default=[], help="every token of NAME")
    add_store_option(trevoke)
    trevoke.set_defaults(run=_cmd_tokens_revoke)
    purge = tokens_commands.add_parser("purge", help="remove expired tokens from the store")
    add_store_option(purge)
    purge.set_defaults(run=_cmd_tokens_purge)
