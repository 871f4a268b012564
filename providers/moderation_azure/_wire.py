"""Azure AI Content Safety's JSON (``text:analyze``, ``image:analyze`` and the error
shape), read by this package's own strict cattrs converter, and the category-to-label
map. Nothing outside this package knows the vendor's keys (CONTRACTS-MORE-VENDORS 3.3,
3.4, 3.6)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs
import cattrs
import httpx

from moderation_core import Label, ProtocolError
from moderation_core.wire import camel, read_json_object, strict_converter, structure_answer

__all__ = [
    "CATEGORIES",
    "EIGHT_LEVELS",
    "FOUR_LEVELS",
    "MAX_ANSWER_BYTES",
    "MAX_SEVERITY",
    "AnalyzeResult",
    "ApiError",
    "BlocklistMatch",
    "CategoryAnalysis",
    "label_for",
    "read_error",
    "read_result",
]

# The harm categories, in the order the spec's enum lists them.
CATEGORIES: Final = ("Hate", "SelfHarm", "Sexual", "Violence")
FOUR_LEVELS: Final = "FourSeverityLevels"
EIGHT_LEVELS: Final = "EightSeverityLevels"
# The highest severity each output type answers: 0/2/4/6, or 0 to 7.
MAX_SEVERITY: Final[Mapping[str, int]] = {FOUR_LEVELS: 6, EIGHT_LEVELS: 7}
# Four categories and a few blocklist matches are a few hundred bytes; a long list of
# matches (each item at most 128 characters) still fits. More is not the documented
# answer, and would only cost time to read.
MAX_ANSWER_BYTES: Final = 1024 * 1024

# Sexual is PORN at block severity and SEXY below it: the provider decides which.
_LABELS: Final[Mapping[str, Label]] = {
    "Hate": Label.HATE,
    "SelfHarm": Label.SELF_HARM,
    "Sexual": Label.PORN,
    "Violence": Label.VIOLENCE,
}


def label_for(category: str, *, blocking: bool) -> Label:
    """Our label for a category; one the spec does not list is OTHER."""
    if category == "Sexual" and not blocking:
        return Label.SEXY
    return _LABELS.get(category, Label.OTHER)


@attrs.frozen
class CategoryAnalysis:
    """One item of ``categoriesAnalysis``: only ``category`` is required by the spec."""

    category: str
    severity: int | None = None


@attrs.frozen
class BlocklistMatch:
    blocklist_name: str
    blocklist_item_id: str
    blocklist_item_text: str


@attrs.frozen
class AnalyzeResult:
    """``AnalyzeTextResult`` or ``AnalyzeImageResult`` (which has no blocklists)."""

    categories_analysis: list[CategoryAnalysis]
    blocklists_match: list[BlocklistMatch] = attrs.field(factory=list)


@attrs.frozen
class ApiError:
    """The ``error`` object of a failed answer; every field may be missing."""

    code: str | None = None
    message: str | None = None


def _severity(value: object, _type: type) -> int | None:
    if value is None:
        return None
    # int32 on the wire; a bool or a float is some other shape.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer severity, got {type(value).__name__}")
    if not 0 <= value <= max(MAX_SEVERITY.values()):
        raise ValueError(f"severity {value} is outside 0-7")
    return value


def _make_converter() -> cattrs.Converter:
    # Strict: a severity of "4" or a list where an object belongs means the shape
    # changed, and guessing would turn into a wrong verdict.
    converter = strict_converter(
        structure={CategoryAnalysis: camel, BlocklistMatch: camel, AnalyzeResult: camel}
    )
    converter.register_structure_hook_func(lambda t: t == int | None, _severity)
    return converter


_CONVERTER = _make_converter()


def _json_object(response: httpx.Response) -> dict[str, Any]:
    # Over MAX_ANSWER_BYTES an answer is refused unread.
    return read_json_object(response, vendor="Azure", max_bytes=MAX_ANSWER_BYTES)


def read_result(response: httpx.Response) -> tuple[AnalyzeResult, dict[str, Any]]:
    """A successful analysis and its body as sent (for ``Verdict.raw``); a
    ProtocolError for anything else."""
    body = _json_object(response)
    result = structure_answer(
        _CONVERTER, body, AnalyzeResult, prefix="unexpected answer from Azure"
    )
    return result, body


def read_error(response: httpx.Response) -> ApiError:
    """The ``error`` object of a failed answer as far as it parses (an empty one for a
    proxy's HTML page: the status still says what happened); the ``x-ms-error-code``
    header stands in for a missing code."""
    try:
        error = _json_object(response).get("error")
    except ProtocolError:
        error = None
    fields = (
        {
            key: value
            for key in ("code", "message")
            if isinstance(value := error.get(key), str) and value
        }
        if isinstance(error, dict)
        else {}
    )
    header = response.headers.get("x-ms-error-code", "").strip()
    if header and "code" not in fields:
        fields["code"] = header
    return ApiError(**fields)
