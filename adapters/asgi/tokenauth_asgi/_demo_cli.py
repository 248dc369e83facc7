"""``tokenauth demo``, added to the ``tokenauth`` command through ``tokenauth.commands``.

The core's command finds this module by its entry point and never imports it
otherwise: dependencies point inward.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shlex
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from tokenauth import (
    Algorithm,
    AlreadyExistsError,
    ApiKeyRecord,
    AsyncRefreshStore,
    AsyncTokenAuth,
    ConfigurationError,
    KeySet,
    Limit,
    LoginThrottle,
    MemoryApiKeyRegistry,
    MemoryUserRegistry,
    api_key_digest,
    generate_api_key,
    new_user,
    open_async_api_key_registry,
    open_async_counters,
    open_async_store,
    open_async_user_registry,
)
from tokenauth.cli import (
    ALGORITHMS,
    DEFAULT_TTL,
    PEPPER_BYTES,
    PEPPER_ENV,
    Commands,
    add_keys_option,
    add_store_option,
    fail,
    keeps_accounts,
    load_or_create_keys,
    parse_api_key_option,
    parse_user_option,
    port_number,
    positive_int,
    prepare_store,
    read_pepper,
    say,
    without_password,
)

from ._demo import ADMIN_SCOPE
from ._demo_server import Listener, bind, event_loop_factory, http_parser, run, self_signed, serve

DEMO_SUBJECT = "demo"
DEMO_SERVICE = "demo-service"
INSTALL_UVICORN = "pip install 'tokenauth-asgi[uvicorn]'"
#: The account the banner's throttling example guesses at: unknown accounts are
#: throttled exactly like real ones, and the demo's own user stays unlocked.
THROTTLE_EXAMPLE_ACCOUNT = "nobody"
DEFAULT_PER_ACCOUNT = "10/300"
DEFAULT_PER_CLIENT = "100/300"
DEFAULT_MAX_LOGIN_WAIT = 3.0
#: The demo's refresh tokens: each lives a day, a login session a week at most.
DEFAULT_REFRESH_TTL = 86400
DEFAULT_SESSION_LIFETIME = 7 * 86400


@dataclass(frozen=True)
class _Guards:
    """The demo's login throttle and load-shedding settings, for the banner."""

    throttle: bool
    per_account: Limit | None
    per_client: Limit | None
    counters: str
    max_login_wait: float | None
    #: (refresh-token lifetime, session lifetime) when refresh is on; else why it is off.
    refresh: tuple[int, int] | str = "refresh tokens off (--no-refresh)"

    def summary(self) -> str:
        if self.throttle:
            parts = [
                f"{limit.attempts} per {limit.window} s per {who}"
                for who, limit in (("account", self.per_account), ("client", self.per_client))
                if limit is not None
            ]
            throttle = f"failed logins throttled at {', '.join(parts)} (counters: {self.counters})"
        else:
            throttle = "login throttling off (--no-throttle)"
        if self.max_login_wait is None:
            shedding = "no load shedding"
        else:
            shedding = f"logins shed (503) past a {self.max_login_wait:g} s hash queue"
        if isinstance(self.refresh, str):
            refresh = self.refresh
        else:
            ttl, lifetime = self.refresh
            refresh = f"refresh tokens live {ttl} s, a login session {lifetime} s at most"
        return f"  {throttle}; {shedding}\n  {refresh}"


@dataclass
class _DemoAccess:
    users: list[tuple[str, str]] = field(default_factory=list)
    api_keys: list[tuple[str, str]] = field(default_factory=list)
    #: Scopes granted, by user name or API-key subject.
    scopes: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def has_admin(self, name: str) -> bool:
        return ADMIN_SCOPE in self.scopes.get(name, ())


