"""``/v1/hooks/huanxin``: Easemob's pre-send callback answered as SERVICE.md says,
driven by the emulator playing Easemob (``moderation_huanxin.platform``) against the
app in process; the moderation result callback verified and acknowledged."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from moderation_core import ConfigError
from moderation_core.service import create_app
from moderation_huanxin import callback_signature
from moderation_huanxin.platform import MAX_ANSWER_CHARS, ChatType
from tests.service.helpers import running
from tests.service.hook_helpers import (
    BLOCKED,
    CLEAN,
    SECRET,
    SEXY,
    SPAM,
    Vendor,
    easemob_platform,
    hook_config,
    metric,
)


def app_for(vendor: Vendor, policy: dict[str, Any] | None = None, **huanxin: Any) -> Any:
    return create_app(hook_config(huanxin=huanxin, policy=policy), transport=vendor.transport)


async def test_a_clean_message_is_delivered() -> None:
    vendor = Vendor()
    app = app_for(vendor)
    async with running(app):
        delivery = await easemob_platform(app).asend("chat", "u1", "u2", CLEAN)
    assert delivery.outcome == "delivered"
    assert delivery.answer == {"valid": True}
    assert delivery.payload == {"msg": CLEAN, "type": "txt"}
    assert vendor.calls == 1


async def test_a_blocked_message_is_refused_with_the_reason_as_code() -> None:
    app = app_for(Vendor())
    async with running(app):
        shown = await easemob_platform(app).asend("groupchat", "u1", "g1", BLOCKED)
        silent = await easemob_platform(app, report_error=False).asend("chat", "u1", "u2", BLOCKED)
    assert shown.outcome == "rejected"
    assert shown.answer is not None
    assert shown.answer["valid"] is False
    assert "ABUSE" in shown.answer["code"]
    assert shown.error == shown.answer["code"]
    assert silent.outcome == "dropped"  # the rule's 不报错: the sender sees nothing


@pytest.mark.parametrize("bodies", [False, True])
async def test_mask_rewrites_msg_in_the_payload_form_it_came_in(bodies: bool) -> None:
    app = app_for(Vendor())
    async with running(app):
        delivery = await easemob_platform(app).asend("chat", "u1", "u2", SPAM, bodies=bodies)
    assert delivery.outcome == "delivered"
    assert delivery.rewritten
    payload = delivery.payload
    assert payload is not None
    body = payload["bodies"][0] if bodies else payload
    assert body["type"] == "txt"
    assert "微信" not in body["msg"]
    assert len(body["msg"]) == len(SPAM)
    assert ("ext" in payload) is bodies


@pytest.mark.parametrize(
    ("review", "valid"), [("allow", True), ("block", False), ("discard", False)]
)
async def test_review_answers_as_configured(review: str, valid: bool) -> None:
    app = app_for(Vendor(), review=review)
    async with running(app):
        delivery = await easemob_platform(app).asend("chat", "u1", "u2", SEXY)
    assert delivery.answer is not None
    assert delivery.answer["valid"] is valid


@pytest.mark.parametrize(
    ("chat_type", "blocked"),
    [("chat", False), ("group", True), ("groupchat", True), ("chatroom", False)],
)
async def test_chat_type_is_the_scene(chat_type: ChatType, blocked: bool) -> None:
    policy = {"scenes": {"Group": {"blocked_terms": ["fireworks"]}}}
    app = app_for(Vendor(), policy=policy)
    async with running(app):
        delivery = await easemob_platform(app).asend(chat_type, "u1", "x", "fireworks tonight")
    assert (delivery.outcome == "rejected") is blocked


async def test_every_answer_stays_under_1000_characters() -> None:
    long_spam = "加我微信 abc " + "很长的消息" * 200
    long_block = BLOCKED + " " + "词" * 3000
    app = app_for(Vendor())
    async with running(app):
        platform = easemob_platform(app)
        masked = await platform.asend("chat", "u1", "u2", long_spam)
        refused = await platform.asend("chat", "u1", "u2", long_block)
    for delivery in (masked, refused):
        assert delivery.fallback is None  # Easemob accepted the answer
        assert len(json.dumps(delivery.answer, ensure_ascii=False)) < MAX_ANSWER_CHARS
    # Too long to send back rewritten: refused, never delivered unmasked.
    assert masked.outcome == "rejected"


async def test_images_and_custom_messages_are_checked() -> None:
    image = {"type": "img", "url": "https://img.example.com/porn/2.jpg", "filename": "2.jpg"}
    gift = {"type": "custom", "customEvent": "gift", "v2:customExts": {"note": BLOCKED}}
    other = {"type": "loc", "addr": BLOCKED, "lat": 39.9, "lng": 116.3}
    app = app_for(Vendor())
    async with running(app):
        platform = easemob_platform(app)
        deliveries = [await platform.asend("chat", "u1", "u2", p) for p in (image, gift, other)]
    assert [d.outcome for d in deliveries] == ["rejected", "rejected", "delivered"]


def signed(body: dict[str, Any], *, secret: str = SECRET) -> dict[str, Any]:
    body.setdefault("callId", f"demo-org#demo-app_{uuid.uuid4()}")
    body.setdefault("timestamp", int(time.time() * 1000))
    body["security"] = callback_signature(body["callId"], secret, body["timestamp"])
    return body


def presend(text: str = BLOCKED, **fields: Any) -> dict[str, Any]:
    return {
        "chat_type": "chat",
        "from": "u1",
        "to": "u2",
        "msg_id": "8924312242322",
        "payload": {"msg": text, "type": "txt"},
        **fields,
    }


@pytest.mark.parametrize(
    ("why", "body"),
    [
        ("a wrong secret", lambda: signed(presend(), secret="not-the-secret")),
        ("no security", lambda: {k: v for k, v in signed(presend()).items() if k != "security"}),
        (
            "an old timestamp",
            lambda: signed(presend(timestamp=int(time.time() * 1000) - 3_600_000)),
        ),
        (
            "a future timestamp",
            lambda: signed(presend(timestamp=int(time.time() * 1000) + 3_600_000)),
        ),
        ("altered ids", lambda: signed(presend()) | {"callId": "demo-org#demo-app_other"}),
        ("not JSON", lambda: b"{nope"),
        ("a JSON list", lambda: b"[1]"),
    ],
)
async def test_a_callback_that_fails_verification_gets_403_and_no_check(
    why: str, body: Any
) -> None:
    vendor = Vendor()
    app = app_for(vendor)
    payload = body()
    async with running(app) as client:
        if isinstance(payload, bytes):
            response = await client.post("/v1/hooks/huanxin", content=payload)
        else:
            response = await client.post("/v1/hooks/huanxin", json=payload)
    assert response.status_code == 403, why
    assert response.headers["content-type"] == "application/problem+json"
    assert SECRET not in response.text
    assert vendor.calls == 0


async def test_a_replayed_callback_is_refused() -> None:
    vendor = Vendor()
    app = app_for(vendor)
    body = signed(presend())
    async with running(app) as client:
        first = await client.post("/v1/hooks/huanxin", json=body)
        again = await client.post("/v1/hooks/huanxin", json=body)
    assert first.json()["valid"] is False
    assert again.status_code == 403
    assert vendor.calls == 1


@pytest.mark.parametrize(
    "payload",
    [
        "text",
        {"bodies": "nope"},
        {"bodies": [1]},
        {"type": "txt", "msg": 5},
    ],
)
async def test_an_unreadable_payload_is_refused_in_easemob_shape(payload: Any) -> None:
    app = app_for(Vendor())
    async with running(app) as client:
        response = await client.post(
            "/v1/hooks/huanxin", json=signed(presend() | {"payload": payload})
        )
    assert response.status_code == 200
    assert response.json()["valid"] is False


def moderation_callback() -> dict[str, Any]:
    return signed(
        {
            "eventType": "moderation",
            "from": "u1",
            "to": "u2",
            "targetType": "chat",
            "messageType": "txt",
            "messageId": "1",
            "msg": "***",
            "moderationResult": "EXCHANGE",
            "providerResult": "REJECT",
            "riskType": "广告",
        }
    )


async def test_the_moderation_callback_is_verified_and_acknowledged_once() -> None:
    vendor = Vendor()
    app = app_for(vendor)
    body = moderation_callback()
    async with running(app) as client:
        first = await client.post("/v1/hooks/huanxin", json=body)
        again = await client.post("/v1/hooks/huanxin", json=body)
        forged = await client.post(
            "/v1/hooks/huanxin", json=moderation_callback() | {"security": "0" * 32}
        )
        exposition = (await client.get("/metrics")).text
    assert first.status_code == 200
    assert again.status_code == 200  # Easemob retries a non-200: a duplicate is acknowledged
    assert forged.status_code == 403
    assert vendor.calls == 0
    assert (
        metric(
            exposition, "moderation_hook_answers_total", hook="huanxin", answer="ack", cause="none"
        )
        == 1
    )
    assert (
        metric(
            exposition,
            "moderation_hook_answers_total",
            hook="huanxin",
            answer="duplicate",
            cause="none",
        )
        == 1
    )


async def test_a_post_send_callback_on_the_same_url_is_answered_200() -> None:
    app = app_for(Vendor())
    body = signed(
        {"eventType": "chat", "chat_type": "chat", "from": "u1", "to": "u2", "msg_id": "1"}
    )
    async with running(app) as client:
        response = await client.post("/v1/hooks/huanxin", json=body)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ({}, "secret"),
        ({"secret": SECRET, "budget_ms": -1}, "budget_ms"),
        ({"secret": SECRET, "reject_code": 1}, "reject_code"),
        ({"secret": SECRET, "on_timeout": "later"}, "on_timeout"),
    ],
)
def test_a_bad_hook_table_is_a_config_error(table: dict[str, Any], words: str) -> None:
    config = hook_config()
    config["serve"]["hooks"]["huanxin"] = table
    with pytest.raises(ConfigError) as caught:
        create_app(config)
    assert words in str(caught.value)
    assert SECRET not in str(caught.value)


def test_no_secret_in_the_repr_of_the_settings() -> None:
    from moderation_core import Secret  # noqa: PLC0415 - only here
    from moderation_huanxin._presend import HuanxinHookSettings  # noqa: PLC0415 - only here

    assert SECRET not in repr(HuanxinHookSettings(secret=Secret(SECRET)))


async def test_two_workers_share_the_replay_memory_through_redis() -> None:
    config = hook_config(huanxin={})
    config["moderation"]["redis_url"] = "redis://127.0.0.1:6379/0"
    vendor = Vendor()
    first_worker = create_app(config, transport=vendor.transport)
    second_worker = create_app(config, transport=vendor.transport)
    body = signed(presend(CLEAN))
    async with running(first_worker) as one, running(second_worker) as two:
        answered = await one.post("/v1/hooks/huanxin", json=body)
        replayed = await two.post("/v1/hooks/huanxin", json=body)
    assert answered.json() == {"valid": True}
    assert replayed.status_code == 403
    assert vendor.calls == 1
