"""The README's demo command and curl lines, run as written (on free ports) against each other."""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from pathlib import Path

from tests.docs.markdown import ROOT, shell_commands
from tests.docs.servers import free_port, run_lines, running
from tests.services import unavailable

PAGE = "README.md"


def test_the_demo_and_every_curl_line(tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        unavailable("curl", "not on PATH (.ci/run installs it)")
    (start,) = shell_commands(PAGE, "dev.py demo --user")
    port, http_port = free_port(), free_port()
    command = shlex.split(start)
    assert command[0] == "python3"
    command = [sys.executable, *command[1:], "--port", str(port), "--http-port", str(http_port)]
    lines = [
        line.replace(":8443", f":{port}").replace(":8080", f":{http_port}")
        for line in shell_commands(PAGE, "curl ")
    ]
    with running(command, cwd=ROOT, log=tmp_path / "demo.log", ready=lambda t: "Ctrl+C" in t):
        outputs = run_lines(lines, cwd=tmp_path)
    checked = 0
    kept = ("TOKEN=", "REFRESH=")
    for line, output in zip(lines, outputs, strict=True):
        if line.startswith(kept):
            continue
        if line.startswith("for i in $(seq 10)"):
            assert output.split() == ["401"] * 10, line  # the default: 10 per account
        elif "mallory:guess" in line:
            assert output.startswith("HTTP/1.1 429"), line
            assert "retry-after: " in output.lower()
        elif "grant_type=refresh_token" in line:
            assert set(json.loads(output)) == {
                "token", "token_type", "expires_in", "refresh_token"
            }, line  # fmt: skip
        elif line.endswith("/token"):
            assert json.loads(output)["token_type"] == "Bearer", line
        elif "/me" in line and "http://" in line:
            assert output.startswith("HTTP/1.1 403"), line
            assert '"https_required"' in output
        elif line.endswith("/me"):
            assert json.loads(output)["sub"] == "alice", line
        elif "/logout" in line:
            assert output.startswith("HTTP/1.1 204"), line
        elif "jwks.json" in line:
            assert json.loads(output)["keys"][0]["kty"] == "RSA", line
        else:
            raise AssertionError(f"no check for the README line {line!r}")
        checked += 1
    assert checked == len(lines) - sum(line.startswith(kept) for line in lines)
