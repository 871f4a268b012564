"""Easemob's moderation result callback: pure functions, no IO, no framework.

Your web handler passes the raw body and the callback rule's secret to
``read_callback``; it verifies ``security = md5(callId + secret + timestamp)`` in
constant time before reading anything else, then the ``appkey`` (when you name your
app) and the time window, and returns the core's ``WebhookEvent``. ``event.event_id``
(the ``callId``, which the signature covers) is the idempotency key: Easemob may
deliver one event more than once; pass a ``ReplayCache`` to have duplicates refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Mapping
from typing import Any

from moderation_core import (
    DEFAULT_WEBHOOK_WINDOW,
    Action,
    ContentType,
    Decision,
    ModerationError,
    ReplayCache,
    Secret,
    Verdict,
    WebhookEvent,
    time_window_problem,
    warn_unverified,
)

from ._labels import classify

__all__ = [
    "DEFAULT_MAX_AGE",
    "MAX_CALLBACK_BYTES",
    "CallbackError",
    "CallbackReplayError",
    "CallbackVerificationError",
    "accept_callback",
    "callback_signature",
    "parse_callback",
    "read_callback",
    "verify_callback",
]

log = logging.getLogger("moderation_huanxin")

_PROVIDER_TYPE = "huanxin"  # HuanxinProvider.provider_type
# Easemob documents no replay window; its timestamp is when it received the message and
# 99.95 % of callbacks arrive within 30 s of that, so the core's default (five minutes,
# either way) holds every timely delivery and its one retry.
DEFAULT_MAX_AGE = DEFAULT_WEBHOOK_WINDOW
# A callback carries one message (text at most 40 KB, CONTRACTS 4.3) and a few short
# fields; a body this big is not one, and is refused before it is parsed.
MAX_CALLBACK_BYTES = 1024 * 1024
# Easemob's timestamp is an integer of milliseconds; more digits is no time at all.
_MS_DIGITS = re.compile(r"[0-9]{1,20}")
_MAX_NUMBER = 10**20  # a number field longer than this cannot be a vendor id or time


class CallbackError(ModerationError):
    """The callback body is not a moderation result callback we can read."""


class CallbackVerificationError(CallbackError):
    """The callback failed verification; the message says which check failed."""


class CallbackReplayError(CallbackVerificationError):
    """The callback's ``callId`` was already accepted within the window: Easemob's
    retry, or a replay. Answer HTTP 200 (so Easemob stops retrying) and do not act on
    it again."""


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
# messageType; "custom" (and anything new) is left None: no ContentType says what it holds.
_MESSAGE_TYPES = {
    "txt": ContentType.TEXT,
    "img": ContentType.IMAGE,
    "audio": ContentType.AUDIO,
    "video": ContentType.VIDEO,
}
_GROUP_TARGETS = ("groupchat", "chatroom")


# -- reading the body ------------------------------------------------------------------


def _load(body: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    """The body as a JSON object. The signed fields live inside it, so it is decoded
    first, but nothing beyond those fields is read until the signature holds."""
    if isinstance(body, Mapping):
        return body
    if len(body) > MAX_CALLBACK_BYTES:
        raise CallbackError(f"the callback body is over {MAX_CALLBACK_BYTES} bytes")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise CallbackError("the callback body is not JSON") from None
    except RecursionError:  # b"[" * 100_000: nested past what the parser can follow
        raise CallbackError("the callback body is nested too deeply to be a callback") from None
    if not isinstance(payload, dict):
        raise CallbackError("the callback body is not a JSON object")
    return payload


def _text(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) < _MAX_NUMBER:
        return str(value)
    raise CallbackError(f"callback field {key} is not a string")


def _timestamp(value: object) -> float | None:
    """Easemob's ``timestamp`` (ms, a number or a numeric string) in seconds; None when
    it is not a plausible time (the raw value stays in ``event.raw``)."""
    if isinstance(value, str) and _MS_DIGITS.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not 0 <= value < _MAX_NUMBER:  # also NaN and inf; compared, never converted
        return None
    return value / 1000


# -- verification ----------------------------------------------------------------------


def _secret_text(secret: str | Secret | None) -> str:
    return secret.get() if isinstance(secret, Secret) else (secret or "")


def _signed_timestamp(payload: Mapping[str, Any]) -> int | str:
    """The ``timestamp`` exactly as it appears, for the signature: an integer or a
    string of ASCII digits."""
    timestamp = payload.get("timestamp")
    if isinstance(timestamp, str) and _MS_DIGITS.fullmatch(timestamp):
        return timestamp
    if isinstance(timestamp, int) and not isinstance(timestamp, bool):
        if 0 <= timestamp < _MAX_NUMBER:
            return timestamp
        raise CallbackVerificationError("the callback timestamp is not a Unix time")
    if timestamp is None or timestamp == "":
        raise CallbackVerificationError("the callback has no timestamp to verify")
    raise CallbackVerificationError("the callback timestamp is not a Unix time")


def _check_signature(payload: Mapping[str, Any], key: str) -> None:
    security = payload.get("security")
    if not isinstance(security, str) or not security:
        raise CallbackVerificationError("the callback has no security field")
    call_id = payload.get("callId")
    if not isinstance(call_id, str) or not call_id:
        raise CallbackVerificationError("the callback has no callId to verify")
    expected = callback_signature(call_id, key, _signed_timestamp(payload))
    given = security.lower().encode("utf-8", "surrogatepass")
    if not hmac.compare_digest(expected.encode(), given):
        raise CallbackVerificationError(
            "security does not match md5(callId + secret + timestamp): wrong callback "
            "secret, or the body was altered"
        )


def _check_max_age(max_age: float) -> float:
    if isinstance(max_age, bool) or not isinstance(max_age, int | float) or not max_age > 0:
        raise ValueError(f"max_age must be a positive number of seconds, got {max_age!r}")
    return float(max_age)


def _check_time(payload: Mapping[str, Any], max_age: float, now: float | None) -> None:
    problem = time_window_problem(
        _signed_timestamp(payload),
        now=time.time() if now is None else now,
        window=_check_max_age(max_age),
        per_second=1000,
    )
    if problem is not None:
        raise CallbackVerificationError(problem)


def _check_app(payload: Mapping[str, Any], app: str | None) -> None:
    """``appkey`` (``org_name#app_name``) must name the configured app: a callback rule
    of another app, or a body pasted from one, is not ours to act on."""
    if app is None:
        return
    appkey = payload.get("appkey")
    if not isinstance(appkey, str) or not appkey:
        raise CallbackVerificationError("appkey check failed: the callback names no appkey")
    if appkey != app:
        raise CallbackVerificationError(
            "appkey check failed: the callback is for another app than this one (org_name#app_name)"
        )


def _check_replay(event: WebhookEvent, replay: ReplayCache | None) -> None:
    if replay is None or event.event_id is None:
        return
    if not replay.first_seen(event.event_id):
        raise CallbackReplayError(
            "replay check failed: this callId was already accepted (a retry or a replay)"
        )


# -- the event -------------------------------------------------------------------------


def _event(payload: Mapping[str, Any], provider: str | None) -> WebhookEvent:
    call_id = _text(payload, "callId")
    if call_id is None:
        raise CallbackError("the callback has no callId")
    event_type = _text(payload, "eventType")
    if event_type is not None and event_type != "moderation":
        raise CallbackError(f"not a moderation callback (eventType {event_type[:40]!r})")
    moderation_result = _text(payload, "moderationResult")
    provider_result = _text(payload, "providerResult")
    result_key = (moderation_result or "").upper()
    if provider_result is not None:
        decision = _PROVIDER_RESULTS.get(provider_result.upper(), Decision.REVIEW)
    else:
        decision = _RESULT_DECISIONS.get(result_key, Decision.REVIEW)
    action = _ACTIONS.get(result_key)
    risk_type = _text(payload, "riskType")
    label, sublabel = classify(None, risk_type, decision)
    text = _text(payload, "msg")
    url = _text(payload, "url")
    verdict = Verdict(
        decision=decision,
        label=label,
        sublabel=sublabel,
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


def accept_callback(
    body: bytes | str | Mapping[str, Any],
    secret: str | Secret | None,
    *,
    app: str | None = None,
    provider: str | None = None,
    max_age: float = DEFAULT_MAX_AGE,
    now: float | None = None,
    replay: ReplayCache | None = None,
) -> WebhookEvent:
    """Every check in order, then the event: the signature (skipped only when
    ``secret`` is None), the time window, the appkey, the replay cache. For the
    provider, which may run without a secret; apps call ``read_callback``."""
    _check_max_age(max_age)  # a caller's mistake, whatever the body
    payload = _load(body)
    key = None if secret is None else _secret_text(secret)
    if key is not None:
        if not key:
            raise CallbackVerificationError("no callback secret configured to verify with")
        _check_signature(payload, key)
    _check_time(payload, max_age, now)
    _check_app(payload, app)
    event = _event(payload, provider)
    _check_replay(event, replay)
    return event


# -- the public functions --------------------------------------------------------------


def parse_callback(
    body: bytes | str | Mapping[str, Any],
    *,
    provider: str | None = None,
    app: str | None = None,
) -> WebhookEvent:
    """Read a moderation result callback WITHOUT verifying it (see ``read_callback``);
    logs one WARNING per process saying so. ``provider`` names the config's provider
    for ``verdict.provider``; ``app`` (``org_name#app_name``), when given, must be the
    body's ``appkey``.

    Easemob moderates delivered messages only, so ``answers_pending`` is False and
    ``request_id`` None; ``event_id`` is the ``callId``."""
    warn_unverified(log, "moderation_huanxin.parse_callback", "callback secret")
    payload = _load(body)
    _check_app(payload, app)
    return _event(payload, provider)


def callback_signature(call_id: str, secret: str, timestamp: int | str) -> str:
    """``md5(callId + secret + timestamp)`` as lowercase hex, as Easemob signs."""
    material = f"{call_id}{secret}{timestamp}".encode("utf-8", "surrogatepass")
    return hashlib.md5(material, usedforsecurity=False).hexdigest()


def verify_callback(
    body: bytes | str | Mapping[str, Any],
    secret: str | Secret,
    *,
    max_age: float = DEFAULT_MAX_AGE,
    now: float | None = None,
    app: str | None = None,
) -> None:
    """Raise ``CallbackVerificationError`` unless ``security`` matches, then unless
    ``timestamp`` lies within ``max_age`` seconds of ``now`` (before or after: a
    future time is as suspect as an old one) and, with ``app``, unless ``appkey`` is
    that app. ``now`` is the current Unix time, for tests."""
    _check_max_age(max_age)
    key = _secret_text(secret)
    if not key:
        raise CallbackVerificationError("no callback secret configured to verify with")
    payload = _load(body)
    _check_signature(payload, key)
    _check_time(payload, max_age, now)
    _check_app(payload, app)


def read_callback(
    body: bytes | str | Mapping[str, Any],
    secret: str | Secret,
    *,
    provider: str | None = None,
    max_age: float = DEFAULT_MAX_AGE,
    now: float | None = None,
    app: str | None = None,
    replay: ReplayCache | None = None,
) -> WebhookEvent:
    """Verify (see ``verify_callback``), parse, and with ``replay`` refuse a ``callId``
    already accepted (``CallbackReplayError``): the one call a web handler needs."""
    if not _secret_text(secret):
        raise CallbackVerificationError("no callback secret configured to verify with")
    return accept_callback(
        body, secret, app=app, provider=provider, max_age=max_age, now=now, replay=replay
    )
