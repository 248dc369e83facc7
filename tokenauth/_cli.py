"""The ``tokenauth`` command: the HTTPS demo server, and keys, API keys, users and tokens.

Exit codes: 0 success, 1 an error the message explains (a missing file, an
unknown user, an unreachable store), 2 a usage error, 130 interrupted.

Users and API keys live in registries. ``memory://`` keeps them only inside a
running ``tokenauth demo``; persistent ones come from a store backend (found by
URL scheme under the ``tokenauth.stores`` entry-point group) that offers the
optional methods ``open_user_registry(url)`` and ``open_api_key_registry(url)``.
``tokens list`` with no ``--subject`` uses a store's optional ``list_all()``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import getpass
import ipaddress
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TextIO, cast, get_args
from urllib.parse import urlsplit, urlunsplit

from . import (
    Algorithm,
    AlreadyExistsError,
    ApiKeyRecord,
    ApiKeyRegistry,
    AsyncTokenAuth,
    ConfigurationError,
    Key,
    KeySet,
    MemoryApiKeyRegistry,
    MemoryUserRegistry,
    StoreError,
    TokenAuth,
    TokenAuthError,
    TokenRecord,
    TokenStore,
    UserRegistry,
    api_key_digest,
    generate_api_key,
    is_well_formed_api_key,
    new_user,
    open_async_api_key_registry,
    open_async_store,
    open_async_user_registry,
    open_store,
)
from .extend import store_backend

__all__ = ["main", "parse_api_key_option", "parse_user_option"]

ALGORITHMS: tuple[str, ...] = get_args(Algorithm)
DEFAULT_STORE = "memory://"
DEFAULT_TTL = 3600
#: Seconds of clock skew the validator tolerates (the core's default leeway).
LEEWAY = 5
PEPPER_ENV = "TOKENAUTH_PEPPER"
PEPPER_BYTES = 32
DEMO_SUBJECT = "demo"
DEMO_SERVICE = "demo-service"
INSTALL_ASGI = "pip install 'tokenauth-asgi[uvicorn]'"


class CliError(Exception):
    """A failure the user can act on: printed as ``tokenauth: error: ...``, exit 1."""


def _fail(message: str) -> NoReturn:
    raise CliError(message)


def _say(message: str) -> None:
    """A note for the person at the terminal, on stderr so that stdout stays parseable."""
    print(f"tokenauth: {message}", file=sys.stderr, flush=True)


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


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _port(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError("a port is between 0 and 65535")
    return number


# -- keys and pepper --------------------------------------------------------------------------


def _load_keys(path: Path) -> KeySet:
    """Read a key set that must exist; a file that is there but unreadable is an error."""
    if not path.exists():
        _fail(f"no key set at {path}; create one with: tokenauth keys generate --keys {path}")
    return KeySet.load(path)


def _load_or_create_keys(path: Path, alg: str | None) -> KeySet:
    """Read the key set at ``path``, or create it when (and only when) the file is missing."""
    if path.exists() or path.is_symlink():
        keys = KeySet.load(path)  # never regenerated: tokens it signed must keep verifying
        if alg is not None and keys.signing.alg != alg:
            _fail(
                f"{path} signs with {keys.signing.alg}, not {alg}; to switch, run: "
                f"tokenauth keys rotate --keys {path} --alg {alg}"
            )
        return keys
    keys = KeySet.generate(cast("Algorithm", alg or "RS256"))
    keys.save(path)
    _say(f"created a new {keys.signing.alg} key set in {path} (kid {keys.signing.kid})")
    return keys


def _read_pepper(text: str, where: str) -> bytes:
    try:
        pepper = bytes.fromhex(text.strip())
    except ValueError:
        _fail(f"the pepper in {where} is not hex")
    if len(pepper) < PEPPER_BYTES:
        _fail(f"the pepper in {where} is {len(pepper)} bytes; it must be at least {PEPPER_BYTES}")
    return pepper


def _pepper(path: Path | None, *, create: bool) -> bytes:
    """The API-key pepper: ``--pepper-file``, else ``$TOKENAUTH_PEPPER``, else an error."""
    if path is not None:
        if path.exists() or path.is_symlink():
            try:
                text = path.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                _fail(f"cannot read the pepper file {path}: {exc}")
            return _read_pepper(text, str(path))
        if not create:
            _fail(f"no pepper file at {path}")
        pepper = secrets.token_bytes(PEPPER_BYTES)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(pepper.hex() + "\n")
        _say(f"created a new API-key pepper in {path}: keep it secret, and keep it")
        return pepper
    env = os.environ.get(PEPPER_ENV)
    if env:
        return _read_pepper(env, f"${PEPPER_ENV}")
    _fail(f"API keys need the server's pepper: pass --pepper-file FILE or set ${PEPPER_ENV} (hex)")


# -- stores and registries --------------------------------------------------------------------


def _backend(url: str) -> Any:
    """The object registered for the URL's scheme under ``tokenauth.stores``, if any."""
    try:
        return store_backend(url)
    except ConfigurationError:
        return None


