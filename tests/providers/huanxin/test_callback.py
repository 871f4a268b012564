"""The moderation result callback: parsed into the core's WebhookEvent, verified by
``security = md5(callId + secret + timestamp)``."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

import moderation_huanxin
from moderation_core import (
    Action,
    ContentType,
    Decision,
    Label,
    ModerationError,
    Secret,
    WebhookEvent,
)
from moderation_huanxin import (
    CallbackError,
    CallbackVerificationError,
    HuanxinProvider,
    callback_signature,
    parse_callback,
    read_callback,
    verify_callback,
)
from tests import fake_secrets as secrets

SECRET = secrets.HUANXIN_CALLBACK_SECRET
CALL_ID = "fake-org#fake-app_6d0d1f2a-6c5e-4b64-9a8e-0b1d8a2c7f31"
TIMESTAMP = 1700000000123
NOW = TIMESTAMP / 1000 + 5  # the callback arrives 5 s after Easemob received the message


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
    event = read_callback(raw, SECRET, provider="huanxin", now=NOW)
    assert isinstance(event, WebhookEvent)
    assert event.provider_type == HuanxinProvider.provider_type
    assert event.event_id == CALL_ID
    # Easemob moderates delivered messages: nothing pending to answer, no request id.
    assert (event.request_id, event.answers_pending, event.scene) == (None, False, None)
    assert (event.sender, event.receiver, event.group) == ("u1", None, "g1")
    assert event.message_id == "1234567890123456789"
    assert (event.content_type, event.contents) == (ContentType.TEXT, ("加我 https://x.example",))
    assert event.timestamp == TIMESTAMP / 1000
    assert event.action is Action.BLOCK
    verdict = event.verdict
    assert (verdict.decision, verdict.label, verdict.sublabel) == (
        Decision.BLOCK,
        Label.AD,
        "广告:联系方式:网址",
    )
    # callId identifies the delivery and messageId the message (event fields); neither is
    # a moderation request id nor the caller's content id.
    assert (verdict.provider, verdict.request_id, verdict.content_id) == ("huanxin", None, None)
    assert event.raw == body
    assert (event.raw["appkey"], event.raw["moderationResult"]) == ("fake-org#fake-app", "REJECT")


def test_secret_object_is_accepted() -> None:
    read_callback(callback(), Secret(SECRET), now=NOW)


def test_timestamp_as_string_verifies_too() -> None:
    read_callback(callback(timestamp=str(TIMESTAMP)), SECRET, now=NOW)


def test_uppercase_security_is_accepted() -> None:
    body = callback()
    body["security"] = body["security"].upper()
    read_callback(body, SECRET, now=NOW)


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
        verify_callback(body, SECRET, now=NOW)
        return
    with pytest.raises(CallbackVerificationError, match=reason) as info:
        verify_callback(body, SECRET, now=NOW)
    assert isinstance(info.value, ModerationError)
    assert SECRET not in str(info.value)


def test_wrong_secret_fails_and_does_not_leak() -> None:
    with pytest.raises(CallbackVerificationError) as info:
        read_callback(callback(), "another-secret", now=NOW)
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
        ("SOMETHING_NEW", None, Decision.REVIEW, None),
        ("PASS", "UNKNOWN", Decision.REVIEW, Action.ALLOW),
    ],
)
def test_results_map_to_decision_and_action(
    moderation_result: str,
    provider_result: str | None,
    decision: Decision,
    action: Action | None,
) -> None:
    body = callback(moderationResult=moderation_result)
    if provider_result is None:
        del body["providerResult"]
    else:
        body["providerResult"] = provider_result
    event = parse_callback(body)
    assert (event.verdict.decision, event.action) == (decision, action)


def test_no_moderation_result_means_no_action() -> None:
    body = callback()
    del body["moderationResult"]
    event = parse_callback(body)
    assert (event.verdict.decision, event.action) == (Decision.BLOCK, None)


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


@pytest.mark.parametrize(
    ("target_type", "receiver", "group"),
    [
        ("chat", "x1", None),
        ("groupchat", None, "x1"),
        ("chatroom", None, "x1"),
        (None, None, None),  # cannot tell a user from a group: `to` stays in raw only
    ],
)
def test_to_is_the_receiver_or_the_group(
    target_type: str | None, receiver: str | None, group: str | None
) -> None:
    body = callback(to="x1", targetType=target_type)
    if target_type is None:
        del body["targetType"]
    event = parse_callback(body)
    assert (event.receiver, event.group) == (receiver, group)
    assert event.raw["to"] == "x1"


@pytest.mark.parametrize(
    ("message_type", "content_type"),
    [
        ("txt", ContentType.TEXT),
        ("img", ContentType.IMAGE),
        ("audio", ContentType.AUDIO),
        ("video", ContentType.VIDEO),
        ("custom", None),
    ],
)
def test_message_type_maps_to_content_type(
    message_type: str, content_type: ContentType | None
) -> None:
    assert parse_callback(callback(messageType=message_type)).content_type is content_type


def test_media_contents_are_the_url() -> None:
    body = callback(messageType="video", url="https://cdn.example.com/v.mp4", msg="")
    event = parse_callback(body)
    assert (event.content_type, event.contents) == (
        ContentType.VIDEO,
        ("https://cdn.example.com/v.mp4",),
    )


@pytest.mark.parametrize(
    ("timestamp", "seconds"),
    [(TIMESTAMP, TIMESTAMP / 1000), (str(TIMESTAMP), TIMESTAMP / 1000), ("soon", None)],
)
def test_timestamp_is_in_seconds(timestamp: object, seconds: float | None) -> None:
    assert parse_callback(callback(timestamp=timestamp)).timestamp == seconds


def test_documented_example_parses() -> None:
    # Easemob's "审核回调内容" example, as printed (security not recomputed).
    body = {
        "callId": "100220419126072#demo_54ae7e93-xxxx-xxxx-92f5-323e33187243",
        "moderationResult": "PASS",
        "providerResult": "PASS",
        "security": "1f4857f120b2789b7d0abcd372c4f9e8",
        "messageType": "txt",
        "messageId": "1F4MX6iSdI7VFnN7Hm0vrcr3Uwr",
        "targetType": "chat",
        "appkey": "100220419126072#lydemo",
        "source": {},
        "eventType": "moderation",
        "from": "qa2",
        "to": "qa1",
        "url": "",
        "msg": "你好",
        "timestamp": 1668766253245,
    }
    event = parse_callback(body)
    assert (event.sender, event.receiver, event.group) == ("qa2", "qa1", None)
    assert (event.contents, event.action) == (("你好",), Action.ALLOW)
    assert (event.verdict.decision, event.verdict.label) == (Decision.PASS, Label.NORMAL)
    assert event.timestamp == 1668766253.245


def test_the_package_has_no_event_class_of_its_own() -> None:
    assert not hasattr(moderation_huanxin, "ModerationEvent")


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
        event.event_id = "x"  # type: ignore[misc]
    assert "security" not in repr(event)