def parse_scope_option(value: str) -> tuple[str, tuple[str, ...]]:
    """Split ``NAME=SCOPE[,SCOPE...]`` (scopes may also be separated by spaces).

    Raises:
        argparse.ArgumentTypeError: No ``=``, an empty name or no scope.
    """
    name, equals, scopes = value.partition("=")
    granted = tuple(dict.fromkeys(scopes.replace(",", " ").split()))
    if not equals or not name or not granted:
        raise argparse.ArgumentTypeError(
            "expected NAME=SCOPE[,SCOPE...], e.g. alice=admin (NAME: a --user or API-key subject)"
        )
    return name, granted


def parse_limit_option(value: str) -> Limit | None:
    """``N/SECONDS`` (at most N failed logins per SECONDS), or ``off``.

    Raises:
        argparse.ArgumentTypeError: Not of that form, or out of range.
    """
    if value.strip().lower() == "off":
        return None
    attempts, slash, window = value.partition("/")
    try:
        if not slash:
            raise ValueError(value)
        return Limit(int(attempts), int(window))
    except (ValueError, ConfigurationError):
        raise argparse.ArgumentTypeError(
            "expected N/SECONDS, e.g. 10/300 (10 failed logins per 5 minutes; N at least 1, "
            "SECONDS from 1 to 86400), or off"
        ) from None


def parse_wait_option(value: str) -> float | None:
    """Seconds (a positive number), or ``none`` for no bound.

    Raises:
        argparse.ArgumentTypeError: Neither.
    """
    if value.strip().lower() == "none":
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(
            f"expected a positive number of seconds, or none (queue every login), not {value!r}"
        )
    return seconds


def _throttle_lines(guards: _Guards, tls: str, base: str, step: int) -> list[str]:
    """The banner's steps for seeing a 429 by hand (none when throttling is off)."""
    limit = guards.per_account or guards.per_client
    if not guards.throttle or limit is None:
        return []
    who = "one account" if guards.per_account is not None else "one client"
    guess = shlex.quote(f"{THROTTLE_EXAMPLE_ACCOUNT}:guess")
    login = f"curl -s {tls}-u {guess} {base}/token"
    return [
        f"  {step}. see a 429: {limit.attempts} wrong passwords for {who} in {limit.window} s "
        f"get 401, the next 429 with Retry-After (an unknown account, {THROTTLE_EXAMPLE_ACCOUNT},"
        " is throttled alike):",
        f"     for i in $(seq {limit.attempts}); do {login} -o /dev/null -w '%{{http_code}} '; "
        "done; echo",
        f"     {login.replace('curl -s ', 'curl -s -i ', 1)}",
        "",
    ]


