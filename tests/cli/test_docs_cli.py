"""Every command line of docs/cli.md runs, in order, in one folder, as the page shows it.

The lines are read from the page (``tests.docs.markdown``), joined into one bash
script (so that ``KEY_ID=$(...)`` on one line serves the next) and run with the
project's ``.venv/bin`` first on PATH. A ``tokenauth demo`` line starts the demo
on free ports, waits for its banner, logs ``alice`` in once (so that later lines
have a token to list and revoke), and stops it with SIGTERM. The output shown in
a ``console`` block (other than the demo's banner, which differs on every run)
must be what its commands print.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.markdown import ROOT, blocks, shell_commands
from tests.services import unavailable

PAGE = "docs/cli.md"
PASSWORD = "correct horse battery"
MARK = "#### command "

# Runs one `tokenauth demo ...` line on free ports, and leaves it running (for the
# page's curl lines, whose https://127.0.0.1:8443 becomes its address) until the
# next demo line or the end, when it gets SIGTERM and must exit 0.
PREAMBLE = r"""
set -euo pipefail
DEMO_PID=
demo_stop() {
    if [ -n "$DEMO_PID" ]; then
        kill -TERM "$DEMO_PID"
        local code=0
        wait "$DEMO_PID" || code=$?
        DEMO_PID=
        if [ "$code" -ne 0 ]; then
            echo "the demo exited with $code on SIGTERM:"
            cat "$DEMO_LOG"
            return "$code"
        fi
    fi
}
trap demo_stop EXIT
demo_run() {
    demo_stop
    local log
    log="demo-$(date +%s%N).log"
    command tokenauth demo "$@" --port 0 --http-port 0 > "$log" 2>&1 &
    local pid=$!
    for _ in $(seq 900); do
        grep -q "Press Ctrl+C to stop." "$log" && break
        kill -0 "$pid" 2> /dev/null || { cat "$log"; return 1; }
        sleep 0.1
    done
    grep -q "Press Ctrl+C to stop." "$log" || { cat "$log"; return 1; }
    local url
    url=$(grep -o 'serving https://[^ ]*' "$log" | head -n 1 | cut -d' ' -f2)
    DEMO_PID=$pid
    DEMO_URL=$url
    DEMO_LOG=$log
    # A login as alice, where she is a user (in the SQL store): a token for later lines.
    curl -sk -o /dev/null -u "alice:$PASSWORD" "$url/token"
    grep -m 1 "tokenauth demo: serving" "$log"
}
"""


def _script(commands: list[str]) -> str:
    lines = [PREAMBLE]
    for number, command in enumerate(commands):
        lines.append(f"echo '{MARK}{number}'")
        if command.startswith("tokenauth demo"):
            command = "demo_run" + command.removeprefix("tokenauth demo")
        command = command.replace("https://127.0.0.1:8443", "$DEMO_URL")
        lines.append(f"{{ {command}\n}} 2>&1")
    return "\n".join(lines) + "\n"


def _outputs(text: str) -> dict[int, str]:
    found: dict[int, str] = {}
    for chunk in text.split(MARK)[1:]:
        number, _, output = chunk.partition("\n")
        found[int(number)] = output
    return found


def _documented_outputs() -> list[tuple[list[str], str]]:
    """(commands, the output the page shows) of each console block but the demo's."""
    shown = []
    for block in blocks(ROOT / PAGE):
        commands = block.commands()
        if block.lang != "console" or any(c.startswith("tokenauth demo") for c in commands):
            continue
        output = "".join(
            line + "\n" for line in block.code.splitlines() if not line.startswith("$ ")
        )
        shown.append((commands, output))
    return shown


def test_every_command_line_of_the_cli_page_runs(tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        unavailable("curl", "not on PATH (.ci/run installs it)")
    pytest.importorskip("tokenauth_sqlalchemy")
    commands = shell_commands(PAGE)
    assert any(c.startswith("tokenauth demo") for c in commands)
    assert any("tokens revoke" in c for c in commands)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PASSWORD": PASSWORD,
    }
    result = subprocess.run(
        ["bash", "-c", _script(commands)], cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=600, check=False,
    )  # fmt: skip
    outputs = _outputs(result.stdout)
    failed = len(outputs) - 1
    assert result.returncode == 0, (
        f"{commands[failed]!r} failed:\n{outputs.get(failed, '')}{result.stderr}"
    )
    assert len(outputs) == len(commands)
    by_command = dict(zip(commands, (outputs[i] for i in range(len(commands))), strict=False))
    for documented, shown in _documented_outputs():
        assert "".join(by_command[c] for c in documented) == shown, documented
    # What the examples did, as the page says they would.
    assert re.search(r"serving https://127\.0\.0\.1:\d+ \(TLS\)", by_command["tokenauth demo"])
    assert (
        "revoked 1 token(s)"
        in by_command['tokenauth tokens revoke "$JTI" --store sqlite:///app.db']
    )
    users = by_command["tokenauth users list --store sqlite:///app.db"].splitlines()
    assert users[0].split() == ["USERNAME", "CREATED", "DISABLED", "SCOPE"]
    assert [line.split()[0] for line in users[1:]] == ["alice", "bob"]
    assert "deleted bob" in by_command["tokenauth users delete bob --store sqlite:///app.db"]
    # The scopes example: Alice (admin) gets 200, Bob gets 403 insufficient_scope.
    admin = [c for c in commands if c.endswith("/admin")]
    alice, bob = (by_command[c] for c in admin)
    assert json.loads(alice) == {"sub": "alice", "scope": "admin", "admin": True}
    assert bob.startswith("HTTP/1.1 403")
    assert 'error="insufficient_scope", scope="admin"' in bob
