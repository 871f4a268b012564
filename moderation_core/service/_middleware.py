"""The one ASGI middleware around the app: request id, API keys, the early body-size
check, access log, request metrics, and a problem+json instead of any crash.

A plain ASGI class, not Starlette's BaseHTTPMiddleware: that one costs a task and a
stream per request, which the benchmark's ratio to a bare endpoint would show.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import itertools
import json
import logging
import os
import re
import time
import traceback
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from moderation_core._model import Secret

from ._metrics import Metrics
from ._problems import PROBLEM_MEDIA_TYPE, PROBLEM_TYPES, Problem, problem_body

__all__ = ["ServiceMiddleware", "is_loopback"]

access_log = logging.getLogger("moderation_core.service.access")
log = logging.getLogger("moderation_core.service")

# Fresh ids: a random per-process prefix and a counter, unique across processes and
# restarts without a system call per request (os.urandom is one).
_ID_PREFIX = os.urandom(10).hex()
_ID_COUNTER = itertools.count()
# An incoming X-Request-Id is kept when it looks like an id (a proxy's or the caller's),
# so one id follows a request across services; anything else gets a fresh one.
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:@/+=-]{1,128}")
# Every path needs a key but these: probes, metrics, the document, and the hooks (the
# platforms sign their callbacks instead). A path added later is guarded by default.
# The web pages (service/_pages.py) check their own session cookie and CSRF token; a
# browser never holds a Bearer key. Their static files (Chart.js, CSS) are public.
_OPEN_PATHS = frozenset(
    {"/healthz", "/readyz", "/metrics", "/openapi.json"}
    | {"/login", "/logout", "/review", "/dashboard"}
)
_OPEN_PREFIX = ("/v1/hooks/", "/pages/static/")


@functools.lru_cache(maxsize=256)  # the server's own address, asked on every request
def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ServiceMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        api_keys: Sequence[Secret],
        max_body_bytes: int,
        metrics: Metrics,
    ) -> None:
        self.app = app
        self.keys = [key.get().encode() for key in api_keys]
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given_id, authorization, length = _headers_of_note(scope)
        if given_id is None:
            request_id = f"{_ID_PREFIX}{next(_ID_COUNTER):012x}"
            id_header = (b"x-request-id", request_id.encode())
        else:
            id_header = (b"x-request-id", bytes(given_id))
            request_id = id_header[1].decode("ascii")
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        limit = self.max_body_bytes
        received = 0

        async def receive_within_limit() -> Message:
            # A body without Content-Length (chunked) is stopped as soon as it passes
            # the limit, not read whole first; the endpoint's read raises a 413 problem.
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise Problem(
                    "body-too-large", f"the body is longer than max_body_bytes ({limit} bytes)"
                )
            return message

        scope.setdefault("state", {})["request_id"] = request_id
        refusal = self._refusal(scope, authorization, length)
        try:
            if refusal is not None:
                await _send_problem(send_with_id, refusal, request_id)
            else:
                await self.app(scope, receive_within_limit, send_with_id)
        except Exception as exc:
            # Never a stack trace to the caller; the log keeps where, not the message
            # (an exception's text can quote a request's content or a URL with a key).
            # Frames as file:line only: a source line can hold a literal, too.
            frames = " <- ".join(
                f"{frame.filename}:{frame.lineno} in {frame.name}"
                for frame in reversed(traceback.extract_tb(exc.__traceback__))
            )
            log.error("request %s failed with %s at %s", request_id, type(exc).__name__, frames)
            if not response_started:
                await _send_problem(
                    send_with_id,
                    ("internal-error", f"unexpected error; quote request id {request_id}", {}),
                    request_id,
                )
        finally:
            self._record(scope, request_id, status, time.perf_counter() - started)

    def _refusal(
        self, scope: Scope, authorization: bytes | None, length_header: bytes | None
    ) -> tuple[str, str, dict[str, str]] | None:
        """A problem to answer before the app runs, or None."""
        path = _app_path(scope)
        if path not in _OPEN_PATHS and not path.startswith(_OPEN_PREFIX):
            refused = self._unauthorized(scope, authorization)
            if refused is not None:
                return "unauthorized", refused, {"www-authenticate": 'Bearer realm="moderation"'}
        length = _content_length(length_header)
        if length is not None and length > self.max_body_bytes:
            return (
                "body-too-large",
                f"the body is {length} bytes; at most {self.max_body_bytes}",
                {},
            )
        return None

    def _unauthorized(self, scope: Scope, authorization: bytes | None) -> str | None:
        if not self.keys:
            # No keys: only callers on this machine (serve refuses to bind elsewhere
            # without keys; this covers the app mounted by another server).
            server = scope.get("server")
            if server is None or server[1] is None or is_loopback(str(server[0])):
                return None
            return "this server has no api_keys and answers only on a loopback address"
        given = _bearer(authorization)
        if given is None:
            return "send Authorization: Bearer <key>"
        # Every key compared, in constant time, so timing tells nothing about any of them.
        matched = False
        for key in self.keys:
            matched |= hmac.compare_digest(given, key)
        return None if matched else "the API key is not valid"

    def _record(self, scope: Scope, request_id: str, status: int, seconds: float) -> None:
        route = scope.get("route")
        endpoint = getattr(route, "path", None) or "other"
        self.metrics.observe_request(endpoint, status, seconds)
        if access_log.isEnabledFor(logging.INFO):
            # The path without its query (a callback's carries its signature), no body,
            # no header values: nothing a caller sent beyond where it went.
            access_log.info(
                json.dumps(
                    {
                        "event": "access",
                        "request_id": request_id,
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(seconds * 1000, 3),
                    }
                )
            )


def _app_path(scope: Scope) -> str:
    """The path inside this app: mounted under ``/moderation``, ``/moderation/v1/check``
    is ``/v1/check`` (the ASGI ``root_path`` is the mount point)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _headers_of_note(scope: Scope) -> tuple[bytes | None, bytes | None, bytes | None]:
    """In one pass over the headers: the first X-Request-Id that looks like an id, the
    first Authorization, the first Content-Length (None when absent)."""
    request_id = authorization = length = None
    for name, value in scope["headers"]:
        if name == b"content-length":
            if length is None:
                length = value
        elif name == b"authorization":
            if authorization is None:
                authorization = value
        elif name == b"x-request-id" and request_id is None and _SANE_REQUEST_ID.fullmatch(value):
            request_id = value
    return request_id, authorization, length


def _bearer(authorization: bytes | None) -> bytes | None:
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(b" ")
    if scheme.lower() == b"bearer" and token.strip():
        return bytes(token.strip())
    return None


def _content_length(value: bytes | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


async def _send_problem(
    send: Send, problem: tuple[str, str, dict[str, str]], request_id: str
) -> None:
    slug, detail, extra = problem
    body = problem_body(slug, detail, request_id)
    status, _ = PROBLEM_TYPES[slug]
    headers: list[Any] = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        *((k.encode(), v.encode()) for k, v in extra.items()),
    ]
    if slug == "body-too-large":
        headers.append((b"connection", b"close"))  # the rest of the body is not read
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
