"""TMS/IMS JSON on the wire: request and answer shapes, the one private cattrs
converter, the label and decision maps and the error-code table
(CONTRACTS-MORE-VENDORS 1.5-1.9).

Everything vendor-specific about reading an answer lives here; ``_provider`` decides
what to send, where, and signs it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, TypeVar

import attrs
import cattrs
import httpx

from moderation_core import (
    AuthError,
    Decision,
    Label,
    ProtocolError,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    raise_for_status,
)
from moderation_core.wire import (
    pascal,
    read_json,
    strict_converter,
    structure_answer,
    vendor_text,
)

__all__ = [
    "LABELS",
    "MAX_ANSWER_BYTES",
    "MAX_KEYWORDS",
    "MAX_KEYWORD_CHARS",
    "Answer",
    "ImageRequest",
    "TextRequest",
    "User",
    "decision_for",
    "error_for",
    "label_for",
    "read_answer",
    "to_json",
]

# The Tencent Chat crosswalk (DESIGN section 2), copied: moderation_tencent_chat keeps
# its map in a private module, and TMS/IMS speak the same label names.
LABELS: Final[Mapping[str, Label]] = {
    "normal": Label.NORMAL,
    "polity": Label.POLITICS,
    "porn": Label.PORN,
    "sexy": Label.SEXY,
    "abuse": Label.ABUSE,
    "terror": Label.VIOLENCE,
    "illegal": Label.ILLEGAL,
    "ad": Label.AD,
}
_DECISIONS: Final = {"pass": Decision.PASS, "review": Decision.REVIEW, "block": Decision.BLOCK}

# Tencent bounds neither. A real answer with every detail is a few tens of KB and a
# keyword is a library entry; these keep a hostile answer from costing more than that.
MAX_ANSWER_BYTES: Final = 1 << 20
MAX_KEYWORDS: Final = 100
MAX_KEYWORD_CHARS: Final = 256
_T = TypeVar("_T")

# Codes whose cause the message should spell out (CONTRACTS-MORE-VENDORS 1.9).
_HINTS: Final = {
    "AuthFailure.SignatureExpire": (
        "the request's timestamp is more than 5 minutes from Tencent's clock: "
        "this machine's clock is off"
    ),
    "AuthFailure.SecretIdNotFound": "check secret_id",
    "AuthFailure.SignatureFailure": "check secret_key",
    "UnauthorizedOperation.Unauthorized": (
        "the service is not activated, has no resource package, or the account is in "
        "arrears: not worth a retry"
    ),
    "InvalidParameterValue.InvalidBizType": "check biz_type: no such policy in the console",
    "UnsupportedRegion": "check region",
    "ResourcesSoldOut": "the resource package is used up",
}
_BILLING_CODES: Final = frozenset({"UnauthorizedOperation.Unauthorized", "ResourcesSoldOut"})
_AUTH_CODES: Final = frozenset(
    {"UnauthorizedOperation", "IpInBlacklist", "IpNotInWhitelist", "InvalidCredential"}
)
_RATE_LIMIT_CODES: Final = frozenset({"InternalError.QueryReqLimited", "LimitExceeded"})
_UNAVAILABLE_CODES: Final = frozenset(
    {"ServiceUnavailable", "FailedOperation", "ResourceInsufficient"}
)


def decision_for(suggestion: str) -> Decision:
    """Pass/Review/Block in any case; anything else is REVIEW, never a silent PASS."""
    return _DECISIONS.get(suggestion.lower(), Decision.REVIEW)


def label_for(label: str | None, decision: Decision) -> Label:
    """A PASS is NORMAL whatever label came with it. On a finding: the crosswalk;
    Teenager, Custom and unlisted labels are OTHER, and so is no label, or Normal,
    which a finding cannot honestly be."""
    if decision is Decision.PASS:
        return Label.NORMAL
    found = LABELS.get((label or "").lower(), Label.OTHER)
    return Label.OTHER if found is Label.NORMAL else found


def _family(code: str) -> str:
    return code.split(".", 1)[0]


def error_for(code: str, message: str, *, secrets: Iterable[str] = ()) -> ProviderError:
    """The typed error for a ``Response.Error``; the vendor's message is kept, short,
    with any credential it echoes masked."""
    text = vendor_text(message, secrets)
    shown = f"Tencent TMS/IMS refused the request: {code}"
    if text:
        shown += f": {text}"
    hint = _HINTS.get(code)
    if hint:
        shown += f" ({hint})"
    family = _family(code)
    if code in _BILLING_CODES:
        return ProviderError(shown, code=code)  # billing, not load: no retry helps
    if family == "AuthFailure" or code in _AUTH_CODES:
        return AuthError(shown, code=code)
    if family == "RequestLimitExceeded" or code in _RATE_LIMIT_CODES:
        return RateLimited(shown, code=code)
    if family in ("InternalError", "ResourceUnavailable") or code in _UNAVAILABLE_CODES:
        return ProviderUnavailable(shown, code=code)
    return ProviderError(shown, code=code)


# -- requests -----------------------------------------------------------------------


@attrs.frozen
class User:
    user_id: str | None = None
    receiver_id: str | None = None


@attrs.frozen
class TextRequest:
    """``TextModeration``: ``content`` is already base64."""

    content: str
    biz_type: str | None = None
    data_id: str | None = None
    user: User | None = None


@attrs.frozen
class ImageRequest:
    """``ImageModeration`` by URL: IMS fetches the image itself."""

    file_url: str
    biz_type: str | None = None
    data_id: str | None = None
    user: User | None = None


# -- answers ------------------------------------------------------------------------


@attrs.frozen
class _Error:
    code: str
    message: str = ""


@attrs.frozen
class Answer:
    """The fields of a ``TextModeration`` or ``ImageModeration`` answer we read; the
    rest stays in the verdict's ``raw``."""

    suggestion: str
    label: str | None = None
    sub_label: str | None = None
    score: int | None = None
    keywords: list[str] = attrs.Factory(list)
    request_id: str | None = None


