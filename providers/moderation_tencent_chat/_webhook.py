"""``ContentCallback.ResultNotify``: verifying the request and reading it into the
core's ``WebhookEvent``.

Pure functions (no IO, no clock unless none is passed), so any web framework can call
them; the HTTP endpoint itself comes later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from moderation_core import (
    ContentType,
    Decision,
    ModerationError,
    Verdict,
    WebhookEvent,
    dedupe_key,
    time_window_problem,
)

from ._wire import keyword_problem, label_for, mask_text

__all__ = [
    "ACK",
    "MAX_BODY_BYTES",
    "RESULT_NOTIFY",
    "WINDOW_SECONDS",
    "DuplicateWebhookError",
    "WebhookError",
    "WebhookVerificationError",
    "parse_result_notify",
    "verify_webhook",
    "webhook_sign",
]

RESULT_NOTIFY = "ContentCallback.ResultNotify"
_PROVIDER_TYPE = "tencent_chat"  # TencentChatProvider.provider_type (_provider imports this)
# |now - RequestTime| allowed, both ways: the 1 minute Tencent documents (CONTRACTS 3.2).
WINDOW_SECONDS = 60.0
# A callback carries one message (at most 12 KB) and its metadata; far more is hostile.
MAX_BODY_BYTES = 256 * 1024
# What Tencent expects back (CONTRACTS 3.3): HTTP 200 and this body, within 2 s.
ACK = b'{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}'

_SUGGESTIONS = {
    "pass": Decision.PASS,
    "normal": Decision.PASS,  # doocs documents Block/Review/Normal; the seed Block/Review/Pass
    "review": Decision.REVIEW,
    "block": Decision.BLOCK,
}
_RESULTS = {1: Decision.BLOCK, 0: Decision.PASS}  # CtxcbResult: 1 intercepted, 0 let through
_CONTENT_TYPES = {t.name.lower(): t for t in ContentType}


class WebhookError(ModerationError):
    """A webhook request that is not a readable ``ContentCallback.ResultNotify``."""


class WebhookVerificationError(WebhookError):
    """A webhook request that failed a check; the message names the check. Answer it
    with HTTP 401/403 and do not act on it."""


class DuplicateWebhookError(WebhookError):
    """A callback already received within the window (same ``event_id``): a replay, or
    Tencent retrying one it did not see acknowledged. Answer ``ACK`` and do not act on
    it again."""


def webhook_sign(token: str, request_time: str | int) -> str:
    """``Sign``: lowercase hex SHA-256 of the token followed by RequestTime (no HMAC)."""
    return hashlib.sha256(f"{token}{request_time}".encode()).hexdigest()


def _query(query: Mapping[str, str] | str) -> Mapping[str, str]:
    if isinstance(query, str):
        return dict(parse_qsl(query.lstrip("?"), keep_blank_values=True))
    return query


def verify_webhook(
    query: Mapping[str, str] | str,
    *,
    sdkappid: int,
    token: str | None = None,
    now: float | None = None,
    window: float = WINDOW_SECONDS,
) -> None:
    """Check ``SdkAppid``, and with a token ``Sign`` and ``RequestTime`` (within
    ``window`` seconds of ``now``, before or after); raise ``WebhookVerificationError``
    naming the first check that failed. Without a token a ``RequestTime`` is still held
    to the window when present (unsigned, it proves nothing else)."""
    params = _query(query)
    appid = params.get("SdkAppid")
    if appid is None:
        raise WebhookVerificationError("SdkAppid check failed: the query has no SdkAppid")
    if appid.strip() != str(sdkappid):
        raise WebhookVerificationError(
            f"SdkAppid check failed: the request is for app {appid!r}, not this app"
        )
    sign = params.get("Sign")
    request_time = params.get("RequestTime")
    if token is None:
        if request_time is not None:
            _check_time(request_time, now, window)
        return
    if not sign or not request_time:
        raise WebhookVerificationError(
            "Sign check failed: a webhook token is configured but the query has no "
            "Sign/RequestTime (turn on webhook authentication in the console)"
        )
    _check_time(request_time, now, window)
    if not hmac.compare_digest(webhook_sign(token, request_time).encode(), sign.lower().encode()):
        raise WebhookVerificationError("Sign check failed: the signature does not match")


def _check_time(request_time: str, now: float | None, window: float) -> None:
    current = time.time() if now is None else now
    problem = time_window_problem(request_time, now=current, window=window, field="RequestTime")
    if problem is not None:
        raise WebhookVerificationError(problem)


def parse_result_notify(
    body: bytes | str | Mapping[str, Any],
    *,
    query: Mapping[str, str] | str | None = None,
    sdkappid: int | None = None,
    provider: str | None = None,
) -> WebhookEvent:
    """Read a ``ContentCallback.ResultNotify`` body (the command may sit in the query or
    the body). ``sdkappid``, when given, must match the body's ``SdkAppId``.

    Tencent gives no delivery id, so ``event_id`` is ``dedupe_key`` of the request id
    and the body: the same callback delivered twice has the same id. There is no
    message time (``timestamp`` None: ``RequestTime`` is when the callback was sent).
    ``CtxcbKeywords`` is bounded (``_wire.MAX_KEYWORDS``, ``MAX_KEYWORD_CHARS``), the
    body to ``MAX_BODY_BYTES``: beyond is a ``WebhookError``. ``action`` is None:
    ``CtxcbResult`` is the moderation service's result, and whether IM then withheld the
    message, replaced words or let it through depends on console settings the callback
    does not carry."""
    data = _body(body)
    params = _query(query) if query is not None else {}
    command = params.get("CallbackCommand") or data.get("CallbackCommand")
    if command != RESULT_NOTIFY:
        got = f"{command!r}" if command else "no CallbackCommand"
        raise WebhookError(f"not a {RESULT_NOTIFY} callback ({got})")
    body_appid = data.get("SdkAppId", data.get("SdkAppid"))
    if sdkappid is not None and body_appid is not None and str(body_appid) != str(sdkappid):
        raise WebhookVerificationError(
            "SdkAppId check failed: the body is for another app than the query says"
        )

    contact = data.get("ContactItem")
    contact = contact if isinstance(contact, Mapping) else {}
    text = data.get("TextContent")
    texts: tuple[str, ...]
    if isinstance(text, list):
        texts = tuple(str(t) for t in text)
    elif isinstance(text, str):
        texts = (text,)
    else:
        texts = ()
    file_url = _str(data.get("FileURL"))
    content_type = _CONTENT_TYPES.get(str(data.get("ContentType", "")).lower())
    request_id = _str(data.get("CtxcbRequestId")) or _str(data.get("CtxcbRequestID"))
    keywords = _keywords(data.get("CtxcbKeywords"))
    decision = _decision(data.get("CtxcbSuggestion"), data.get("CtxcbResult"))
    vendor_label = _str(data.get("CtxcbLabel"))
    masked = None
    if keywords and len(texts) == 1 and content_type in (ContentType.TEXT, None):
        masked = mask_text(texts[0], keywords)
    verdict = Verdict(
        decision=decision,
        label=label_for(vendor_label, decision),
        keywords=keywords,
        masked_text=masked,
        provider=provider,
        vendor_label=vendor_label,
        request_id=request_id,
        raw=data,
    )
    return WebhookEvent(
        verdict=verdict,
        provider_type=_PROVIDER_TYPE,
        event_id=_event_id(request_id, data),
        request_id=request_id,
        # IsRestAPI: the result of a content_moderation call (audio/video) that was PENDING.
        answers_pending=data.get("IsRestAPI") is True,
        scene=_str(data.get("Scene")),
        sender=_str(data.get("From_Account")),
        receiver=_str(contact.get("To_Account")),
        group=_str(contact.get("ToGroupId")),
        message_id=_str(data.get("MsgID")),
        content_type=content_type,
        contents=texts if texts else ((file_url,) if file_url else ()),
        action=None,
        timestamp=None,
        raw=data,
    )


def _body(body: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        return body
    if len(body) > MAX_BODY_BYTES:  # str: characters, at most 4 bytes each; close enough
        raise WebhookError(
            f"the webhook body is {len(body)} bytes, more than the {MAX_BODY_BYTES} accepted"
        )
    try:
        data = json.loads(body)
    except RecursionError:  # b"[" * 1000: nesting no callback has
        raise WebhookError("the webhook body is JSON nested too deeply") from None
    except ValueError:
        raise WebhookError("the webhook body is not JSON") from None
    if not isinstance(data, dict):
        raise WebhookError("the webhook body is not a JSON object")
    return data


def _keywords(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):  # absent or null: no keywords
        return ()
    keywords = tuple(str(k) for k in value)
    problem = keyword_problem(keywords)
    if problem is not None:
        raise WebhookError(f"CtxcbKeywords has {problem}")
    return keywords


def _event_id(request_id: str | None, data: Mapping[str, Any]) -> str:
    try:
        return dedupe_key(_PROVIDER_TYPE, request_id, data)
    except (
        RecursionError,
        ValueError,
        TypeError,
    ):  # a caller's own mapping: nested, circular, odd keys
        raise WebhookError("the webhook body cannot be read as JSON") from None


def _str(value: object) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _decision(suggestion: object, result: object) -> Decision:
    """CtxcbSuggestion when it is one we know. Else CtxcbResult: 1 (intercepted) is
    BLOCK; 0 (let through) is PASS only when no suggestion was given at all (the seed's
    own example has none); anything else is REVIEW, never a silent PASS."""
    if isinstance(suggestion, str) and suggestion.lower() in _SUGGESTIONS:
        return _SUGGESTIONS[suggestion.lower()]
    known_result = _RESULTS.get(result) if type(result) is int else None
    if known_result is Decision.BLOCK:
        return Decision.BLOCK
    if known_result is Decision.PASS and suggestion in (None, ""):
        return Decision.PASS
    return Decision.REVIEW
