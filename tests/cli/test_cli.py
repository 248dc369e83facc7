"""The ``tokenauth`` admin commands: keys, API keys, users and tokens, and their errors."""

from __future__ import annotations

import argparse
import io
import json
import socket
import stat
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenauth import (
    STAGE_DELAY,
    KeySet,
    MemoryApiKeyRegistry,
    MemoryStore,
    MemoryUserRegistry,
    TokenRecord,
    TokenStore,
    generate_api_key,
)
from tokenauth.cli import _keys as cli_keys
from tokenauth.cli import _stores as cli
from tokenauth.cli import main, parse_api_key_option, parse_user_option

KEY_CHARS = st.text(alphabet=st.characters(blacklist_characters=":\x00"), min_size=1)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- option parsers ------------------------------------------------------------------------------


@given(KEY_CHARS, st.text(min_size=1))
def test_user_option_splits_at_the_first_colon(name: str, password: str) -> None:
    assert parse_user_option(f"{name}:{password}") == (name, password)


@given(st.text())
def test_user_option_refuses_what_cannot_log_in(value: str) -> None:
    name, colon, password = value.partition(":")
    if colon and name and password:
        assert parse_user_option(value) == (name, password)
    else:
        with pytest.raises(argparse.ArgumentTypeError):
            parse_user_option(value)


API_KEY, _ = generate_api_key(subject="s", name="", pepper=b"x" * 32, now=0)


@given(st.one_of(st.none(), KEY_CHARS))
def test_api_key_option_takes_an_optional_subject(subject: str | None) -> None:
    value = API_KEY if subject is None else f"{subject}:{API_KEY}"
    assert parse_api_key_option(value) == (subject or "demo-service", API_KEY)


