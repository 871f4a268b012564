"""Alibaba Cloud Green 2022-03-02 on the wire: an answer read into a Verdict or a typed
error. This module owns the vendor's JSON keys (one private cattrs converter); nothing
outside it knows them.

Two kinds of error come back (CONTRACTS-MORE-VENDORS 4.6): the API gateway's ("POP")
with a non-200 status and a string ``Code`` (``SignatureDoesNotMatch``,
``Throttling.User``, ...), and the moderation service's own with HTTP 200 and a numeric
``Code`` other than 200 in the body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, TypeVar

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
    Verdict,
    raise_for_status,
)
from moderation_core.wire import (
    camel,
    pascal,
    read_json,
    read_json_object,
    strict_converter,
    structure_answer,
    vendor_text,
)

from ._labels import classify, is_risk_label, level_rank

__all__ = [
    "AUTH_CODES",
    "MAX_ANSWER_BYTES",
    "MAX_KEYWORDS",
    "MAX_KEYWORD_CHARS",
    "MAX_RESULTS",
    "OK",
    "Bands",
    "business_error",
    "pop_error",
    "read_answer",
]

OK: Final = 200
# An answer for a 5,000-character text with every label hit is a few KB; past this it is
# not an answer but a fault, refused before it is parsed.
MAX_ANSWER_BYTES: Final = 2 * 1024 * 1024
# The vendor documents no bound on these. They keep a hostile answer (thousands of
# results or words, or one word the size of the text) from costing more than it is worth.
MAX_RESULTS: Final = 100
MAX_KEYWORDS: Final = 200
MAX_KEYWORD_CHARS: Final = 1000
_MAX_MESSAGE: Final = 200
_VENDOR: Final = "Alibaba Cloud Green"
_T = TypeVar("_T")
_WORD_SEPARATORS: Final = re.compile(r"[,，]")

# POP codes that refuse the credentials or the signature, by prefix (4.6).
AUTH_CODES: Final = (
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "SignatureNonceUsed",
    "InvalidAccessKeyId",
    "InvalidTimeStamp",
    "InvalidSecurityToken",
    "Forbidden",
    "NoPermission",
)
_TRANSIENT_CODES: Final = ("InternalError", "ServiceUnavailable", "ServiceTimeout")
# Their messages quote the string to sign, which holds the AccessKey id: never repeated.
_UNQUOTED_CODES: Final = ("SignatureDoesNotMatch", "IncompleteSignature")


@attrs.frozen
class Bands:
    """RiskLevel ranks at or above which a verdict is REVIEW, and BLOCK."""

    review_at: int
    block_at: int

    def decide(self, level: str | None, flagged: bool) -> Decision:
        """The decision for a RiskLevel; no level at all (TextModeration answers one only
        in its ``reason``) is REVIEW when a label was given, PASS when none was; a level
        we do not know is REVIEW: never a silent PASS, never a BLOCK on a guess."""
        if level is None:
            return Decision.REVIEW if flagged else Decision.PASS
        rank = level_rank(level)
        if rank is None:
            return Decision.REVIEW
        if rank >= self.block_at:
            return Decision.BLOCK
        return Decision.REVIEW if rank >= self.review_at else Decision.PASS


# -- the answer, mapped by this package's own converter --------------------------------


@attrs.frozen
class _Envelope:
    code: int
    message: str | None = None
    request_id: str | None = None


@attrs.frozen
class _CustomizedHit:
    key_words: str | None = None
    lib_name: str | None = None


@attrs.frozen
class _PlusResult:
    label: str | None = None
    confidence: float | None = None
    description: str | None = None
    risk_words: str | None = None
    customized_hit: list[_CustomizedHit] | None = None


@attrs.frozen
class _PlusData:
    """``Data`` of TextModerationPlus: the fields a verdict rests on."""

    risk_level: str | None = None
    result: list[_PlusResult] | None = None


@attrs.frozen
class _ClassicData:
    """``Data`` of TextModeration: ``labels`` comma-separated, ``reason`` a JSON string."""

    labels: str | None = None
    reason: str | None = None


@attrs.frozen
class _Reason:
    risk_level: str | None = None
    risk_tips: str | None = None
    risk_words: str | None = None
    customized_words: str | None = None
    customized_libs: str | None = None


# Strict: a vendor that sends "81" for a number or an object for a list has changed its
# shape, and guessing would map it to a wrong verdict.
_CONVERTER = strict_converter(
    structure={
        _Envelope: pascal,
        _CustomizedHit: pascal,
        _PlusResult: pascal,
        _PlusData: pascal,
        _ClassicData: camel,
        _Reason: camel,
    },
    max_items=MAX_RESULTS,
)


def _structure(value: object, cls: type[_T], what: str) -> _T:
    return structure_answer(
        _CONVERTER,
        value,
        cls,
        prefix="unexpected answer from Alibaba Cloud Green",
        path=what,
        limit=_MAX_MESSAGE,
    )


def _json(content: bytes | str, what: str) -> Any:
    try:
        return json.loads(content)
    except (ValueError, RecursionError):  # RecursionError: nested too deep to parse
        raise ProtocolError(f"Alibaba Cloud Green answered {what} that is not JSON") from None


def _json_object(response: httpx.Response) -> dict[str, Any]:
    # Refused unread over MAX_ANSWER_BYTES: past it an answer is a fault.
    return read_json_object(response, vendor=_VENDOR, max_bytes=MAX_ANSWER_BYTES)


# -- errors ---------------------------------------------------------------------------


def _quoted(message: str | None, secrets: Sequence[str]) -> str:
    """The vendor's message for an error text: short, one line, never a credential."""
    text = vendor_text(message, secrets, limit=_MAX_MESSAGE)
    return f" ({text!r})" if text else ""


