"""``POST /v1/check`` and ``POST /v1/evaluate`` (SERVICE.md, "Endpoints").

The request is read strictly: JSON in UTF-8, an object with ``contents`` and optional
``scene``, ``sender``, ``receiver``, nothing else. A malformed request is a 400
problem; a well-formed item that cannot be checked (empty text, a non-http media URL)
is that item's ``error`` result in ``/v1/check`` and a 422 in ``/v1/evaluate``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, cast

import attrs
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from moderation_core._async import AsyncModerator
from moderation_core._errors import AllProvidersFailed, InvalidContent, ModerationError, RateLimited
from moderation_core._json_form import json_kind, outcome_to_dict, verdict_to_dict
from moderation_core._model import Content, ContentType, Verdict, is_unicode

from ._problems import Problem
from ._state import AppState

__all__ = [
    "JsonEndpoint",
    "check",
    "decode_json",
    "encode_json",
    "evaluate",
    "parse_check_request",
    "read_json",
]

_REQUEST_KEYS = frozenset({"contents", "scene", "sender", "receiver"})
_ITEM_KEYS = frozenset({"type", "value", "id"})
_CONTEXT_KEYS = ("scene", "sender", "receiver")
RETRY_AFTER_DEFAULT = 5  # seconds, when no vendor said how long to wait


@attrs.frozen
class CheckRequest:
    """A parsed request. An item is a plain text (a str, checked by the Moderator's own
    fast path), a Content, or the InvalidContent a typed item turned out to be."""

    items: tuple[str | Content | InvalidContent, ...]
    scene: str | None = None
    sender: str | None = None
    receiver: str | None = None


async def read_json(request: Request) -> Any:
    """The body as JSON; a 400 problem when it is not UTF-8 JSON (the middleware stops a
    body longer than ``max_body_bytes`` with a 413 while it streams in)."""
    return decode_json(await request.body())


def decode_json(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Problem(
            "invalid-json", f"the body is not valid UTF-8 (byte at offset {exc.start})"
        ) from None
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise Problem(
            "invalid-json", f"{exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except ValueError as exc:  # NaN / Infinity, or an integer longer than Python reads
        raise Problem("invalid-json", str(exc)) from None
    except RecursionError:
        raise Problem("invalid-json", "the JSON nests too deeply") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# Built once: json.loads/dumps with any option build a new decoder/encoder per call.
_DECODER = json.JSONDecoder(parse_constant=_no_constant)
# ensure_ascii=False: Chinese text stays readable and half the size.
_ENCODER = json.JSONEncoder(ensure_ascii=False)
# JSONEncoder.encode builds a C encoder on every call; this one is built once (without
# the circular-reference check: an answer is a tree made for the request).
_C_MAKE_ENCODER: Callable[..., Callable[[Any, int], list[str]]] | None = getattr(
    json.encoder, "c_make_encoder", None
)
_ENCODE_ONCE = (
    None
    if _C_MAKE_ENCODER is None
    else _C_MAKE_ENCODER(
        None, _ENCODER.default, json.encoder.encode_basestring, None, ": ", ", ", False, False, True
    )
)


def parse_check_request(data: object, max_contents: int) -> CheckRequest:
    if not isinstance(data, dict):
        raise Problem("invalid-request", f"the body must be a JSON object, got {json_kind(data)}")
    if not _REQUEST_KEYS.issuperset(data):
        unknown = sorted(str(k) for k in data if k not in _REQUEST_KEYS)
        raise Problem("invalid-request", f"unknown field(s): {', '.join(unknown)}")
    if "contents" not in data:
        raise Problem("invalid-request", "contents is required")
    contents = data["contents"]
    if not isinstance(contents, list):
        raise Problem("invalid-request", f"contents must be a list, got {json_kind(contents)}")
    if not contents:
        raise Problem("invalid-request", "contents is empty; there is nothing to check")
    if len(contents) > max_contents:
        raise Problem(
            "too-many-contents",
            f"contents has {len(contents)} items; at most {max_contents} per request",
        )
    # Contents alone (the common case): no context to read.
    context = () if len(data) == 1 else tuple(_context_string(data, key) for key in _CONTEXT_KEYS)
    # Plain texts, the common case, pass as they are, without a call each.
    items = tuple(
        [item if type(item) is str else _item(n, item) for n, item in enumerate(contents)]
    )
    return CheckRequest(items, *context)


def _context_string(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Problem("invalid-request", f"{key} must be a string, got {json_kind(value)}")
    if not is_unicode(value):
        raise Problem("invalid-request", f"{key} is not valid Unicode (a lone surrogate)")
    return value


def _item(index: int, item: object) -> str | Content | InvalidContent:
    """A text as is; a typed item as a Content, or its InvalidContent when it is
    well-formed but cannot be checked; a Problem when it is not an ITEM at all."""
    where = f"contents[{index}]"
    if isinstance(item, str):
        return item
    if not isinstance(item, dict):
        raise Problem(
            "invalid-request", f"{where} must be a string or an object, got {json_kind(item)}"
        )
    unknown = sorted(str(k) for k in item if k not in _ITEM_KEYS)
    if unknown:
        raise Problem("invalid-request", f"{where} has unknown field(s): {', '.join(unknown)}")
    kind = item.get("type")
    try:
        content_type = ContentType(kind) if isinstance(kind, str) else None
    except ValueError:
        content_type = None
    if content_type is None:
        raise Problem("invalid-request", f"{where}.type must be text, image, audio or video")
    value = item.get("value")
    if not isinstance(value, str):
        raise Problem("invalid-request", f"{where}.value must be a string, got {json_kind(value)}")
    content_id = item.get("id")
    if content_id is not None and (
        isinstance(content_id, bool) or not isinstance(content_id, str | int)
    ):
        raise Problem(
            "invalid-request",
            f"{where}.id must be a string or an integer, got {json_kind(content_id)}",
        )
    return _content(index, content_type, value, content_id)


def _content(
    index: int, kind: ContentType, value: str, content_id: str | int | None
) -> Content | InvalidContent:
    try:
        return Content(kind, value, id=content_id)
    except InvalidContent as exc:
        return InvalidContent(f"item {index}: {exc}")


# -- endpoints ----------------------------------------------------------------------


class JsonEndpoint:
    """A JSON-in, JSON-out POST endpoint as a plain ASGI app: ``handler(state, body)``
    returns the answer's data. It skips Starlette's Request and Response objects, about
    a tenth of /v1/check's time (bench/serve.py); a Problem it raises still becomes a
    problem+json through the app's exception handlers."""

    def __init__(self, handler: Callable[[AppState, Any], Awaitable[Any]]) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: AppState = scope["app"].state.service
        answer = await self.handler(state, decode_json(await _body(receive)))
        body = encode_json(answer)
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Problem("invalid-request", "the client went away before sending the body")
        if not message.get("more_body", False):
            if not chunks:  # the whole body in one message: the common case
                body: bytes = message.get("body", b"")
                return body
            chunks.append(message.get("body", b""))
            return b"".join(chunks)
        chunks.append(message.get("body", b""))