def _banner(
    https: Listener,
    http: Listener | None,
    access: _DemoAccess,
    cacert: Path | None,
    generated: bool,
    guards: _Guards,
) -> str:
    tls = f"--cacert {shlex.quote(str(cacert))} " if cacert is not None else ""
    base = https.url
    lines = [f"tokenauth demo: serving {base} (TLS)"]
    if generated and cacert is not None:
        lines.append(f"  self-signed certificate for this run: {cacert} (or use curl -k)")
    if http is not None:
        lines.append(
            f"  plain HTTP on {http.url} refuses every request (403) and revokes any token"
        )
    lines.append(guards.summary())
    lines.append("")
    for name, password in access.users:
        lines.append(f"  user     {name} / {password}")
    for subject, key in access.api_keys:
        lines.append(f"  API key  {key}  (logs in as {subject})")
    for name, scopes in access.scopes.items():
        lines.append(f"  scopes   {name}: {' '.join(scopes)}")
    lines.append("")
    logins: list[tuple[str, str]] = []
    if access.users:
        name, password = access.users[0]
        credentials = shlex.quote(f"{name}:{password}")
        logins.append(("log in with the password", f"curl -s {tls}-u {credentials} {base}/token"))
    if access.api_keys:
        credentials = shlex.quote(access.api_keys[0][1] + ":")
        command = f"curl -s {tls}-u {credentials} -X POST {base}/token"
        logins.append(("log in with the API key (as the username, no password)", command))
    if not logins:
        lines.append(
            "  users and API keys: those kept in the store (tokenauth users add --store URL)"
        )
        lines.append("")
        logins.append(("log in as a stored user", f"curl -s {tls}-u 'NAME:PASSWORD' {base}/token"))
    step = 1
    for what, command in logins:
        lines += [f"  {step}. {what}:", f"     {command}", ""]
        step += 1
    login = logins[0][1]
    extract = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"token\"])'"
    lines += [
        f"  {step}. keep a token and call the secured path:",
        f"     TOKEN=$({login} | {extract})",
        f'     curl -s {tls}-H "Authorization: Bearer $TOKEN" {base}/me',
        "",
    ]
    step += 1
    if not isinstance(guards.refresh, str):
        keep = extract.replace('["token"]', '["refresh_token"]')
        lines += [
            f"  {step}. trade a refresh token for a new pair (once: sent again, it ends the "
            "whole login session):",
            f"     REFRESH=$({login} | {keep})",
            f'     curl -s {tls}-d grant_type=refresh_token -d "refresh_token=$REFRESH" '
            f"{base}/token",
            "",
        ]
        step += 1
    first = access.users[0][0] if access.users else None
    admin_login = _admin_login(access, tls, base)
    if first is not None and not access.has_admin(first) and admin_login is not None:
        lines += [
            f"  {step}. /admin needs the {ADMIN_SCOPE} scope: {first} is refused (403), "
            f"{admin_login[0]} is let in (200):",
            f'     curl -s -i {tls}-H "Authorization: Bearer $TOKEN" {base}/admin',
            f"     ADMIN_TOKEN=$({admin_login[1]} | {extract})",
            f'     curl -s {tls}-H "Authorization: Bearer $ADMIN_TOKEN" {base}/admin',
            "",
        ]
        step += 1
    elif first is not None:
        verdict = "has it (200)" if access.has_admin(first) else "lacks it (403)"
        lines += [
            f"  {step}. /admin needs the {ADMIN_SCOPE} scope; {first} {verdict}:",
            f'     curl -s -i {tls}-H "Authorization: Bearer $TOKEN" {base}/admin',
            "",
        ]
        step += 1
    throttling = _throttle_lines(guards, tls, base, step)
    lines += throttling
    step += bool(throttling)
    step -= 1
    lines += [
        f"  {step + 1}. log out (the token stops working at once):",
        f'     curl -s -i {tls}-X POST -H "Authorization: Bearer $TOKEN" {base}/logout',
        "",
        f"  {step + 2}. the public keys, and the health check:",
        f"     curl -s {tls}{base}/.well-known/jwks.json",
        f"     curl -s {tls}{base}/health",
    ]
    if http is not None:
        lines += [
            "",
            f"  {step + 3}. plain HTTP is refused, and the token it exposed is revoked:",
            f'     curl -s -i -H "Authorization: Bearer $TOKEN" {http.url}/me',
        ]
    lines += ["", "Press Ctrl+C to stop."]
    return "\n".join(lines)


def _admin_login(access: _DemoAccess, tls: str, base: str) -> tuple[str, str] | None:
    """Who holds the admin scope, and the curl that logs them in (an API key first)."""
    for subject, key in access.api_keys:
        if access.has_admin(subject):
            return subject, f"curl -s {tls}-u {shlex.quote(key + ':')} -X POST {base}/token"
    for name, password in access.users:
        if access.has_admin(name):
            return name, f"curl -s {tls}-u {shlex.quote(f'{name}:{password}')} {base}/token"
    return None


