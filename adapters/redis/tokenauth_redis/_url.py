"""Store URLs: ``redis://``, ``rediss://``, ``unix://``, Sentinel and Cluster, parsed strictly.

The grammar (square brackets mark optional parts)::

    redis://[[user]:password@]host[:port][/db][?option=value&...]
    rediss://...                                  the same, over TLS
    unix://[[user]:password@]/path/to/redis.sock[?db=N&...]
    redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service_name[/db][?...]
    redis+cluster://[[user]:password@]host[:port][,host[:port]...][?...]
    rediss+sentinel://..., rediss+cluster://...   the same, over TLS

An option this module does not know, an option given twice, or an option that
does not apply to the scheme is a :class:`~tokenauth.ConfigurationError`: a
typo must not silently fall back to a default. Error messages never repeat the
URL or a piece of it (a password with an unescaped ``/``, ``?`` or ``#`` would
spill into the host, path or options); an unknown option is named only when the
URL holds no credentials.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote

from tokenauth import ConfigurationError

__all__ = ["RedisSettings", "parse_url"]

Mode = Literal["standalone", "unix", "sentinel", "cluster"]
CertReqs = Literal["required", "optional", "none"]

#: Default ports: a Redis server, and a Sentinel.
REDIS_PORT = 6379
SENTINEL_PORT = 26379

#: Defaults chosen so that a dead or unreachable Redis turns into a 503 within seconds.
DEFAULT_PREFIX = "tokenauth:"
DEFAULT_SOCKET_TIMEOUT = 2.0
DEFAULT_CONNECT_TIMEOUT = 2.0
DEFAULT_RETRIES = 1
DEFAULT_LOCAL_VIEW_SIZE = 100_000
DEFAULT_LOCAL_VIEW_MAX_LAG = 1.0

MAX_TIMEOUT = 300.0
MAX_RETRIES = 10
MAX_PREFIX_LENGTH = 128

_SCHEMES: dict[str, tuple[Mode, bool]] = {
    "redis": ("standalone", False),
    "rediss": ("standalone", True),
    "unix": ("unix", False),
    "redis+sentinel": ("sentinel", False),
    "rediss+sentinel": ("sentinel", True),
    "redis+cluster": ("cluster", False),
    "rediss+cluster": ("cluster", True),
}

_HOSTNAME = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})?$")
_DIGITS = re.compile(r"^[0-9]{1,10}$")


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """Everything a Redis store URL says, checked; the password is left out of ``repr``.

    Attributes:
        mode: ``"standalone"`` (TCP), ``"unix"`` (a Unix socket), ``"sentinel"`` or ``"cluster"``.
        tls: Whether connections to Redis use TLS (``rediss`` schemes).
        hosts: ``(host, port)`` pairs: the server, the Sentinels, or the Cluster's seed nodes.
        unix_path: The socket path, in ``"unix"`` mode.
        db: The database number (always 0 in Cluster mode).
        service_name: The Sentinel service (master group) name, in ``"sentinel"`` mode.
        username: The ACL user name, if any.
        password: The password, if any.
        prefix: Prepended to every key the store writes.
        socket_timeout: Seconds to wait for one reply.
        connect_timeout: Seconds to wait for a connection.
        retries: How many times a command is retried after a connection error or timeout.
        max_connections: Upper bound of each connection pool, or None for redis-py's default.
        ssl_cert_reqs: Whether the server's certificate is ``required`` (the default),
            ``optional`` or not checked (``none``).
        ssl_ca_certs: A CA bundle to verify the server with, instead of the system's.
        ssl_certfile: A client certificate, for mutual TLS.
        ssl_keyfile: The client certificate's private key.
        ssl_check_hostname: Whether the certificate must name the host.
        sentinel_auth: Whether the URL's credentials are sent to the Sentinels too.
        local_view: Keep a process-local view of records, kept exact by Redis's
            client-side tracking (``redis://``, ``rediss://`` and ``unix://`` only).
        local_view_size: How many records the local view keeps.
        local_view_max_lag: Seconds the local view may go without proof that it is
            current before it stops answering (and is emptied).
    """

    mode: Mode
    tls: bool = False
    hosts: tuple[tuple[str, int], ...] = ()
    unix_path: str | None = None
    db: int = 0
    service_name: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    prefix: str = DEFAULT_PREFIX
    socket_timeout: float = DEFAULT_SOCKET_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    max_connections: int | None = None
    ssl_cert_reqs: CertReqs = "required"
    ssl_ca_certs: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_check_hostname: bool = True
    sentinel_auth: bool = False
    local_view: bool = False
    local_view_size: int = DEFAULT_LOCAL_VIEW_SIZE
    local_view_max_lag: float = DEFAULT_LOCAL_VIEW_MAX_LAG


def parse_url(url: str) -> RedisSettings:
    """Parse and check a Redis store URL.

    Args:
        url: A URL in one of the forms in this module's docstring, e.g.
            ``redis://:secret@cache.internal:6379/2?prefix=api:&socket_timeout=0.5``.

    Returns:
        The settings it describes, with defaults for what it leaves out.

    Raises:
        ConfigurationError: The URL is malformed, or has an unknown, repeated,
            misplaced or out-of-range option. The message never contains the URL.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in _SCHEMES:
        known = ", ".join(f"{name}://" for name in _SCHEMES)
        raise ConfigurationError(f"a Redis store URL starts with one of {known}")
    mode, tls = _SCHEMES[scheme.lower()]
    rest, hash_sign, _ = rest.partition("#")
    if hash_sign:
        raise ConfigurationError("a Redis store URL has no #fragment")
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at_sign, hostpart = netloc.rpartition("@")
    values: dict[str, object] = {"mode": mode, "tls": tls}
    if at_sign:
        values["username"], values["password"] = _credentials(userinfo)
    if mode == "unix":
        if hostpart:
            raise ConfigurationError(
                "a unix:// URL names no host: write unix:///path/to/redis.sock"
            )
        socket_path = _decode("the socket path", "/" + path)
        if socket_path == "/" or "\x00" in socket_path:
            raise ConfigurationError("a unix:// URL needs the socket's path: unix:///path/to/sock")
        values["unix_path"] = socket_path
    else:
        default_port = SENTINEL_PORT if mode == "sentinel" else REDIS_PORT
        hosts = tuple(_host(part, default_port) for part in hostpart.split(","))
        if mode == "standalone" and len(hosts) != 1:
            raise ConfigurationError("a redis:// URL names one host (see redis+cluster://)")
        values["hosts"] = hosts
        values.update(_path(mode, path))
    values.update(_options(mode, tls, query, show_names="@" not in url))
    return RedisSettings(**values)  # type: ignore[arg-type]  # keys and types checked above


def _decode(what: str, text: str) -> str:
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise ConfigurationError(f"{what} in the Redis URL is not valid UTF-8") from None


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    user, colon, password = userinfo.partition(":")
    username = _decode("the user name", user) or None
    secret = _decode("the password", password) if colon else ""
    return username, secret or None


def _host(text: str, default_port: int) -> tuple[str, int]:
    if text.startswith("["):
        address, bracket, port_text = text[1:].partition("]")
        if not bracket:
            raise ConfigurationError("an IPv6 address in a Redis URL needs its closing ']'")
        try:
            host = str(ipaddress.IPv6Address(address))
        except ValueError:
            raise ConfigurationError(
                "a Redis URL has a bracketed host that is not an IPv6 address"
            ) from None
        if port_text and not port_text.startswith(":"):
            raise ConfigurationError("write an IPv6 host and port as [::1]:6379")
        port_text = port_text[1:]
        if not port_text and text.endswith(":"):
            raise ConfigurationError("a Redis URL has an empty port")
    else:
        host, colon, port_text = text.partition(":")
        if colon and not port_text:
            raise ConfigurationError("a Redis URL has an empty port")
        if not _HOSTNAME.match(host):
            raise ConfigurationError("a Redis URL has a host that is not a host name or address")
    if not port_text:
        return host, default_port
    if not _DIGITS.match(port_text) or not 0 < int(port_text) < 65536:
        raise ConfigurationError("a Redis URL has a port that is not a number from 1 to 65535")
    return host, int(port_text)


def _db(text: str) -> int:
    if not _DIGITS.match(text) or int(text) >= 2**31:
        raise ConfigurationError(
            "a Redis URL has a database that is not a number from 0 to 2**31-1"
        )
    return int(text)


def _path(mode: Mode, path: str) -> dict[str, object]:
    if mode == "standalone":
        return {"db": _db(path)} if path else {}
    if mode == "cluster":
        if path not in ("", "0"):
            raise ConfigurationError("Redis Cluster has only database 0: leave the path empty")
        return {}
    service, _, db = path.partition("/")
    if not service:
        raise ConfigurationError("a redis+sentinel:// URL needs /service_name after the hosts")
    result: dict[str, object] = {"service_name": _decode("the service name", service)}
    if db:
        result["db"] = _db(db)
    return result


def _positive_float(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigurationError(f"option {name} must be a number of seconds") from None
    if not math.isfinite(value) or not 0 < value <= MAX_TIMEOUT:
        raise ConfigurationError(f"option {name} must be more than 0 and at most {MAX_TIMEOUT:g}")
    return value


def _bounded_int(low: int, high: int) -> Callable[[str, str], int]:
    def convert(name: str, text: str) -> int:
        if not _DIGITS.match(text) or not low <= int(text) <= high:
            raise ConfigurationError(f"option {name} must be a whole number from {low} to {high}")
        return int(text)

    return convert


def _boolean(name: str, text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"option {name} must be true or false")


def _cert_reqs(name: str, text: str) -> str:
    if text not in ("required", "optional", "none"):
        raise ConfigurationError(f"option {name} must be required, optional or none")
    return text


def _prefix(name: str, text: str) -> str:
    if not 0 < len(text) <= MAX_PREFIX_LENGTH:
        raise ConfigurationError(f"option {name} must have 1 to {MAX_PREFIX_LENGTH} characters")
    return text


def _path_option(name: str, text: str) -> str:
    if not text or "\x00" in text:
        raise ConfigurationError(f"option {name} must be a file path")
    return text


_ALL: frozenset[Mode] = frozenset(("standalone", "unix", "sentinel", "cluster"))
_TLS_ONLY = "tls"
# The local view tracks one server; Sentinel fail-over and Cluster slots are not followed.
_SINGLE_SERVER: frozenset[Mode] = frozenset(("standalone", "unix"))

#: option name -> (converter, the modes it applies to, or "tls" for TLS schemes only)
_OPTIONS: dict[str, tuple[Callable[[str, str], object], frozenset[Mode] | str]] = {
    "prefix": (_prefix, _ALL),
    "socket_timeout": (_positive_float, _ALL),
    "connect_timeout": (_positive_float, _ALL),
    "retries": (_bounded_int(0, MAX_RETRIES), _ALL),
    "max_connections": (_bounded_int(1, 100_000), _ALL),
    "db": (_bounded_int(0, 2**31 - 1), frozenset(("unix",))),
    "sentinel_auth": (_boolean, frozenset(("sentinel",))),
    "ssl_cert_reqs": (_cert_reqs, _TLS_ONLY),
    "ssl_ca_certs": (_path_option, _TLS_ONLY),
    "ssl_certfile": (_path_option, _TLS_ONLY),
    "ssl_keyfile": (_path_option, _TLS_ONLY),
    "ssl_check_hostname": (_boolean, _TLS_ONLY),
    "local_view": (_boolean, _SINGLE_SERVER),
    "local_view_size": (_bounded_int(1, 10_000_000), _SINGLE_SERVER),
    "local_view_max_lag": (_positive_float, _SINGLE_SERVER),
}


def _options(mode: Mode, tls: bool, query: str, *, show_names: bool) -> dict[str, object]:
    result: dict[str, object] = {}
    if not query:
        return result
    for pair in query.split("&"):
        raw_name, equals, raw_value = pair.partition("=")
        name = _decode("an option name", raw_name)
        if name not in _OPTIONS:
            known = ", ".join(sorted(_OPTIONS))
            # Named only when the URL holds no credentials: with an unescaped '?' in a
            # password, the "option" would be the rest of the password.
            which = repr(name) if show_names else "(not shown: the URL holds credentials)"
            raise ConfigurationError(f"unknown Redis store option {which}; known: {known}")
        if not equals:
            raise ConfigurationError(f"option {name} needs a value: {name}=...")
        if name in result:
            raise ConfigurationError(f"option {name} is given twice")
        convert, applies = _OPTIONS[name]
        if applies == _TLS_ONLY and not tls:
            raise ConfigurationError(f"option {name} only applies to TLS URLs (rediss://...)")
        if isinstance(applies, frozenset) and mode not in applies:
            raise ConfigurationError(f"option {name} does not apply to {mode} URLs")
        result[name] = convert(name, _decode(f"option {name}", raw_value))
    return result
