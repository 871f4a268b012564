"""``/v1/hooks/tencent_chat``: Tencent IM's before-send callbacks answered as SERVICE.md's
table says, driven by the emulator playing IM (``moderation_tencent_chat.platform``)
against the app in process."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from moderation_core import ConfigError
from moderation_core.service import create_app
from moderation_tencent_chat import webhook_sign
from moderation_tencent_chat.platform import Scene
from tests.service.helpers import running
from tests.service.hook_helpers import (
    BLOCKED,
    CLEAN,
    FACE,
    LOCATION,
    SDKAPPID,
    SEXY,
    SPAM,
    TENCENT_URL,
    TOKEN,
    Vendor,
    custom,
    hook_config,
    image,
    metric,
    tencent_platform,
    text,
)

ALLOW = {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""}


def app_for(vendor: Vendor, **tencent: Any) -> Any:
    return create_app(hook_config(tencent=tencent), transport=vendor.transport)


async def test_a_clean_message_is_delivered_as_sent() -> None:
    vendor = Vendor()
    app = app_for(vendor)
    async with running(app):
        delivery = await tencent_platform(app).asend_c2c("u1", "u2", CLEAN)
    assert delivery.outcome == "delivered"
    assert delivery.answer == ALLOW
    assert delivery.fallback is None
    assert delivery.msg_body == (text(CLEAN),)
    assert vendor.calls == 1


@pytest.mark.parametrize(("scene", "sender_sees"), [("C2C", 20006), ("Group", 10016)])
async def test_a_blocked_message_is_rejected_with_the_reason(
    scene: Scene, sender_sees: int
) -> None:
    app = app_for(Vendor())
    async with running(app):
        delivery = await tencent_platform(app).asend(scene, "u1", "peer", BLOCKED)
    assert delivery.outcome == "rejected"
    assert delivery.error_code == sender_sees
    assert delivery.answer is not None
    assert delivery.answer["ErrorCode"] == 1
    assert "ABUSE" in delivery.answer["ErrorInfo"]


@pytest.mark.parametrize(
    ("reject_code", "c2c", "group"),
    [(120001, 120001, 10016), (10150, 20006, 10150), (1, 20006, 10016)],
)
async def test_a_custom_reject_code_reaches_the_sender_in_its_own_scene(
    reject_code: int, c2c: int, group: int
) -> None:
    app = app_for(Vendor(), reject_code=reject_code)
    async with running(app):
        im = tencent_platform(app)
        one = await im.asend_c2c("u1", "u2", BLOCKED)
        many = await im.asend_group("u1", "@TGS#group", BLOCKED)
    assert (one.error_code, many.error_code) == (c2c, group)
    if reject_code != 1:  # a custom code passes ErrorInfo through to the sender
        passed = one if c2c == reject_code else many
        assert "ABUSE" in passed.error_info


@pytest.mark.parametrize(
    ("review", "outcome", "code"),
    [("allow", "delivered", 0), ("block", "rejected", 1), ("discard", "dropped", 2)],
)
async def test_review_answers_as_configured(review: str, outcome: str, code: int) -> None:
    app = app_for(Vendor(), review=review)
    async with running(app):
        delivery = await tencent_platform(app).asend_c2c("u1", "u2", SEXY)
    assert delivery.outcome == outcome
    assert delivery.answer is not None
    assert delivery.answer["ErrorCode"] == code
    if outcome == "dropped":
        assert delivery.error_code == 0  # a silent discard: the sender is told it went out


async def test_mask_rewrites_only_the_masked_text_and_leaves_every_other_element() -> None:
    body = [text(CLEAN), FACE, text(SPAM), LOCATION, image("https://img.example.com/cat.jpg")]
    app = app_for(Vendor())
    async with running(app):
        delivery = await tencent_platform(app).asend_group("u1", "@TGS#g", body)
    assert delivery.outcome == "delivered"
    assert delivery.rewritten
    assert delivery.answer is not None
    assert delivery.answer["ErrorCode"] == 0
    delivered = delivery.msg_body
    assert delivered is not None
    assert [delivered[i] for i in (0, 1, 3, 4)] == [body[i] for i in (0, 1, 3, 4)]
    masked = delivered[2]["MsgContent"]["Text"]
    assert masked != SPAM
    assert "微信" not in masked
    assert "*" in masked
    assert len(masked) == len(SPAM)


async def test_several_masked_texts_are_each_rewritten() -> None:
    body = [text(SPAM), FACE, text("whatsapp me"), text(CLEAN)]
    app = app_for(Vendor())
    async with running(app):
        delivery = await tencent_platform(app).asend_c2c("u1", "u2", body)
    assert delivery.outcome == "delivered"
    delivered = delivery.msg_body
    assert delivered is not None
    assert "微信" not in delivered[0]["MsgContent"]["Text"]
    assert "whatsapp" not in delivered[2]["MsgContent"]["Text"].lower()
    assert delivered[1] == FACE
    assert delivered[3] == text(CLEAN)


async def test_a_custom_element_is_checked_and_masked_inside_its_data() -> None:
    data = json.dumps({"IMAuditContentType": "Text", "IMAuditContent": SPAM, "level": 3})
    element = custom(data, desc="card")
    app = app_for(Vendor())
    async with running(app):
        im = tencent_platform(app)
        masked = await im.asend_c2c("u1", "u2", [element])
        blocked = await im.asend_c2c("u1", "u2", [custom(BLOCKED)])
    assert blocked.outcome == "rejected"
    assert masked.outcome == "delivered"
    assert masked.msg_body is not None
    content = masked.msg_body[0]["MsgContent"]
    assert content["Desc"] == "card"
    rewritten = json.loads(content["Data"])
    assert rewritten["level"] == 3
    assert rewritten["IMAuditContentType"] == "Text"
    assert "微信" not in rewritten["IMAuditContent"]


async def test_images_are_checked_only_when_a_provider_takes_them() -> None:
    porn = [image("https://img.example.com/porn/1.jpg")]
    tencent_app = app_for(Vendor())
    async with running(tencent_app):
        checked = await tencent_platform(tencent_app).asend_c2c("u1", "u2", porn)
    assert checked.outcome == "rejected"

    local = {
        "providers": {"local": {"type": "local"}},
        "serve": {"hooks": {"tencent_chat": {"sdkappid": SDKAPPID, "token": TOKEN}}},
    }
    local_app = create_app(local)
    async with running(local_app):
        passed = await tencent_platform(local_app).asend_c2c("u1", "u2", porn)
    assert passed.outcome == "delivered"
    assert passed.answer == ALLOW


async def test_elements_of_unknown_types_pass_untouched() -> None:
    future = {"MsgType": "TIMFutureElem", "MsgContent": {"Text": BLOCKED}}
    vendor = Vendor()
    app = app_for(vendor)
    async with running(app):
        delivery = await tencent_platform(app).asend_c2c("u1", "u2", [future, FACE])
    assert delivery.outcome == "delivered"
    assert delivery.answer == ALLOW
    assert vendor.calls == 0  # nothing to check


def signed_query(command: str, *, appid: int = SDKAPPID, at: int | None = None) -> dict[str, str]:
    sent = int(time.time()) if at is None else at
    return {
        "SdkAppid": str(appid),
        "CallbackCommand": command,
        "contenttype": "json",
        "Sign": webhook_sign(TOKEN, sent),
        "RequestTime": str(sent),
    }


async def test_an_unknown_command_is_answered_zero_without_a_check() -> None:
    vendor = Vendor()
    app = app_for(vendor)
    async with running(app) as client:
        response = await client.post(
            "/v1/hooks/tencent_chat",
            params=signed_query("Group.CallbackAfterNewMemberJoin"),
            json={"GroupId": "@TGS#g", "NewMemberList": [{"Member_Account": "u9"}]},
        )
    assert response.status_code == 200
    assert response.json() == ALLOW
    assert vendor.calls == 0


@pytest.mark.parametrize(
    ("why", "options"),
    [
        ("another app", {"sdkappid": SDKAPPID + 1}),
        ("a forged Sign", {"token": "not-the-token"}),
        ("no Sign at all", {"token": None}),
        ("a stale RequestTime", {"clock": lambda: time.time() - 120}),
        ("a RequestTime from the future", {"clock": lambda: time.time() + 120}),
    ],
)
async def test_a_callback_that_fails_verification_gets_403_and_no_check(
    why: str, options: dict[str, Any]
) -> None:
    vendor = Vendor()
    app = app_for(vendor)
    async with running(app):
        delivery = await tencent_platform(app, **options).asend_c2c("u1", "u2", BLOCKED)
    # IM's own fallback then decides (deliver by default): the hook never ran the policy.
    assert delivery.fallback == "http 403", why
    assert vendor.calls == 0


async def test_verification_comes_before_the_command_is_looked_at() -> None:
    app = app_for(Vendor())
    async with running(app) as client:
        query = signed_query("Some.UnknownCommand", appid=1400000001)
        response = await client.post("/v1/hooks/tencent_chat", params=query, json={})
        query = signed_query("Some.UnknownCommand") | {"Sign": "0" * 64}
        forged = await client.post("/v1/hooks/tencent_chat", params=query, json={})
        exposition = (await client.get("/metrics")).text
    forbidden = {"hook": "tencent_chat", "answer": "forbidden", "cause": "none"}
    assert metric(exposition, "moderation_hook_answers_total", **forbidden) == 2
    assert response.status_code == 403
    assert forged.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert TOKEN not in response.text + forged.text


async def test_a_replayed_callback_is_refused() -> None:
    vendor = Vendor()
    app = app_for(vendor)
    async with running(app):
        im = tencent_platform(app)
        sent = im.callback("C2C", "u1", "u2", BLOCKED)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
            first = await client.send(sent.request)
            again = await client.send(sent.request)
    assert first.json()["ErrorCode"] == 1
    assert again.status_code == 403
    assert "replay" in again.json()["detail"]
    assert vendor.calls == 1


def result_notify(request_id: str = "r-1") -> dict[str, Any]:
    return {
        "Scene": "C2C",
        "SdkAppId": SDKAPPID,
        "From_Account": "u1",
        "ContactItem": {"ContactType": 1, "To_Account": "u2"},
        "ContentType": "Text",
        "TextContent": "some text",
        "CtxcbRequestId": request_id,
        "CtxcbResult": 1,
        "CtxcbSuggestion": "Block",
        "CtxcbLabel": "Porn",
    }


async def test_result_notify_is_verified_and_acknowledged_once() -> None:
    app = app_for(Vendor())
    async with running(app) as client:
        query = signed_query("ContentCallback.ResultNotify")
        first = await client.post("/v1/hooks/tencent_chat", params=query, json=result_notify())
        again = await client.post("/v1/hooks/tencent_chat", params=query, json=result_notify())
        forged = await client.post(
            "/v1/hooks/tencent_chat", params=query | {"Sign": "f" * 64}, json=result_notify()
        )
        other_app = await client.post(
            "/v1/hooks/tencent_chat",
            params=query,
            json=result_notify("r-2") | {"SdkAppId": SDKAPPID + 1},
        )
        garbage = await client.post("/v1/hooks/tencent_chat", params=query, content=b"{not json")
        exposition = (await client.get("/metrics")).text
    assert first.json() == ALLOW
    assert again.json() == ALLOW  # a retry or replay is acknowledged, not acted on twice
    assert forged.status_code == 403
    assert other_app.status_code == 403
    assert garbage.status_code == 200
    assert garbage.json()["ErrorCode"] != 0
    assert (
        metric(
            exposition,
            "moderation_hook_answers_total",
            hook="tencent_chat",
            answer="duplicate",
            cause="none",
        )
        == 1
    )


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"From_Account": "u1", "To_Account": "u2"}', "MsgBody"),
        (b'{"MsgBody": "text"}', "MsgBody"),
        (b'{"MsgBody": [1]}', "MsgBody[0]"),
        (b'{"MsgBody": [{"MsgType": "TIMTextElem", "MsgContent": {"Text": 5}}]}', "Text"),
        (b"\xff\xfe" + b"x" * 10, "not JSON"),
        (b"[" * 100_000, "nested"),
    ],
)
async def test_an_unreadable_message_is_rejected_in_the_platform_shape(
    body: bytes, why: str
) -> None:
    app = app_for(Vendor())
    async with running(app) as client:
        response = await client.post(
            "/v1/hooks/tencent_chat", params=signed_query("C2C.CallbackBeforeSendMsg"), content=body
        )
    assert response.status_code == 200
    answer = response.json()
    assert answer["ActionStatus"] == "OK"
    assert answer["ErrorCode"] == 1  # never delivered on our word
    assert why in answer["ErrorInfo"]


async def test_missing_optional_fields_and_empty_texts_are_tolerated() -> None:
    body = {"MsgBody": [text(""), text("   "), {"MsgType": "TIMTextElem"}, FACE]}
    vendor = Vendor()
    app = app_for(vendor)
    async with running(app) as client:
        response = await client.post(
            "/v1/hooks/tencent_chat", params=signed_query("C2C.CallbackBeforeSendMsg"), json=body
        )
    assert response.json() == ALLOW
    assert vendor.calls == 0


async def test_event_time_as_a_string_and_extra_fields_are_read() -> None:
    body = {
        "CallbackCommand": "Group.CallbackBeforeSendMsg",
        "GroupId": "@TGS#2J4SZEAEL",
        "Type": "ChatRoom",
        "From_Account": "jared",
        "Operator_Account": "admin",
        "Random": 123456,
        "OnlineOnlyFlag": 1,
        "MsgBody": [text(BLOCKED)],
        "CloudCustomData": "your cloud custom data",
        "TopicId": "@TGS#_@TGS#cQVLVHIM62CJ@TOPIC#_TestTopic",
        "EventTime": "1670574414123",
    }
    app = app_for(Vendor())
    async with running(app) as client:
        response = await client.post(
            "/v1/hooks/tencent_chat", params=signed_query("Group.CallbackBeforeSendMsg"), json=body
        )
    assert response.json()["ErrorCode"] == 1


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ({"sdkappid": SDKAPPID, "colour": "red"}, "colour"),
        ({"sdkappid": SDKAPPID, "reject_code": 5}, "reject_code"),
        ({"sdkappid": SDKAPPID, "budget_ms": 2500}, "budget_ms"),
        ({"sdkappid": SDKAPPID, "budget_ms": 0}, "budget_ms"),
        ({"sdkappid": SDKAPPID, "on_timeout": "maybe"}, "on_timeout"),
        ({"sdkappid": SDKAPPID, "review": "escalate"}, "review"),
        ({"token": TOKEN}, "sdkappid"),
    ],
)
def test_a_bad_hook_table_is_a_config_error_naming_the_key(
    table: dict[str, Any], words: str
) -> None:
    config = hook_config()
    config["serve"]["hooks"]["tencent_chat"] = table
    with pytest.raises(ConfigError) as caught:
        create_app(config)
    assert words in str(caught.value)
    assert "[serve.hooks.tencent_chat]" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_an_unknown_hook_name_is_a_config_error_listing_the_installed_ones() -> None:
    config = hook_config()
    config["serve"]["hooks"]["wechat"] = {"token": "x"}
    with pytest.raises(ConfigError) as caught:
        create_app(config)
    assert "wechat" in str(caught.value)
    assert "huanxin, tencent_chat" in str(caught.value)


async def test_an_unconfigured_hook_is_not_served() -> None:
    app = create_app(hook_config(huanxin={}))
    async with running(app) as client:
        response = await client.post("/v1/hooks/tencent_chat", json={})
    assert response.status_code == 404


def test_the_openapi_document_has_the_hook_paths() -> None:
    app = create_app(hook_config(tencent={}))
    document = json.loads(app.state.openapi)
    hook = document["paths"]["/v1/hooks/tencent_chat"]["post"]
    assert hook["security"] == []
    assert {"200", "403"} <= set(hook["responses"])
    assert "/v1/hooks/huanxin" in document["paths"]
    assert TENCENT_URL.endswith("/v1/hooks/tencent_chat")
