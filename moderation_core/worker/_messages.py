"""The worker's message shapes (docs/worker.md), read strictly and within bounds.

Input ``{"id": str, "contents": [ITEM...], "scene"?, "sender"?, "receiver"?}`` with
ITEM as in SERVICE.md's ``/v1/check``; output ``{"id", "outcome": OUTCOME}``; a dead
letter ``{"id", "error": {"type", "message"}, "deliveries", "size", "sha256",
"truncated", "data" | "data_base64"}`` quoting a bounded prefix of the input.
The reading mirrors ``moderation_core.service``'s (which needs the web framework);
anything a message could do wrong is a ``MalformedMessage`` naming what, found before
any vendor is asked, so a bad message is dead-lettered at once instead of retried.

JSON is read and written with orjson when it is installed (a tenth of the worker's
time per message went to the json module): what orjson cannot take (an integer over
64 bits, a lone surrogate, anything invalid) is read or written by the json module as
before, so the verdicts and the error messages do not depend on it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import attrs

try:  # the worker extra brings it: ~15x json's speed on these shapes (docs/worker.md)
    import orjson
except ImportError:  # pragma: no cover - exercised without the extra
    orjson = None  # type: ignore[assignment]

from moderation_core._errors import InvalidContent
from moderation_core._json_form import json_kind
from moderation_core._model import Content, ContentType, Outcome, is_unicode

__all__ = [
    "DEAD_LETTER_QUOTE_MAX",
    "DEAD_LETTER_QUOTE_MIN",
    "MAX_ID_CHARS",
    "MalformedMessage",
    "OversizedMessage",
    "WorkMessage",
    "dead_letter",
    "dead_letter_id",
    "parse_message",
    "result_message",
]

MAX_ID_CHARS = 256  # the id travels as a header (Nats-Msg-Id, message_id): kept short
_INLINE_DATA_BYTES = 4096  # a dead letter quotes a small input as text, else as base64
# A dead letter quotes at most this much of its input (then 683 KiB of base64): with
# the envelope, under NATS's default max_payload of 1 MB whatever max_message_bytes is.
DEAD_LETTER_QUOTE_MAX = 512 * 1024
_ERROR_CHARS = 4096  # a dead letter's error message is cut there
# When even that is refused (a broker configured smaller), the dead letter quotes this.
DEAD_LETTER_QUOTE_MIN = 1024
_MESSAGE_KEYS = frozenset({"id", "contents", "scene", "sender", "receiver"})
_ITEM_KEYS = frozenset({"type", "value", "id"})
_CONTEXT_KEYS = ("scene", "sender", "receiver")


class MalformedMessage(InvalidContent):
    """The input is not a message this worker reads (not UTF-8 JSON, a wrong shape, an
    invalid item); it is dead-lettered, never redelivered. ``message_id`` is its id
    when one could be read."""

    def __init__(self, message: str, *, message_id: str | None = None) -> None:
        super().__init__(message)
        self.message_id = message_id


class OversizedMessage(MalformedMessage):
    """The input is over ``max_message_bytes`` or has more than ``max_contents`` items."""


@attrs.frozen
class WorkMessage:
    """A parsed input: what ``AsyncModerator.evaluate`` takes."""

    id: str
    contents: tuple[str | Content, ...]
    scene: str | None = None
    sender: str | None = None
    receiver: str | None = None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)
_ENCODER = json.JSONEncoder(ensure_ascii=False)


def parse_message(data: bytes, *, max_bytes: int, max_contents: int) -> WorkMessage:
    """The message in ``data``, or a MalformedMessage (OversizedMessage) saying what is
    wrong. Bounded: the size is checked before the JSON is read."""
    if len(data) > max_bytes:
        raise OversizedMessage(
            f"the message is {len(data)} bytes; at most {max_bytes} (max_message_bytes)"
        )
    table = _decoded(data)
    message_id = _message_id(table)
    try:
        return _work_message(table, message_id, max_contents)
    except MalformedMessage as exc:
        exc.message_id = message_id
        raise


def _decoded(data: bytes) -> dict[str, Any]:
    if orjson is not None:
        try:
            fast = orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # read again below, for json's verdict and its wording of the error
        else:
            if isinstance(fast, dict) and not _float_item_id(fast):
                return fast
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedMessage(f"the message is not UTF-8 (byte at offset {exc.start})") from None
    try:
        table = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise MalformedMessage(
            f"the message is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except ValueError as exc:  # NaN / Infinity, or an integer longer than Python reads
        raise MalformedMessage(f"the message is not JSON: {exc}") from None
    except RecursionError:
        raise MalformedMessage("the message nests too deeply") from None
    if not isinstance(table, dict):
        raise MalformedMessage(f"the message must be a JSON object, got {json_kind(table)}")
    return table


def _float_item_id(table: Mapping[str, Any]) -> bool:
    """Whether an item's id came out a float: orjson reads an integer over 64 bits as
    one, where json reads an int (an id allowed). Elsewhere any number is refused
    alike, so only item ids need json's reading."""
    contents = table.get("contents")
    return isinstance(contents, list) and any(
        isinstance(item, dict) and isinstance(item.get("id"), float) for item in contents
    )


