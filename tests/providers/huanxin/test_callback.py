"""The moderation result callback: parsed into a ModerationEvent, verified by
``security = md5(callId + secret + timestamp)``."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from moderation_core import Action, Decision, Label, ModerationError, Secret
from moderation_huanxin import (
    CallbackError,
    CallbackVerificationError,
    ModerationEvent,
    callback_signature,
    parse_callback,
    read_callback,
    verify_callback,
)
from tests import fake_secrets as secrets

SECRET = secrets.HUANXIN_CALLBACK_SECRET
CALL_ID = "fake-org#fake-app_6d0d1f2a-6c5e-4b64-9a8e-0b1d8a2c7f31"
TIMESTAMP = 1700000000123


def callback(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "callId": CALL_ID,
        "eventType": "moderation",
        "moderationResult": "REJECT",
        "providerResult": "REJECT",
        "riskType": "广告:联系方式:网址",
        "messageType": "txt",
        "messageId": "1234567890123456789",
        "from": "u1",
        "to": "g1",
        "targetType": "groupchat",
        "appkey": "fake-org#fake-app",
        "msg": "加我 https://x.example",
        "source": {},
        "timestamp": TIMESTAMP,
    }
    body.update(fields)
    body.setdefault(
        "security",
        hashlib.md5(f"{body['callId']}{SECRET}{body['timestamp']}".encode()).hexdigest(),  # noqa: S324 - the vendor's scheme
    )
    return body


def test_signature_is_md5_of_the_plain_concatenation() -> None:
    expected = hashlib.md5(f"{CALL_ID}{SECRET}{TIMESTAMP}".encode()).hexdigest()  # noqa: S324
    assert callback_signature(CALL_ID, SECRET, TIMESTAMP) == expected
    assert expected == expected.lower()


@pytest.mark.parametrize("form", ["bytes", "str", "dict"])
def test_read_callback_verifies_and_parses(form: str) -> None:
    body = callback()
    raw: Any = {"bytes": json.dumps(body).encode(), "str": json.dumps(body), "dict": body}[form]
    event = read_callback(raw, SECRET, provider="huanxin")
    assert isinstance(event, ModerationEvent)
    assert event.call_id == CALL_ID
    assert (event.sender, event.to, event.group_id) == ("u1", "g1", "g1")
    assert (event.target_type, event.message_type, event.message_id) == (
        "groupchat",
        "txt",
        "1234567890123456789",
    )
    assert event.timestamp == TIMESTAMP
    assert event.action is Action.BLOCK
    verdict = event.verdict
    assert (verdict.decision, verdict.label, verdict.sublabel) == (
        Decision.BLOCK,
        Label.AD,
        "广告:联系方式:网址",
    )
    assert (verdict.provider, verdict.request_id, verdict.content_id) == (
        "huanxin",
        CALL_ID,
        "1234567890123456789",
    )
    assert event.raw == body


def test_secret_object_is_accepted() -> None:
    read_callback(callback(), Secret(SECRET))


def test_timestamp_as_string_verifies_too() -> None:
    read_callback(callback(timestamp=str(TIMESTAMP)), SECRET)


def test_uppercase_security_is_accepted() -> None:
    body = callback()
    body["security"] = body["security"].upper()
    read_callback(body, SECRET)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"security": "0" * 32}, "does not match"),
        ({"msg": "altered"}, None),  # the signature does not cover msg: documented limit
        ({"timestamp": TIMESTAMP + 1, "security": None}, "does not match"),
        ({"security": ""}, "no security"),
        ({"callId": ""}, "no callId"),
        ({"timestamp": None}, "no timestamp"),
    ],
)
def test_verification_failures_say_which_check_failed(
    change: dict[str, Any], reason: str | None
) -> None:
    body = callback()
    for key, value in change.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    if "security" in change and change["security"] is None:
        body["security"] = callback()["security"]  # signed for the old timestamp
    if reason is None:
        verify_callback(body, SECRET)
        return
    with pytest.raises(CallbackVerificationError, match=reason) as info:
        verify_callback(body, SECRET)
    assert isinstance(info.value, ModerationError)
    assert SECRET not in str(info.value)


def test_wrong_secret_fails_and_does_not_leak() -> None:
    with pytest.raises(CallbackVerificationError) as info:
        read_callback(callback(), "another-secret")
    assert "another-secret" not in str(info.value)
    assert callback()["security"] not in str(info.value)


def test_empty_secret_is_refused() -> None:
    with pytest.raises(CallbackVerificationError, match="no callback secret"):
        verify_callback(callback(), "")


def test_max_age_refuses_replays() -> None:
    now = TIMESTAMP / 1000
    verify_callback(callback(), SECRET, max_age=300, now=now + 299)
    with pytest.raises(CallbackVerificationError, match="old"):
        verify_callback(callback(), SECRET, max_age=300, now=now + 301)


@pytest.mark.parametrize(
    ("moderation_result", "provider_result", "decision", "action"),
    [
        ("PASS", "PASS", Decision.PASS, Action.ALLOW),
        ("REJECT", "REJECT", Decision.BLOCK, Action.BLOCK),
        ("PASS", "REVIEWED", Decision.REVIEW, Action.ALLOW),
        ("EXCHANGE", "REJECT", Decision.BLOCK, Action.MASK),
        ("EXCHANGE", None, Decision.BLOCK, Action.MASK),
        ("RECALL", None, Decision.BLOCK, Action.BLOCK),
        ("REJECT", None, Decision.BLOCK, Action.BLOCK),
        ("PASS", None, Decision.PASS, Action.ALLOW),
        ("SOMETHING_NEW", None, Decision.REVIEW, Action.REVIEW),
        ("PASS", "UNKNOWN", Decision.REVIEW, Action.ALLOW),
    ],
)
def test_results_map_to_decision_and_action(
    moderation_result: str, provider_result: str | None, decision: Decision, action: Action
) -> None:
    body = callback(moderationResult=moderation_result)
    if provider_result is None:
        del body["providerResult"]
    else:
        body["providerResult"] = provider_result
    event = parse_callback(body)
    assert (event.verdict.decision, event.action) == (decision, action)


def test_exchange_carries_the_masked_text() -> None:
    event = parse_callback(callback(moderationResult="EXCHANGE", msg="加我 ***"))
    assert event.verdict.masked_text == "加我 ***"
    assert parse_callback(callback()).verdict.masked_text is None


@pytest.mark.parametrize(
    ("risk_type", "label"),
    [
        ("无风险", Label.NORMAL),
        ("涉政", Label.POLITICS),
        ("仇恨言论", Label.HATE),
        ("色情", Label.PORN),
        ("成人内容", Label.SEXY),
        ("暴恐:爆炸", Label.VIOLENCE),
        ("违禁", Label.ILLEGAL),
        ("辱骂", Label.ABUSE),
        ("广告:联系方式:网址", Label.AD),
        ("二维码", Label.AD),
        ("未知", Label.UNKNOWN),
        ("新类别", Label.OTHER),
    ],
)
def test_risk_type_maps_to_label(risk_type: str, label: Label) -> None:
    verdict = parse_callback(callback(riskType=risk_type)).verdict
    assert verdict.label is label
    assert verdict.vendor_label == risk_type


def test_one_to_one_chat_has_no_group() -> None:
    event = parse_callback(callback(targetType="chat", to="u2"))
    assert (event.to, event.group_id) == ("u2", None)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({"eventType": "moderation"}),
        {"callId": "x", "eventType": "chat"},
    ],
)
def test_unreadable_callbacks_are_callback_errors(body: Any) -> None:
    with pytest.raises(CallbackError):
        parse_callback(body)


def test_event_is_frozen_and_repr_has_no_raw_payload() -> None:
    event = parse_callback(callback())
    with pytest.raises(AttributeError):
        event.call_id = "x"  # type: ignore[misc]
    assert "security" not in repr(event)
