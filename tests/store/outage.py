"""A database that goes away and comes back, for the journal's tests.

PostgreSQL: a TCP proxy in front of the real server; ``down()`` closes its listener and
every connection through it (the server itself and the test's schema stay as they
are), ``up()`` listens on the same port again. SQLite: the database's folder is moved
aside and a plain file put in its place, so opening the database fails; ``up()`` puts
it back. The store opens a SQLite connection per use, so it sees both at once.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
from pathlib import Path

from sqlalchemy.engine import make_url


class Outage:
    """``url`` is the ``[store] url`` to give the store; ``down()``/``up()`` toggle."""

    def __init__(self, database_url: str, tmp_path: Path) -> None:
        self._proxy: _Proxy | None = None
        if database_url.startswith("sqlite"):
            self._folder = tmp_path / "db"
            self._folder.mkdir()
            self.url = f"sqlite:///{self._folder / 'store.db'}"
        else:
            parsed = make_url(database_url)
            self._proxy = _Proxy(parsed.host or "127.0.0.1", parsed.port or 5432)
            self.url = database_url.replace(f":{parsed.port}/", f":{self._proxy.port}/")

    def down(self) -> None:
        if self._proxy is not None:
            self._proxy.stop()
            return
        self._folder.rename(self._folder.with_name("db-away"))
        self._folder.write_text("not a folder: the database is away\n")

    def up(self) -> None:
        if self._proxy is not None:
            self._proxy.start()
            return
        self._folder.unlink()
        self._folder.with_name("db-away").rename(self._folder)

    def close(self) -> None:
        if self._proxy is not None:
            self._proxy.stop()
        elif self._folder.with_name("db-away").exists():
            if self._folder.is_file():
                self._folder.unlink()
            shutil.move(self._folder.with_name("db-away"), self._folder)


class _Proxy:
    """A byte pump from a local port to the upstream server, one thread per direction."""

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.start()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self._upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # stopped meanwhile
                    client.close()
                    server.close()
                    return
                self._sockets |= {client, server}
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
