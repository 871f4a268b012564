"""The app's webhook receiver, for tests: a real HTTP server on a free port that
verifies each request's ``Moderation-Signature`` as a receiver should, keeps what it
got, and answers 200 (or 400 for a bad signature)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs

from moderation_core import WebhookSignatureError, verify_signature


@attrs.frozen
class Received:
    event_id: str
    signature: str
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


class WebhookReceiver:
    """``with WebhookReceiver(secret) as receiver: receiver.url ...``"""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.received: list[Received] = []
        self.refused: list[str] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                signature = self.headers.get("Moderation-Signature", "")
                try:
                    verify_signature(receiver.secret, signature, body)
                except WebhookSignatureError as exc:
                    with receiver._lock:
                        receiver.refused.append(str(exc))
                    self.send_response(400)
                else:
                    with receiver._lock:
                        receiver.received.append(
                            Received(self.headers.get("Moderation-Event-Id", ""), signature, body)
                        )
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hooks/moderation"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def events(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """The events once ``count`` have come (or what came by ``timeout``: the
        assertion that follows says what was missing)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.events()) < count:
            time.sleep(0.05)
        return self.events()

    async def arrival(self, count: int, timeout: float = 30.0) -> list[Received]:
        """``wait_for`` for a test whose event loop also runs the app."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.events()) < count:
            await asyncio.sleep(0.05)
        return self.events()


async def first_pass(app: Any) -> None:
    """Wait for the delivery loop's first pass (at start): after it, the loop sleeps
    until its next poll unless something wakes it."""
    loop = app.state.media_results
    for _ in range(600):
        if loop.passes:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the delivery loop made no pass")
