"""Easemob's moderation result callback: pure functions, no IO, no framework.

Your web handler passes the raw body and the callback rule's secret to
``read_callback``; it verifies ``security = md5(callId + secret + timestamp)`` in
constant time and returns the core's ``WebhookEvent``. ``event.event_id`` (the
``callId``) is the idempotency key: Easemob may deliver one event more than once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from moderation_core import (
    Action,
    ContentType,
    Decision,
    Label,
    ModerationError,
    Secret,
    Verdict,
    WebhookEvent,
)

__all__ = [
    "CallbackError",
    "CallbackVerificationError",
    "callback_signature",
    "parse_callback",
    "read_callback",
    "verify_callback",
]


_PROVIDER_TYPE = "huanxin"  # HuanxinProvider.type


class CallbackError(ModerationError):
    """The callback body is not a moderation result callback we can read."""


class CallbackVerificationError(CallbackError):
    """The callback failed verification; the message says which check failed."""


_PROVIDER_RESULTS = {
    "PASS": Decision.PASS,
    "REVIEWED": Decision.REVIEW,
    "REJECT": Decision.BLOCK,
}
# What happened to the message. EXCHANGE: delivered with the violating words replaced;
# RECALL: audio/video withdrawn after delivery.
_ACTIONS = {
    "PASS": Action.ALLOW,
    "REJECT": Action.BLOCK,
    "EXCHANGE": Action.MASK,
    "RECALL": Action.BLOCK,
}
# Used only when providerResult is missing: an exchanged message had violating words.
_RESULT_DECISIONS = {
    "PASS": Decision.PASS,
    "REJECT": Decision.BLOCK,
    "EXCHANGE": Decision.BLOCK,
    "RECALL": Decision.BLOCK,
}
# The callback carries only the localized riskType ("广告:联系方式:网址"); its first
# segment names the category (seed 004 lists them).
_RISK_TYPES = {
    "无风险": Label.NORMAL,
    "涉政": Label.POLITICS,
    "仇恨言论": Label.HATE,
    "色情": Label.PORN,
    "成人内容": Label.SEXY,
    "暴恐": Label.VIOLENCE,
    "违禁": Label.ILLEGAL,
    "辱骂": Label.ABUSE,
    "广告": Label.AD,
    "二维码": Label.AD,
    "未知": Label.UNKNOWN,
}
# messageType; "custom" (and anything new) is left None: no ContentType says what it holds.
_MESSAGE_TYPES = {
    "txt": ContentType.TEXT,
    "img": ContentType.IMAGE,
    "audio": ContentType.AUDIO,
    "video": ContentType.VIDEO,
}
_GROUP_TARGETS = ("groupchat", "chatroom")


def _load(body: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        return body
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise CallbackError("the callback body is not JSON") from None
    if not isinstance(payload, dict):
        raise CallbackError("the callback body is not a JSON object")
    return payload


def _text(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise CallbackError(f"callback field {key} is not a string")


def _label(risk_type: str | None, decision: Decision) -> Label:
    if risk_type is None:
        return Label.NORMAL if decision is Decision.PASS else Label.UNKNOWN
    category = risk_type.split(":", 1)[0].strip()
    return _RISK_TYPES.get(category, Label.OTHER)


def _timestamp(value: object) -> float | None:
    """Easemob's ``timestamp`` (ms, a number or a numeric string) in seconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int | float):
        return value / 1000
    return None