def _message_id(table: Mapping[str, Any]) -> str:
    value = table.get("id")
    if not isinstance(value, str):
        raise MalformedMessage(
            "id is required" if value is None else f"id must be a string, got {json_kind(value)}"
        )
    if not value or len(value) > MAX_ID_CHARS:
        raise MalformedMessage(f"id must be 1 to {MAX_ID_CHARS} characters (got {len(value)})")
    # The id becomes a header: no control characters (a CR/LF would split the header).
    if not value.isprintable() or not is_unicode(value):
        raise MalformedMessage("id must be printable Unicode text (no control characters)")
    return value


def _work_message(table: Mapping[str, Any], message_id: str, max_contents: int) -> WorkMessage:
    unknown = sorted(str(k) for k in table if k not in _MESSAGE_KEYS)
    if unknown:
        raise MalformedMessage(f"unknown field(s): {', '.join(unknown)}")
    if "contents" not in table:
        raise MalformedMessage("contents is required")
    contents = table["contents"]
    if not isinstance(contents, list):
        raise MalformedMessage(f"contents must be a list, got {json_kind(contents)}")
    if not contents:
        raise MalformedMessage("contents is empty; there is nothing to check")
    if len(contents) > max_contents:
        raise OversizedMessage(
            f"contents has {len(contents)} items; at most {max_contents} (max_contents)"
        )
    context = {key: _context_string(table, key) for key in _CONTEXT_KEYS}
    items = tuple(_item(index, item) for index, item in enumerate(contents))
    return WorkMessage(message_id, items, **context)


def _context_string(table: Mapping[str, Any], key: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedMessage(f"{key} must be a string, got {json_kind(value)}")
    if not is_unicode(value):
        raise MalformedMessage(f"{key} is not valid Unicode (a lone surrogate)")
    return value


def _item(index: int, item: object) -> str | Content:
    where = f"contents[{index}]"
    if isinstance(item, str):
        return item  # the Moderator's own fast path checks it (empty, surrogates)
    if not isinstance(item, dict):
        raise MalformedMessage(f"{where} must be a string or an object, got {json_kind(item)}")
    unknown = sorted(str(k) for k in item if k not in _ITEM_KEYS)
    if unknown:
        raise MalformedMessage(f"{where} has unknown field(s): {', '.join(unknown)}")
    kind = item.get("type")
    try:
        content_type = ContentType(kind) if isinstance(kind, str) else None
    except ValueError:
        content_type = None
    if content_type is None:
        raise MalformedMessage(f"{where}.type must be text, image, audio or video")
    value = item.get("value")
    if not isinstance(value, str):
        raise MalformedMessage(f"{where}.value must be a string, got {json_kind(value)}")
    content_id = item.get("id")
    if content_id is not None and (
        isinstance(content_id, bool) or not isinstance(content_id, str | int)
    ):
        raise MalformedMessage(
            f"{where}.id must be a string or an integer, got {json_kind(content_id)}"
        )
    try:
        return Content(content_type, value, id=content_id)
    except InvalidContent as exc:
        raise MalformedMessage(f"{where}: {exc}") from None


def encode(data: Mapping[str, Any]) -> bytes:
    if orjson is not None:
        try:
            return orjson.dumps(data)
        except orjson.JSONEncodeError:
            pass  # a lone surrogate, an integer over 64 bits: json's way below
    # A lone surrogate cannot be UTF-8; then every non-ASCII character goes as a \u escape.
    try:
        return _ENCODER.encode(data).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(data).encode("ascii")


def result_message(message_id: str, outcome: Outcome) -> bytes:
    """The output: ``{"id": ..., "outcome": OUTCOME}`` as UTF-8 JSON."""
    return encode({"id": message_id, "outcome": outcome.to_dict()})


def dead_letter(
    data: bytes,
    error: BaseException,
    *,
    deliveries: int,
    message_id: str | None,
    quote_bytes: int = DEAD_LETTER_QUOTE_MAX,
) -> bytes:
    """The dead letter for ``data``: its id when known, the error's type and message,
    how many times it was delivered, the input's size and sha256, and the input itself
    (as text when it is small UTF-8, else base64). Only its first ``quote_bytes`` bytes
    are quoted (``"truncated": true`` when that is not all of it): a whole oversized
    input, in base64, could exceed what the broker takes (NATS max_payload, 1 MB), and
    a dead letter that can never be published would hold the input for ever."""
    quoted = data[: max(0, quote_bytes)]
    letter: dict[str, Any] = {
        "id": message_id,
        "error": {"type": type(error).__name__, "message": _error_text(error)},
        "deliveries": deliveries,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "truncated": len(quoted) < len(data),
    }
    text = _small_text(quoted) if len(quoted) == len(data) else None
    if text is not None:
        letter["data"] = text
    else:
        letter["data_base64"] = base64.b64encode(quoted).decode("ascii")
    return encode(letter)


def dead_letter_id(data: bytes) -> str:
    """The dead letter's de-duplication id: from the input's bytes, so a redelivered
    input that was dead-lettered once is stored once."""
    return "dead-" + hashlib.sha256(data).hexdigest()[:40]


def _small_text(data: bytes) -> str | None:
    if len(data) > _INLINE_DATA_BYTES:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if is_unicode(text) else None


def _error_text(error: BaseException) -> str:
    # An ExceptionGroup's str adds "(1 sub-exception)"; its message already names each.
    message = getattr(error, "message", None)
    if isinstance(error, BaseExceptionGroup) and isinstance(message, str):
        text = message
    else:
        text = str(error) or type(error).__name__
    # Bounded like the quote: a vendor's error may carry a whole response body.
    return text if len(text) <= _ERROR_CHARS else text[:_ERROR_CHARS] + "..."
