"""OpenAI's ``/v1/moderations`` JSON, read by this package's own strict cattrs
converter, and the category-to-label map. Nothing outside this package knows the
vendor's keys (CONTRACTS-MORE-VENDORS 2.2-2.4)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs
import cattrs
import httpx

from moderation_core import Label, ProtocolError
from moderation_core.wire import read_json_object, strict_converter, structure_answer

__all__ = [
    "CATEGORIES",
    "MAX_CATEGORIES",
    "ApiError",
    "ModerationResponse",
    "ModerationResult",
    "label_for",
    "read_error",
    "read_results",
]

# The 13 category keys the API documents, in the order its reference lists them.
CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
# An answer naming more categories than this is not the documented shape (13 today),
# and a huge mapping would only cost time to read.
MAX_CATEGORIES = 64

# Categories by family (the part before "/"); sexual is PORN only for the two keys the
# vendor documents: a new sexual/* subcategory may be milder, so it stays OTHER.
_FAMILIES: Mapping[str, Label] = {
    "harassment": Label.ABUSE,
    "hate": Label.HATE,
    "illicit": Label.ILLEGAL,
    "self-harm": Label.SELF_HARM,
    "violence": Label.VIOLENCE,
}
_EXACT: Mapping[str, Label] = {"sexual": Label.PORN, "sexual/minors": Label.PORN}


def label_for(category: str) -> Label:
    """Our label for a category key; a key outside the documented families is OTHER."""
    exact = _EXACT.get(category)
    if exact is not None:
        return exact
    return _FAMILIES.get(category.partition("/")[0], Label.OTHER)


@attrs.frozen
class ModerationResult:
    """One item of ``results``. ``categories`` values are None for ``illicit*`` on the
    text-moderation models; a score may be missing for the same reason."""

    flagged: bool
    categories: dict[str, bool | None]
    category_scores: dict[str, float | None]


@attrs.frozen
class ModerationResponse:
    results: list[ModerationResult]
    id: str | None = None
    model: str | None = None


@attrs.frozen
class ApiError:
    """The ``error`` object of a failed answer; every field may be missing or null."""

    message: str | None = None
    type: str | None = None
    code: str | None = None
    param: str | None = None


def _score(value: object, _type: type) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    # json.loads reads NaN and Infinity; neither is a probability.
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError("expected a score from 0 to 1")
    return float(value)


def _flag(value: object, _type: type) -> bool | None:
    if value is None:
        return None
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {type(value).__name__}")
    return value


def _mapping(value_hook: Any) -> Any:
    def structure(value: object, _type: type) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise TypeError(f"expected an object, got {type(value).__name__}")
        if len(value) > MAX_CATEGORIES:
            raise ValueError(f"expected at most {MAX_CATEGORIES} categories, got {len(value)}")
        return {key: value_hook(item, object) for key, item in value.items()}

    return structure


def _make_converter() -> cattrs.Converter:
    # Strict: a vendor that sends "0.9" for a score or a string for a flag has changed its
    # shape, and guessing would turn into a wrong verdict.
    converter = strict_converter(structure={ModerationResult: {}, ModerationResponse: {}})
    converter.register_structure_hook_func(lambda t: t == dict[str, bool | None], _mapping(_flag))
    converter.register_structure_hook_func(lambda t: t == dict[str, float | None], _mapping(_score))
    return converter


_CONVERTER = _make_converter()


def read_results(
    response: httpx.Response, expected: int, max_bytes: int
) -> tuple[ModerationResponse, list[dict[str, Any]]]:
    """The answer to a request of ``expected`` inputs, and each result as sent (for
    ``Verdict.raw``); a ProtocolError for anything else. Over ``max_bytes`` the body is
    refused unread: parsing a huge answer would only cost time."""
    body = read_json_object(response, vendor="OpenAI", max_bytes=max_bytes)
    answer = structure_answer(
        _CONVERTER, body, ModerationResponse, prefix="unexpected answer from OpenAI"
    )
    if len(answer.results) != expected:
        raise ProtocolError(f"OpenAI answered {len(answer.results)} results for {expected} inputs")
    return answer, list(body["results"])


def read_error(response: httpx.Response, max_bytes: int) -> ApiError:
    """The ``error`` object of a failed answer, as far as it parses; an empty one when
    it does not (a proxy's HTML page, say): the status still says what happened."""
    try:
        body = read_json_object(response, vendor="OpenAI", max_bytes=max_bytes)
    except ProtocolError:
        return ApiError()
    error = body.get("error")
    if not isinstance(error, dict):
        return ApiError()
    fields = {
        key: value
        for key in ("message", "type", "code", "param")
        if isinstance(value := error.get(key), str)
    }
    return ApiError(**fields)