@given(st.text())
def test_api_key_option_refuses_anything_but_a_real_key(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_api_key_option(value + "!")


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["keys"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--user", "nopassword"])
    assert exc.value.code == 2
    assert "NAME:PASSWORD" in capsys.readouterr().err


# -- keys -----------------------------------------------------------------------------------------


def test_keys_generate_rotate_and_publish(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "keys.json"
    code, out, _ = run(capsys, "keys", "generate", "--keys", str(path), "--alg", "ES256")
    assert code == 0
    first = out.strip()
    assert KeySet.load(path).signing.kid == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    code, _, err = run(capsys, "keys", "generate", "--keys", str(path))
    assert code == 1
    assert "already exists" in err
    assert "keys rotate" in err
    assert KeySet.load(path).signing.kid == first

    code, out, err = run(capsys, "keys", "rotate", "--keys", str(path))
    assert code == 0
    second = out.strip()
    rotated = KeySet.load(path)
    assert rotated.signing.kid == second != first
    assert [k.kid for k in rotated.keys] == [second, first]
    assert "verifies until" in err

    code, out, _ = run(capsys, "keys", "jwks", "--keys", str(path))
    assert code == 0
    jwks = json.loads(out)
    assert [k["kid"] for k in jwks["keys"]] == [second, first]
    assert all("d" not in k for k in jwks["keys"])


def test_keys_rotate_staged_publishes_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``keys rotate --staged``: the new key is in the JWKS at once and signs after the delay."""
    path = tmp_path / "keys.json"
    run(capsys, "keys", "generate", "--keys", str(path), "--alg", "EdDSA")
    first = KeySet.load(path).signing.kid
    code, out, err = run(capsys, "keys", "rotate", "--keys", str(path), "--staged")
    assert code == 0
    second = out.strip()
    staged = KeySet.load(path)
    assert staged.signing.kid == first
    assert staged.staged is not None
    assert staged.staged.kid == second
    assert staged.staged.signs_from is not None
    assert staged.staged.signs_from - time.time() > STAGE_DELAY - 60
    assert "signs from" in err
    code, out, _ = run(capsys, "keys", "jwks", "--keys", str(path))
    assert {k["kid"] for k in json.loads(out)["keys"]} == {first, second}
    code, _, _ = run(capsys, "keys", "rotate", "--keys", str(path), "--delay", "30")
    assert code == 0
    again = KeySet.load(path)
    assert again.signing.kid == first
    assert again.staged is not None
    assert again.staged.kid != second  # the key staged before never signed: replaced
    assert again.staged.signs_from is not None
    assert again.staged.signs_from - time.time() <= 30


def test_keys_rotate_to_hs256_from_public_key_algorithms_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "keys.json"
    assert run(capsys, "keys", "generate", "--keys", str(path), "--alg", "EdDSA")[0] == 0
    code, _, err = run(capsys, "keys", "rotate", "--keys", str(path), "--alg", "HS256")
    assert code == 1
    assert "cannot mix" in err


def test_a_missing_or_broken_key_file_is_an_error_never_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.json"
    code, _, err = run(capsys, "keys", "rotate", "--keys", str(missing))
    assert code == 1
    assert f"tokenauth keys generate --keys {missing}" in err
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    for argv in (["keys", "jwks"], ["keys", "rotate"], ["demo", "--http-port", "0"]):
        code, _, err = run(capsys, *argv, "--keys", str(broken))
        assert code == 1, argv
        assert "not JSON" in err
        assert broken.read_text() == "{not json"


def test_demo_creates_a_missing_key_file_and_explains_a_busy_port(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "keys.json"
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = str(busy.getsockname()[1])
        code, _, err = run(capsys, "demo", "--keys", str(path), "--alg", "EdDSA", "--port", port)
    assert code == 1
    assert "created a new EdDSA key set" in err
    assert f"cannot listen for HTTPS on 127.0.0.1:{port}" in err
    assert "--port" in err
    assert KeySet.load(path).signing.alg == "EdDSA"
    code, _, err = run(capsys, "demo", "--keys", str(path), "--alg", "RS256")
    assert code == 1
    assert "keys rotate" in err


def test_demo_without_the_asgi_binding_names_the_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "tokenauth_asgi", None)
    code, _, err = run(capsys, "demo")
    assert code == 1
    assert "pip install 'tokenauth-asgi[uvicorn]'" in err


# -- memory:// has no registries ------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["users", "add", "alice", "--password-stdin"],
        ["users", "disable", "alice"],
        ["apikeys", "list"],
        ["apikeys", "revoke", "key_x"],
    ],
)
def test_user_and_key_commands_on_memory_explain_where_users_live(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("secret\n"))
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert "running `tokenauth demo`" in err


def test_token_commands_on_a_fresh_memory_store_find_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "tokens", "list")
    assert code == 0
    assert out == ""
    assert "new, empty store" in err
    code, out, _ = run(capsys, "tokens", "purge")
    assert (code, out) == (0, "0\n")


def test_unknown_store_scheme_names_the_package(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "tokens", "purge", "--store", "nosuch://x")
    assert code == 1
    assert "no token store is registered" in err


# -- a backend that provides registries ------------------------------------------------------------


class _KeptStore(MemoryStore):
    """The memory store, kept open across commands as a database would be."""

    def close(self) -> None:
        pass


@dataclass
class _Backend:
    store: _KeptStore = field(default_factory=_KeptStore)
    users: MemoryUserRegistry = field(default_factory=MemoryUserRegistry)
    keys: MemoryApiKeyRegistry = field(default_factory=MemoryApiKeyRegistry)

    def open(self, url: str) -> TokenStore:
        return self.store

    def open_user_registry(self, url: str) -> MemoryUserRegistry:
        return self.users

    def open_api_key_registry(self, url: str) -> MemoryApiKeyRegistry:
        return self.keys


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> _Backend:
    found = _Backend()
    monkeypatch.setattr(cli, "_backend", lambda url: found)
    monkeypatch.setattr(cli, "open_store", found.open)
    return found


def _token(
    subject: str, jti: str, *, api_key_id: str | None = None, ttl: int = 3600
) -> TokenRecord:
    now = int(time.time())
    method: Any = "api_key" if api_key_id else "password"
    return TokenRecord(jti, subject, now - 10, now - 10 + ttl, method, api_key_id)


STORE = ("--store", "plugin://db")


def test_users_add_passwd_disable_enable(
    backend: _Backend, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("first password\n"))
    code, _, err = run(
        capsys, "users", "add", "alice", "--password-stdin", "--scope", "read", *STORE
    )
    assert code == 0, err
    user = backend.users.get_user("alice")
    assert user is not None
    assert user.scope == ("read",)
    monkeypatch.setattr(sys, "stdin", io.StringIO("again\n"))
    code, _, err = run(capsys, "users", "add", "alice", "--password-stdin", *STORE)
    assert code == 1
    assert "already exists" in err

    backend.store.add(_token("alice", "j1"))
    monkeypatch.setattr(sys, "stdin", io.StringIO("second password\n"))
    code, _, err = run(capsys, "users", "passwd", "alice", "--password-stdin", *STORE)
    assert code == 0
    assert "revoked 1 token" in err
    changed = backend.users.get_user("alice")
    assert changed is not None
    assert changed.password_hash != user.password_hash

    backend.store.add(_token("alice", "j2"))
    code, _, err = run(capsys, "users", "disable", "alice", *STORE)
    assert code == 0
    assert backend.store.get("j2") is None
    disabled = backend.users.get_user("alice")
    assert disabled is not None
    assert disabled.disabled
    assert run(capsys, "users", "enable", "alice", *STORE)[0] == 0
    code, _, err = run(capsys, "users", "disable", "bob", *STORE)
    assert code == 1
    assert "no user named 'bob'" in err


def test_users_add_without_a_terminal_asks_for_password_stdin(
    backend: _Backend, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, _, err = run(capsys, "users", "add", "alice", *STORE)
    assert code == 1
    assert "--password-stdin" in err


def test_apikeys_create_list_revoke(
    backend: _Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "apikeys", "create", "billing", *STORE)
    assert code == 1
    assert "--pepper-file" in err

    pepper = tmp_path / "pepper.hex"
    argv = ("apikeys", "create", "billing", "--name", "cron", "--pepper-file", str(pepper))
    code, out, err = run(capsys, *argv, *STORE)
    assert code == 0
    assert "created a new API-key pepper" in err
    assert stat.S_IMODE(pepper.stat().st_mode) == 0o600
    created = json.loads(out)
    assert created["key"].startswith("tka_")
    assert created["subject"] == "billing"

    code, out, _ = run(capsys, "apikeys", "list", "--json", *STORE)
    listed = [json.loads(line) for line in out.splitlines()]
    assert [k["key_id"] for k in listed] == [created["key_id"]]
    assert "key" not in listed[0]
    assert "digest" not in listed[0]

    backend.store.add(_token("billing", "k1", api_key_id=created["key_id"]))
    backend.store.add(_token("billing", "k2"))
    code, _, err = run(capsys, "apikeys", "revoke", created["key_id"], *STORE)
    assert code == 0
    assert "and 1 token(s)" in err
    assert backend.store.get("k1") is None
    assert backend.store.get("k2") is not None
    record = backend.keys.get_key(created["key_id"])
    assert record is not None
    assert not record.active
    code, _, err = run(capsys, "apikeys", "revoke", "key_nope", *STORE)
    assert code == 1
    assert "no API key with id" in err


def test_pepper_from_the_environment_must_be_long_hex(
    backend: _Backend, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKENAUTH_PEPPER", "zz")
    code, _, err = run(capsys, "apikeys", "create", "billing", *STORE)
    assert code == 1
    assert "not hex" in err
    monkeypatch.setenv("TOKENAUTH_PEPPER", "ab" * 8)
    code, _, err = run(capsys, "apikeys", "create", "billing", *STORE)
    assert code == 1
    assert "at least 32" in err
    monkeypatch.setenv("TOKENAUTH_PEPPER", "ab" * 32)
    assert run(capsys, "apikeys", "create", "billing", *STORE)[0] == 0


def test_tokens_list_revoke_purge(
    backend: _Backend, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("pw\n"))
    assert run(capsys, "users", "add", "alice", "--password-stdin", *STORE)[0] == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("pw\n"))
    assert run(capsys, "users", "add", "bob", "--password-stdin", *STORE)[0] == 0
    for record in (_token("alice", "a1"), _token("alice", "a2"), _token("bob", "b1"),
                   _token("bob", "old", ttl=1)):  # fmt: skip
        backend.store.add(record)

    code, out, _ = run(capsys, "tokens", "list", "--json", *STORE)
    assert code == 0
    listed = [json.loads(line) for line in out.splitlines()]
    assert sorted(t["jti"] for t in listed) == ["a1", "a2", "b1", "old"]
    assert all({"jti", "sub", "exp"} <= set(t) for t in listed)
    code, out, _ = run(capsys, "tokens", "list", "--json", "--subject", "bob", *STORE)
    assert sorted(json.loads(line)["jti"] for line in out.splitlines()) == ["b1", "old"]

    code, out, _ = run(capsys, "tokens", "purge", *STORE)
    assert (code, out) == (0, "1\n")
    code, _, err = run(capsys, "tokens", "revoke", "a1", "nope", *STORE)
    assert code == 1
    assert "no stored token with jti nope" in err
    assert backend.store.get("a1") is None
    code, _, err = run(capsys, "tokens", "revoke", "--subject", "alice", "--subject", "bob", *STORE)
    assert code == 0
    assert "revoked 2 token(s)" in err
    assert len(backend.store) == 0
    code, _, err = run(capsys, "tokens", "revoke", *STORE)
    assert code == 1
    assert "name the tokens" in err


def test_store_failures_never_print_the_store_password(capsys: pytest.CaptureFixture[str]) -> None:
    """A failing store is named in the error without the password from its URL."""
    code, _, err = run(
        capsys, "tokens", "purge", "--store", "redis://:hunter2@127.0.0.1:1/0?socket_timeout=0.2"
    )
    assert code == 1
    assert "hunter2" not in err
    assert "redis://:***@127.0.0.1:1/0" in err


def test_a_closed_pipe_ends_quietly(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """When the reader of the output goes away (`| head`), the command ends with 141, quietly."""

    def reader_gone(args: argparse.Namespace) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli_keys, "_cmd_keys_jwks", reader_gone)
    assert main(["keys", "jwks", "--keys", "unused.json"]) == 141
    assert "Traceback" not in capfd.readouterr().err


# -- ids that start with a dash, --version, listings ---------------------------------------

#: The jti alphabet (base64url); the ids drawn all start with a dash.
JTI = st.from_regex(r"-[A-Za-z0-9_-]{21}", fullmatch=True)


@given(JTI)
def test_token_ids_that_start_with_a_dash_are_ids(jti: str) -> None:
    """``tokens revoke -lgOQ...`` revokes that token (one jti in 64 starts with a dash)."""
    found = _Backend()
    found.store.add(_token("alice", jti))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli, "_backend", lambda url: found)
        patch.setattr(cli, "open_store", found.open)
        assert main(["tokens", "revoke", jti, *STORE]) == 0
    assert found.store.get(jti) is None


def test_dash_led_values_of_options_and_unknown_options(
    backend: _Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    """A dash-led subject is a value; a misspelt option is still a usage error."""
    backend.store.add(_token("-bob", "j1"))
    code, _, err = run(capsys, "tokens", "revoke", "--subject", "-bob", *STORE)
    assert code == 0, err
    assert "revoked 1 token(s)" in err
    assert run(capsys, "tokens", "revoke", "--", "-x", *STORE)[0] == 1
    with pytest.raises(SystemExit) as exc:
        main(["tokens", "purge", "--sotre", "memory://"])
    assert exc.value.code == 2
    assert "unrecognized arguments: --sotre" in capsys.readouterr().err


def test_version_names_the_core_and_the_packages_that_add_commands(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("tokenauth ")
    assert f"tokenauth-asgi {version('tokenauth-asgi')}" in out


def test_users_list_and_delete(
    backend: _Backend, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("bob", "alice"):
        monkeypatch.setattr(sys, "stdin", io.StringIO("pw\n"))
        assert (
            run(capsys, "users", "add", name, "--password-stdin", "--scope", "read", *STORE)[0] == 0
        )
    assert run(capsys, "users", "disable", "bob", *STORE)[0] == 0
    code, out, _ = run(capsys, "users", "list", "--json", *STORE)
    assert code == 0
    listed = [json.loads(line) for line in out.splitlines()]
    assert [(u["username"], u["disabled"], u["scope"]) for u in listed] == [
        ("alice", False, "read"), ("bob", True, "read"),
    ]  # fmt: skip
    assert all("password_hash" not in u and "hash" not in json.dumps(u) for u in listed)
    code, out, _ = run(capsys, "users", "list", *STORE)
    lines = out.splitlines()
    assert lines[0].split() == ["USERNAME", "CREATED", "DISABLED", "SCOPE"]
    assert [line.split()[0] for line in lines[1:]] == ["alice", "bob"]
    assert lines[2].split()[-2:] == ["yes", "read"]

    backend.store.add(_token("alice", "a1"))
    code, _, err = run(capsys, "users", "delete", "alice", *STORE)
    assert code == 0, err
    assert "deleted alice and revoked 1 token(s)" in err
    assert backend.users.get_user("alice") is None
    assert backend.store.get("a1") is None
    code, _, err = run(capsys, "users", "delete", "alice", *STORE)
    assert code == 1
    assert "no user named 'alice'" in err


def test_users_delete_on_a_registry_that_cannot_delete_names_disable(
    backend: _Backend, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Undeletable(MemoryUserRegistry):
        delete_user = None  # type: ignore[assignment]

    backend.users = Undeletable()
    code, _, err = run(capsys, "users", "delete", "alice", *STORE)
    assert code == 1
    assert "tokenauth users disable alice" in err


def test_listings_are_tables_unless_json(
    backend: _Backend, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every listing: an aligned table with a heading, or JSON lines with --json."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("pw\n"))
    assert run(capsys, "users", "add", "alice", "--password-stdin", *STORE)[0] == 0
    backend.store.add(TokenRecord("j1", "alice", 1_800_000_000, 1_800_000_060, "password", None))
    agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
    backend.store.add(
        TokenRecord("j2", "alice", 1_800_000_001, 1_800_000_061, "password", None, "::1", agent)
    )
    backend.store.touch(TokenRecord("j2", "alice", 1, 2, "password"), 1_800_000_030)
    code, out, _ = run(capsys, "tokens", "list", *STORE)
    assert code == 0
    assert out.splitlines() == [
        "JTI  SUBJECT  METHOD    ISSUED                EXPIRES               API KEY  "
        "LAST USED             CLIENT  USER AGENT",
        "j1   alice    password  2027-01-15 08:00:00Z  2027-01-15 08:01:00Z  -        "
        "-                     -       -",
        "j2   alice    password  2027-01-15 08:00:01Z  2027-01-15 08:01:01Z  -        "
        "2027-01-15 08:00:30Z  ::1     Mozilla/5.0 (X11; Linux x86_64) Apple...",
    ]
    code, out, _ = run(capsys, "tokens", "list", "--json", "--subject", "alice", *STORE)
    second = json.loads(out.splitlines()[1])
    assert (second["last_used"], second["client"], second["user_agent"]) == (
        1_800_000_030, "::1", agent,
    )  # fmt: skip
    backend.store.remove("j2")
    code, out, err = run(capsys, "apikeys", "list", *STORE)
    assert (code, out) == (0, "")
    assert "no API keys" in err
    code, out, _ = run(capsys, "tokens", "list", "--json", *STORE)
    assert [json.loads(line)["jti"] for line in out.splitlines()] == ["j1"]


# -- db init ------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["memory://", "redis://127.0.0.1:1/0"])
def test_db_init_on_stores_without_tables_is_a_note_and_success(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "db", "init", "--store", url)
    assert (code, out) == (0, "")
    assert "needs no set-up, nothing to do" in err


def test_db_init_says_what_it_did(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tokenauth_sqlalchemy")
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    code, _, err = run(capsys, "db", "init", "--store", url)
    assert code == 0
    assert f"{url}: created the tokenauth tables" in err
    code, _, err = run(capsys, "db", "init", "--store", url)
    assert code == 0
    assert "already up to date" in err
    code, _, err = run(capsys, "db", "init", "--store", url.replace("sqlite", "sqlite+aiosqlite"))
    assert code == 0
    assert "already up to date" in err


def test_async_urls_in_sync_commands_name_the_sync_scheme(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("tokenauth_sqlalchemy")
    url = f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"
    code, _, err = run(capsys, "tokens", "list", "--store", url)
    assert code == 1
    assert "'sqlite' in place of 'sqlite+aiosqlite'" in err
    assert "MissingGreenlet" not in err


# -- the demo's --scope option ---------------------------------------------------------------


@given(st.text(alphabet=st.characters(blacklist_characters="= ,\x00"), min_size=1),
       st.lists(st.from_regex(r"[a-z:]{1,8}", fullmatch=True), min_size=1))  # fmt: skip
def test_scope_option_splits_name_and_scopes(name: str, scopes: list[str]) -> None:
    from tokenauth_asgi._demo_cli import parse_scope_option

    assert parse_scope_option(f"{name}={','.join(scopes)}") == (name, tuple(dict.fromkeys(scopes)))
    assert parse_scope_option(f"{name}={' '.join(scopes)}")[1] == tuple(dict.fromkeys(scopes))


@pytest.mark.parametrize("value", ["alice", "=admin", "alice=", "alice= ,"])
def test_scope_option_refuses_what_grants_nothing(value: str) -> None:
    from tokenauth_asgi._demo_cli import parse_scope_option

    with pytest.raises(argparse.ArgumentTypeError, match="NAME=SCOPE"):
        parse_scope_option(value)


def test_scope_for_an_unknown_account_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "demo", "--http-port", "0", "--port", "0", "--user", "alice:pw",
                       "--scope", "bob=admin")  # fmt: skip
    assert code == 1
    assert "bob is neither a --user nor an --api-key subject" in err
