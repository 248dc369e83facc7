"""End to end: uvicorn with one worker, driven by wrk over loopback, with and without tokenauth.

Three endpoints are served: a FastAPI path operation and a Starlette route
(trivial endpoints of the two usual frameworks), and a bare ASGI callable that
does no work at all, where the fixed cost of any middleware shows most. For
each, every mode (unprotected,
in-memory store, Redis store) runs in its own uvicorn process; the modes take
turns, twice each in a full run, and the best of each mode's runs counts, so a
burst of load elsewhere on the machine does not decide the ratio. wrk sends the
same token on every request (the warm path).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from .validation import REDIS_URL, _redis_available

CONNECTIONS = 64
_RPS = re.compile(r"Requests/sec:\s+([0-9.]+)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+([0-9]+)")
_REQUESTS = re.compile(r"([0-9]+) requests in")
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` so far (Linux /proc), or NaN."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    # After the command name: state is field 3, utime field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / _TICK


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


#: The endpoints served, in the order they run: the judged one first.
ENDPOINTS = ("fastapi", "starlette", "asgi")


def _serve_and_load(
    kind: str, mode: str, url: str | None, seconds: int
) -> tuple[float, float, str]:
    """Requests/s, the server's CPU µs per request, and what served them."""
    port = _free_port()
    args = [sys.executable, "-m", "benchmarks._app", kind, mode, str(port)]
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
        cpu_before = _cpu_seconds(server.pid)
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        cpu = _cpu_seconds(server.pid) - cpu_before
        bad = _NON_2XX.search(out)
        if bad:
            raise AssertionError(f"{kind} {mode}: {bad.group(1)} requests were refused:\n{out}")
        found = _RPS.search(out)
        served = _REQUESTS.search(out)
        if found is None or served is None:
            raise AssertionError(f"wrk printed no rate:\n{out}")
        cpu_us = cpu / max(1, int(served.group(1))) * 1e6
        return float(found.group(1)), cpu_us, f"uvicorn ({loop_name}, {http.strip()})"
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
    kinds = [k for k in ENDPOINTS if k == "asgi" or importlib.util.find_spec(k) is not None]
    # What carrying the token costs the server is measured once, on the bare endpoint.
    plan = {
        kind: {m: u for m, u in modes.items() if kind == "asgi" or m != "unprotected_with_token"}
        for kind in kinds
    }
    runs: dict[str, dict[str, list[float]]] = {k: {m: [] for m in plan[k]} for k in kinds}
    cpu: dict[str, dict[str, list[float]]] = {k: {m: [] for m in plan[k]} for k in kinds}
    server = ""
    try:
        for _ in range(turns):
            for kind in kinds:
                for mode, url in plan[kind].items():
                    rps, cpu_us, server = _serve_and_load(kind, mode, url, seconds)
                    runs[kind][mode].append(rps)
                    cpu[kind][mode].append(cpu_us)
    finally:
        if redis_note is None:
            import redis

            cleanup = redis.Redis.from_url(REDIS_URL)
            for key in cleanup.scan_iter(match=f"{prefix}*", count=1000):
                cleanup.delete(key)
            cleanup.close()
    binding = (
        "tokenauth_asgi.TokenAuthMiddleware"
        if importlib.util.find_spec("tokenauth_asgi")
        else "the benchmark's own minimal middleware"
    )
    return {
        "server": server,
        "binding": binding,
        "wrk": f"wrk -t1 -c{CONNECTIONS} -d{seconds}s, {turns} turns, best of each",
        "runs": runs,
        "rps": {
            kind: {mode: max(values) for mode, values in by_mode.items()}
            for kind, by_mode in runs.items()
        },
        # The server's CPU time per request, the least of each mode's runs: less moved
        # by other load on the machine than requests/s, which need a free core for wrk.
        "cpu_us": {
            kind: {mode: min(values) for mode, values in by_mode.items()}
            for kind, by_mode in cpu.items()
        },
        "redis": redis_note or "",
    }


def describe(measured: dict[str, Any]) -> str:
    lines = [f"{measured['server']}, {measured['binding']}; {measured['wrk']}"]
    for kind, rps_by_mode in measured["rps"].items():
        base = rps_by_mode["unprotected"]
        cpu = measured["cpu_us"][kind]
        lines += [
            "",
            f"| {kind} endpoint | requests/s | vs unprotected | server CPU µs/request"
            " | unprotected CPU / this | runs |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for mode, rps in rps_by_mode.items():
            runs = ", ".join(f"{r:,.0f}" for r in measured["runs"][kind][mode])
            lines.append(
                f"| {mode} | {rps:,.0f} | {rps / base:.2f}x | {cpu[mode]:.1f}"
                f" | {cpu['unprotected'] / cpu[mode]:.2f}x | {runs} |"
            )
    if measured["redis"]:
        lines.append(f"\nRedis skipped: {measured['redis']}")
    return "\n".join(lines)