def _registry(url: str, kind: str) -> Any:
    """A persistent user (``kind="user"``) or API-key registry from the store's backend."""
    opener = getattr(_backend(url), f"open_{kind}_registry", None)
    if opener is None:
        scheme = url.split(":", 1)[0]
        if scheme.lower() == "memory":
            _fail(
                f"the {url} store keeps {kind}s only inside a running `tokenauth demo` "
                f"(pass --{'user' if kind == 'user' else 'api-key'} to it); for {kind}s that "
                "persist, use a store URL whose backend provides registries"
            )
        _fail(f"the store backend for {scheme!r} provides no {kind} registry")
    return opener(url)


def _users(url: str) -> UserRegistry:
    registry: UserRegistry = _registry(url, "user")
    return registry


def _api_keys(url: str) -> ApiKeyRegistry:
    registry: ApiKeyRegistry = _registry(url, "api_key")
    return registry


@contextlib.contextmanager
def _store(url: str) -> Iterator[TokenStore]:
    store = open_store(url)
    if url.lower().startswith("memory:"):
        _say(f"note: {url} is a new, empty store in this process; tokens issued by a running "
             "server are only in that server's memory")  # fmt: skip
    try:
        yield store
    finally:
        store.close()


def _front_door(store: TokenStore, api_keys: ApiKeyRegistry | None = None) -> TokenAuth:
    """A front door for administration: revocations need a store, never a signing key."""
    # Revoking and purging never sign or verify, so an ephemeral key and pepper will do.
    return TokenAuth(
        keys=KeySet.generate("HS256"),
        store=store,
        api_keys=api_keys,
        pepper=secrets.token_bytes(PEPPER_BYTES) if api_keys is not None else None,
    )


