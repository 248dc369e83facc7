"""docs/deployment.md as written: two gunicorn workers and two uvicorn workers share one key set
and one store, every login and validation succeeds whichever worker serves it, and no token
reaches their logs. Also: the warning for workers that cannot share, and the log config.
"""

from __future__ import annotations

import json
import re
import shlex
import ssl
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import trustme

from tests.docs.markdown import blocks, files, shell_commands
from tests.docs.servers import free_port, running
from tokenauth_asgi.uvicorn import LOG_CONFIG

PAGE = "docs/deployment.md"
PASSWORD = "a password for the docs"
WARNING = "workers, and its"
#: Enough requests that both workers serve some: accept() hands them out between the two.
LOGINS, CALLS = 4, 32


def _folder(tmp_path: Path) -> tuple[Path, Path]:
    """The page's files and a certificate in a fresh folder, with the setup lines run there."""
    for name, text in files(PAGE).items():
        (tmp_path / name).write_text(text)
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    bin_path = f"{Path(sys.executable).parent}:/usr/bin:/bin"
    for line in shell_commands(PAGE, "tokenauth "):
        subprocess.run(
            ["bash", "-euo", "pipefail", "-c", line],
            cwd=tmp_path,
            env={"PATH": bin_path, "ALICE_PASSWORD": PASSWORD},
            check=True,
            capture_output=True,
            timeout=120,
        )
    return tmp_path, tmp_path / "ca.pem"


def _client(base: str, ca: Path) -> httpx.Client:
    return httpx.Client(base_url=base, verify=ssl.create_default_context(cafile=ca), timeout=30)


def _login(base: str, ca: Path) -> str:
    with _client(base, ca) as client:
        login = client.post("/token", auth=("alice", PASSWORD))
    assert login.status_code == 200, login.text
    token: str = login.json()["token"]
    return token


def _call(base: str, ca: Path, token: str, number: int) -> int:
    """One call on a new connection, the token in the header or the query; the worker's pid."""
    with _client(base, ca) as client:
        if number % 2:
            reply = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        else:
            reply = client.get("/api/me", params={"token": token})
    assert reply.status_code == 200, reply.text
    found = re.fullmatch(r"hello alice from worker (\d+)\n", reply.text)
    assert found, reply.text
    return int(found.group(1))


def _exercise(base: str, ca: Path) -> tuple[set[int], list[str]]:
    """Logins one after another (each hash takes the cores), then calls from four threads."""
    tokens = [_login(base, ca) for _ in range(LOGINS)]
    calls = [(tokens[n % LOGINS], n) for n in range(CALLS)]
    with ThreadPoolExecutor(4) as pool:
        pids = set(pool.map(lambda call: _call(base, ca, *call), calls))
    return pids, tokens


def _start_line(server: str) -> list[str]:
    (line,) = [c for c in shell_commands(PAGE, f"{server} ") if c.startswith(server)]
    return shlex.split(line.replace("\\\n", " "))


def _check_logs(log: str, tokens: list[str]) -> None:
    assert "eyJ" not in log, log
    for token in tokens:
        assert token not in log
    assert WARNING not in log, log  # the keys and the store are shared: nothing to warn of


@pytest.mark.parametrize("server", ["gunicorn", "uvicorn"])
def test_two_workers_share_keys_and_store(server: str, tmp_path: Path) -> None:
    folder, ca = _folder(tmp_path)
    port = free_port()
    command = _start_line(server)
    if server == "gunicorn":
        command += ["--bind", f"127.0.0.1:{port}"]
        ready = 2, "Booting worker"
    else:
        for line in shell_commands(PAGE, "tokenauth_asgi.uvicorn"):
            subprocess.run(
                ["bash", "-euo", "pipefail", "-c", line],
                cwd=folder,
                env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"},
                check=True,
                timeout=60,
            )
        command += ["--host", "127.0.0.1", "--port", str(port)]
        ready = 2, "Started server process"
    command = [str(Path(sys.executable).parent / command[0]), *command[1:]]
    log = folder / "server.log"
    with running(command, cwd=folder, log=log, ready=lambda t: t.count(ready[1]) >= ready[0]):
        pids, tokens = _exercise(f"https://127.0.0.1:{port}", ca)
    assert len(pids) == 2, f"expected both workers to answer, saw {pids}"
    assert "GET /api/me?token=" in log.read_text() or "/api/me" in log.read_text()
    _check_logs(log.read_text(), tokens)


def test_the_log_config_on_the_page_is_the_shipped_one() -> None:
    (shown,) = [b for b in blocks(Path(__file__).parents[2] / PAGE) if b.lang == "json"]
    assert json.loads(shown.code) == LOG_CONFIG
    out = subprocess.run(
        [sys.executable, "-m", "tokenauth_asgi.uvicorn"], capture_output=True, check=True
    )
    assert json.loads(out.stdout) == LOG_CONFIG


UNSHARED_APP = """
from tokenauth import KeySet, MemoryStore, MemoryUserRegistry, TokenAuth
from tokenauth_wsgi import TokenEndpoints

auth = TokenAuth(keys=KeySet.generate(), store=MemoryStore(), users=MemoryUserRegistry())
app = TokenEndpoints(auth, lambda environ, start_response: [])
"""


def test_workers_with_their_own_keys_and_store_are_warned_of(tmp_path: Path) -> None:
    (tmp_path / "unshared.py").write_text(UNSHARED_APP)
    port = free_port()
    gunicorn = Path(sys.executable).parent / "gunicorn"
    command = [str(gunicorn), "unshared:app", "-w", "2", "--bind", f"127.0.0.1:{port}"]
    log = tmp_path / "server.log"
    with running(command, cwd=tmp_path, log=log, ready=lambda t: t.count("memory://") >= 2):
        text = log.read_text()
    assert text.count("one of 2 gunicorn workers, and its key set was generated") == 2, text
    assert "KeySet.load_or_create" in text
    assert text.count("its token store is in this process's memory") == 2, text
