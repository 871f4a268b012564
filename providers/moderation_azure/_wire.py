"""Azure AI Content Safety's JSON (``text:analyze``, ``image:analyze`` and the error
shape), read by this package's own strict cattrs converter, and the category-to-label
map. Nothing outside this package knows the vendor's keys (CONTRACTS-MORE-VENDORS 3.3,
3.4, 3.6)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

import attrs
import cattrs
import httpx
from cattrs.gen import make_dict_structure_fn, override
from cattrs.preconf.json import make_converter

from moderation_core import Label, ProtocolError

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


def _strict_str(value: object, _type: type) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _severity(value: object, _type: type) -> int | None:
    if value is None:
        return None
    # int32 on the wire; a bool or a float is some other shape.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer severity, got {type(value).__name__}")
    if not 0 <= value <= max(MAX_SEVERITY.values()):
        raise ValueError(f"severity {value} is outside 0-7")
    return value


def _strict_list(converter: cattrs.Converter, item_type: type) -> Any:
    def structure(value: object, _type: type) -> list[Any]:
        if not isinstance(value, list):
            raise TypeError(f"expected a list, got {type(value).__name__}")
        return [converter.structure(item, item_type) for item in value]

    return structure


def _make_converter() -> cattrs.Converter:
    # Strict: a severity of "4" or a list where an object belongs means the shape
    # changed, and guessing would turn into a wrong verdict.
    converter = make_converter()
    converter.register_structure_hook(str, _strict_str)
    converter.register_structure_hook_func(lambda t: t == int | None, _severity)
    converter.register_structure_hook_func(
        lambda t: t == list[CategoryAnalysis], _strict_list(converter, CategoryAnalysis)
    )
    converter.register_structure_hook_func(
        lambda t: t == list[BlocklistMatch], _strict_list(converter, BlocklistMatch)
    )
    converter.register_structure_hook(
        BlocklistMatch,
        make_dict_structure_fn(
            BlocklistMatch,
            converter,
            blocklist_name=override(rename="blocklistName"),
            blocklist_item_id=override(rename="blocklistItemId"),
            blocklist_item_text=override(rename="blocklistItemText"),
        ),
    )
    converter.register_structure_hook(
        AnalyzeResult,
        make_dict_structure_fn(
            AnalyzeResult,
            converter,
            categories_analysis=override(rename="categoriesAnalysis"),
            blocklists_match=override(rename="blocklistsMatch"),
        ),
    )
    return converter


_CONVERTER = _make_converter()


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The body as a JSON object, None when it is not one; over ``MAX_ANSWER_BYTES``
    it is refused unread."""
    if len(response.content) > MAX_ANSWER_BYTES:
        raise ProtocolError(
            f"Azure answered {len(response.content)} bytes, more than the "
            f"{MAX_ANSWER_BYTES} an analysis can take"
        )
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError):  # RecursionError: nested too deep to read
        return None
    return body if isinstance(body, dict) else None


def read_result(response: httpx.Response) -> tuple[AnalyzeResult, dict[str, Any]]:
    """A successful analysis and its body as sent (for ``Verdict.raw``); a
    ProtocolError for anything else."""
    body = _json_object(response)
    if body is None:
        raise ProtocolError("Azure answered a body that is not a JSON object")
    try:
        result: AnalyzeResult = _CONVERTER.structure(body, AnalyzeResult)
    except cattrs.BaseValidationError as exc:
        problems = "; ".join(cattrs.transform_error(exc, path="answer"))
        raise ProtocolError(f"unexpected answer from Azure: {problems}") from None
    return result, body


def read_error(response: httpx.Response) -> ApiError:
    """The ``error`` object of a failed answer as far as it parses (an empty one for a
    proxy's HTML page: the status still says what happened); the ``x-ms-error-code``
    header stands in for a missing code."""
    try:
        body = _json_object(response)
    except ProtocolError:
        body = None
    error = body.get("error") if body is not None else None
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
