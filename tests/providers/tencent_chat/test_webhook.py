"""``ContentCallback.ResultNotify``: signature, SdkAppid and time checks; parsing into
the core's ``WebhookEvent``."""

from __future__ import annotations

import json
from typing import Any

import pytest

import moderation_tencent_chat
from moderation_core import ContentType, Decision, Label, ModerationError, WebhookEvent
from moderation_core.testing import Clock
from moderation_tencent_chat import (
    ACK,
    TencentChatProvider,
    WebhookError,
    WebhookVerificationError,
    parse_result_notify,
    verify_webhook,
    webhook_sign,
)
from tests import fake_secrets as secrets

from .helpers import provider

APPID = 1400187352
# Seed 003's example body, as printed.
SEED_BODY = {
    "Scene": "C2C",
    "SdkAppId": 1400187352,
    "From_Account": "jared",
    "ContactItem": {"ContactType": 1, "To_Account": "Jonh"},
    "ContentType": "Text",
    "TextContent": ["aaabbbccc", "1234567"],
    "MsgID": "1434460578_4137340972_1661154487",
    "CtxcbResult": 1,
    "CtxcbRequestId": "241ed925-4c56-4357-95dd-1e6e7798f214",
}
SEED_QUERY = {
    "SdkAppid": str(APPID),
    "CallbackCommand": "ContentCallback.ResultNotify",
    "contenttype": "json",
}


def test_contract_worked_example_signature() -> None:
    assert webhook_sign("xxxxyyyy", 1669872112) == (
        "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"
    )
    assert webhook_sign("xxxxyyyy", "1669872112") == webhook_sign("xxxxyyyy", 1669872112)


WORKED_TOKEN = "xxxxyyyy"  # the CONTRACTS 3.2 worked example


def _signed(token: str = WORKED_TOKEN, at: int = 1669872112, **extra: str) -> dict[str, str]:
    return {**SEED_QUERY, "Sign": webhook_sign(token, at), "RequestTime": str(at), **extra}


def test_verify_accepts_the_worked_example() -> None:
    verify_webhook(_signed(), sdkappid=APPID, token="xxxxyyyy", now=1669872112 + 60)
    verify_webhook(_signed(), sdkappid=APPID, token="xxxxyyyy", now=1669872112 - 60)
    query = "?" + "&".join(f"{k}={v}" for k, v in _signed().items())
    verify_webhook(query, sdkappid=APPID, token="xxxxyyyy", now=1669872112)


def test_uppercase_hex_sign_is_accepted() -> None:
    query = _signed()
    query["Sign"] = query["Sign"].upper()
    verify_webhook(query, sdkappid=APPID, token="xxxxyyyy", now=1669872112)


@pytest.mark.parametrize(
    ("query", "now", "says"),
    [
        ({"CallbackCommand": "x"}, 1669872112, "SdkAppid check failed: the query has no SdkAppid"),
        (_signed(SdkAppid="1400000001"), 1669872112, "SdkAppid check failed"),
        (SEED_QUERY, 1669872112, "Sign check failed: a webhook token is configured"),
        (_signed(RequestTime="soon"), 1669872112, "RequestTime check failed: RequestTime is not"),
        (_signed(), 1669872112 + 61, "RequestTime check failed"),
        (_signed(), 1669872112 - 61, "RequestTime check failed"),
        (_signed(token="another-token"), 1669872112, "Sign check failed: the signature"),
        (_signed(at=1669872111, RequestTime="1669872112"), 1669872112, "Sign check failed"),
    ],
    ids=["no-appid", "other-app", "unsigned", "bad-time", "late", "early", "token", "replayed"],
)
def test_verify_says_which_check_failed(query: dict[str, str], now: int, says: str) -> None:
    with pytest.raises(WebhookVerificationError) as caught:
        verify_webhook(query, sdkappid=APPID, token="xxxxyyyy", now=now)
    assert says in str(caught.value)
    assert "xxxxyyyy" not in str(caught.value)
    assert isinstance(caught.value, ModerationError)


def test_without_a_token_only_the_appid_is_checked() -> None:
    verify_webhook(SEED_QUERY, sdkappid=APPID)
    with pytest.raises(WebhookVerificationError, match="SdkAppid"):
        verify_webhook(SEED_QUERY, sdkappid=1400000000)


def test_seed_example_parses() -> None:
    event = parse_result_notify(json.dumps(SEED_BODY), query=SEED_QUERY, sdkappid=APPID)
    assert isinstance(event, WebhookEvent)
    assert event.provider_type == TencentChatProvider.provider_type
    assert (event.scene, event.sender, event.receiver, event.group) == (
        "C2C",
        "jared",
        "Jonh",
        None,
    )
    assert event.message_id == "1434460578_4137340972_1661154487"
    assert event.request_id == "241ed925-4c56-4357-95dd-1e6e7798f214"
    assert event.answers_pending is False
    # Tencent sends no message time; CtxcbResult does not say what IM did with the
    # message (that depends on console settings), so no action either.
    assert (event.timestamp, event.action) == (None, None)
    # No delivery id either: the event id is a hash of the request id and the body.
    assert event.event_id is not None
    assert event.event_id.startswith("tencent_chat:")
    assert event.content_type is ContentType.TEXT
    assert event.contents == ("aaabbbccc", "1234567")
    # No CtxcbSuggestion: CtxcbResult 1 (intercepted) decides; no label given.
    assert (event.verdict.decision, event.verdict.label) == (Decision.BLOCK, Label.OTHER)
    assert event.verdict.request_id == event.request_id
    assert event.raw == SEED_BODY


