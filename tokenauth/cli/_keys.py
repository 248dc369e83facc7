"""``tokenauth keys``: generate, rotate and publish signing keys."""

from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path
from typing import cast

from tokenauth import STAGE_DELAY, Algorithm, Key, KeySet

from ._common import (
    ALGORITHMS,
    DEFAULT_TTL,
    LEEWAY,
    Commands,
    add_keys_option,
    fail,
    load_keys,
    positive_int,
    say,
)


def _cmd_keys_generate(args: argparse.Namespace) -> int:
    path: Path = args.keys
    if (path.exists() or path.is_symlink()) and not args.force:
        fail(
            f"{path} already exists; tokens it signed would stop verifying if it were replaced. "
            f"Use `tokenauth keys rotate --keys {path}` (no downtime), or pass --force"
        )
    keys = KeySet.generate(cast("Algorithm", args.alg))
    keys.save(path)
    say(f"wrote a new {keys.signing.alg} key set to {path}")
    print(keys.signing.kid)
    return 0


def _cmd_keys_rotate(args: argparse.Namespace) -> int:
    path: Path = args.keys
    now = int(time.time())
    keys = load_keys(path)
    old = keys.signer(now)
    fresh = Key.generate(cast("Algorithm", args.alg or old.alg))
    rotated = keys.rotated(
        fresh, now=now, lifetime=args.ttl + LEEWAY, staged=args.staged, delay=args.delay
    )
    rotated.save(path)
    retired = rotated.get(old.kid)
    until = _utc(retired.not_after if retired is not None and retired.not_after else now)
    if rotated.staged is not None and rotated.staged.signs_from is not None:
        say(
            f"{path} now publishes {fresh.alg} key {fresh.kid}, which signs from "
            f"{_utc(rotated.staged.signs_from)} UTC; until then {old.kid} signs, and it "
            f"verifies until {until} UTC. Restart or reload your servers now, so that "
            "they publish the new key before it signs"
        )
    else:
        say(
            f"{path} now signs with {fresh.alg} key {fresh.kid}; the previous key "
            f"{old.kid} verifies until {until} UTC. "
            "Restart or reload your servers to pick the new key up"
        )
    print(fresh.kid)
    return 0


def _utc(moment: int) -> str:
    return f"{datetime.datetime.fromtimestamp(moment, datetime.timezone.utc):%Y-%m-%d %H:%M:%S}"


def _cmd_keys_jwks(args: argparse.Namespace) -> int:
    keys = load_keys(args.keys)
    if keys.signing.symmetric:
        say("HS256 key sets have no public keys: the JWKS document is empty")
    print(json.dumps(keys.jwks(), indent=2))
    return 0


def add_commands(commands: Commands) -> None:
    """Add ``tokenauth keys generate|rotate|jwks``."""
    keys = commands.add_parser("keys", help="signing keys: generate, rotate, publish")
    keys_commands = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    generate = keys_commands.add_parser("generate", help="write a new key set file")
    add_keys_option(generate)
    generate.add_argument("--alg", choices=ALGORITHMS, default="RS256", help="default RS256")
    generate.add_argument("--force", action="store_true", help="replace an existing file")
    generate.set_defaults(run=_cmd_keys_generate)
    rotate = keys_commands.add_parser("rotate", help="sign with a new key, keep verifying the old")
    add_keys_option(rotate)
    rotate.add_argument(
        "--alg", choices=ALGORITHMS, help="algorithm of the new key (default: same)"
    )
    rotate.add_argument(
        "--ttl", type=positive_int, default=DEFAULT_TTL,
        help="the longest token lifetime: the old key verifies that much longer",
    )  # fmt: skip
    rotate.add_argument(
        "--staged", action="store_true",
        help=f"publish the new key now, sign with it after --delay (default {STAGE_DELAY} s: "
        "the JWKS max-age and a minute), so that verifiers caching the JWKS have it first",
    )  # fmt: skip
    rotate.add_argument(
        "--delay", type=positive_int, metavar="SECONDS",
        help="seconds from publishing to signing; implies --staged",
    )  # fmt: skip
    rotate.set_defaults(run=_cmd_keys_rotate)
    jwks = keys_commands.add_parser("jwks", help="print the public JWKS document")
    add_keys_option(jwks)
    jwks.set_defaults(run=_cmd_keys_jwks)
