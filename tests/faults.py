"""A TCP proxy in front of a real server (PostgreSQL here) that a test can cut or black-hole.

    proxy = TcpProxy("127.0.0.1", 5432)      # listens on 127.0.0.1:proxy.port, forwards to the server
    proxy.cut()         # refuse: open connections are reset, new ones refused (the server is down)
    proxy.blackhole()   # accept and swallow: connections open, bytes are taken, nothing ever answers
    proxy.heal()        # forward again (connections opened before a fault stay dead, as after a real one)

A black hole is the fault timeouts exist for: the kernel acknowledges every byte (so TCP keepalives and
``tcp_user_timeout`` see a healthy peer) and no answer ever comes.
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress

PASS, REFUSE, BLACKHOLE = "pass", "refuse", "blackhole"


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.mode = PASS
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.port = 0
        self._closed = False
        self._listen()

    # -- control --------------------------------------------------------------------------------

    def cut(self) -> None:
        """Refuse: reset every open connection and stop listening (a connect gets ECONNREFUSED)."""
        with self._lock:
            self.mode = REFUSE
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        if listener is not None:
            with suppress(OSError):
                listener.close()
        for conn in conns:
            _reset(conn)

    def blackhole(self) -> None:
        """Accept and swallow: open connections and new ones take bytes and never answer."""
        with self._lock:
            self.mode = BLACKHOLE
        if self._listener is None:
            self._listen()

    def heal(self) -> None:
        """Forward again; connections that lived through a fault are closed (the client must reconnect)."""
        with self._lock:
            old, self._conns = self._conns, []
            self.mode = PASS
        for conn in old:
            _reset(conn)
        if self._listener is None:
            self._listen()

    def close(self) -> None:
        self._closed = True
        self.cut()

    # -- plumbing -------------------------------------------------------------------------------

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name="proxy-accept").start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by cut()
            with self._lock:
                mode = self.mode
                if mode == REFUSE:
                    _reset(client)
                    continue
                self._conns.append(client)
            if mode == BLACKHOLE:
                threading.Thread(target=self._swallow, args=(client,), daemon=True).start()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._conns.append(upstream)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                _reset(dst)
                return
            if self.mode == BLACKHOLE:
                continue  # swallowed: taken off the wire, never delivered
            try:
                dst.sendall(data)
            except OSError:
                _reset(src)
                return

    def _swallow(self, conn: socket.socket) -> None:
        while True:
            try:
                if not conn.recv(65536):
                    return
            except OSError:
                return


def _reset(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    with suppress(OSError):
        sock.close()