def _read_password(*, from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            _fail("no password on standard input")
        return password
    if not sys.stdin.isatty():
        _fail("no terminal to ask for the password on: pass --password-stdin and pipe it in")
    first = getpass.getpass("New password: ")
    if first != getpass.getpass("Repeat it: "):
        _fail("the passwords differ")
    return first


def _print_json(document: dict[str, Any], out: TextIO | None = None) -> None:
    print(json.dumps(document, ensure_ascii=False, sort_keys=False), file=out or sys.stdout)


def _key_json(record: ApiKeyRecord) -> dict[str, Any]:
    return {
        "key_id": record.key_id,
        "subject": record.subject,
        "name": record.name,
        "created_at": record.created_at,
        "last_used_at": record.last_used_at,
        "revoked_at": record.revoked_at,
        "scope": " ".join(record.scope),
    }


def _token_json(record: TokenRecord) -> dict[str, Any]:
    document: dict[str, Any] = {
        "jti": record.jti,
        "sub": record.subject,
        "iat": record.issued_at,
        "exp": record.expires_at,
        "method": record.method,
    }
    if record.api_key_id is not None:
        document["api_key_id"] = record.api_key_id
    return document


# -- keys commands ----------------------------------------------------------------------------


def _cmd_keys_generate(args: argparse.Namespace) -> int:
    path: Path = args.keys
    if (path.exists() or path.is_symlink()) and not args.force:
        _fail(
            f"{path} already exists; tokens it signed would stop verifying if it were replaced. "
            f"Use `tokenauth keys rotate --keys {path}` (no downtime), or pass --force"
        )
    keys = KeySet.generate(cast("Algorithm", args.alg))
    keys.save(path)
    _say(f"wrote a new {keys.signing.alg} key set to {path}")
    print(keys.signing.kid)
    return 0


def _cmd_keys_rotate(args: argparse.Namespace) -> int:
    path: Path = args.keys
    keys = _load_keys(path)
    now = int(time.time())
    fresh = Key.generate(cast("Algorithm", args.alg or keys.signing.alg))
    retire_after = now + args.ttl + LEEWAY
    rotated = keys.rotate(fresh, retire_after=retire_after).prune(now)
    rotated.save(path)
    until = datetime.datetime.fromtimestamp(retire_after, datetime.timezone.utc)
    _say(
        f"{path} now signs with {fresh.alg} key {fresh.kid}; the previous key "
        f"{keys.signing.kid} verifies until {until:%Y-%m-%d %H:%M:%S} UTC. "
        "Restart or reload your servers to pick the new key up"
    )
    print(fresh.kid)
    return 0


def _cmd_keys_jwks(args: argparse.Namespace) -> int:
    keys = _load_keys(args.keys)
    if keys.signing.symmetric:
        _say("HS256 key sets have no public keys: the JWKS document is empty")
    print(json.dumps(keys.jwks(), indent=2))
    return 0


# -- apikeys commands -------------------------------------------------------------------------


def _cmd_apikeys_create(args: argparse.Namespace) -> int:
    pepper = _pepper(args.pepper_file, create=True)
    registry = _api_keys(args.store)
    key, record = generate_api_key(
        subject=args.subject, name=args.name, pepper=pepper, now=int(time.time()),
        scope=tuple(args.scope),
    )  # fmt: skip
    registry.add_key(record)
    _say(f"created API key {record.key_id} for {record.subject}: it is shown this once")
    _print_json({**_key_json(record), "key": key})
    return 0


def _cmd_apikeys_list(args: argparse.Namespace) -> int:
    for record in _api_keys(args.store).list_keys(args.subject):
        _print_json(_key_json(record))
    return 0


def _cmd_apikeys_revoke(args: argparse.Namespace) -> int:
    registry = _api_keys(args.store)
    if registry.get_key(args.key_id) is None:
        _fail(f"no API key with id {args.key_id!r} (see `tokenauth apikeys list`)")
    with _store(args.store) as store:
        count = _front_door(store, registry).revoke_api_key(args.key_id)
    _say(f"revoked API key {args.key_id} and {count} token(s) it had issued")
    return 0


# -- users commands ---------------------------------------------------------------------------


def _cmd_users_add(args: argparse.Namespace) -> int:
    registry = _users(args.store)
    password = _read_password(from_stdin=args.password_stdin)
    record = new_user(args.name, password, now=int(time.time()), scope=tuple(args.scope))
    try:
        registry.add_user(record)
    except AlreadyExistsError:
        _fail(f"a user named {record.username!r} already exists (change the password: passwd)")
    _say(f"added user {record.username}")
    return 0


def _revoke_subject(url: str, subject: str) -> int:
    with _store(url) as store:
        return _front_door(store).revoke_subject(subject)


def _cmd_users_passwd(args: argparse.Namespace) -> int:
    registry = _users(args.store)
    if registry.get_user(args.name) is None:
        _fail(f"no user named {args.name!r}")
    password = _read_password(from_stdin=args.password_stdin)
    record = new_user(args.name, password, now=int(time.time()))
    registry.set_password_hash(args.name, record.password_hash)
    message = f"changed the password of {args.name}"
    if not args.keep_tokens:
        message += f" and revoked {_revoke_subject(args.store, args.name)} token(s)"
    _say(message)
    return 0


def _cmd_users_disable(args: argparse.Namespace) -> int:
    if not _users(args.store).set_disabled(args.name, True):
        _fail(f"no user named {args.name!r}")
    count = _revoke_subject(args.store, args.name)
    _say(f"disabled {args.name} and revoked {count} token(s)")
    return 0


def _cmd_users_enable(args: argparse.Namespace) -> int:
    if not _users(args.store).set_disabled(args.name, False):
        _fail(f"no user named {args.name!r}")
    _say(f"enabled {args.name}")
    return 0


# -- tokens commands --------------------------------------------------------------------------


def _all_records(store: TokenStore, url: str) -> list[TokenRecord]:
    list_all = getattr(store, "list_all", None)
    if list_all is not None:
        records: list[TokenRecord] = list_all()
        return records
    backend = _backend(url)
    subjects: set[str] = set()
    if hasattr(backend, "open_user_registry"):
        subjects.update(u.username for u in _users(url).list_users())
    if hasattr(backend, "open_api_key_registry"):
        subjects.update(k.subject for k in _api_keys(url).list_keys(None))
    if not subjects and not url.lower().startswith("memory:"):
        _fail("this store cannot list every token: name the subjects with --subject")
    return [r for subject in sorted(subjects) for r in store.list_subject(subject)]


def _cmd_tokens_list(args: argparse.Namespace) -> int:
    with _store(args.store) as store:
        if args.subject:
            records = [r for s in args.subject for r in store.list_subject(s)]
        else:
            records = _all_records(store, args.store)
    for record in records:
        _print_json(_token_json(record))
    return 0


def _cmd_tokens_revoke(args: argparse.Namespace) -> int:
    if not args.jti and not args.subject:
        _fail("name the tokens to revoke: one or more JTIs, or --subject NAME")
    missing: list[str] = []
    with _store(args.store) as store:
        door = _front_door(store)
        count = 0
        for jti in args.jti:
            if door.revoke(jti):
                count += 1
            else:
                missing.append(jti)
        for subject in args.subject:
            count += door.revoke_subject(subject)
    _say(f"revoked {count} token(s)")
    if missing:
        _fail(f"no stored token with jti {', '.join(missing)}")
    return 0


def _cmd_tokens_purge(args: argparse.Namespace) -> int:
    with _store(args.store) as store:
        count = _front_door(store).purge_expired()
    _say(f"purged {count} expired token(s)")
    print(count)
    return 0


def _cmd_db_init(args: argparse.Namespace) -> int:
    init = getattr(store_backend(args.store), "init_db", None)
    if init is None:
        _fail(f"the store at {_without_password(args.store)} needs no set-up")
    init(args.store)
    _say(f"the tables at {_without_password(args.store)} are ready")
    return 0


# -- demo -------------------------------------------------------------------------------------


@dataclass
class _Listener:
    sock: socket.socket
    url: str


def _bind(host: str, port: int, what: str, flag: str) -> _Listener:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        _fail(f"cannot resolve --host {host!r}: {exc.strerror}")
    family, _, _, _, address = infos[0]
    try:
        sock = socket.create_server(address, family=family)
    except OSError as exc:
        _fail(f"cannot listen for {what} on {host}:{port}: {exc.strerror}; choose another {flag}")
    bound = sock.getsockname()
    shown = f"[{bound[0]}]" if family == socket.AF_INET6 else bound[0]
    scheme = "https" if what == "HTTPS" else "http"
    return _Listener(sock, f"{scheme}://{shown}:{bound[1]}")


def _self_signed(directory: Path, host: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, ::1, localhost and ``host``, and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    try:
        extra: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        extra = x509.DNSName(host)
    if extra not in names and host not in ("0.0.0.0", "::"):  # noqa: S104 - comparing, not binding
        names.append(extra)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tokenauth demo")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return cert_file, key_file


def _log_config() -> dict[str, Any]:
    """Uvicorn's logging, with every handler behind the redacting filter, plus audit events."""
    redact = ["redact"]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "tokenauth.RedactingFilter"}},
        "formatters": {
            "default": {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": "%(levelprefix)s %(message)s",
            },
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
            },
            "audit": {"format": "%(levelname)-8s audit: %(message)s"},
        },
        "handlers": {
            "default": {"formatter": "default", "class": "logging.StreamHandler",
                        "stream": "ext://sys.stderr", "filters": redact},
            "access": {"formatter": "access", "class": "logging.StreamHandler",
                       "stream": "ext://sys.stdout", "filters": redact},
            "audit": {"formatter": "audit", "class": "logging.StreamHandler",
                      "stream": "ext://sys.stderr", "filters": redact},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO", "filters": redact},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False,
                               "filters": redact},
            "tokenauth": {"handlers": ["audit"], "level": "INFO", "propagate": False},
        },
    }  # fmt: skip