def parse_callback(
    body: bytes | str | Mapping[str, Any], *, provider: str | None = None
) -> WebhookEvent:
    """Read a moderation result callback WITHOUT verifying it (see ``read_callback``).
    ``provider`` names the config's provider for ``verdict.provider``.

    Easemob moderates delivered messages only, so ``answers_pending`` is False and
    ``request_id`` None; ``event_id`` is the ``callId``."""
    payload = _load(body)
    call_id = _text(payload, "callId")
    if call_id is None:
        raise CallbackError("the callback has no callId")
    event_type = _text(payload, "eventType")
    if event_type is not None and event_type != "moderation":
        raise CallbackError(f"not a moderation callback (eventType {event_type!r})")
    moderation_result = _text(payload, "moderationResult")
    provider_result = _text(payload, "providerResult")
    result_key = (moderation_result or "").upper()
    if provider_result is not None:
        decision = _PROVIDER_RESULTS.get(provider_result.upper(), Decision.REVIEW)
    else:
        decision = _RESULT_DECISIONS.get(result_key, Decision.REVIEW)
    action = _ACTIONS.get(result_key)
    risk_type = _text(payload, "riskType")
    label = _label(risk_type, decision)
    text = _text(payload, "msg")
    url = _text(payload, "url")
    verdict = Verdict(
        decision=decision,
        label=label,
        sublabel=None if label is Label.NORMAL else risk_type,
        masked_text=text if action is Action.MASK else None,
        provider=provider,
        vendor_label=risk_type,
        raw=payload,
    )
    # `to` is the peer user for "chat", the group or chat room otherwise; with no
    # targetType we cannot tell which, so neither is claimed (it stays in raw).
    to = _text(payload, "to")
    target_type = _text(payload, "targetType")
    message_type = _text(payload, "messageType")
    return WebhookEvent(
        verdict=verdict,
        provider_type=_PROVIDER_TYPE,
        event_id=call_id,
        request_id=None,
        answers_pending=False,
        scene=None,
        sender=_text(payload, "from"),
        receiver=to if target_type == "chat" else None,
        group=to if target_type in _GROUP_TARGETS else None,
        message_id=_text(payload, "messageId"),
        content_type=_MESSAGE_TYPES.get(message_type or ""),
        contents=tuple(c for c in (text, url) if c is not None),
        action=action,
        timestamp=_timestamp(payload.get("timestamp")),
        raw=payload,
    )


def callback_signature(call_id: str, secret: str, timestamp: int | str) -> str:
    """``md5(callId + secret + timestamp)`` as lowercase hex, as Easemob signs."""
    material = f"{call_id}{secret}{timestamp}".encode()
    return hashlib.md5(material, usedforsecurity=False).hexdigest()


def verify_callback(
    body: bytes | str | Mapping[str, Any],
    secret: str | Secret,
    *,
    max_age: float | None = None,
    now: float | None = None,
) -> None:
    """Raise ``CallbackVerificationError`` unless ``security`` matches. With
    ``max_age`` (seconds) an older ``timestamp`` is refused too (replay guard);
    ``now`` is the current Unix time, for tests."""
    payload = _load(body)
    key = secret.get() if isinstance(secret, Secret) else secret
    if not key:
        raise CallbackVerificationError("no callback secret configured to verify with")
    security = payload.get("security")
    if not isinstance(security, str) or not security:
        raise CallbackVerificationError("the callback has no security field")
    call_id = payload.get("callId")
    timestamp = payload.get("timestamp")
    if not isinstance(call_id, str) or not call_id:
        raise CallbackVerificationError("the callback has no callId to verify")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | str) or timestamp == "":
        raise CallbackVerificationError("the callback has no timestamp to verify")
    expected = callback_signature(call_id, key, timestamp)
    if not hmac.compare_digest(expected.encode(), security.lower().encode()):
        raise CallbackVerificationError(
            "security does not match md5(callId + secret + timestamp): wrong callback "
            "secret, or the body was altered"
        )
    if max_age is not None:
        try:
            sent = int(timestamp) / 1000
        except ValueError:
            raise CallbackVerificationError("the callback timestamp is not a number") from None
        age = (time.time() if now is None else now) - sent
        if age > max_age:
            raise CallbackVerificationError(
                f"the callback is {age:.0f} s old, over max_age {max_age:g} s (a replay?)"
            )


def read_callback(
    body: bytes | str | Mapping[str, Any],
    secret: str | Secret,
    *,
    provider: str | None = None,
    max_age: float | None = None,
    now: float | None = None,
) -> WebhookEvent:
    """Verify, then parse: the one call a web handler needs."""
    payload = _load(body)
    verify_callback(payload, secret, max_age=max_age, now=now)
    return parse_callback(payload, provider=provider)
