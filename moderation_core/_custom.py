"""Custom messages: the contents to check inside an app's own JSON payload.

The two ways Tencent's console offers (自定义消息审核), done on our side so they work
whichever vendor answers:

- method one, preset keys at the first level of the payload: ``IMAuditContentType``
  (Text, Image, Audio or Video) with ``IMAuditContent`` (the text, or the file's URL),
  or ``IMAuditContents``, a list of at most 10 such pairs;
- method two, fixed field paths such as ``data.content|content``: up to three
  alternatives separated by ``|``, each at most two keys joined by ``.``, each key at
  most 60 characters; the first alternative found in the payload is checked, as text. A first
  level value that is itself a JSON string is looked into, as the console does.

Anything else is checked as text, whole.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any, Final

from ._errors import ConfigError, InvalidContent
from ._model import Content, ContentType

__all__ = ["MAX_PRESET_CONTENTS", "contents_from_custom", "parse_fields"]

MAX_PRESET_CONTENTS: Final = 10
MAX_ALTERNATIVES: Final = 3
MAX_LEVELS: Final = 2
MAX_PATH_CHARS: Final = 60

_TOO_DEEP: Final = "custom message is nested too deeply to read"

TYPE_KEY: Final = "IMAuditContentType"
CONTENT_KEY: Final = "IMAuditContent"
CONTENTS_KEY: Final = "IMAuditContents"
_PRESET_TYPES: Final = {t.value: t for t in ContentType}  # "text" -> TEXT, ...


def contents_from_custom(
    data: Mapping[str, Any] | str | bytes, fields: str | None
) -> list[Content]:
    """The contents of a custom message payload (a dict, or JSON text)."""
    payload, raw_text = _payload(data)
    if fields is not None:
        paths = parse_fields(fields)
        if payload is not None:
            found = _first_field(payload, paths, fields)
            if found is not None:
                return [found]
    elif payload is not None and (
        CONTENTS_KEY in payload or TYPE_KEY in payload or CONTENT_KEY in payload
    ):
        return _preset(payload)
    return [Content.text(raw_text)]


def _payload(data: object) -> tuple[dict[str, Any] | None, str]:
    """The payload as a JSON object (None if it is not one) and as text."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidContent("custom message bytes are not UTF-8") from None
    if isinstance(data, Mapping):
        try:
            text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        except RecursionError:
            raise InvalidContent(_TOO_DEEP) from None
        except (TypeError, ValueError) as exc:
            raise InvalidContent(f"custom message is not JSON-serializable: {exc}") from None
        return dict(data), text
    if not isinstance(data, str):
        raise InvalidContent(
            f"custom message must be a dict or a JSON string, got {type(data).__name__}"
        )
    if not data.strip():
        raise InvalidContent("custom message is empty; there is nothing to check")
    parsed = _loads(data)
    return (parsed if isinstance(parsed, dict) else None), data


def _loads(text: str) -> Any:
    """The JSON value of text, or None when it is not JSON (the console then checks it
    as text, so do we). The json module recurses once per level and stops at the
    interpreter's recursion limit, so the depth it reaches - and the time - is bounded;
    that limit is InvalidContent, not a RecursionError through every layer."""
    try:
        return json.loads(text)
    except RecursionError:
        raise InvalidContent(_TOO_DEEP) from None
    except ValueError:
        return None


def _preset(payload: Mapping[str, Any]) -> list[Content]:
    if CONTENTS_KEY in payload:
        entries = payload[CONTENTS_KEY]
        if not isinstance(entries, list) or not entries:
            raise InvalidContent(f"{CONTENTS_KEY} must be a non-empty list of objects")
        if len(entries) > MAX_PRESET_CONTENTS:
            raise InvalidContent(
                f"{CONTENTS_KEY} has {len(entries)} entries; at most {MAX_PRESET_CONTENTS} "
                "are checked per message"
            )
        contents = []
        for index, entry in enumerate(entries):
            where = f"{CONTENTS_KEY}[{index}]"
            if not isinstance(entry, Mapping):
                raise InvalidContent(f"{where} must be an object, got {type(entry).__name__}")
            contents.append(_preset_one(entry, where))
        return contents
    return [_preset_one(payload, "the payload")]


def _preset_one(entry: Mapping[str, Any], where: str) -> Content:
    kind = entry.get(TYPE_KEY)
    value = entry.get(CONTENT_KEY)
    if kind is None or value is None:
        missing = TYPE_KEY if kind is None else CONTENT_KEY
        raise InvalidContent(f"{where} has no {missing}; preset keys come in pairs")
    content_type = _PRESET_TYPES.get(kind.lower()) if isinstance(kind, str) else None
    if content_type is None:
        raise InvalidContent(
            f"{where}: {TYPE_KEY} must be Text, Image, Audio or Video, got {kind!r}"
        )
    if not isinstance(value, str):
        raise InvalidContent(f"{where}: {CONTENT_KEY} must be a string, got {type(value).__name__}")
    try:
        return Content(content_type, value)
    except InvalidContent as exc:
        raise InvalidContent(f"{where}: {exc}") from None


@functools.lru_cache(maxsize=256)
def parse_fields(spec: str) -> tuple[tuple[str, ...], ...]:
    """``"data.content|content"`` -> ``(("data", "content"), ("content",))``, or a
    ConfigError saying which limit the spec breaks."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(
            "custom message fields must be a non-empty string like 'data.content|content'"
        )
    alternatives = spec.split("|")
    if len(alternatives) > MAX_ALTERNATIVES:
        raise ConfigError(
            f"custom message fields {spec[:80]!r} has {len(alternatives)} alternatives; "
            f"at most {MAX_ALTERNATIVES}"
        )
    paths = []
    for alternative in alternatives:
        keys = tuple(alternative.split("."))
        if len(keys) > MAX_LEVELS:
            raise ConfigError(
                f"custom message field {alternative[:80]!r} has {len(keys)} levels; "
                f"at most {MAX_LEVELS}"
            )
        # The console's limit is per key ("其中 string 字符串不超过 60 个字符"), so
        # "a.b" may be up to 121 characters.
        for key in keys:
            if len(key) > MAX_PATH_CHARS:
                raise ConfigError(
                    f"custom message field key {key[:20]!r}... is {len(key)} characters; "
                    f"at most {MAX_PATH_CHARS}"
                )
        if any(not key or key != key.strip() for key in keys):
            raise ConfigError(
                f"custom message field {alternative!r} in {spec!r} has an empty key or spaces "
                "around a key"
            )
        paths.append(keys)
    return tuple(paths)


def _first_field(
    payload: Mapping[str, Any], paths: tuple[tuple[str, ...], ...], spec: str
) -> Content | None:
    for path in paths:
        found, value = _lookup(payload, path)
        if not found:
            continue
        where = ".".join(path)
        if not isinstance(value, str):
            raise InvalidContent(
                f"custom message field {where} holds {type(value).__name__}; fixed fields "
                "are checked as text only"
            )
        try:
            return Content.text(value)
        except InvalidContent as exc:
            raise InvalidContent(f"custom message field {where}: {exc}") from None
    return None


def _lookup(payload: Mapping[str, Any], path: tuple[str, ...]) -> tuple[bool, Any]:
    value: Any = payload
    for depth, key in enumerate(path):
        if depth and isinstance(value, str):
            # {"data": "{\"content\": \"...\"}"}: the console reads into JSON strings too.
            value = _loads(value)
        if not isinstance(value, Mapping) or key not in value:
            return False, None
        value = value[key]
    return True, value