@dataclass
class _DemoAccess:
    users: list[tuple[str, str]] = field(default_factory=list)
    api_keys: list[tuple[str, str]] = field(default_factory=list)


def _banner(
    https: _Listener,
    http: _Listener | None,
    access: _DemoAccess,
    cacert: Path | None,
    generated: bool,
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
    lines.append("")
    for name, password in access.users:
        lines.append(f"  user     {name} / {password}")
    for subject, key in access.api_keys:
        lines.append(f"  API key  {key}  (logs in as {subject})")
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


def _cmd_demo(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        import tokenauth_asgi
    except ImportError as exc:
        _fail(
            f"the demo needs the ASGI binding and uvicorn ({exc.name} is missing): {INSTALL_ASGI}"
        )
    if (args.cert_file is None) != (args.key_file is None):
        _fail("pass --cert-file and --key-file together")
    keys = (
        KeySet.generate(cast("Algorithm", args.alg or "RS256"))
        if args.keys is None
        else _load_or_create_keys(args.keys, args.alg)
    )
    https = _bind(args.host, args.port, "HTTPS", "--port")
    http = _bind(args.host, args.http_port, "plain HTTP", "--http-port") if args.http_port else None
    workdir = Path(tempfile.mkdtemp(prefix="tokenauth-demo-"))
    try:
        if args.cert_file is None:
            cert_file, key_file = _self_signed(workdir, args.host)
            cacert: Path | None = cert_file
        else:
            cert_file, key_file, cacert = args.cert_file, args.key_file, None
        return asyncio.run(_demo(args, keys, https, http, cert_file, key_file, cacert, uvicorn,
                                 tokenauth_asgi))  # fmt: skip
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        for listener in (https, http):
            if listener is not None:
                listener.sock.close()


async def _demo(
    args: argparse.Namespace,
    keys: KeySet,
    https: _Listener,
    http: _Listener | None,
    cert_file: Path,
    key_file: Path,
    cacert: Path | None,
    uvicorn: Any,
    binding: Any,
) -> int:
    store = open_async_store(args.store)
    users: Any
    api_keys: Any
    persistent = hasattr(_backend(args.store), "open_async_user_registry")
    if persistent:
        # The store keeps users and API keys too (an SQL database): serve those, so
        # that `tokenauth users add --store URL` and this demo share one set of accounts.
        users = open_async_user_registry(args.store)
        api_keys = open_async_api_key_registry(args.store)
        if args.pepper_file is not None or os.environ.get(PEPPER_ENV):
            pepper = _pepper(args.pepper_file, create=True)
        else:
            pepper = secrets.token_bytes(PEPPER_BYTES)
            _say("note: no --pepper-file: API keys stored by other runs will not log in here")
    else:
        users, api_keys = MemoryUserRegistry(), MemoryApiKeyRegistry()
        # The demo's users and keys live in memory only, so an ephemeral pepper will do.
        pepper = secrets.token_bytes(PEPPER_BYTES)
    now = int(time.time())
    access = _DemoAccess(list(args.user), list(args.api_key))
    if not access.users and not access.api_keys and not persistent:
        access.users.append((DEMO_SUBJECT, secrets.token_urlsafe(12)))
        key, _ = generate_api_key(subject=DEMO_SERVICE, name="demo", pepper=pepper, now=now)
        access.api_keys.append((DEMO_SERVICE, key))
    seen: set[str] = set()
    for name, password in access.users:
        if name in seen:
            _fail(f"--user {name} is given twice")
        seen.add(name)
        # The default (production) argon2 cost: the demo shows the real thing.
        record = await asyncio.to_thread(new_user, name, password, now=now)
        try:
            await _maybe_await(users.add_user(record))
        except AlreadyExistsError:
            _say(f"note: user {record.username} is already stored; the stored password stays")
    for subject, key in access.api_keys:
        digest = api_key_digest(key, pepper)
        try:
            await _maybe_await(api_keys.add_key(ApiKeyRecord(
                key_id="demo_" + digest[:16], subject=subject, name="demo",
                digest=digest, created_at=now,
            )))  # fmt: skip
        except AlreadyExistsError:
            if not persistent:
                _fail("the same --api-key is given twice")
    auth = AsyncTokenAuth(
        keys=keys, store=store, users=users, api_keys=api_keys, pepper=pepper,
        issuer=https.url, ttl=args.ttl, realm="tokenauth-demo",
    )  # fmt: skip
    common: dict[str, Any] = {
        "log_config": _log_config(), "lifespan": "off", "ws": "none",
        # tokenauth itself decides which peers' forwarding headers count (none here):
        # uvicorn's own handling would trust X-Forwarded-Proto from 127.0.0.1.
        "proxy_headers": False, "server_header": False,
    }  # fmt: skip
    servers = [
        _quiet_signals(uvicorn)(
            uvicorn.Config(
                binding.demo_app(auth), ssl_certfile=str(cert_file), ssl_keyfile=str(key_file),
                **common,
            )
        )
    ]  # fmt: skip
    sockets = [https.sock]
    if http is not None:
        refuser = uvicorn.Config(binding.HttpsRequiredApp(auth), **common)
        servers.append(_quiet_signals(uvicorn)(refuser))
        sockets.append(http.sock)

    def stop_all() -> None:
        for server in servers:
            server.should_exit = True

    stop = _on_stop_signals(stop_all)
    try:
        tasks = [
            asyncio.create_task(s.serve(sockets=[sock]))
            for s, sock in zip(servers, sockets, strict=True)
        ]
        while not all(s.started for s in servers):
            if any(t.done() for t in tasks):
                break
            await asyncio.sleep(0.02)
        else:
            print(_banner(https, http, access, cacert, args.cert_file is None), flush=True)
        await asyncio.gather(*tasks)
    finally:
        stop()
        await store.aclose()
        for registry in (users, api_keys):
            closer = getattr(registry, "aclose", None)
            if closer is not None:
                await closer()
    return 0


async def _maybe_await(value: object) -> object:
    """Await ``value`` if it is awaitable (async registries), else return it."""
    if asyncio.iscoroutine(value):
        return await value
    return value


def _quiet_signals(uvicorn: Any) -> Callable[[Any], Any]:
    """A uvicorn ``Server`` that leaves signals to the demo, which stops both listeners."""

    class Server(uvicorn.Server):  # type: ignore[misc]
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server


def _on_stop_signals(stop: Callable[[], object]) -> Callable[[], None]:
    """Call ``stop`` on SIGINT or SIGTERM; returns the function that restores the handlers."""
    loop = asyncio.get_running_loop()
    handled = [signal.SIGINT, signal.SIGTERM]
    try:
        for sig in handled:
            loop.add_signal_handler(sig, stop)
    except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows, or not main thread
        return lambda: None

    def restore() -> None:
        for sig in handled:
            loop.remove_signal_handler(sig)

    return restore


# -- the parser -------------------------------------------------------------------------------


def _add_store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", default=DEFAULT_STORE, metavar="URL",
        help=f"token store URL, e.g. sqlite:///t.db or redis://host/0 (default {DEFAULT_STORE})",
    )  # fmt: skip


def _add_keys(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument(
        "--keys", type=Path, required=required, metavar="FILE",
        help="the key set file (JSON, private: keep it secret)",
    )  # fmt: skip


def _add_password_stdin(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin", action="store_true",
        help="read the password from the first line of standard input instead of asking",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The ``tokenauth`` argument parser, with every command."""
    parser = argparse.ArgumentParser(
        prog="tokenauth",
        description="JWT bearer-token authentication for HTTP APIs: demo server and admin tools.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="run the HTTPS demo API",
        description="Serve a demo API over HTTPS (self-signed certificate) on uvicorn, and refuse "
        "plain HTTP on a second port. Without --user or --api-key a demo user and a demo API key "
        "are made and printed with ready curl commands.",
    )  # fmt: skip
    demo.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    demo.add_argument("--port", type=_port, default=8443, help="HTTPS port (default 8443)")
    demo.add_argument(
        "--http-port", type=_port, default=8080,
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
    demo.add_argument("--ttl", type=_positive, default=DEFAULT_TTL, help="token lifetime, seconds")
    _add_store(demo)
    demo.add_argument("--alg", choices=ALGORITHMS, help="signing algorithm (default RS256)")
    _add_keys(demo, required=False)
    demo.add_argument(
        "--pepper-file", type=Path, metavar="FILE",
        help="API-key pepper (hex), created when missing; for stores that keep API keys",
    )  # fmt: skip
    demo.add_argument(
        "--cert-file", type=Path, help="TLS certificate (PEM) instead of a self-signed one"
    )
    demo.add_argument("--key-file", type=Path, help="TLS private key (PEM) for --cert-file")
    demo.set_defaults(run=_cmd_demo)

    keys = commands.add_parser("keys", help="signing keys: generate, rotate, publish")
    keys_commands = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    generate = keys_commands.add_parser("generate", help="write a new key set file")
    _add_keys(generate)
    generate.add_argument("--alg", choices=ALGORITHMS, default="RS256", help="default RS256")
    generate.add_argument("--force", action="store_true", help="replace an existing file")
    generate.set_defaults(run=_cmd_keys_generate)
    rotate = keys_commands.add_parser("rotate", help="sign with a new key, keep verifying the old")
    _add_keys(rotate)
    rotate.add_argument(
        "--alg", choices=ALGORITHMS, help="algorithm of the new key (default: same)"
    )
    rotate.add_argument(
        "--ttl", type=_positive, default=DEFAULT_TTL,
        help="the longest token lifetime: the old key verifies that much longer",
    )  # fmt: skip
    rotate.set_defaults(run=_cmd_keys_rotate)
    jwks = keys_commands.add_parser("jwks", help="print the public JWKS document")
    _add_keys(jwks)
    jwks.set_defaults(run=_cmd_keys_jwks)

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
    _add_store(create)
    create.set_defaults(run=_cmd_apikeys_create)
    listing = apikeys_commands.add_parser("list", help="one JSON object per key")
    listing.add_argument("--subject", help="only the keys of this subject")
    _add_store(listing)
    listing.set_defaults(run=_cmd_apikeys_list)
    revoke = apikeys_commands.add_parser("revoke", help="revoke a key and every token it issued")
    revoke.add_argument("key_id", help="the key's id (not the key)")
    _add_store(revoke)
    revoke.set_defaults(run=_cmd_apikeys_revoke)

    users = commands.add_parser("users", help="password users: add, passwd, disable, enable")
    users_commands = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = users_commands.add_parser("add", help="add a user (asks for the password)")
    add.add_argument("name")
    add.add_argument("--scope", action="append", default=[], help="a scope (repeatable)")
    _add_password_stdin(add)
    _add_store(add)
    add.set_defaults(run=_cmd_users_add)
    passwd = users_commands.add_parser("passwd", help="change a password, revoke the user's tokens")
    passwd.add_argument("name")
    passwd.add_argument("--keep-tokens", action="store_true", help="do not revoke their tokens")
    _add_password_stdin(passwd)
    _add_store(passwd)
    passwd.set_defaults(run=_cmd_users_passwd)
    disable = users_commands.add_parser("disable", help="refuse a user's logins, revoke tokens")
    disable.add_argument("name")
    _add_store(disable)
    disable.set_defaults(run=_cmd_users_disable)
    enable = users_commands.add_parser("enable", help="let a disabled user log in again")
    enable.add_argument("name")
    _add_store(enable)
    enable.set_defaults(run=_cmd_users_enable)

    db = commands.add_parser("db", help="the store's database: init")
    db_commands = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    db_init = db_commands.add_parser("init", help="create or upgrade the store's tables")
    _add_store(db_init)
    db_init.set_defaults(run=_cmd_db_init)

    tokens = commands.add_parser("tokens", help="issued tokens: list, revoke, purge")
    tokens_commands = tokens.add_subparsers(dest="action", required=True, metavar="ACTION")
    tlist = tokens_commands.add_parser("list", help="one JSON object per stored token")
    tlist.add_argument("--subject", action="append", default=[], help="only this subject's")
    _add_store(tlist)
    tlist.set_defaults(run=_cmd_tokens_list)
    trevoke = tokens_commands.add_parser("revoke", help="revoke tokens by jti or by subject")
    trevoke.add_argument("jti", nargs="*", help="token ids (the jti claim)")
    trevoke.add_argument("--subject", action="append", default=[], help="every token of NAME")
    _add_store(trevoke)
    trevoke.set_defaults(run=_cmd_tokens_revoke)
    purge = tokens_commands.add_parser("purge", help="remove expired tokens from the store")
    _add_store(purge)
    purge.set_defaults(run=_cmd_tokens_purge)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tokenauth`` command; returns its exit code.

    Args:
        argv: The arguments after the program name (default: ``sys.argv[1:]``).
    """
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except CliError as exc:
        print(f"tokenauth: error: {exc}", file=sys.stderr)
    except StoreError as exc:
        where = _without_password(getattr(args, "store", "") or "")
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


def _without_password(url: str) -> str:
    """``url`` with any password in it replaced, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
