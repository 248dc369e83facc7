"""A TCP proxy on loopback that a test can cut, black-hole and restore.

It stands between a store and its database so a test can make the database
"go away" without touching the real server: ``cut()`` drops every connection
and closes the port (new connections are refused), ``blackhole()`` accepts
connections and never answers, ``stall()`` is a hung server (as under SIGSTOP:
every connection, open or new, stays up and nothing more is answered),
``restore()`` forwards again on the same port.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading


class Proxy:
    """Forward 127.0.0.1:<port> to ``target``; use as a context manager."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.mode = "forward"
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        #: Client connections by the client's port, and those held one by one.
        self._clients: dict[int, socket.socket] = {}
        self._stalled: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self.port = self._listen(0)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _listen(self, port: int) -> int:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
        listener.settimeout(0.05)
        self._listener = listener
        bound: int = listener.getsockname()[1]
        return bound

    def _serve(self) -> None:
        while not self._stop.is_set():
            listener = self._listener
            if listener is None:
                self._stop.wait(0.02)
                continue
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self._sockets.add(client)
                self._clients[client.getpeername()[1]] = client
            if self.mode in ("blackhole", "stall"):
                continue  # hold it open, never answer
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                self._close(client)
                continue
            with self._lock:
                self._sockets.add(upstream)
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        sel = selectors.DefaultSelector()
        try:
            a.setblocking(False)
            b.setblocking(False)
            sel.register(a, selectors.EVENT_READ, b)
            sel.register(b, selectors.EVENT_READ, a)
            while not self._stop.is_set():
                if self._holding(a):
                    self._stop.wait(0.02)  # hold every byte: nothing goes through
                    continue
                for key, _ in sel.select(timeout=0.1):
                    if self._holding(a):
                        break  # stalled while waiting: leave the bytes unread
                    src = key.fileobj
                    assert isinstance(src, socket.socket)
                    data = src.recv(65536)
                    if not data:
                        return
                    key.data.setblocking(True)
                    key.data.sendall(data)
                    key.data.setblocking(False)
        except OSError:
            return
        finally:
            sel.close()
            self._close(a)
            self._close(b)

    def _holding(self, client: socket.socket) -> bool:
        return self.mode == "stall" or client in self._stalled

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def _drop_all(self) -> None:
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            self._close(sock)

    def cut(self) -> None:
        """Drop every connection and close the port: the database is gone."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        self._drop_all()

    def blackhole(self) -> None:
        """Drop every connection; accept new ones but never answer them."""
        self.mode = "blackhole"
        self._drop_all()
        if self._listener is None:
            self._listen(self.port)

    def stall(self) -> None:
        """Keep every connection open and accept new ones, but pass nothing on: a hung server."""
        self.mode = "stall"

    def stall_client(self, port: int) -> None:
        """Hold the one connection that comes from the client's local ``port``; the rest flow."""
        with self._lock:
            self._stalled.add(self._clients[port])

    def restore(self) -> None:
        """Forward again, on the same port."""
        self._drop_all()
        self._stalled.clear()
        self.mode = "forward"
        if self._listener is None:
            self._listen(self.port)

    def close(self) -> None:
        """Stop the proxy and drop everything."""
        self._stop.set()
        self.cut()
        self._thread.join(timeout=5)

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