def seconds_option(text: str) -> int:
    """A refresh or session lifetime: whole seconds from 60 to a year."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 60 <= value <= MAX_SESSION_SECONDS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of seconds from 60 to {MAX_SESSION_SECONDS}"
        )
    return value


MAX_SESSION_SECONDS = 366 * 86400


def _cmd_demo(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError as exc:
        fail(f"the demo needs uvicorn ({exc.name} is missing): {INSTALL_UVICORN}")
    if (args.cert_file is None) != (args.key_file is None):
        fail("pass --cert-file and --key-file together")
    if args.throttle and args.per_account is None and args.per_client is None:
        fail("--per-account off and --per-client off leave nothing to throttle: use --no-throttle")
    keys = (
        KeySet.generate(cast("Algorithm", args.alg or "RS256"))
        if args.keys is None
        else load_or_create_keys(args.keys, args.alg)
    )
    https = bind(args.host, args.port, "HTTPS", "--port")
    http = bind(args.host, args.http_port, "plain HTTP", "--http-port") if args.http_port else None
    workdir = Path(tempfile.mkdtemp(prefix="tokenauth-demo-"))
    try:
        if args.cert_file is None:
            cert_file, key_file = self_signed(workdir, args.host)
            cacert: Path | None = cert_file
        else:
            cert_file, key_file, cacert = args.cert_file, args.key_file, None
        return run(_demo(args, keys, https, http, cert_file, key_file, cacert, uvicorn))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        for listener in (https, http):
            if listener is not None:
                listener.sock.close()


async def _demo(
    args: argparse.Namespace,
    keys: KeySet,
    https: Listener,
    http: Listener | None,
    cert_file: Path,
    key_file: Path,
    cacert: Path | None,
    uvicorn: Any,
) -> int:
    from ._demo import demo_app
    from ._endpoints import HttpsRequiredApp

    # A demo on a fresh SQL database makes its tables itself (`tokenauth db init`).
    done = await asyncio.to_thread(prepare_store, args.store)
    if done is not None:
        say(f"{without_password(args.store)}: {done}")
    store = open_async_store(args.store)
    counters: Any = None
    if args.throttle:
        try:
            # SQL counters need their table, made for a fresh database as the store's are.
            if args.counters != args.store:
                done = await asyncio.to_thread(prepare_store, args.counters)
                if done is not None:
                    say(f"{without_password(args.counters)}: {done}")
            counters = open_async_counters(args.counters)
        except ConfigurationError as exc:
            await store.aclose()
            fail(f"--counters {without_password(args.counters)}: {exc}")
    users: Any
    api_keys: Any
    persistent = keeps_accounts(args.store)
    if persistent:
        # The store keeps users and API keys too (an SQL database): serve those, so
        # that `tokenauth users add --store URL` and this demo share one set of accounts.
        users = open_async_user_registry(args.store)
        api_keys = open_async_api_key_registry(args.store)
        if args.pepper_file is not None or os.environ.get(PEPPER_ENV):
            pepper = read_pepper(args.pepper_file, create=True)
        else:
            pepper = secrets.token_bytes(PEPPER_BYTES)
            say("note: no --pepper-file: API keys stored by other runs will not log in here")
    else:
        users, api_keys = MemoryUserRegistry(), MemoryApiKeyRegistry()
        # The demo's users and keys live in memory only, so an ephemeral pepper will do.
        pepper = secrets.token_bytes(PEPPER_BYTES)
    try:
        now = int(time.time())
        access = _DemoAccess(list(args.user), list(args.api_key))
        if not access.users and not access.api_keys and not persistent:
            access.users.append((DEMO_SUBJECT, secrets.token_urlsafe(12)))
            key, _ = generate_api_key(subject=DEMO_SERVICE, name="demo", pepper=pepper, now=now)
            access.api_keys.append((DEMO_SERVICE, key))
            # One account with the admin scope and one without: /admin answers 200 and 403.
            access.scopes[DEMO_SERVICE] = (ADMIN_SCOPE,)
        named = {name for name, _ in access.users} | {subject for subject, _ in access.api_keys}
        for name, scopes in args.scope:
            if name not in named:
                fail(f"--scope {name}=...: {name} is neither a --user nor an --api-key subject")
            access.scopes[name] = tuple(dict.fromkeys((*access.scopes.get(name, ()), *scopes)))
        await _add_accounts(access, users, api_keys, pepper, now, persistent=persistent)
        throttle = None
        if counters is not None:
            throttle = LoginThrottle(
                counters, per_account=args.per_account, per_client=args.per_client
            )
        refresh: tuple[int, int] | str = "refresh tokens off (--no-refresh)"
        if args.refresh:
            if not isinstance(store, AsyncRefreshStore):
                refresh = "refresh tokens off: this store keeps none"
            else:
                refresh = (args.refresh_ttl, args.session_lifetime)
        auth = AsyncTokenAuth(
            keys=keys, store=store, users=users, api_keys=api_keys, pepper=pepper,
            issuer=https.url, ttl=args.ttl, realm="tokenauth-demo", throttle=throttle,
            max_login_wait=args.max_login_wait,
            refresh_ttl=None if isinstance(refresh, str) else refresh[0],
            session_lifetime=None if isinstance(refresh, str) else refresh[1],
            max_tokens_per_subject=args.max_tokens, cap_policy=args.cap_policy,
            track_last_use=True,
        )  # fmt: skip
        guards = _Guards(
            throttle=throttle is not None, per_account=args.per_account,
            per_client=args.per_client, counters=without_password(args.counters),
            max_login_wait=args.max_login_wait, refresh=refresh,
        )  # fmt: skip

        def started() -> None:
            say(f"serving on {event_loop_factory()[1]} with the {http_parser()} HTTP parser")
            banner = _banner(https, http, access, cacert, args.cert_file is None, guards)
            print(banner, flush=True)

        await serve(
            demo_app(auth), https, http, HttpsRequiredApp(auth), cert_file, key_file, uvicorn,
            started,
        )  # fmt: skip
    finally:
        await store.aclose()
        if counters is not None:
            closer = getattr(counters, "aclose", None)
            await (closer() if closer is not None else asyncio.to_thread(counters.close))
        for registry in (users, api_keys):
            closer = getattr(registry, "aclose", None)
            if closer is not None:
                await closer()
    return 0


async def _add_accounts(
    access: _DemoAccess, users: Any, api_keys: Any, pepper: bytes, now: int, *, persistent: bool
) -> None:
    seen: set[str] = set()
    for name, password in access.users:
        if name in seen:
            fail(f"--user {name} is given twice")
        seen.add(name)
        # The default (production) argon2 cost: the demo shows the real thing.
        record = await asyncio.to_thread(
            new_user, name, password, now=now, scope=access.scopes.get(name, ())
        )
        try:
            await _maybe_await(users.add_user(record))
        except AlreadyExistsError:
            say(
                f"note: user {record.username} is already stored; the stored password and "
                "scopes stay"
            )
    for subject, key in access.api_keys:
        digest = api_key_digest(key, pepper)
        try:
            await _maybe_await(api_keys.add_key(ApiKeyRecord(
                key_id="demo_" + digest[:16], subject=subject, name="demo",
                digest=digest, created_at=now, scope=access.scopes.get(subject, ()),
            )))  # fmt: skip
        except AlreadyExistsError:
            if not persistent:
                fail("the same --api-key is given twice")


async def _maybe_await(value: object) -> object:
    """Await ``value`` if it is awaitable (async registries), else return it."""
    if asyncio.iscoroutine(value):
        return await value
    return value


def add_command(commands: Commands) -> None:
    """Add ``tokenauth demo`` (the ``tokenauth.commands`` entry point of tokenauth-asgi)."""
    demo = commands.add_parser(
        "demo", help="run the HTTPS demo API",
        description="Serve a demo API over HTTPS (self-signed certificate) on uvicorn, and refuse "
        "plain HTTP on a second port. Without --user or --api-key a demo user and a demo API key "
        "are made and printed with ready curl commands.",
    )  # fmt: skip
    demo.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    demo.add_argument("--port", type=port_number, default=8443, help="HTTPS port (default 8443)")
    demo.add_argument(
        "--http-port", type=port_number, default=8080,
        help="plain-HTTP port that refuses everything (default 8080; 0 for none)",
    )  # fmt: skip
    demo.add_argument(
        "--user", type=parse_user_option, action="append", default=[], metavar="NAME:PASSWORD",
        help="a user who may log in (repeatable)",
    )  # fmt: skip
    demo.add_argument(
        "--api-key", type=parse_api_key_option, action="append", default=[],
        metavar="[SUBJECT:]KEY", help="an API key that may log in (repeatable)",
    )  # fmt: skip
    demo.add_argument(
        "--scope", type=parse_scope_option, action="append", default=[],
        metavar="NAME=SCOPE[,SCOPE]",
        help=f"grant scopes to a --user or --api-key subject (repeatable); GET /admin needs "
        f"{ADMIN_SCOPE!r}",
    )  # fmt: skip
    demo.add_argument(
        "--ttl", type=positive_int, default=DEFAULT_TTL,
        help=f"token lifetime, seconds (1 or more; default {DEFAULT_TTL})",
    )  # fmt: skip
    add_store_option(demo)
    demo.add_argument(
        "--max-tokens", type=positive_int, default=None, metavar="N",
        help="at most N live tokens per user or API key (default: no cap); see --cap-policy",
    )  # fmt: skip
    demo.add_argument(
        "--cap-policy", choices=("refuse", "evict_oldest"), default="refuse",
        help="at the --max-tokens cap: refuse the login with 403 (default) or revoke the "
        "oldest token to make room",
    )  # fmt: skip
    demo.add_argument(
        "--refresh", action=argparse.BooleanOptionalAction, default=True,
        help="answer logins with a refresh token too, traded at POST /token (default on; "
        "--no-refresh to switch it off)",
    )  # fmt: skip
    demo.add_argument(
        "--refresh-ttl", type=seconds_option, default=DEFAULT_REFRESH_TTL, metavar="SECONDS",
        help=f"refresh-token lifetime, seconds (60 to a year; default {DEFAULT_REFRESH_TTL})",
    )  # fmt: skip
    demo.add_argument(
        "--session-lifetime", type=seconds_option, default=DEFAULT_SESSION_LIFETIME,
        metavar="SECONDS",
        help="the most a login session lasts, whatever the refreshes, seconds (60 to a year; "
        f"default {DEFAULT_SESSION_LIFETIME})",
    )  # fmt: skip
    demo.add_argument(
        "--throttle", action=argparse.BooleanOptionalAction, default=True,
        help="throttle failed logins per account and per client, answering 429 past the "
        "limits (default on; --no-throttle to switch it off)",
    )  # fmt: skip
    demo.add_argument(
        "--per-account", type=parse_limit_option, default=parse_limit_option(DEFAULT_PER_ACCOUNT),
        metavar="N/SECONDS",
        help=f"failed logins allowed per account (default {DEFAULT_PER_ACCOUNT}; off for none)",
    )  # fmt: skip
    demo.add_argument(
        "--per-client", type=parse_limit_option, default=parse_limit_option(DEFAULT_PER_CLIENT),
        metavar="N/SECONDS",
        help=f"failed logins allowed per client address (default {DEFAULT_PER_CLIENT}; off for "
        "none)",
    )  # fmt: skip
    demo.add_argument(
        "--counters", default="memory://", metavar="URL",
        help="where the throttle counts: memory:// (default), redis://host/0, or an SQL URL "
        "such as sqlite:///counters.db (its table is made when missing)",
    )  # fmt: skip
    demo.add_argument(
        "--max-login-wait", type=parse_wait_option, default=DEFAULT_MAX_LOGIN_WAIT,
        metavar="SECONDS",
        help="answer 503 at once to a password login that would wait longer than this for "
        f"its hash (default {DEFAULT_MAX_LOGIN_WAIT:g}; none to queue every login)",
    )  # fmt: skip
    demo.add_argument("--alg", choices=ALGORITHMS, help="signing algorithm (default RS256)")
    add_keys_option(demo, required=False)
    demo.add_argument(
        "--pepper-file", type=Path, metavar="FILE",
        help="API-key pepper (hex), created when missing; for stores that keep API keys",
    )  # fmt: skip
    demo.add_argument(
        "--cert-file", type=Path, help="TLS certificate (PEM) instead of a self-signed one"
    )
    demo.add_argument("--key-file", type=Path, help="TLS private key (PEM) for --cert-file")
    demo.set_defaults(run=_cmd_demo)
