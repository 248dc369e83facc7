"""Throwaway redis-server processes on loopback ports, for the cluster and fault tests."""

from __future__ import annotations

import contextlib
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import redis

from tests.services import unavailable

#: Every wait below is bounded by this many seconds.
START_TIMEOUT = 20.0


def require_redis_server() -> str:
    """The path of redis-server, or skip (fail under TOKENAUTH_REQUIRE_SERVICES=1)."""
    path = shutil.which("redis-server")
    if path is None or shutil.which("redis-cli") is None:
        unavailable("redis-server", "redis-server and redis-cli are not on PATH")
    return path


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(*, with_bus: bool = False) -> int:
    """A loopback port nobody listens on (and port + 10000 too, for a Cluster bus)."""
    for _ in range(200):
        port = random.randint(20_000, 29_999)
        if _bindable(port) and (not with_bus or _bindable(port + 10_000)):
            return port
    raise RuntimeError("no free loopback port found")


class RedisServer:
    """One redis-server process, started and stopped by the test that owns it."""

    def __init__(self, workdir: Path, port: int, *extra: str, config: Path | None = None) -> None:
        self.workdir = workdir
        self.port = port
        self.extra = extra
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait, bounded, until it answers PING."""
        args = [
            require_redis_server(),
            *([str(self.config)] if self.config is not None else []),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.workdir),
            "--logfile", str(self.workdir / f"redis-{self.port}.log"),
            *self.extra,
        ]  # fmt: skip
        # The arguments are this module's own, with redis-server found on PATH.
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"redis-server on port {self.port} exited at start")
                with contextlib.suppress(redis.RedisError):
                    if client.ping():
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on port {self.port} did not answer")
                time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL the server (if running) and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=START_TIMEOUT)
        self.process = None

    def pause(self) -> None:
        """SIGSTOP: the server keeps its socket but answers nothing (a hung server)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


@contextlib.contextmanager
def redis_server(workdir: Path, *extra: str) -> Iterator[RedisServer]:
    """A started server on a free port, always killed afterwards."""
    server = RedisServer(workdir, free_port(), *extra)
    try:
        server.start()
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.resume()
        server.kill()


@contextlib.contextmanager
def redis_cluster(workdir: Path, size: int = 3) -> Iterator[list[RedisServer]]:
    """A Redis Cluster of ``size`` primaries on loopback, always killed afterwards."""
    servers: list[RedisServer] = []
    try:
        for _ in range(size):
            port = free_port(with_bus=True)
            server = RedisServer(
                workdir,
                port,
                "--cluster-enabled", "yes",
                "--cluster-config-file", str(workdir / f"nodes-{port}.conf"),
                "--cluster-node-timeout", "2000",
            )  # fmt: skip
            servers.append(server)
            server.start()
        addresses = [f"127.0.0.1:{s.port}" for s in servers]
        cli = shutil.which("redis-cli") or "redis-cli"
        # The arguments are this module's own: redis-cli found on PATH and loopback addresses.
        subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            timeout=START_TIMEOUT,
        )
        _wait_cluster_ok(servers)
        yield servers
    finally:
        for server in servers:
            server.kill()


def _wait_cluster_ok(servers: list[RedisServer]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    for server in servers:
        client = redis.Redis(port=server.port, socket_timeout=1, decode_responses=True)
        try:
            while "cluster_state:ok" not in str(
                cast(Any, client).execute_command("CLUSTER", "INFO")
            ):
                if time.monotonic() > deadline:
                    raise RuntimeError("the test cluster did not reach cluster_state:ok")
                time.sleep(0.1)
        finally:
            client.close()


@contextlib.contextmanager
def redis_sentinel(workdir: Path, service: str) -> Iterator[RedisServer]:
    """A master and one Sentinel monitoring it as ``service``; yields the Sentinel."""
    with redis_server(workdir) as master:
        port = free_port()
        config = workdir / f"sentinel-{port}.conf"
        # Sentinel rewrites its config file, so it gets one of its own.
        config.write_text(f"sentinel monitor {service} 127.0.0.1 {master.port} 1\n")
        sentinel = RedisServer(workdir, port, "--sentinel", config=config)
        try:
            sentinel.start()
            yield sentinel
        finally:
            sentinel.kill()


@contextlib.contextmanager
def redis_failover_group(
    workdir: Path, service: str, sentinels: int = 3
) -> Iterator[tuple[RedisServer, RedisServer, list[RedisServer]]]:
    """A primary, its replica and ``sentinels`` Sentinels (quorum: a majority) on loopback.

    The Sentinels declare the primary down after 500 ms without an answer, so a
    test can kill it and see the replica promoted within seconds. Yields the
    primary, the replica and the Sentinels; every process is killed afterwards.
    """
    started: list[RedisServer] = []
    try:
        primary = RedisServer(workdir, free_port())
        started.append(primary)
        primary.start()
        replica = RedisServer(workdir, free_port(), "--replicaof", "127.0.0.1", str(primary.port))
        started.append(replica)
        replica.start()
        _wait_replicating(replica)
        quorum = sentinels // 2 + 1
        watchers = []
        for _ in range(sentinels):
            port = free_port()
            config = workdir / f"sentinel-{port}.conf"
            # Sentinel rewrites its config file, so each gets one of its own.
            config.write_text(
                f"sentinel monitor {service} 127.0.0.1 {primary.port} {quorum}\n"
                f"sentinel down-after-milliseconds {service} 500\n"
                f"sentinel failover-timeout {service} 5000\n"
            )
            sentinel = RedisServer(workdir, port, "--sentinel", config=config)
            started.append(sentinel)
            sentinel.start()
            watchers.append(sentinel)
        yield primary, replica, watchers
    finally:
        for server in started:
            if server.process is not None and server.process.poll() is None:
                server.resume()
            server.kill()


def _wait_replicating(replica: RedisServer) -> None:
    client = redis.Redis(port=replica.port, socket_timeout=1, decode_responses=True)
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while client.info("replication").get("master_link_status") != "up":
            if time.monotonic() > deadline:
                raise RuntimeError("the test replica never synchronised with its primary")
            time.sleep(0.05)
    finally:
        client.close()
