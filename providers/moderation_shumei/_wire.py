"""Shumei text v4 on the wire: the request body, and the answer read into a Verdict or
a typed error. This module owns the vendor's JSON keys (one private cattrs converter);
nothing outside it knows them.

Shumei answers HTTP 200 for every outcome and puts the result in ``code``: 1100 is a
verdict, anything else an error (CONTRACTS-MORE-VENDORS 5b.3).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs
import httpx

from moderation_core import (
    AuthError,
    Decision,
    ProtocolError,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    Verdict,
    raise_for_status,
)
from moderation_core.wire import (
    camel,
    read_json_object,
    strict_converter,
    structure_answer,
    vendor_text,
)

from ._labels import classify

__all__ = [
    "MAX_ANSWER_BYTES",
    "MAX_KEYWORDS",
    "MAX_KEYWORD_CHARS",
    "MAX_TEXT_CHARS",
    "OK",
    "error_for",
    "read_answer",
    "token_id",
]

OK = 1100
MAX_TEXT_CHARS = 10_000  # data.text; over it the vendor answers 1905
# An answer for a 10,000-character text, with every label and list hit, is tens of KB;
# past this it is not an answer but a fault, refused before it is parsed.
MAX_ANSWER_BYTES = 2 * 1024 * 1024
# Shumei documents no bound on matched words. These keep a hostile answer (thousands
# of words, or one the size of the text) from costing more than it is worth.
MAX_KEYWORDS = 200
MAX_KEYWORD_CHARS = 1000
_MAX_MESSAGE = 200

# data.tokenId and extra.receiveTokenId: at most 64 of [0-9A-Za-z_-] (5b.2).
_TOKEN_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
_DECISIONS = {"PASS": Decision.PASS, "REVIEW": Decision.REVIEW, "REJECT": Decision.BLOCK}


def token_id(user: str) -> str:
    """A user id as Shumei takes it: as is when it fits ``[0-9A-Za-z_-]{1,64}``, else a
    stable digest of it (the vendor suggests an encrypted UID), so one user keeps one
    risk profile and an e-mail address or a Chinese name is never a 1902."""
    if _TOKEN_ID.fullmatch(user):
        return user
    return "sha256_" + hashlib.sha256(user.encode()).hexdigest()[:48]


def is_token_id(value: str) -> bool:
    return _TOKEN_ID.fullmatch(value) is not None


# -- the answer, mapped by this package's own converter --------------------------------


@attrs.frozen
class _Word:
    word: str | None = None


@attrs.frozen
class _MatchedList:
    name: str | None = None
    words: list[_Word] | None = None


@attrs.frozen
class _Segment:
    segment: str | None = None


@attrs.frozen
class _RiskDetail:
    matched_lists: list[_MatchedList] | None = None
    risk_segments: list[_Segment] | None = None


@attrs.frozen
class _LabelHit:
    """One entry of ``allLabels``."""

    risk_label1: str | None = None
    risk_label2: str | None = None
    probability: float | None = None
    risk_detail: _RiskDetail | None = None


@attrs.frozen
class _AuxInfo:
    filtered_text: str | None = None


@attrs.frozen
class _Answer:
    code: int
    message: str | None = None
    request_id: str | None = None
    risk_level: str | None = None
    risk_label1: str | None = None
    risk_label2: str | None = None
    risk_detail: _RiskDetail | None = None
    aux_info: _AuxInfo | None = None
    all_labels: list[_LabelHit] | None = None


# Strict: a vendor that sends "5" for a number or an object for a list has changed its
# shape, and guessing would map it to a wrong verdict.
_CONVERTER = strict_converter(
    structure=dict.fromkeys(
        (_Word, _MatchedList, _Segment, _RiskDetail, _LabelHit, _AuxInfo, _Answer), camel
    )
)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    # Refused unread over MAX_ANSWER_BYTES: past it an answer is a fault.
    return read_json_object(response, vendor="Shumei", max_bytes=MAX_ANSWER_BYTES)


def _structure(body: Mapping[str, Any]) -> _Answer:
    return structure_answer(
        _CONVERTER, body, _Answer, prefix="unexpected answer from Shumei", limit=_MAX_MESSAGE
    )


# -- errors ---------------------------------------------------------------------------


def _quoted(message: str | None, secrets: Sequence[str]) -> str:
    """The vendor's message for an error text: short, single-line, never a credential."""
    text = vendor_text(message, secrets, limit=_MAX_MESSAGE)
    return f" ({text!r})" if text else ""


