"""Tencent Chat's JSON on the wire: request and response shapes, the one private cattrs
converter, the label and decision maps, and the error-code table.

Everything vendor-specific about reading an answer lives here; ``_provider`` only
decides what to send and where.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import attrs
import httpx

from moderation_core import (
    AuthError,
    Decision,
    Label,
    ProtocolError,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from moderation_core._masking import mask_keywords
from moderation_core.wire import pascal, read_json, strict_converter, structure_answer, vendor_text

__all__ = [
    "AUTH_CODES",
    "RATE_LIMIT_CODES",
    "REFRESH_CODES",
    "UNAVAILABLE_CODES",
    "AuditResult",
    "BatchItem",
    "BatchRequest",
    "Envelope",
    "SingleRequest",
    "decision_for",
    "error_for",
    "keyword_problem",
    "label_for",
    "mask_text",
    "read_body",
    "structure",
    "to_json",
]

# CONTRACTS 2.4 and the seeds' tables.
RATE_LIMIT_CODES = frozenset({60007, 60011, 60018, 60019})
REFRESH_CODES = frozenset({70001, 70052})  # stale sig: make a new one and retry once
AUTH_CODES = frozenset(
    {
        60004,
        60005,  # account or signature check failed
        60006,  # invalid SDKAppID
        60010,  # identifier is not an App admin
        60021,  # call from an IP the app does not allow
        60025,  # sdkappid, identifier, usersig or contenttype wrong in the URL
        70001,
        70002,
        70003,
        70005,
        70009,
        70013,
        70014,
        70016,
        70020,
        70050,  # sig check failed and too many tries: Tencent says wait a minute
        70051,  # admin account blocklisted
        70052,
    }
)
UNAVAILABLE_CODES = frozenset({60008, 60013, 60014, 60022, 70169, 70500, 93001, 93006})
# Codes whose usual cause is a config mistake, spelled out so the error says what to fix.
_HINTS = {
    60010: "the identifier must be an App admin account",
    60020: "Content Understanding is not enabled for this app",
    60026: "the host does not match the app's data center: check region / base_url",
    70016: "no key for this SDKAppID here: check region / base_url",
    70020: "SDKAppID not found here: check region / base_url",
    70050: "Tencent asks to wait a minute before trying again",
    93000: "content is over the 8 KB limit",
}

_DECISIONS = {"pass": Decision.PASS, "review": Decision.REVIEW, "block": Decision.BLOCK}
_LABELS = {
    "normal": Label.NORMAL,
    "polity": Label.POLITICS,
    "porn": Label.PORN,
    "sexy": Label.SEXY,
    "abuse": Label.ABUSE,
    "terror": Label.VIOLENCE,
    "illegal": Label.ILLEGAL,
    "ad": Label.AD,
}

# Tencent documents no bound on keywords. A message is at most 12 KB, and a keyword is a
# word-library entry, so these are far above anything real; they keep hostile input
# (a 20,000-character keyword, or thousands of them) from costing more than it is worth.
MAX_KEYWORDS = 100
MAX_KEYWORD_CHARS = 256
# Ten items with that many keywords each are well under 1 MiB; a larger body is hostile or
# broken, refused before it is parsed.
MAX_ANSWER_BYTES = 4 * 1024 * 1024
_COMBINATION = "&"  # 违&规&词&汇 (seed 000): every part was found, not the joined string


def decision_for(result: str | None) -> Decision:
    """Pass/Review/Block; anything else is REVIEW, never a silent PASS."""
    if result is None:
        return Decision.REVIEW
    return _DECISIONS.get(result.lower(), Decision.REVIEW)


def label_for(label: str | None, decision: Decision) -> Label:
    """The crosswalk of DESIGN section 2; Composite and unlisted labels are OTHER. No
    label at all is NORMAL on a pass and OTHER on a finding."""
    if not label:
        return Label.NORMAL if decision is Decision.PASS else Label.OTHER
    return _LABELS.get(label.lower(), Label.OTHER)


def error_for(code: int | None, info: str, *, secrets: tuple[str, ...] = ()) -> ProviderError:
    """The error for a non-zero ``ErrorCode`` (request-wide or one batch item)."""
    # Vendors echo URLs in odd places, percent-encoded too: never let a sig through.
    text = vendor_text(info, secrets)
    hint = _HINTS.get(code) if code is not None else None
    message = "Tencent Chat refused the request"
    if text:
        message += f": {text}"
    if hint:
        message += f" ({hint})"
    if code in RATE_LIMIT_CODES:
        return RateLimited(message, code=code)
    if code in AUTH_CODES:
        return AuthError(message, code=code)
    if code in UNAVAILABLE_CODES:
        return ProviderUnavailable(message, code=code)
    return ProviderError(message, code=code)


def keyword_problem(keywords: Sequence[str]) -> str | None:
    """Why a keyword list is out of bounds, or None."""
    if len(keywords) > MAX_KEYWORDS:
        return f"{len(keywords)} keywords, more than the {MAX_KEYWORDS} accepted"
    longest = max((len(k) for k in keywords), default=0)
    if longest > MAX_KEYWORD_CHARS:
        return f"a keyword of {longest} characters, more than the {MAX_KEYWORD_CHARS} accepted"
    return None


def mask_text(text: str, keywords: Sequence[str]) -> str:
    """``text`` with Tencent's keywords masked: each as written, and each part of a
    combination keyword (``违&规&词&汇``) that does not occur as written. Without this,
    the core masks a combination keyword as the literal string and finds nothing."""
    lowered = text.lower()
    terms: list[str] = []
    for keyword in keywords:
        terms.append(keyword)
        if _COMBINATION in keyword and keyword.lower() not in lowered:
            terms.extend(part for part in keyword.split(_COMBINATION) if part)
    return mask_keywords(text, terms)


# -- requests -----------------------------------------------------------------------


@attrs.frozen
class SingleRequest:
    audit_name: str
    content_type: str
    content: str
    ext_sender: str | None = None
    ext_receiver: str | None = None


@attrs.frozen
class BatchItem:
    content_id: int
    content_type: str
    content: str


@attrs.frozen
class BatchRequest:
    audit_name: str
    contents: list[BatchItem]
    ext_sender: str | None = None
    ext_receiver: str | None = None


# -- responses ----------------------------------------------------------------------


@attrs.frozen
class Envelope:
    """What every answer carries (CONTRACTS 2.2)."""

    action_status: str | None = None
    error_code: int | None = None
    error_info: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.error_code) or (self.action_status or "OK").upper() != "OK"


@attrs.frozen
class AuditResult:
    """One item's answer: the single endpoint's body, or one ``AuditResults`` entry."""

    result: str | None = None
    score: int | None = None
    label: str | None = None
    sub_label: str | None = None
    keywords: list[str] = attrs.Factory(list)
    request_id: str | None = None
    content_id: int | None = None
    error_code: int = 0
    error_info: str = ""


# The PascalCase keys of the REST API; Keywords "may be null" (the vendor's words), so a
# null list reads as empty.
_CONVERTER = strict_converter(
    structure={Envelope: pascal, AuditResult: pascal},
    unstructure={SingleRequest: pascal, BatchItem: pascal, BatchRequest: pascal},
    null_lists=True,
)


def to_json(request: SingleRequest | BatchRequest) -> bytes:
    return json.dumps(
        _CONVERTER.unstructure(request), ensure_ascii=False, separators=(",", ":")
    ).encode()


def read_body(response: httpx.Response) -> tuple[Envelope, dict[str, Any]]:
    """The envelope and the whole body of a 200 answer; a non-200 status is
    ``ProviderUnavailable`` (``RateLimited`` for 429) and a body that is not the
    documented JSON object is a ``ProtocolError``."""
    try:
        host = response.request.url.host
    except RuntimeError:  # a Response built without its request
        host = "the vendor"
    if response.status_code != 200:
        message = f"HTTP {response.status_code} from {host}"
        if response.status_code == 429:
            retry_after = _retry_after(response.headers.get("Retry-After"))
            raise RateLimited(message, retry_after=retry_after)
        raise ProviderUnavailable(message)
    body = read_json(response, vendor=host, max_bytes=MAX_ANSWER_BYTES)
    if not isinstance(body, dict) or ("ErrorCode" not in body and "ActionStatus" not in body):
        raise ProtocolError(f"the answer from {host} is not a Tencent Chat REST answer")
    return structure(body, Envelope), body


def structure(data: Any, cls: type[Any]) -> Any:
    """Structure with the private converter; a shape mismatch is a ``ProtocolError``."""
    return structure_answer(
        _CONVERTER, data, cls, prefix="unexpected answer shape", path=cls.__name__
    )


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait, or None when absent or not a usable number: ``nan``, ``inf`` and
    negative values would make a wait that never ends or a sleep that raises."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