def _is(code: str, families: Iterable[str]) -> bool:
    return any(code == family or code.startswith(f"{family}.") for family in families)


def _retry_after(response: httpx.Response) -> float | None:
    """``x-acs-retry-after`` (milliseconds, what the Tea SDK sleeps on), else
    ``Retry-After`` (seconds); None for a value that is not a sane positive number."""
    for name, scale in (("x-acs-retry-after", 1000.0), ("Retry-After", 1.0)):
        value = response.headers.get(name, "").strip()
        if value.isdigit() and 0 < int(value) / scale <= 3600:
            return int(value) / scale
    return None


def pop_error(
    status: int,
    code: str,
    message: str | None,
    secrets: Sequence[str] = (),
    retry_after: float | None = None,
) -> ProviderError:
    """The typed error for a gateway answer (non-200 status, string ``Code``)."""
    said = "" if _is(code, _UNQUOTED_CODES) else _quoted(message, secrets)
    where = f"Alibaba Cloud refused the request: {code} (HTTP {status}){said}"
    if _is(code, ("Throttling",)):
        return RateLimited(
            f"Alibaba Cloud throttled the request: {code} (HTTP {status}){said}",
            code=code,
            retry_after=retry_after,
        )
    if code == "InvalidTimeStamp.Expired":
        return AuthError(
            f"{where}: this machine's clock is more than 15 minutes off UTC; sync it (NTP)",
            code=code,
        )
    if code == "SignatureNonceUsed":
        return AuthError(
            f"{where}: a request was sent twice with one nonce (a proxy replaying it?)",
            code=code,
        )
    if _is(code, ("SignatureDoesNotMatch", "IncompleteSignature")):
        return AuthError(
            f"{where}: the signature did not match; check access_key_secret", code=code
        )
    if _is(code, ("InvalidAccessKeyId",)):
        return AuthError(f"{where}: check access_key_id", code=code)
    if _is(code, AUTH_CODES):
        return AuthError(
            f"{where}: check the credentials and that they may call Content Moderation "
            "(the AliyunYundunGreenWebFullAccess policy)",
            code=code,
        )
    if _is(code, _TRANSIENT_CODES) or status >= 500:
        return ProviderUnavailable(
            f"Alibaba Cloud Green is unavailable: {code} (HTTP {status}){said}", code=code
        )
    if status == 429:
        return RateLimited(f"{where}", code=code, retry_after=retry_after)
    if status in (401, 403):
        return AuthError(where, code=code)
    return ProviderError(where, code=code)


