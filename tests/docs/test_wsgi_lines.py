"""docs/wsgi.md's gunicorn and curl lines, run as written against its own apps.

Each app's files come from the page; gunicorn gets a free port and a throwaway
certificate, and each curl line gets ``--cacert`` for it, as the page says to add.
What the page shows as each command's output is what it prints (a long run of
digits, a token's expiry time, stands for any such run).
"""

from __future__ import annotations

import re
import shlex
import shutil
import ssl
import sys
import time
from pathlib import Path

import httpx
import pytest
import trustme

from tests.docs.markdown import ROOT, blocks, files
from tests.docs.servers import free_port, run_lines, running
from tests.services import unavailable

PAGE = "docs/wsgi.md"
TARGETS = ["app:app", "flask_example:app", "mysite.wsgi:application"]


def _folder(tmp_path: Path) -> Path:
    for name, text in files(PAGE).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "mysite" / "__init__.py").write_text("")  # "and an empty mysite/__init__.py"
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    return tmp_path


def _pairs() -> list[tuple[str, str]]:
    """Every command line of the page's shell blocks, with the output shown for it."""
    pairs: list[tuple[str, str]] = []
    for block in blocks(ROOT / PAGE):
        if block.lang == "console":
            pairs += block.console()
        elif block.lang == "sh":
            pairs += [(command, "") for command in block.commands()]
    return pairs


def _same(shown: str, printed: str) -> bool:
    def norm(text: str) -> str:
        return re.sub(r"\d{9,}", "N", text.strip())

    return norm(shown) == norm(printed)


def _wait(base: str, ca: Path) -> None:
    context = ssl.create_default_context(cafile=ca)
    for _ in range(300):
        try:
            if httpx.get(f"{base}/.well-known/jwks.json", verify=context).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail("the app never answered")


@pytest.mark.parametrize("target", TARGETS)
def test_gunicorn_and_curl_lines(target: str, tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        unavailable("curl", "not on PATH (.ci/run installs it)")
    folder = _folder(tmp_path)
    pairs = _pairs()
    (start,) = [c for c, _ in pairs if c.startswith("gunicorn") and c.endswith(target)]
    port = free_port()
    command = shlex.split(start.replace("\\\n", " "))
    command = [str(Path(sys.executable).parent / "gunicorn"), *command[1:]]
    command += ["--bind", f"127.0.0.1:{port}"]
    lines = [
        (c.replace("curl ", "curl --cacert ca.pem ").replace(":8000", f":{port}"), shown)
        for c, shown in pairs
        if "curl " in c
    ]
    login = [pair for pair in lines if pair[0].startswith("TOKEN=")][:1]
    # The plain-WSGI app's own lines; the Flask and Django blocks show one call each.
    if target == "app:app":
        mine = [pair for pair in lines if "/api/me" in pair[0] or "/logout" in pair[0]][:3]
    else:
        index = next(i for i, (c, _) in enumerate(pairs) if c == start)
        mine = [
            (c.replace("curl ", "curl --cacert ca.pem ").replace(":8000", f":{port}"), shown)
            for c, shown in pairs[index + 1 : index + 2]
        ]
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    log = folder / "gunicorn.log"
    with running(command, cwd=folder, log=log, ready=lambda t: "Booting worker" in t, env=env):
        _wait(f"https://127.0.0.1:{port}", folder / "ca.pem")
        printed = run_lines([c for c, _ in login + mine], cwd=folder, env=env)
    assert len(mine) >= 1
    for (line, shown), out in zip(login + mine, printed, strict=True):
        if shown:
            assert _same(shown, out), f"{line}\nthe page shows:\n{shown}\nit printed:\n{out}"
    assert "eyJ" not in log.read_text()
