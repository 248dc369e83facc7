"""End to end: uvicorn with one worker, driven by wrk over loopback, with and without tokenauth.

Each mode (unprotected, in-memory store, Redis store) runs in its own uvicorn
process; the modes take turns, twice each in a full run, and the best of each
mode's runs counts, so a burst of load elsewhere on the machine does not decide
the ratio. wrk sends the same token on every request (the warm path).
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from typing import Any

from .validation import REDIS_URL, _redis_available

CONNECTIONS = 64
_RPS = re.compile(r"Requests/sec:\s+([0-9.]+)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+([0-9]+)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"uvicorn did not listen on port {port}")


def _serve_and_load(mode: str, url: str | None, seconds: int) -> tuple[float, str]:
    port = _free_port()
    args = [sys.executable, "-m", "benchmarks._app", mode, str(port)]
    if url is not None:
        args.append(url)
    server = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        _, token, loop_name, http = server.stdout.readline().split(" ")
        _wait_for(port)
        command = [
            "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s",
            "-H", "X-Forwarded-Proto: https",
        ]  # fmt: skip
        if token:
            command += ["-H", f"Authorization: Bearer {token}"]
        command.append(f"http://127.0.0.1:{port}/")
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        bad = _NON_2XX.search(out)
        if bad:
            raise AssertionError(f"{mode}: {bad.group(1)} requests were refused:\n{out}")
        found = _RPS.search(out)
        if found is None:
            raise AssertionError(f"wrk printed no rate:\n{out}")
        return float(found.group(1)), f"uvicorn ({loop_name}, {http.strip()})"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stdout is not None:
            server.stdout.close()


def run(*, seconds: int, turns: int = 2) -> dict[str, Any] | str:
    if shutil.which("wrk") is None:
        return "wrk is not installed (apt-get install -y wrk; .ci/run installs it)"
    modes: dict[str, str | None] = {
        "unprotected": None, "unprotected_with_token": None, "memory": None,
    }  # fmt: skip
    redis_note = _redis_available()
    prefix = f"tokenauth-bench:{uuid.uuid4().hex}:"
    if redis_note is None:
        modes["redis"] = f"{REDIS_URL}?prefix={prefix}&local_view=true"
    runs: dict[str, list[float]] = {mode: [] for mode in modes}
    server = ""
    try:
        for _ in range(turns):
            for mode, url in modes.items():
                rps, server = _serve_and_load(mode, url, seconds)
                runs[mode].append(rps)
    finally:
        if redis_note is None:
            import redis

            cleanup = redis.Redis.from_url(REDIS_URL)
            for key in cleanup.scan_iter(match=f"{prefix}*", count=1000):
                cleanup.delete(key)
            cleanup.close()
    import importlib.util

    binding = (
        "tokenauth_asgi.BearerAuthMiddleware"
        if importlib.util.find_spec("tokenauth_asgi")
        else "the benchmark's own minimal middleware"
    )
    return {
        "server": server,
        "binding": binding,
        "wrk": f"wrk -t1 -c{CONNECTIONS} -d{seconds}s, {turns} turns, best of each",
        "runs": runs,
        "rps": {mode: max(values) for mode, values in runs.items()},
        "redis": redis_note or "",
    }


def describe(measured: dict[str, Any]) -> str:
    base = measured["rps"]["unprotected"]
    lines = [
        f"{measured['server']}, {measured['binding']}; {measured['wrk']}",
        "",
        "| endpoint | requests/s | vs unprotected | runs |",
        "|---|---:|---:|---|",
    ]
    for mode, rps in measured["rps"].items():
        runs = ", ".join(f"{r:,.0f}" for r in measured["runs"][mode])
        lines.append(f"| {mode} | {rps:,.0f} | {rps / base:.2f}x | {runs} |")
    if measured["redis"]:
        lines.append(f"\nRedis skipped: {measured['redis']}")
    return "\n".join(lines)