_BUSINESS_TRANSIENT: Final = {
    500: "GENERAL_ERROR",
    503: "ServiceUnavailable",
    580: "DB_FAILED",
    581: "TIMEOUT",
    586: "ALGO_FAILED",
    592: "DOWNLOAD_TIMEOUT",
}
_BUSINESS_CLIENT: Final = {
    400: "BAD_REQUEST: check service / services (a code your account may call) and the text",
    404: "NOT_FOUND",
    480: "DOWNLOAD_FAILED",
    594: "EXPIRED",
}


def business_error(code: int, message: str | None, secrets: Sequence[str] = ()) -> ProviderError:
    """The typed error for a moderation ``Code`` other than 200 (HTTP 200, 4.6 table)."""
    said = _quoted(message, secrets)
    prefix = f"Alibaba Cloud Green answered code {code}"
    if code in _BUSINESS_TRANSIENT:
        return ProviderUnavailable(f"{prefix} ({_BUSINESS_TRANSIENT[code]}){said}", code=code)
    if code == 280:
        # PROCESSING: the answer for an asynchronous check. A text check is synchronous,
        # so this one simply did not finish in time; asking again may.
        return ProviderUnavailable(f"{prefix} (PROCESSING) for a text check{said}", code=code)
    if code == 403:
        return RateLimited(
            f"{prefix} (FORBIDDEN: over the QPS limit, or not permitted){said}", code=code
        )
    if code == 588:
        return ProviderError(
            f"{prefix} (EXCEED_QUOTA): the account's quota is used up; more requests will "
            f"not help until it is raised{said}",
            code=code,
        )
    if code in (401, 596):
        name = "NOT_ALLOWED" if code == 401 else "PERMISSION_DENY"
        return AuthError(
            f"{prefix} ({name}){said}: check that the account has the service enabled and "
            "the credentials may call it",
            code=code,
        )
    if code in _BUSINESS_CLIENT:
        return ProviderError(f"{prefix} ({_BUSINESS_CLIENT[code]}){said}", code=code)
    return ProviderError(f"{prefix}{said}", code=code)


def _raise_for_gateway(response: httpx.Response, secrets: Sequence[str]) -> None:
    """For a status other than 200: the POP error its body names, else by status."""
    status = response.status_code
    try:
        body = read_json(response, vendor=_VENDOR, max_bytes=MAX_ANSWER_BYTES)
    except ProtocolError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("Code"), str) and body["Code"]:
        message = body.get("Message")
        raise pop_error(
            status,
            body["Code"],
            message if isinstance(message, str) else None,
            secrets,
            retry_after=_retry_after(response),
        )
    raise_for_status(response)  # 401 AuthError, 429 RateLimited, 5xx unavailable, ...
    raise ProtocolError(f"Alibaba Cloud Green answered HTTP {status}, not 200")


# -- the verdict ----------------------------------------------------------------------


def _words(*fields: str | None) -> Iterator[str]:
    for field in fields:
        for word in _WORD_SEPARATORS.split(field or ""):
            if word.strip():
                yield word.strip()


def _keywords(words: Iterable[str]) -> tuple[str, ...]:
    keywords = tuple(dict.fromkeys(words))
    if len(keywords) > MAX_KEYWORDS:
        raise ProtocolError(
            f"Alibaba Cloud Green answered {len(keywords)} risk words, more than the "
            f"{MAX_KEYWORDS} accepted"
        )
    longest = max(map(len, keywords), default=0)
    if longest > MAX_KEYWORD_CHARS:
        raise ProtocolError(
            f"Alibaba Cloud Green answered a risk word of {longest} characters, more than "
            f"the {MAX_KEYWORD_CHARS} accepted"
        )
    return keywords