def error_for(code: int, message: str | None, secrets: Sequence[str] = ()) -> ProviderError:
    """The typed error for a ``code`` other than 1100; ``secrets`` are scrubbed from the
    vendor's message in case it quotes the request."""
    said = _quoted(message, secrets)
    if code == 1901:
        return RateLimited(f"Shumei QPS limit exceeded (code 1901){said}", code=code)
    if code == 1903:
        return ProviderUnavailable(f"Shumei service failure (code 1903){said}", code=code)
    if code == 9101:
        return AuthError(
            f"Shumei refused the request as unauthorized (code 9101){said}: check access_key, "
            "app_id, and that the event id and risk_type are enabled for that app",
            code=code,
        )
    if code == 1905:
        return ProviderError(
            f"Shumei refused the text as over its {MAX_TEXT_CHARS:,}-character limit "
            f"(code 1905){said}",
            code=code,
        )
    if code == 1902:
        return ProviderError(
            f"Shumei refused a parameter (code 1902){said}: check app_id, event_id / "
            "event_ids (provisioned per app by Shumei), risk_type and lang",
            code=code,
        )
    return ProviderError(f"Shumei answered code {code}{said}", code=code)


# -- the verdict ----------------------------------------------------------------------


def _detail_words(detail: _RiskDetail | None) -> Iterator[str]:
    if detail is None:
        return
    for matched in detail.matched_lists or ():
        yield from (w.word for w in matched.words or () if w.word)
    yield from (s.segment for s in detail.risk_segments or () if s.segment)


def _same_label(hit: _LabelHit, label1: str | None) -> bool:
    return bool(label1) and (hit.risk_label1 or "").lower() == (label1 or "").lower()


def _keywords(answer: _Answer) -> tuple[str, ...]:
    """Matched words and risk segments behind the verdict's label: the top-level
    ``riskDetail`` and every ``allLabels`` entry with the same ``riskLabel1`` (the
    official example names its words only there)."""
    words = list(_detail_words(answer.risk_detail))
    for hit in answer.all_labels or ():
        if _same_label(hit, answer.risk_label1):
            words += _detail_words(hit.risk_detail)
    keywords = tuple(dict.fromkeys(words))
    if len(keywords) > MAX_KEYWORDS:
        raise ProtocolError(
            f"Shumei answered {len(keywords)} matched words, more than the {MAX_KEYWORDS} accepted"
        )
    longest = max(map(len, keywords), default=0)
    if longest > MAX_KEYWORD_CHARS:
        raise ProtocolError(
            f"Shumei answered a matched word of {longest} characters, more than the "
            f"{MAX_KEYWORD_CHARS} accepted"
        )
    return keywords


def _score(answer: _Answer) -> int | None:
    """``probability`` (0-1) of the ``allLabels`` entry behind the verdict, as 0-100: the
    one with the same riskLabel1 and riskLabel2, else the highest with the same
    riskLabel1; None when the answer has none (a PASS has no allLabels)."""
    hits = answer.all_labels or ()
    for hit in hits:
        if hit.probability is not None and not 0 <= hit.probability <= 1:
            raise ProtocolError(
                f"Shumei answered a probability of {hit.probability:g}, outside 0-1"
            )
    same = [h for h in hits if _same_label(h, answer.risk_label1)]
    exact = [h for h in same if (h.risk_label2 or "") == (answer.risk_label2 or "")]
    found = [h.probability for h in exact or same if h.probability is not None]
    return round(max(found) * 100) if found else None


def read_answer(response: httpx.Response, secrets: Sequence[str] = ()) -> Verdict:
    """The Verdict for one answer, or the typed error it stands for. Never a PASS for an
    answer that does not say PASS in the documented shape."""
    if response.status_code != 200:  # the vendor answers 200; a proxy or gateway did not
        raise_for_status(response)  # 401 AuthError, 429 RateLimited, 5xx unavailable, ...
        raise ProtocolError(f"Shumei answered HTTP {response.status_code}, not 200")
    body = _json_object(response)
    answer = _structure(body)
    if answer.code != OK:
        raise error_for(answer.code, answer.message, secrets)
    if not answer.risk_level:
        raise ProtocolError("Shumei answered code 1100 without a riskLevel")
    # A riskLevel we do not know is REVIEW: never silently PASS, never BLOCK on a guess.
    decision = _DECISIONS.get(answer.risk_level.upper(), Decision.REVIEW)
    filtered = answer.aux_info.filtered_text if answer.aux_info is not None else None
    return Verdict(
        decision=decision,
        label=classify(answer.risk_label1, decision),
        sublabel=answer.risk_label2 or None,
        score=_score(answer),
        keywords=_keywords(answer),
        masked_text=filtered or None,
        vendor_label=answer.risk_label1 or None,
        request_id=answer.request_id or None,
        raw=body,
    )
