"""Helpers for reading a vendor's JSON, shared by provider plugins (docs/plugins.md,
"Reading the vendor's answer").

Every HTTP provider reads an answer the same careful way, and each used to write it
again: a cattrs converter that refuses ``"0.9"`` for a number or ``"abc"`` for a list
(guessing turns a changed shape into a wrong verdict), a body size bound checked before
parsing (a huge or deeply nested answer must cost bounded time), cattrs errors turned
into ``ProtocolError``, and a vendor's error text that is short, one line and free of
every credential the request carried (vendors echo parameters, percent-encoded too).
Beside them, the check a config's own ``rate_limit`` (a vendor's default) needs.

The converter is still each provider's own (STYLE 1): ``strict_converter`` makes a new
one per call and never hands out a shared one.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, TypeVar, get_args, get_origin
from urllib.parse import quote, quote_plus

import attrs
import cattrs
import httpx
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.json import make_converter

from ._errors import ProtocolError

__all__ = [
    "MAX_VENDOR_TEXT",
    "KeyStyle",
    "camel",
    "check_rate_limit",
    "pascal",
    "read_json",
    "read_json_object",
    "retry_after",
    "strict_converter",
    "structure_answer",
    "vendor_text",
]

_T = TypeVar("_T")

# How a class's field names become the vendor's keys: a function of the field name
# (``camel``, ``pascal``), or a mapping of the fields that differ (the rest keep theirs).
KeyStyle = Callable[[str], str] | Mapping[str, str]

MAX_VENDOR_TEXT: Final = 200  # characters of a vendor's message kept in an error
_PROBLEM_CHARS: Final = 300  # characters of cattrs' field problems kept in an error


def camel(name: str) -> str:
    """``request_id`` -> ``requestId``."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def pascal(name: str) -> str:
    """``request_id`` -> ``RequestId``."""
    return "".join(part.title() for part in name.split("_"))


# -- the converter ----------------------------------------------------------------------


def _strict_bool(value: object, _type: type) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {type(value).__name__}")
    return value


def _strict_str(value: object, _type: type) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _strict_int(value: object, _type: type) -> int:
    # The JSON preconf would read "99" or 99.5 as 99: off-contract for any vendor.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return float(value)


def _finite_number(value: object, _type: type) -> float:
    # json.loads reads NaN and Infinity; neither is a score or a probability.
    number = _number(value)
    if not math.isfinite(number):
        raise TypeError(f"expected a finite number, got {number}")
    return number


def _any_number(value: object, _type: type) -> float:
    return _number(value)


def _is_list(type_: Any) -> bool:
    return get_origin(type_) is list


def _list_hook(
    converter: cattrs.Converter, *, max_items: int | None, null_lists: bool
) -> Callable[[Any], Callable[[object, type], list[Any]]]:
    def factory(list_type: Any) -> Callable[[object, type], list[Any]]:
        (item_type,) = get_args(list_type) or (Any,)

        def structure(value: object, _type: type) -> list[Any]:
            if value is None and null_lists:
                return []
            # cattrs would read "abc" as ["a", "b", "c"] and an object as its keys.
            if not isinstance(value, list):
                raise TypeError(f"expected a list, got {type(value).__name__}")
            if max_items is not None and len(value) > max_items:
                raise ValueError(f"a list of {len(value)} entries, more than {max_items}")
            return [converter.structure(item, item_type) for item in value]

        return structure

    return factory


def _renames(cls: type[Any], style: KeyStyle, **extra: Any) -> dict[str, Any]:
    names = [field.name for field in attrs.fields(cls)]
    if isinstance(style, Mapping):
        keys = {name: style.get(name, name) for name in names}
    else:
        keys = {name: style(name) for name in names}
    return {name: override(rename=key, **extra) for name, key in keys.items()}


