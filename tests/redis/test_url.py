"""Store URLs: every documented form parses, everything else is a ConfigurationError."""

from __future__ import annotations

import contextlib
import re
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenauth import ConfigurationError
from tokenauth_redis import RedisSettings, parse_url


def test_defaults() -> None:
    """A bare redis:// URL gets the documented defaults."""
    settings = parse_url("redis://cache.internal")
    assert settings == RedisSettings(mode="standalone", hosts=(("cache.internal", 6379),))
    assert settings.prefix == "tokenauth:"
    assert settings.socket_timeout == settings.connect_timeout == 2.0
    assert settings.retries == 1


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "redis://u:p%40ss@127.0.0.1:6380/3?prefix=api%3A&socket_timeout=0.25",
            RedisSettings(
                mode="standalone",
                hosts=(("127.0.0.1", 6380),),
                db=3,
                username="u",
                password="p@ss",
                prefix="api:",
                socket_timeout=0.25,
            ),
        ),
        (
            "rediss://:secret@[::1]:6390/0?ssl_cert_reqs=none&ssl_check_hostname=false",
            RedisSettings(
                mode="standalone",
                tls=True,
                hosts=(("::1", 6390),),
                password="secret",
                ssl_cert_reqs="none",
                ssl_check_hostname=False,
            ),
        ),
        (
            "unix:///run/redis/redis.sock?db=2&retries=0",
            RedisSettings(mode="unix", unix_path="/run/redis/redis.sock", db=2, retries=0),
        ),
        (
            "redis+sentinel://s1,s2:26380/mymaster/4?sentinel_auth=yes",
            RedisSettings(
                mode="sentinel",
                hosts=(("s1", 26379), ("s2", 26380)),
                service_name="mymaster",
                db=4,
                sentinel_auth=True,
            ),
        ),
        (
            "redis+cluster://10.0.0.1:7000,10.0.0.2:7001?max_connections=50",
            RedisSettings(
                mode="cluster",
                hosts=(("10.0.0.1", 7000), ("10.0.0.2", 7001)),
                max_connections=50,
            ),
        ),
        (
            "rediss+cluster://node:7000/?ssl_ca_certs=/etc/ca.pem",
            RedisSettings(
                mode="cluster", tls=True, hosts=(("node", 7000),), ssl_ca_certs="/etc/ca.pem"
            ),
        ),
    ],
)
def test_documented_forms(url: str, expected: RedisSettings) -> None:
    """Each documented URL form parses to the settings it describes."""
    assert parse_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "redis:/host",
        "http://host",
        "redis://",
        "redis://host:0",
        "redis://host:65536",
        "redis://host:",
        "redis://host:x",
        "redis://a,b",
        "redis://host/x",
        "redis://host/1/2",
        "redis://host#frag",
        "redis://[::1",
        "redis://[nonsense]:1",
        "redis://ho st",
        "redis://host?nosuch=1",
        "redis://host?prefix",
        "redis://host?prefix=",
        "redis://host?prefix=a&prefix=b",
        "redis://host?socket_timeout=0",
        "redis://host?socket_timeout=nan",
        "redis://host?socket_timeout=inf",
        "redis://host?socket_timeout=-1",
        "redis://host?retries=11",
        "redis://host?retries=-1",
        "redis://host?db=1",
        "redis://host?ssl_cert_reqs=none",
        "rediss://host?ssl_cert_reqs=maybe",
        "redis://host?sentinel_auth=yes",
        "redis+sentinel://host",
        "redis+sentinel://host/",
        "redis+cluster://host/1",
        "unix://host/path",
        "unix://",
        "unix:///",
        "redis://host?prefix=%ff",
    ],
)
def test_bad_urls_are_configuration_errors(url: str) -> None:
    """Malformed URLs and unknown, repeated or misplaced options are refused, not ignored."""
    with pytest.raises(ConfigurationError):
        parse_url(url)


def test_password_stays_out_of_repr_and_errors() -> None:
    """The password is never shown: not in the settings' repr, not in an error message."""
    assert "hunter2" not in repr(parse_url("redis://:hunter2@host"))
    with pytest.raises(ConfigurationError) as caught:
        parse_url("redis://admin:hunter2@host?socket_timeout=soon")
    assert "hunter2" not in str(caught.value)


