"""Yidun's answers on the wire: the shapes read (one private cattrs converter), the
label crosswalk, the decision map and the error-code table.

Everything vendor-specific about reading an answer lives here; ``_provider`` decides
what to send and where.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
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
    raise_for_status,
)
from moderation_core.wire import camel, read_json, strict_converter, structure_answer, vendor_text

__all__ = [
    "AUTH_CODES",
    "CLOCK_CODES",
    "LABELS",
    "MAX_ANSWER_BYTES",
    "MAX_KEYWORDS",
    "MAX_KEYWORD_CHARS",
    "RATE_LIMIT_CODES",
    "UNAVAILABLE_CODES",
    "Antispam",
    "Envelope",
    "LabelHit",
    "decision_for",
    "error_for",
    "keywords_of",
    "label_for",
    "main_hit",
    "read_body",
    "score_of",
    "structure",
    "sublabel_of",
]

# -- the crosswalk (docs/labels.md) ----------------------------------------------------

# Label codes of LabelEnum.java (CONTRACTS-MORE-VENDORS 5a.4): our label, and the
# sublabel a code carries when the shared taxonomy folds it into a broader label.
LABELS: Mapping[int, tuple[Label, str | None]] = {
    0: (Label.NORMAL, None),
    100: (Label.PORN, None),
    110: (Label.SEXY, None),
    200: (Label.AD, None),
    210: (Label.AD, "QRCode"),
    260: (Label.AD, "AdLaw"),  # 广告法: claims the advertising law forbids ("best", "No. 1")
    300: (Label.VIOLENCE, None),
    400: (Label.ILLEGAL, None),
    500: (Label.POLITICS, None),
    600: (Label.ABUSE, None),
    700: (Label.OTHER, "Flooding"),  # 灌水: spam by volume, not an ad
    800: (Label.OTHER, "Disgusting"),
    900: (Label.OTHER, None),
    1020: (Label.OTHER, "BlackScreen"),  # 1020-1050 are media labels; text never gets them
    1030: (Label.OTHER, "Idle"),
    1040: (Label.OTHER, None),  # 黑麦: its meaning is not documented
    1050: (Label.OTHER, "Noise"),
    1100: (Label.OTHER, "Values"),  # 涉价值观
}

_DECISIONS = {0: Decision.PASS, 1: Decision.REVIEW, 2: Decision.BLOCK}

# -- errors (CONTRACTS-MORE-VENDORS 5a.5: the text table and the auth table, merged;
# no code means different things in the two) ---------------------------------------------

RATE_LIMIT_CODES = frozenset({411})
AUTH_CODES = frozenset({401, 410, 5508, 5506})  # secretId/businessId, signature, business
CLOCK_CODES = frozenset({420, 5501})  # request expired: the timestamp is outside the window
UNAVAILABLE_CODES = frozenset({500, 503, 430})  # 430 replayed nonce: a retry sends a new one
_HINTS = {
    401: "check secret_id and business_id",
    402: "the business is offline: check business_id in the Yidun console",
    404: "service not found: check region / base_url",
    410: "the signature was refused: check secret_key and signature_method",
    411: "over the account's QPS: lower rate_limit",
    430: "a nonce was reused; a retry sends a new one",
    504: "the account's quota is used up (not retryable)",
    505: "the service is not enabled or has expired for this account",
    508: "the trial quota is used up",
    5506: "check business_id",
    5508: "the signature was refused: check secret_key and signature_method",
    5509: "invalid product: check region / base_url",
}
_CLOCK_HINT = (
    "the request's timestamp is outside Yidun's window: this machine's clock is off "
    "(sync it with NTP)"
)

# An answer is one JSON object; a batch of 100 with every detail is far below this. A
# larger body is hostile or broken, refused before parsing.
MAX_ANSWER_BYTES = 8 * 1024 * 1024
# Yidun documents no bound on keywords; these are far above a 10,000-character text's
# worth and keep hostile input from costing more than it is worth.
MAX_KEYWORDS = 200
MAX_KEYWORD_CHARS = 256


def error_for(code: int, msg: str, *, secrets: Sequence[str] = ()) -> ProviderError:
    """The typed error for a body ``code`` other than 200."""
    # A vendor may quote parameters back, the signature among them (in either case).
    text = vendor_text(msg, secrets)
    message = "Yidun refused the request"  # the error's str adds the code
    if text:
        message += f": {text}"
    if code in CLOCK_CODES:
        return AuthError(f"{message} ({_CLOCK_HINT})", code=code)
    hint = _HINTS.get(code)
    if hint:
        message += f" ({hint})"
    if code in RATE_LIMIT_CODES:
        return RateLimited(message, code=code)
    if code in AUTH_CODES:
        return AuthError(message, code=code)
    if code in UNAVAILABLE_CODES:
        return ProviderUnavailable(message, code=code)
    return ProviderError(message, code=code)


# -- the shapes read ---------------------------------------------------------------------


@attrs.frozen
class Envelope:
    """What every answer carries (``base_response.go``)."""

    code: int
    msg: str | None = None


@attrs.frozen
class Keyword:
    word: str | None = None


@attrs.frozen
class Details:
    keywords: list[Keyword] = attrs.Factory(list)


@attrs.frozen
class SubLabel:
    sub_label: str | None = None
    details: Details | None = None


@attrs.frozen
class LabelHit:
    """One ``labels[]`` entry: a label code the text hit, how surely, and why."""

    label: int
    level: int | None = None
    rate: float | None = None
    sub_labels: list[SubLabel] = attrs.Factory(list)


@attrs.frozen
class Antispam:
    """``result.antispam``: the part of an answer a verdict is made of."""

    suggestion: int
    task_id: str | None = None
    data_id: str | None = None
    label: int | None = None
    second_label: str | None = None
    labels: list[LabelHit] = attrs.Factory(list)


_CONVERTER = strict_converter(
    structure={
        Envelope: {},
        Keyword: {},
        Details: {},
        SubLabel: camel,
        LabelHit: camel,
        Antispam: camel,
    },
    null_lists=True,  # the SDK's pointers: an absent list may come as null
    finite_floats=False,  # a rate that is not finite is no score (score_of), not an error
)


def structure(data: Any, cls: type[Any], what: str) -> Any:
    """Structure with the private converter; a shape mismatch is a ``ProtocolError``."""
    return structure_answer(
        _CONVERTER, data, cls, prefix="unexpected answer shape from Yidun", path=what
    )


def read_body(response: httpx.Response, *, secrets: Sequence[str] = ()) -> dict[str, Any]:
    """The body of a successful answer. An HTTP error status is the core's typed error
    (the vendor answers HTTP 200 with a ``code`` when it refuses); a body that is not
    the documented JSON object is a ``ProtocolError``; a ``code`` other than 200 is
    the error of the table above."""
    status = response.status_code
    if status != 200:
        raise_for_status(response)
        raise ProtocolError(f"Yidun answered HTTP {status} instead of 200")
    body = read_json(response, vendor="Yidun", max_bytes=MAX_ANSWER_BYTES)
    if not isinstance(body, dict) or "code" not in body:
        raise ProtocolError("Yidun's answer is not a JSON object with a code")
    envelope: Envelope = structure(body, Envelope, "answer")
    if envelope.code != 200:
        raise error_for(envelope.code, envelope.msg or "", secrets=secrets)
    return body


# -- mapping one antispam result --------------------------------------------------------


def decision_for(suggestion: int) -> Decision:
    """0 PASS, 1 REVIEW, 2 BLOCK; any other value REVIEW, never a silent PASS."""
    return _DECISIONS.get(suggestion, Decision.REVIEW)


def main_hit(antispam: Antispam) -> LabelHit | None:
    """The ``labels[]`` entry the verdict rests on: the one for ``label`` when the
    answer names it (older answers do not), else the surest hit."""
    if not antispam.labels:
        return None
    if antispam.label is not None:
        for hit in antispam.labels:
            if hit.label == antispam.label:
                return hit
    return max(antispam.labels, key=lambda hit: (hit.level or 0, _finite(hit.rate) or 0.0))


def label_for(code: int | None, decision: Decision) -> tuple[Label, str | None]:
    """Our label and the sublabel a folded code carries. No code is NORMAL on a pass
    and OTHER on a finding; an unlisted code is OTHER."""
    if code is None or (code == 0 and decision is not Decision.PASS):
        return (Label.NORMAL, None) if decision is Decision.PASS else (Label.OTHER, None)
    return LABELS.get(code, (Label.OTHER, None))


def sublabel_of(antispam: Antispam, hit: LabelHit | None, folded: str | None) -> str | None:
    """The crosswalk's sublabel for a folded code (``QRCode`` for 210, as for every
    vendor), else ``secondLabel``, else the main hit's first ``subLabel``."""
    if folded:
        return folded
    if antispam.second_label:
        return antispam.second_label
    if hit is not None:
        for sub in hit.sub_labels:
            if sub.sub_label:
                return sub.sub_label
    return None


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def score_of(hit: LabelHit | None) -> int | None:
    """``rate`` as 0-100: a 0-1 rate is scaled, a larger one taken as 0-100 already;
    clamped; None when absent or not finite."""
    rate = _finite(hit.rate) if hit is not None else None
    if rate is None:
        return None
    scaled = rate * 100 if rate <= 1 else rate
    return max(0, min(100, round(scaled)))


def keywords_of(antispam: Antispam) -> tuple[str, ...]:
    """Every ``labels[].subLabels[].details.keywords[].word``, once each, in order;
    more or longer than the bounds is a ``ProtocolError``."""
    words: dict[str, None] = {}
    for hit in antispam.labels:
        for sub in hit.sub_labels:
            if sub.details is None:
                continue
            for keyword in sub.details.keywords:
                if keyword.word:
                    words[keyword.word] = None
    if len(words) > MAX_KEYWORDS:
        raise ProtocolError(f"the answer has {len(words)} keywords, more than {MAX_KEYWORDS}")
    longest = max(map(len, words), default=0)
    if longest > MAX_KEYWORD_CHARS:
        raise ProtocolError(
            f"the answer has a keyword of {longest} characters, more than {MAX_KEYWORD_CHARS}"
        )
    return tuple(words)
