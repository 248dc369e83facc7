"""Tokens, and API keys used as Basic usernames, never reach gunicorn's access or error log.

gunicorn runs in a subprocess over TLS, with its access log on (including the
request line with the query string, the Referer, the Basic username and the
Authorization header) and its error log at debug level.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.wsgi.apps import FRAMEWORKS, PASSWORD
from tests.wsgi.conftest import Certs
from tests.wsgi.test_contract import basic, bearer, expect

ROOT = Path(__file__).resolve().parents[2]
ACCESS_FORMAT = '%(h)s %(u)s "%(r)s" %(s)s "%(f)s" "%({authorization}i)s" %(q)s'
LISTENING = re.compile(r"Listening at: \S+://127\.0\.0\.1:(\d+)")


def _wait_for_port(proc: subprocess.Popen[bytes], error_log: Path, key_file: Path) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"gunicorn exited: {error_log.read_text()}")
        text = error_log.read_text() if error_log.exists() else ""
        found = LISTENING.search(text)
        # The worker writes the key file once it has loaded the app.
        if found and key_file.exists() and key_file.read_text():
            return int(found.group(1))
        time.sleep(0.05)
    pytest.fail(f"gunicorn did not start: {error_log.read_text()}")


def _lines(log: Path, count: int) -> str:
    """The log once it has ``count`` lines: gunicorn writes it after sending the response."""
    deadline = time.monotonic() + 10
    while len(text := log.read_text().splitlines()) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(text) == count, text
    return "\n".join(text)


@pytest.fixture(params=FRAMEWORKS)
def gunicorn(
    request: pytest.FixtureRequest, certs: Certs, tmp_path: Path
) -> Iterator[tuple[str, str, Path, Path]]:
    access_log, error_log, key_file = (
        tmp_path / "access.log",
        tmp_path / "error.log",
        tmp_path / "key",
    )
    env = {
        **os.environ,
        "TOKENAUTH_TEST_FRAMEWORK": request.param,
        "TOKENAUTH_TEST_KEY_FILE": str(key_file),
    }
    command = [
        sys.executable, "-m", "gunicorn",
        "--bind", "127.0.0.1:0", "--workers", "1",
        "--certfile", str(certs.cert_file), "--keyfile", str(certs.key_file),
        "--access-logfile", str(access_log), "--access-logformat", ACCESS_FORMAT,
        "--error-logfile", str(error_log), "--log-level", "debug",
        "--logger-class", "tokenauth_wsgi.gunicorn.RedactingLogger",
        "tests.wsgi.gunicorn_app:app",
    ]  # fmt: skip
    proc = subprocess.Popen(command, cwd=ROOT, env=env)  # our own command line
    try:
        port = _wait_for_port(proc, error_log, key_file)
        yield f"https://127.0.0.1:{port}", key_file.read_text(), access_log, error_log
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM gunicorn, and SIGKILL it if it has not exited 15 s later."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def test_no_token_or_api_key_in_gunicorn_logs(
    gunicorn: tuple[str, str, Path, Path], client: httpx.Client
) -> None:
    url, api_key, access_log, error_log = gunicorn
    token = expect(
        client.post(f"{url}/token", headers={"Authorization": basic(f"alice:{PASSWORD}")}), 200
    )["token"]
    key_token = expect(
        client.get(f"{url}/token", headers={"Authorization": basic(f"{api_key}:")}), 200
    )["token"]
    referer = {"Referer": f"{url}/page?token={token}"}
    expect(client.get(f"{url}/api/me", params={"token": token}, headers=referer), 200)
    expect(client.get(f"{url}/api/me", headers=bearer(key_token)), 200)
    expect(client.get(f"{url}/api/me?token={token}&token={token}"), 400)
    expect(client.get(f"{url}/api/me", params={"token": token + "x"}), 401)
    expect(client.post(f"{url}/logout", params={"token": key_token}), 204)
    access = _lines(access_log, 7)
    errors = error_log.read_text()
    assert "token=[REDACTED]" in access
    assert "Bearer [REDACTED]" in access
    for secret in (token, key_token, api_key):
        assert secret not in access
        assert secret not in errors