def _objects_only(structure: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    # The generated function reads keys with ``in`` and ``[]``, which a string answers
    # too: "x" would pass for an object whose fields all have defaults.
    def strict(value: object, cls: Any) -> Any:
        if not isinstance(value, dict):
            raise TypeError(f"expected an object, got {type(value).__name__}")
        return structure(value, cls)

    return strict


def strict_converter(
    *,
    structure: Mapping[type[Any], KeyStyle] | None = None,
    unstructure: Mapping[type[Any], KeyStyle] | None = None,
    max_items: int | None = None,
    null_lists: bool = False,
    finite_floats: bool = True,
) -> cattrs.Converter:
    """A new JSON converter that reads only the documented shape.

    ``bool``, ``str``, ``int`` and ``float`` take exactly that JSON type (no ``"5"``
    for 5, no ``true`` for 1; a float refuses NaN and Infinity unless
    ``finite_floats=False``); a ``list[X]`` takes a JSON array only, of at most
    ``max_items`` entries, and ``null`` as ``[]`` when ``null_lists``. Each class in
    ``structure`` is read from a JSON object only, its fields renamed by its
    ``KeyStyle``; each class in ``unstructure`` is written with its ``KeyStyle``,
    fields at their default left out. The class hooks are made when first used, so a
    hook the caller registers on the converter afterwards (a bounded score, say) is
    the one their fields use."""
    converter = make_converter()
    converter.register_structure_hook(bool, _strict_bool)
    converter.register_structure_hook(str, _strict_str)
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(float, _finite_number if finite_floats else _any_number)
    converter.register_structure_hook_factory(
        _is_list, _list_hook(converter, max_items=max_items, null_lists=null_lists)
    )
    read = dict(structure or {})
    write = dict(unstructure or {})

    def make_structure(cls: Any) -> Callable[[Any, Any], Any]:
        return _objects_only(make_dict_structure_fn(cls, converter, **_renames(cls, read[cls])))

    def make_unstructure(cls: Any) -> Callable[[Any], Any]:
        renames = _renames(cls, write[cls], omit_if_default=True)
        return make_dict_unstructure_fn(cls, converter, **renames)

    if read:
        converter.register_structure_hook_factory(
            lambda t: isinstance(t, type) and t in read, make_structure
        )
    if write:
        converter.register_unstructure_hook_factory(
            lambda t: isinstance(t, type) and t in write, make_unstructure
        )
    return converter


def structure_answer(
    converter: cattrs.Converter,
    value: object,
    cls: type[_T],
    *,
    prefix: str,
    path: str = "answer",
    limit: int = _PROBLEM_CHARS,
) -> _T:
    """``value`` read as ``cls``; any shape problem is a ``ProtocolError`` saying
    ``prefix: <field problems>`` (at most ``limit`` characters of them, never the
    values: an answer may echo a credential)."""
    try:
        return converter.structure(value, cls)
    except cattrs.BaseValidationError as exc:
        problems = "; ".join(cattrs.transform_error(exc, path=path))
        raise ProtocolError(f"{prefix}: {problems[:limit]}") from None
    except (TypeError, ValueError, KeyError, RecursionError):
        raise ProtocolError(f"{prefix} ({path})") from None


# -- the body ---------------------------------------------------------------------------

_JSON_TYPES: Final[Mapping[type, str]] = {
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def read_json(response: httpx.Response, *, vendor: str, max_bytes: int) -> Any:
    """The body parsed as JSON, or a ``ProtocolError``: over ``max_bytes`` it is refused
    unread (parsing a huge answer would only cost time), and a body that is not JSON,
    or nested too deep to parse, is refused too. ``vendor`` names who answered."""
    size = len(response.content)
    if size > max_bytes:
        raise ProtocolError(f"{vendor} answered {size} bytes, more than the {max_bytes} accepted")
    try:
        return json.loads(response.content)
    except RecursionError:
        raise ProtocolError(f"{vendor} answered JSON nested too deeply to read") from None
    except ValueError:  # UnicodeDecodeError is a ValueError
        raise ProtocolError(f"{vendor} answered a body that is not JSON") from None


def read_json_object(response: httpx.Response, *, vendor: str, max_bytes: int) -> dict[str, Any]:
    """``read_json``, and a ``ProtocolError`` for anything but a JSON object."""
    body = read_json(response, vendor=vendor, max_bytes=max_bytes)
    if not isinstance(body, dict):
        shown = _JSON_TYPES.get(type(body), type(body).__name__)
        raise ProtocolError(f"{vendor} answered a JSON {shown}, not an object")
    return body


# -- the vendor's words -----------------------------------------------------------------


def _spellings(secret: str) -> set[str]:
    # As a vendor may echo a value: verbatim, percent-encoded (with or without '/'
    # kept), form-encoded with '+' for a space.
    return {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret, safe=""),
        quote_plus(secret),
    }


def vendor_text(
    message: str | None, secrets: Iterable[str] = (), *, limit: int = MAX_VENDOR_TEXT
) -> str:
    """A vendor's message fit for an error: every spelling of every secret masked as
    ``***`` (in any letter case: a hex signature may come back upper-cased, an escape
    lower-cased), white space folded to one line, cut to ``limit`` characters."""
    text = " ".join((message or "").split())
    forms = {form for secret in secrets if secret for form in _spellings(secret)}
    if forms and text:
        # One pass, longest first, so a secret inside another's encoding is masked whole.
        alternatives = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
        text = re.sub(alternatives, "***", text, flags=re.IGNORECASE)
    return text if len(text) <= limit else text[: max(0, limit - 3)] + "..."


def retry_after(
    headers: httpx.Headers, now: float, *, ms_headers: Iterable[str] = ("retry-after-ms",)
) -> float | None:
    """Seconds to wait: the first of ``ms_headers`` (milliseconds) that reads as a
    number, else ``Retry-After`` (seconds, or an HTTP date read against ``now``); None
    when absent or unreadable (negative, NaN or infinite would wait forever)."""
    for header in ms_headers:
        milliseconds = _seconds(headers.get(header))
        if milliseconds is not None:
            return milliseconds / 1000
    value = headers.get("retry-after")
    seconds = _seconds(value)
    if seconds is not None or not value:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when - now) if math.isfinite(when) else None


def check_rate_limit(_inst: object, _attr: object, value: float | None) -> None:
    """The attrs validator for a provider config that sets its vendor's ``rate_limit``
    default (redefining the field drops the core's check): requests/s, 0 or None for
    no limit, never negative."""
    if value is not None and value < 0:
        raise ValueError(f"rate_limit must be 0 (no limit) or more requests/s, got {value:g}")


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None
