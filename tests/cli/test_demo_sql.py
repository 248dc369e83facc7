"""The demo on an SQL store: accounts added with the CLI log in, and tokens survive a restart."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path

import httpx
import pytest

from tests.asgi.support import free_port
from tokenauth.cli import main

from .test_demo import READY, START_WAIT, _stop

pytest.importorskip("tokenauth_sqlalchemy")


@contextmanager
def running_demo(directory: Path, port: int, *args: str) -> Iterator[str]:
    log = directory / f"demo-{time.monotonic_ns()}.log"
    command = [
        sys.executable,
        "-m",
        "tokenauth.cli",
        "demo",
        "--port",
        str(port),
        "--http-port",
        "0",
        *args,
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + START_WAIT
        while READY not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the demo did not start:\n{log.read_text()}")
            time.sleep(0.1)
        yield f"https://127.0.0.1:{port}"
    finally:
        assert _stop(process) == 0, log.read_text()


def cli(*argv: str, stdin: str = "") -> str:
    out = io.StringIO()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with redirect_stdout(out):
            assert main(list(argv)) == 0
    finally:
        sys.stdin = old_stdin
    return out.getvalue()


def test_cli_accounts_log_in_and_tokens_survive_a_restart(tmp_path: Path) -> None:
    """Users and API keys added with the CLI log in to the demo; a restart keeps tokens valid."""
    store = f"sqlite:///{tmp_path / 'tokens.db'}"
    keys, pepper = str(tmp_path / "keys.json"), str(tmp_path / "pepper.hex")
    cli("db", "init", "--store", store)
    cli("users", "add", "alice", "--password-stdin", "--store", store, stdin="s3cret-pw\n")
    created = cli("apikeys", "create", "svc", "--store", store, "--pepper-file", pepper)
    api_key = __import__("json").loads(created)["key"]
    common = ("--store", store, "--keys", keys, "--pepper-file", pepper)
    # The same address both times: the demo names itself (its URL) as the tokens' issuer.
    port = free_port()
    with running_demo(tmp_path, port, *common) as base, httpx.Client(verify=False) as client:  # noqa: S501 - self-signed demo cert
        login = client.get(f"{base}/token", auth=("alice", "s3cret-pw"))
        assert login.status_code == 200
        token = login.json()["token"]
        assert client.get(f"{base}/token", auth=(api_key, "")).status_code == 200
        assert (
            client.get(f"{base}/me", headers={"Authorization": f"Bearer {token}"}).json()["sub"]
            == "alice"
        )
    with running_demo(tmp_path, port, *common) as base, httpx.Client(verify=False) as client:  # noqa: S501
        again = client.get(f"{base}/me", headers={"Authorization": f"Bearer {token}"})
        assert again.status_code == 200, again.text
        assert (
            client.post(f"{base}/logout", headers={"Authorization": f"Bearer {token}"}).status_code
            == 204
        )
    listed = cli("tokens", "list", "--json", "--store", store)
    assert token not in listed
    assert '"sub": "svc"' in listed


def test_a_fresh_sqlite_store_and_five_second_tokens(tmp_path: Path) -> None:
    """`tokenauth demo --store sqlite:///fresh.db --ttl 5`: the demo makes its tables, and a
    token met after it expired is refused and gone from `tokenauth tokens list`."""
    store = f"sqlite:///{tmp_path / 'fresh.db'}"
    args = ("--store", store, "--ttl", "5", "--user", "alice:pw-for-alice")
    with running_demo(tmp_path, free_port(), *args) as base, httpx.Client(verify=False) as client:  # noqa: S501 - self-signed demo cert
        login = client.post(f"{base}/token", auth=("alice", "pw-for-alice"))
        assert login.status_code == 200, login.text
        assert login.json()["expires_in"] == 5
        token = login.json()["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        me = client.get(f"{base}/me", headers=bearer)
        assert me.status_code == 200
        jti, exp = me.json()["jti"], me.json()["exp"]
        listed = [
            json.loads(line)
            for line in cli("tokens", "list", "--json", "--store", store).splitlines()
        ]
        assert [t["jti"] for t in listed] == [jti]
        # Expired from exp + the 5 s leeway on: wait that long, by the wall clock.
        time.sleep(max(0.0, exp + 5 - time.time()) + 0.5)
        late = client.get(f"{base}/me", headers=bearer)
        assert late.status_code == 401
        assert "expired" in late.headers["www-authenticate"]
        assert cli("tokens", "list", "--json", "--store", store) == ""
    assert "created the tokenauth tables" in (tmp_path.glob("demo-*.log").__next__()).read_text()


def test_throttle_options_and_sql_counters(tmp_path: Path) -> None:
    """`--counters sqlite:///... --per-account 2/60`: the demo makes the counters' table, the
    third wrong password gets 429 with Retry-After; `--no-throttle` answers 401 forever."""
    counters = f"sqlite:///{tmp_path / 'counters.db'}"
    args = ("--user", "alice:pw-for-alice", "--counters", counters, "--per-account", "2/60")
    with running_demo(tmp_path, free_port(), *args) as base, httpx.Client(verify=False) as client:  # noqa: S501 - self-signed demo cert
        codes = [client.post(f"{base}/token", auth=("alice", "nope")).status_code for _ in range(3)]
        assert codes == [401, 401, 429]
        throttled = client.post(f"{base}/token", auth=("alice", "pw-for-alice"))
        assert throttled.status_code == 429  # even the right password, until the window ends
        assert 1 <= int(throttled.headers["retry-after"]) <= 60
    log = max(tmp_path.glob("demo-*.log"), key=lambda p: p.stat().st_mtime).read_text()
    assert "2 per 60 s per account" in log
    assert f"{counters}: created the tokenauth tables" in log
    assert "see a 429: 2 wrong passwords for one account in 60 s" in log
    off = ("--user", "alice:pw-for-alice", "--no-throttle", "--max-login-wait", "none")
    with running_demo(tmp_path, free_port(), *off) as base, httpx.Client(verify=False) as client:  # noqa: S501 - self-signed demo cert
        codes = [
            client.post(f"{base}/token", auth=("alice", "nope")).status_code for _ in range(12)
        ]
        assert codes == [401] * 12
    log = max(tmp_path.glob("demo-*.log"), key=lambda p: p.stat().st_mtime).read_text()
    assert "login throttling off (--no-throttle); no load shedding" in log
    assert "see a 429" not in log


def test_a_token_cap_and_sessions_over_https(tmp_path: Path) -> None:
    """`--max-tokens 1`: a second login is 403 naming the cap; `tokens list` shows the session."""
    store = f"sqlite:///{tmp_path / 'capped.db'}"
    options = ("--user", "alice:pw-for-alice", "--store", store, "--max-tokens", "1")
    headers = {"User-Agent": "capped-client/1.0"}
    demo = running_demo(tmp_path, free_port(), *options)
    with demo as base, httpx.Client(verify=False) as client:  # noqa: S501 - self-signed demo cert
        first = client.post(f"{base}/token", auth=("alice", "pw-for-alice"), headers=headers)
        assert first.status_code == 200
        refused = client.post(f"{base}/token", auth=("alice", "pw-for-alice"))
        assert refused.status_code == 403
        assert refused.json()["error"] == "token_limit_reached"
        assert refused.json()["max_tokens"] == 1
        assert "www-authenticate" not in refused.headers
        token = first.json()["token"]
        me = client.get(f"{base}/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
    (listed,) = [
        json.loads(line) for line in cli("tokens", "list", "--json", "--store", store).splitlines()
    ]
    assert listed["user_agent"] == "capped-client/1.0"
    assert listed["client"] == "127.0.0.1"
    assert isinstance(listed["last_used"], int)


@pytest.mark.parametrize(
    ("option", "value"),
    [("--per-account", "10"), ("--per-account", "0/60"), ("--per-client", "5/0"),
     ("--max-login-wait", "0"), ("--max-login-wait", "soon"), ("--max-tokens", "0"),
     ("--cap-policy", "oldest")],
)  # fmt: skip
def test_bad_throttle_options_are_usage_errors(
    option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", option, value])
    assert exited.value.code == 2
    assert option in capsys.readouterr().err


def test_nothing_left_to_throttle_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--per-account", "off", "--per-client", "off", "--http-port", "0"])
    assert code == 1
    assert "--no-throttle" in capsys.readouterr().err