def _body(**changes: Any) -> dict[str, Any]:
    body = {**SEED_BODY, **changes}
    return {k: v for k, v in body.items() if v is not None}


@pytest.mark.parametrize(
    ("suggestion", "result", "decision"),
    [
        ("Block", 1, Decision.BLOCK),
        ("Review", 0, Decision.REVIEW),
        ("Pass", 0, Decision.PASS),
        ("Normal", 0, Decision.PASS),
        ("Whatever", 0, Decision.REVIEW),
        ("Whatever", 1, Decision.BLOCK),
        (None, 1, Decision.BLOCK),
        (None, 0, Decision.PASS),  # item 16: 0 is "let through"; the seed sends no suggestion
        ("", 0, Decision.PASS),
        (None, None, Decision.REVIEW),
        (None, 2, Decision.REVIEW),
        (None, "0", Decision.REVIEW),
        (None, False, Decision.REVIEW),
    ],
)
def test_decision(suggestion: str | None, result: int | None, decision: Decision) -> None:
    body = _body(CtxcbSuggestion=suggestion, CtxcbResult=result)
    assert parse_result_notify(body, query=SEED_QUERY).verdict.decision is decision


def test_labels_keywords_and_mask() -> None:
    body = _body(
        TextContent=["加我微信 abc"],
        CtxcbSuggestion="Review",
        CtxcbLabel="Ad",
        CtxcbKeywords=["加我微信"],
    )
    verdict = parse_result_notify(body, query=SEED_QUERY, provider="tencent").verdict
    assert (verdict.label, verdict.vendor_label, verdict.keywords) == (
        Label.AD,
        "Ad",
        ("加我微信",),
    )
    assert verdict.masked_text == "**** abc"
    assert verdict.provider == "tencent"


def test_both_request_id_spellings_and_text_as_a_string() -> None:
    body = _body(CtxcbRequestId=None, CtxcbRequestID="rid-upper", TextContent="one text")
    event = parse_result_notify(body, query=SEED_QUERY)
    assert event.request_id == "rid-upper"
    assert event.contents == ("one text",)


def test_group_message_and_rest_api_media() -> None:
    body = _body(
        Scene="Group",
        ContactItem={"ContactType": 2, "ToGroupId": "@TGS#group"},
        ContentType="Video",
        TextContent=None,
        FileURL="https://cdn.example.com/v.mp4",
        IsRestAPI=True,
        MsgID=None,
    )
    event = parse_result_notify(body, query=SEED_QUERY)
    assert (event.group, event.receiver, event.message_id) == ("@TGS#group", None, None)
    assert event.answers_pending is True
    assert event.content_type is ContentType.VIDEO
    assert event.contents == ("https://cdn.example.com/v.mp4",)


def test_callback_command_may_sit_in_the_body() -> None:
    body = _body(CallbackCommand="ContentCallback.ResultNotify")
    assert parse_result_notify(body).request_id == SEED_BODY["CtxcbRequestId"]


@pytest.mark.parametrize(
    ("body", "query", "says"),
    [
        (SEED_BODY, None, "no CallbackCommand"),
        (SEED_BODY, {"CallbackCommand": "State.StateChange"}, "'State.StateChange'"),
        (b"not json", SEED_QUERY, "not JSON"),
        (b"[1]", SEED_QUERY, "not a JSON object"),
    ],
)
def test_unreadable_callbacks(body: Any, query: dict[str, str] | None, says: str) -> None:
    with pytest.raises(WebhookError, match=says):
        parse_result_notify(body, query=query)


def test_body_for_another_app_is_refused() -> None:
    with pytest.raises(WebhookVerificationError, match="SdkAppId"):
        parse_result_notify(SEED_BODY, query=SEED_QUERY, sdkappid=1400000000)


def test_provider_verifies_with_its_own_appid_and_token() -> None:
    clock = Clock(1669872112)
    prov = provider(clock, sdkappid=APPID, webhook_token=secrets.TENCENT_WEBHOOK_TOKEN)
    query = _signed(token=secrets.TENCENT_WEBHOOK_TOKEN)
    event = prov.parse_webhook(query, json.dumps(SEED_BODY).encode())
    assert event.verdict.provider == "tencent"
    clock.advance(61)
    with pytest.raises(WebhookVerificationError, match="RequestTime"):
        prov.parse_webhook(query, SEED_BODY)
    with pytest.raises(WebhookVerificationError, match="Sign"):
        prov.parse_webhook(_signed(token="xxxxyyyy"), SEED_BODY, now=1669872112)


def test_request_time_is_not_the_event_timestamp() -> None:
    # RequestTime is when Tencent sent the callback, not when the message was received.
    event = parse_result_notify(SEED_BODY, query=_signed())
    assert event.timestamp is None


def test_the_package_has_no_event_class_of_its_own() -> None:
    assert not hasattr(moderation_tencent_chat, "ModerationEvent")


def test_ack_body() -> None:
    assert json.loads(ACK) == {"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 0}