def _unlabelled(decision: Decision) -> Label:
    # No label at all: NORMAL on PASS, else UNKNOWN (never claim a clean label the vendor
    # did not give).
    return Label.NORMAL if decision is Decision.PASS else Label.UNKNOWN


def _plus_verdict(
    data: _PlusData, body: Mapping[str, Any], request_id: str | None, bands: Bands
) -> Verdict:
    if not data.risk_level:
        raise ProtocolError("Alibaba Cloud Green answered code 200 without a RiskLevel")
    results = data.result or []
    for result in results:
        if result.confidence is not None and not 0 <= result.confidence <= 100:
            raise ProtocolError(
                f"Alibaba Cloud Green answered a Confidence of {result.confidence:g}, outside 0-100"
            )
    risky = [r for r in results if is_risk_label(r.label)]
    decision = bands.decide(data.risk_level, bool(risky))
    # The most confident risk label speaks for the verdict; the first on a tie.
    top = max(risky, key=lambda r: r.confidence or 0.0, default=None)
    hits = [hit for r in risky for hit in r.customized_hit or ()]
    words = _words(*(r.risk_words for r in risky), *(hit.key_words for hit in hits))
    if top is None:
        shown = results[0].label if results and results[0].label else None
        return Verdict(
            decision=decision,
            label=_unlabelled(decision),
            vendor_label=shown,
            keywords=_keywords(words),
            request_id=request_id,
            raw=body,
        )
    library = next((h.lib_name for h in top.customized_hit or () if h.lib_name), None)
    return Verdict(
        decision=decision,
        label=classify(str(top.label)),
        sublabel=library,
        score=round(top.confidence) if top.confidence is not None else None,
        keywords=_keywords(words),
        vendor_label=top.label,
        request_id=request_id,
        raw=body,
    )


def _classic_verdict(
    data: _ClassicData, body: Mapping[str, Any], request_id: str | None, bands: Bands
) -> Verdict:
    labels = [label.strip() for label in (data.labels or "").split(",") if label.strip()]
    reason = _Reason()
    if data.reason and data.reason.strip():
        reason = _structure(_json(data.reason, "a reason"), _Reason, "reason")
    decision = bands.decide(reason.risk_level or None, bool(labels))
    words = _keywords(_words(reason.risk_words, reason.customized_words))
    if not labels:
        return Verdict(
            decision=decision,
            label=_unlabelled(decision),
            keywords=words,
            request_id=request_id,
            raw=body,
        )
    # The first label listed speaks for the verdict (the vendor's order).
    first = labels[0]
    sublabel = reason.risk_tips or None
    if first == "C_customized":
        sublabel = next(_words(reason.customized_libs), None) or sublabel
    return Verdict(
        decision=decision,
        label=classify(first),
        sublabel=sublabel,
        keywords=words,
        vendor_label=first,
        request_id=request_id,
        raw=body,
    )


def read_answer(
    response: httpx.Response, *, plus: bool, bands: Bands, secrets: Sequence[str] = ()
) -> Verdict:
    """The Verdict for one answer (``plus``: TextModerationPlus, else TextModeration), or
    the typed error it stands for; ``secrets`` are scrubbed from any message quoted.
    Never a PASS for an answer that does not say so in the documented shape."""
    if response.status_code != 200:
        _raise_for_gateway(response, secrets)
    body = _json_object(response)
    envelope = _structure(body, _Envelope, "answer")
    if envelope.code != OK:
        raise business_error(envelope.code, envelope.message, secrets)
    if not isinstance(body.get("Data"), dict):
        raise ProtocolError("Alibaba Cloud Green answered code 200 without a Data object")
    request_id = envelope.request_id or None
    if plus:
        return _plus_verdict(_structure(body["Data"], _PlusData, "Data"), body, request_id, bands)
    return _classic_verdict(_structure(body["Data"], _ClassicData, "Data"), body, request_id, bands)