_names = st.from_regex(r"[a-z0-9][a-z0-9.-]{0,20}", fullmatch=True)
_hosts = st.one_of(
    _names,
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: str(a)),
)
_ports = st.integers(1, 65535)
_secret = st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s)
_timeouts = st.floats(min_value=0.001, max_value=300, allow_nan=False, allow_infinity=False)


def _host_text(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@st.composite
def settings_and_urls(draw: st.DrawFn) -> tuple[RedisSettings, str]:
    """Random settings, and a URL that says them."""
    mode = draw(st.sampled_from(["standalone", "sentinel", "cluster", "unix"]))
    tls = mode != "unix" and draw(st.booleans())
    base = "rediss" if tls else "redis"
    scheme = {"standalone": base, "sentinel": f"{base}+sentinel", "cluster": f"{base}+cluster"}
    username = draw(st.none() | _secret)
    password = draw(st.none() | _secret)
    prefix = draw(st.text(min_size=1, max_size=128))
    timeout = draw(_timeouts)
    retries = draw(st.integers(0, 10))
    values: dict[str, object] = {
        "mode": mode,
        "tls": tls,
        "username": username,
        "password": password,
        "prefix": prefix,
        "socket_timeout": timeout,
        "retries": retries,
    }
    query = f"prefix={quote(prefix, safe='')}&socket_timeout={timeout!r}&retries={retries}"
    userinfo = ""
    if username is not None or password is not None:
        userinfo = quote(username or "", safe="")
        if password is not None:
            userinfo += ":" + quote(password, safe="")
        userinfo += "@"
    if mode == "unix":
        path = "/" + draw(st.from_regex(r"[a-z0-9_./-]{1,30}", fullmatch=True))
        db = draw(st.integers(0, 15))
        values.update(unix_path=path, db=db)
        url = f"unix://{userinfo}{quote(path)}?{query}&db={db}"
    else:
        count = 1 if mode == "standalone" else draw(st.integers(1, 3))
        hosts = tuple((draw(_hosts), draw(_ports)) for _ in range(count))
        values["hosts"] = hosts
        netloc = ",".join(_host_text(h, p) for h, p in hosts)
        path = ""
        if mode == "standalone":
            db = draw(st.integers(0, 15))
            values["db"] = db
            path = f"/{db}"
        elif mode == "sentinel":
            service = draw(st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s))
            db = draw(st.integers(0, 15))
            values.update(service_name=service, db=db)
            path = f"/{quote(service, safe='')}/{db}"
        url = f"{scheme[mode]}://{userinfo}{netloc}{path}?{query}"
    return RedisSettings(**values), url  # type: ignore[arg-type]  # drawn to match the fields


@given(settings_and_urls())
def test_url_round_trip(case: tuple[RedisSettings, str]) -> None:
    """A URL built from any settings parses back to exactly those settings."""
    settings, url = case
    assert parse_url(url) == settings


@given(st.text(max_size=200))
def test_any_text_parses_or_is_a_configuration_error(text: str) -> None:
    """Whatever the input, the parser answers with settings or a ConfigurationError."""
    for candidate in (text, "redis://" + text, "redis+cluster://" + text, "unix://" + text):
        with contextlib.suppress(ConfigurationError):
            parse_url(candidate)


# A letter and a digit: no run of 8 characters in the messages' own text has both.
_passwords = st.text(
    st.characters(codec="ascii", categories=["L", "N", "P", "S"]), min_size=8
).filter(lambda p: re.search("[0-9]", p) is not None and re.search("[A-Za-z]", p) is not None)


@given(_passwords, st.text(max_size=40), st.booleans())
def test_password_never_in_error_messages(password: str, rest: str, escape: bool) -> None:
    """No error message repeats the password, even one pasted in without escaping."""
    secret = quote(password, safe="") if escape else password
    for url in (f"redis://user:{secret}@{rest}", f"redis://user:{secret}@host/0?{rest}"):
        try:
            parse_url(url)
        except ConfigurationError as exc:
            message = str(exc)
            assert password not in message
            # Nor a telling piece of it, such as what follows an unescaped '/', '?' or '#'.
            # (Pieces with a letter and a digit: the messages' own words have none.)
            for piece in re.split(r"[/?#@:&=]", password):
                telling = (
                    len(piece) >= 6 and re.search(r"[0-9]", piece) and re.search("[a-z]", piece)
                )
                assert not telling or piece in rest or piece not in message
