"""The emulators playing the platforms: the callback they send (signed as the platform
signs it) and what they do with each answer, including their fallbacks on a timeout,
a non-200 or a body that is not JSON (IM-CALLBACKS 1.1-1.4, 2.1)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from moderation_huanxin import verify_callback
from moderation_huanxin.platform import EasemobPlatform
from moderation_tencent_chat import verify_webhook
from moderation_tencent_chat.emulator import make_emulator
from moderation_tencent_chat.platform import Scene, TencentImPlatform, with_platform
from tests.service.hook_helpers import SDKAPPID, SECRET, TOKEN

Handler = Callable[[httpx.Request], httpx.Response]
URL = "http://app.test/hook"


def answering(status: int = 200, body: Any = None, raw: bytes | None = None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if raw is not None:
            return httpx.Response(status, content=raw)
        return httpx.Response(status, json=body)

    return handler


def timing_out(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("no answer in time", request=request)


def refusing(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


def tencent(handler: Handler, **options: Any) -> TencentImPlatform:
    options = {"sdkappid": SDKAPPID, "token": TOKEN, **options}
    return TencentImPlatform(URL, transport=httpx.MockTransport(handler), **options)


def test_the_tencent_callback_is_signed_and_shaped_as_im_sends_it() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""})

    tencent(handler, clock=lambda: 1_700_000_000.5).send_group("jared", "@TGS#g", "red packet")
    (request,) = seen
    query = dict(request.url.params)
    assert query["CallbackCommand"] == "Group.CallbackBeforeSendMsg"
    assert query["contenttype"] == "json"
    assert query["RequestTime"] == "1700000000"
    verify_webhook(query, sdkappid=SDKAPPID, token=TOKEN, now=1_700_000_000)
    body = json.loads(request.content)
    assert body["GroupId"] == "@TGS#g"
    assert body["From_Account"] == "jared"
    assert body["MsgBody"] == [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "red packet"}}]
    assert 0 <= body["Random"] < 2**32


def test_an_unsigned_platform_sends_no_sign() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""})

    tencent(handler, token=None).send_c2c("a", "b", "hi")
    assert "Sign" not in seen[0].url.params
    assert json.loads(seen[0].content)["MsgKey"].count("_") == 2


@pytest.mark.parametrize(
    ("handler", "why"),
    [
        (timing_out, "timeout"),
        (refusing, "connection"),
        (answering(500, {"x": 1}), "http 500"),
        (answering(403, {"x": 1}), "http 403"),
        (answering(raw=b"<html>"), "not json"),
        (answering(body=[1, 2]), "not json"),
        (answering(body={"ActionStatus": "OK"}), "bad answer"),
        (answering(body={"ErrorCode": "0", "ErrorInfo": ""}), "bad answer"),
        (answering(body={"ErrorCode": 7, "ErrorInfo": ""}), "bad answer"),
        (answering(body={"ErrorCode": 0, "ErrorInfo": "", "MsgBody": "x"}), "bad answer"),
    ],
)
@pytest.mark.parametrize("fallback", ["deliver", "drop"])
def test_tencent_applies_its_fallback(handler: Handler, why: str, fallback: str) -> None:
    delivery = tencent(handler, fallback=fallback).send_c2c("a", "b", "hi")
    assert delivery.fallback == why
    if fallback == "deliver":  # IM's default
        assert delivery.outcome == "delivered"
        assert delivery.msg_body == ({"MsgType": "TIMTextElem", "MsgContent": {"Text": "hi"}},)
    else:
        assert (delivery.outcome, delivery.error_code) == ("dropped", 80003)


@pytest.mark.parametrize(
    ("answer", "scene", "outcome", "sender_sees"),
    [
        ({"ErrorCode": 1, "ErrorInfo": ""}, "C2C", "rejected", 20006),
        ({"ErrorCode": 1, "ErrorInfo": ""}, "Group", "rejected", 10016),
        ({"ErrorCode": 2, "ErrorInfo": ""}, "C2C", "dropped", 0),
        ({"ErrorCode": 120001, "ErrorInfo": "no ads"}, "C2C", "rejected", 120001),
        ({"ErrorCode": 10100, "ErrorInfo": "no ads"}, "Group", "rejected", 10100),
        ({"ErrorCode": 0, "ErrorInfo": ""}, "Group", "delivered", 0),
    ],
)
def test_tencent_obeys_each_answer(
    answer: dict[str, Any], scene: Scene, outcome: str, sender_sees: int
) -> None:
    delivery = tencent(answering(body={"ActionStatus": "OK", **answer})).send(scene, "a", "b", "hi")
    assert (delivery.outcome, delivery.error_code) == (outcome, sender_sees)
    assert delivery.fallback is None
    if answer["ErrorCode"] > 2:  # a custom code: its text reaches the sender
        assert delivery.error_info == "no ads"


def test_tencent_delivers_a_rewritten_body_and_custom_data() -> None:
    body = [{"MsgType": "TIMTextElem", "MsgContent": {"Text": "****"}}]
    answer = {
        "ActionStatus": "OK",
        "ErrorCode": 0,
        "ErrorInfo": "",
        "MsgBody": body,
        "CloudCustomData": "new",
    }
    delivery = tencent(answering(body=answer)).send_c2c("a", "b", "spam", cloud_custom_data="old")
    assert delivery.rewritten
    assert delivery.msg_body == tuple(body)
    assert delivery.cloud_custom_data == "new"


async def test_the_async_send_is_held_to_the_platform_wait() -> None:
    async def never(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)

    platform = TencentImPlatform(URL, sdkappid=SDKAPPID, async_transport=httpx.MockTransport(never))
    delivery = await platform.asend_c2c("a", "b", "hi")
    assert (delivery.outcome, delivery.fallback) == ("delivered", "timeout")


def test_the_trigger_endpoint_sends_and_reports() -> None:
    seen: list[httpx.Request] = []

    def hook(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ActionStatus": "OK", "ErrorCode": 1, "ErrorInfo": "no"})

    served = with_platform(make_emulator(), URL, token=TOKEN, timeout="1.5")
    served.platform._transport = httpx.MockTransport(hook)
    client = httpx.Client(transport=httpx.MockTransport(served), base_url="http://im.test")
    sent = client.post(
        "/platform/send", json={"scene": "Group", "from": "u", "to": "@TGS#g", "text": "x"}
    )
    bad = client.post("/platform/send", json={"scene": "Moon"})
    vendor = client.post("/v4/im_msg_audit/content_moderation")  # still the vendor emulator
    assert sent.json()["outcome"] == "rejected"
    assert sent.json()["error_code"] == 10016
    assert len(seen) == 1
    assert bad.status_code == 400
    assert vendor.json()["ActionStatus"] == "FAIL"
    with pytest.raises(TypeError, match="unknown platform option"):
        with_platform(make_emulator(), URL, colour="red")


# -- Easemob -------------------------------------------------------------------------------


def easemob(handler: Handler, **options: Any) -> EasemobPlatform:
    return EasemobPlatform(URL, secret=SECRET, transport=httpx.MockTransport(handler), **options)


def test_the_easemob_callback_is_signed_and_shaped_as_easemob_sends_it() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"valid": True})

    platform = easemob(handler, clock=lambda: 1_600_060_847.294)
    platform.send("groupchat", "user1", "16934809238921545", "welcome to easemob!")
    platform.send("chat", "user1", "user2", "hi", bodies=True)
    first, second = (json.loads(r.content) for r in seen)
    verify_callback(seen[0].content, SECRET, now=1_600_060_847)
    assert first["timestamp"] == 1_600_060_847_294
    assert first["callId"].startswith("demo-org#demo-app_")
    assert first["payload"] == {"msg": "welcome to easemob!", "type": "txt"}
    assert first["group_id"] == "16934809238921545"
    assert second["payload"] == {"bodies": [{"msg": "hi", "type": "txt"}], "ext": {}}
    assert "group_id" not in second
    assert seen[0].headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("handler", "why"),
    [
        (timing_out, "timeout"),
        (refusing, "connection"),
        (answering(502, {"valid": True}), "http 502"),
        (answering(raw=b"OK"), "not json"),
        (answering(body={"code": "x"}), "bad answer"),
        (answering(body={"valid": "false"}), "bad answer"),
        (
            answering(body={"valid": True, "payload": {"msg": "x" * 1000, "type": "txt"}}),
            "too long",
        ),
    ],
)
@pytest.mark.parametrize("fallback", ["deliver", "block"])
def test_easemob_applies_the_rule_fallback(handler: Handler, why: str, fallback: str) -> None:
    delivery = easemob(handler, fallback=fallback).send("chat", "a", "b", "hi")
    assert delivery.fallback == why
    if fallback == "deliver":
        assert (delivery.outcome, delivery.payload) == ("delivered", {"msg": "hi", "type": "txt"})
    else:
        assert (delivery.outcome, delivery.error) == ("rejected", "custom internal error")


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ({"valid": False, "code": "no ads"}, "no ads"),
        ({"valid": False}, "custom logic denied"),
        ({"valid": False, "code": ""}, "Message blocked by external logic"),
    ],
)
def test_easemob_shows_the_sender_the_code(answer: dict[str, Any], error: str) -> None:
    shown = easemob(answering(body=answer)).send("chat", "a", "b", "hi")
    silent = easemob(answering(body=answer), report_error=False).send("chat", "a", "b", "hi")
    assert (shown.outcome, shown.error) == ("rejected", error)
    assert (silent.outcome, silent.error) == ("dropped", None)


def test_easemob_delivers_a_rewritten_payload() -> None:
    answer = {"valid": True, "payload": {"msg": "****", "type": "txt"}}
    delivery = easemob(answering(body=answer)).send("chat", "a", "b", "spam")
    assert delivery.rewritten
    assert delivery.payload == {"msg": "****", "type": "txt"}


def test_an_easemob_platform_needs_its_secret() -> None:
    with pytest.raises(ValueError, match="secret"):
        EasemobPlatform(URL, secret="")