async def check(state: AppState, data: Any) -> dict[str, Any]:
    parsed = parse_check_request(data, state.settings.max_contents)
    if any(isinstance(item, InvalidContent) for item in parsed.items):
        answers = await _check_valid(state.moderator, parsed)
    else:
        # The common case: every item goes to check_many, which answers a bad text with
        # its own InvalidContent ("item N: ...") in place.
        answers = await state.moderator.check_many(
            cast("list[str | Content]", list(parsed.items)),
            scene=parsed.scene,
            sender=parsed.sender,
            receiver=parsed.receiver,
            return_exceptions=True,
        )
    state.metrics.count_failures(answers)
    return {"results": [_result(answer) for answer in answers]}


async def _check_valid(
    moderator: AsyncModerator, parsed: CheckRequest
) -> list[Verdict | ModerationError]:
    """Answers when some typed item is invalid: the others are checked, and each invalid
    one (a text too, named by its own index) answers its error in place."""
    items = [
        _content(index, ContentType.TEXT, item, None) if isinstance(item, str) else item
        for index, item in enumerate(parsed.items)
    ]
    valid = [item for item in items if isinstance(item, Content)]
    answers: list[Verdict | ModerationError] = []
    if valid:
        answers = await moderator.check_many(
            valid,
            scene=parsed.scene,
            sender=parsed.sender,
            receiver=parsed.receiver,
            return_exceptions=True,
        )
    checked = iter(answers)
    return [next(checked) if isinstance(item, Content) else item for item in items]


async def evaluate(state: AppState, data: Any) -> dict[str, Any]:
    parsed = parse_check_request(data, state.settings.max_contents)
    invalid = [item for item in parsed.items if isinstance(item, InvalidContent)]
    if invalid:
        raise Problem("invalid-content", str(invalid[0]))
    contents = cast("list[str | Content]", list(parsed.items))
    try:
        outcome = await state.moderator.evaluate(
            contents, scene=parsed.scene, sender=parsed.sender, receiver=parsed.receiver
        )
    except InvalidContent as exc:
        raise Problem("invalid-content", str(exc)) from None
    except AllProvidersFailed as exc:
        state.metrics.count_failures([exc])
        raise Problem(
            "providers-failed",
            _message(exc),
            {"retry-after": str(_retry_after(exc.exceptions))},
        ) from None
    return outcome_to_dict(outcome)


def _result(answer: Verdict | ModerationError) -> dict[str, Any]:
    if isinstance(answer, Verdict):
        return {"verdict": verdict_to_dict(answer)}
    return {
        "error": {
            "type": type(answer).__name__,
            "message": _message(answer),
            "retryable": isinstance(answer, AllProvidersFailed)
            or bool(getattr(answer, "retryable", False)),
        }
    }


def _message(error: ModerationError) -> str:
    # An ExceptionGroup's str adds "(1 sub-exception)"; its message already names each.
    return error.message if isinstance(error, AllProvidersFailed) else str(error)


def _retry_after(errors: Sequence[BaseException]) -> int:
    waits = [e.retry_after for e in errors if isinstance(e, RateLimited) and e.retry_after]
    return max(1, math.ceil(min(waits))) if waits else RETRY_AFTER_DEFAULT


def encode_json(data: Any) -> bytes:
    # A lone surrogate cannot be UTF-8; then every non-ASCII character goes as a \u escape.
    try:
        if _ENCODE_ONCE is not None:
            return "".join(_ENCODE_ONCE(data, 0)).encode("utf-8")
        return _ENCODER.encode(data).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(data).encode("ascii")
