"""A TCP proxy in front of a real server (PostgreSQL here) that a test can cut or black-hole.

    proxy = TcpProxy("127.0.0.1", 5432)      # listens on 127.0.0.1:proxy.port, forwards to the server
    proxy.cut()         # refuse: open connections are reset, new ones refused (the server is down)
    proxy.blackhole()   # accept and swallow: connections open, bytes are taken, nothing ever answers
    proxy.heal()        # forward again (connections opened before a fault stay dead, as after a real one)

A black hole is the fault timeouts exist for: the kernel acknowledges every byte (so TCP keepalives and
``tcp_user_timeout`` see a healthy peer) and no answer ever comes.

The listening socket holds its port for the proxy's whole life: a cut shuts it down (Linux keeps an
explicitly bound port bound, and a connect is refused) and a heal listens on it again. Closing and
re-binding instead lets another socket take the port in between (an ephemeral client port, on a busy
machine), and the heal then fails with "Address already in use".
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
        self._listening = False
        self._closed = False
        self._listener, self.port = _bind_free_port()
        self._listen()

    # -- control --------------------------------------------------------------------------------

    def cut(self) -> None:
        """Refuse: reset every open connection and stop listening (a connect gets ECONNREFUSED)."""
        with self._lock:
            self.mode = REFUSE
            listening, self._listening = self._listening, False
            conns, self._conns = self._conns, []
        if listening:
            with suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # stops listening, keeps the port
        for conn in conns:
            _reset(conn)

    def blackhole(self) -> None:
        """Accept and swallow: open connections and new ones take bytes and never answer."""
        with self._lock:
            self.mode = BLACKHOLE
        self._listen()

    def heal(self) -> None:
        """Forward again; connections that lived through a fault are closed (the client must reconnect)."""
        with self._lock:
            old, self._conns = self._conns, []
            self.mode = PASS
        for conn in old:
            _reset(conn)
        self._listen()

    def close(self) -> None:
        self._closed = True
        self.cut()
        with suppress(OSError):
            self._listener.close()

    # -- plumbing -------------------------------------------------------------------------------

    def _listen(self) -> None:
        with self._lock:
            if self._listening or self._closed:
                return
            self._listener.listen(64)
            self._listening = True
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True, name="proxy-accept").start()

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


def _bind_free_port() -> tuple[socket.socket, int]:
    """A socket bound to a free port named explicitly: Linux keeps such a port through a shutdown."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(("127.0.0.1", port))
        except OSError:
            listener.close()
            continue
        return listener, port
    raise OSError("no free port for the proxy")


def _reset(sock: socket.socket) -> None:
    """End a connection now, for both ends. A pump thread may be blocked in ``recv`` on this socket, and
    then ``close`` alone frees nothing (the kernel keeps the socket until that call returns) and the peer
    never learns: PostgreSQL kept the session, and its locks, of a connection the proxy had "reset"."""
    with suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked recv; the peer sees the connection end
    with suppress(OSError):
        sock.close()
