"""The demo server, started as the README says, driven with curl and with httpx."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.asgi.support import free_port
from tests.services import unavailable

ROOT = Path(__file__).resolve().parents[2]
START_WAIT = 90.0
READY = "Press Ctrl+C to stop."


@dataclass
class Demo:
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    https: str
    http: str

    def banner(self) -> str:
        return self.stdout.read_text()

    def logs(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()

    def cacert(self) -> Path:
        match = re.search(r"--cacert (\S+/cert\.pem)", self.banner())
        assert match, self.banner()
        return Path(match.group(1))

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cacert()))

    def credentials(self) -> tuple[str, str, str]:
        user = re.search(r"^  user +(\S+) / (\S+)$", self.banner(), re.MULTILINE)
        key = re.search(r"^  API key +(tka_\w+)", self.banner(), re.MULTILINE)
        assert user, self.banner()
        assert key, self.banner()
        return user.group(1), user.group(2), key.group(1)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _stop(process: subprocess.Popen[bytes]) -> int:
    """Stop the demo the way Ctrl+C would: signal the server (dev.py's child), then wait."""
    if process.poll() is None:
        targets = _children(process.pid) or [process.pid]
        for pid in targets:
            os.kill(pid, signal.SIGTERM)
        try:
            return process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
            pytest.fail("the demo did not stop on SIGTERM")
    return process.returncode


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    directory = tmp_path_factory.mktemp("demo")
    port, http_port = free_port(), free_port()
    stdout, stderr = directory / "stdout.log", directory / "stderr.log"
    # Exactly the README's command, with ports that are free on this machine.
    command = [sys.executable, "dev.py", "demo", "--port", str(port), "--http-port", str(http_port)]
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    running = Demo(
        process, stdout, stderr, f"https://127.0.0.1:{port}", f"http://127.0.0.1:{http_port}"
    )
    try:
        deadline = time.monotonic() + START_WAIT
        while READY not in stdout.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the demo did not start:\n{running.logs()}")
            time.sleep(0.1)
        yield running
    finally:
        code = _stop(process)
    assert code == 0, running.logs()


def _commands(banner: str) -> list[str]:
    return [line.strip() for line in banner.splitlines() if line.startswith("     ")]


def test_the_printed_curl_commands_work_in_a_shell(demo: Demo) -> None:
    if shutil.which("curl") is None:
        unavailable("curl", "not on PATH (.ci/run installs it)")
    commands = _commands(demo.banner())
    script = "\n".join(f"echo '#### {i}'\n{c}\necho" for i, c in enumerate(commands))
    result = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    outputs = {}
    for chunk in result.stdout.split("#### ")[1:]:
        number, _, text = chunk.partition("\n")
        outputs[int(number)] = text.strip()
    by_command = dict(zip(commands, (outputs[i] for i in range(len(commands))), strict=True))
    throttled = [c for c in by_command if "nobody:guess" in c]
    assert len(throttled) == 2, "the banner shows how to see a 429"
    refreshes = [c for c in by_command if "grant_type=refresh_token" in c]
    assert len(refreshes) == 1, "the banner shows a refresh"
    assert set(json.loads(by_command[refreshes[0]])) == {
        "token", "token_type", "expires_in", "refresh_token"
    }  # fmt: skip
    for command, output in by_command.items():
        if command.startswith("for i in $(seq 10)"):
            assert output.split() == ["401"] * 10, command  # the default 10 per account
        elif "nobody:guess" in command:
            assert output.startswith("HTTP/1.1 429"), command
            assert re.search(r"^retry-after: \d+", output, re.MULTILINE | re.IGNORECASE)
        elif command.endswith("/token"):
            assert json.loads(output)["token_type"] == "Bearer", command
        elif command.endswith("/me") and "http://" not in command:
            assert json.loads(output)["sub"] == "demo", command
        elif command.endswith("/admin") and "$ADMIN_TOKEN" in command:
            assert json.loads(output) == {"sub": "demo-service", "scope": "admin", "admin": True}
        elif command.endswith("/admin"):
            assert output.startswith("HTTP/1.1 403"), command
            assert 'error="insufficient_scope", scope="admin"' in output
        elif command.endswith("/logout"):
            assert output.startswith("HTTP/1.1 204"), command
        elif command.endswith("/jwks.json"):
            assert json.loads(output)["keys"][0]["kty"] == "RSA"
        elif command.endswith("/health"):
            assert json.loads(output) == {"status": "ok"}
        elif "http://" in command:
            assert output.startswith("HTTP/1.1 403"), command
            assert '"https_required"' in output


def test_the_demo_over_httpx(demo: Demo) -> None:
    name, password, key = demo.credentials()
    context = demo.context()
    with httpx.Client(base_url=demo.https, verify=context, timeout=30) as client:
        response = client.post("/token", auth=(name, password))
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        token = response.json()["token"]
        assert token.startswith("eyJhbGciOiJSUzI1Ni")
        assert client.get("/token", auth=(key, "")).status_code == 200
        assert client.get("/token", auth=(name, "wrong")).status_code == 401
        assert client.get("/token").status_code == 400
        me = client.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        assert me.json()["sub"] == name
        assert client.get("/me").headers["www-authenticate"] == 'Bearer realm="tokenauth-demo"'
        jwks = client.get("/.well-known/jwks.json").json()
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
        assert header["kid"] in [k["kid"] for k in jwks["keys"]]
        # Plain HTTP: refused, and the token it exposed no longer works over HTTPS.
        exposed = httpx.get(f"{demo.http}/me", headers={"Authorization": f"Bearer {token}"})
        assert exposed.status_code == 403
        assert exposed.json()["error"] == "https_required"
        assert client.get("/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_admin_needs_the_admin_scope(demo: Demo) -> None:
    """The demo's user lacks ``admin`` (403 insufficient_scope), its API key holds it (200)."""
    assert "  scopes   demo-service: admin" in demo.banner()
    name, password, key = demo.credentials()
    with httpx.Client(base_url=demo.https, verify=demo.context(), timeout=30) as client:
        user_token = client.post("/token", auth=(name, password)).json()["token"]
        key_token = client.post("/token", auth=(key, "")).json()["token"]
        refused = client.get("/admin", headers={"Authorization": f"Bearer {user_token}"})
        assert refused.status_code == 403
        assert refused.headers["www-authenticate"] == (
            'Bearer realm="tokenauth-demo", error="insufficient_scope", scope="admin"'
        )
        assert refused.json()["error"] == "insufficient_scope"
        allowed = client.get("/admin", headers={"Authorization": f"Bearer {key_token}"})
        assert allowed.status_code == 200
        assert allowed.json() == {"sub": "demo-service", "scope": "admin", "admin": True}
        assert client.get("/admin").status_code == 401
        assert (
            client.post("/admin", headers={"Authorization": f"Bearer {key_token}"}).status_code
            == 405
        )


def test_tokens_never_reach_the_logs_even_from_the_query_string(demo: Demo) -> None:
    name, password, _ = demo.credentials()
    with httpx.Client(base_url=demo.https, verify=demo.context(), timeout=30) as client:
        token = client.post("/token", auth=(name, password)).json()["token"]
        assert client.get(f"/me?token={token}").status_code == 200
        assert client.get(f"/nowhere?a=1&token={token}").status_code == 404
        assert client.get(f"/me?token={token}&token={token}").status_code == 400
        assert httpx.get(f"{demo.http}/me?token={token}").status_code == 403
    deadline = time.monotonic() + 5
    while demo.logs().count("token=[REDACTED]") < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    logs = demo.logs()
    assert "token=[REDACTED]" in logs
    assert token not in logs
    assert token.split(".")[2] not in logs  # not even the signature