def _score(value: object, _type: type) -> int:
    # The JSON preconf would read "99" or 99.5 as 99: off-contract for Score.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    if not 0 <= value <= 100:
        raise ValueError(f"expected 0-100, got {value}")
    return value


def _keywords(value: object, _type: type) -> list[str]:
    if value is None:  # the official examples send "Keywords": null
        return []
    # cattrs would read "abc" as ["a", "b", "c"].
    if not isinstance(value, list):
        raise TypeError(f"expected an array, got {type(value).__name__}")
    if len(value) > MAX_KEYWORDS:
        raise ValueError(f"{len(value)} keywords, more than the {MAX_KEYWORDS} accepted")
    if not all(isinstance(item, str) for item in value):
        raise TypeError("expected an array of strings")
    if any(len(word) > MAX_KEYWORD_CHARS for word in value):
        raise ValueError(f"a keyword longer than {MAX_KEYWORD_CHARS} characters")
    return list(value)


def _make_converter() -> cattrs.Converter:
    converter = strict_converter(
        structure={_Error: pascal, Answer: pascal},
        unstructure={User: pascal, TextRequest: pascal, ImageRequest: pascal},
    )
    converter.register_structure_hook(int, _score)  # Score is the only integer read
    converter.register_structure_hook_func(lambda t: t == list[str], _keywords)
    return converter


_CONVERTER = _make_converter()


def to_json(request: TextRequest | ImageRequest) -> bytes:
    """The exact bytes sent and signed."""
    return json.dumps(
        _CONVERTER.unstructure(request), ensure_ascii=False, separators=(",", ":")
    ).encode()


def _structure(data: object, cls: type[_T]) -> _T:
    return structure_answer(
        _CONVERTER, data, cls, prefix="unexpected answer shape", path="Response"
    )


def read_answer(
    response: httpx.Response, *, secrets: Sequence[str] = ()
) -> tuple[Answer, dict[str, Any]]:
    """The answer and its ``Response`` object; the mapped error for an HTTP error
    status or a ``Response.Error``; a ``ProtocolError`` for anything that is not the
    documented JSON (too big, too deep, not an object, fields missing or mistyped)."""
    raise_for_status(response)
    if response.status_code != 200:
        raise ProtocolError(f"HTTP {response.status_code} instead of 200")
    body = read_json(response, vendor="Tencent TMS/IMS", max_bytes=MAX_ANSWER_BYTES)
    inner = body.get("Response") if isinstance(body, dict) else None
    if not isinstance(inner, dict):
        raise ProtocolError("the answer has no Response object")
    if "Error" in inner:
        error = _structure(inner["Error"], _Error)
        raise error_for(error.code, error.message, secrets=secrets)
    answer = _structure(inner, Answer)
    return answer, inner
