"""Serve an emulator (a function from httpx.Request to httpx.Response) over real HTTP.

Written on the standard library's threading HTTP server: emulators are test and demo
tools, and this keeps them free of a web-framework dependency. HTTP/1.1 keep-alive is
on, so clients reuse connections as they would with a real vendor.
"""

from __future__ import annotations

import http.server
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from ._provider import Emulator

__all__ = ["EmulatorServer", "serve_emulator", "serving"]

log = logging.getLogger("moderation_core.emulator")


class EmulatorServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: EmulatorServer

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        bound_host, bound_port = self.server.server_address[:2]
        host = self.headers.get("Host") or f"{bound_host!s}:{bound_port}"
        request = httpx.Request(
            self.command,
            f"http://{host}{self.path}",
            headers=list(self.headers.items()),
            content=body,
        )
        try:
            response = self.server.emulator(request)
            content = response.read()
        except Exception:
            log.exception("emulator failed on %s %s", self.command, request.url.path)
            response, content = httpx.Response(500, text="emulator error"), b"emulator error"
        self.send_response(response.status_code)
        for name, value in response.headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = do_PUT = do_DELETE = _handle

    def log_message(self, format: str, *args: object) -> None:
        # Never the query string: Tencent's carries the UserSig.
        log.debug("%s %s", self.command, self.path.partition("?")[0])


def serve_emulator(emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> EmulatorServer:
    """Bind a server (port 0 picks a free one); call ``serve_forever`` to run it."""
    return EmulatorServer(emulator, host, port)


@contextmanager
def serving(emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> Iterator[EmulatorServer]:
    """Run an emulator server in a background thread for the duration of a block."""
    server = serve_emulator(emulator, host, port)
    thread = threading.Thread(target=server.serve_forever, name="emulator", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
