"""WebhookEvent: one app-side handler reads a Tencent Chat ``ContentCallback.ResultNotify``
and a Huanxin moderation result callback alike (same fields, same meaning)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from moderation_core import (
    Content,
    ContentType,
    Decision,
    Label,
    Moderator,
    WebhookEvent,
)
from moderation_huanxin import callback_signature, read_callback
from moderation_tencent_chat import parse_result_notify
from moderation_tencent_chat.emulator import make_emulator
from tests import fake_secrets as secrets

ROOT = Path(__file__).resolve().parents[1]
TENCENT_QUERY = {
    "SdkAppid": "1400000000",
    "CallbackCommand": "ContentCallback.ResultNotify",
    "contenttype": "json",
}


def handle(event: WebhookEvent) -> dict[str, Any]:
    """What an app does with any vendor's event: written once, no vendor names."""
    where = f"group {event.group}" if event.group else f"to {event.receiver}"
    return {
        "decision": event.verdict.decision,
        "label": event.verdict.label,
        "flagged": event.verdict.flagged,
        "from": event.sender,
        "where": where,
        "message": event.message_id,
        "type": event.content_type,
        "contents": event.contents,
        "pending": event.request_id if event.answers_pending else None,
    }


def tencent(**changes: Any) -> WebhookEvent:
    """A ``ContentCallback.ResultNotify`` for a message, shaped like seed 003's example."""
    body: dict[str, Any] = {
        "Scene": "C2C",
        "SdkAppId": 1400000000,
        "From_Account": "u1",
        "ContactItem": {"ContactType": 1, "To_Account": "u2"},
        "ContentType": "Text",
        "TextContent": ["加我微信 abc"],
        "MsgID": "m-1",
        "CtxcbResult": 1,
        "CtxcbRequestId": "241ed925-4c56-4357-95dd-1e6e7798f214",
        "CtxcbSuggestion": "Block",
        "CtxcbLabel": "Ad",
        "IsRestAPI": False,
        **changes,
    }
    return parse_result_notify(json.dumps(body), query=TENCENT_QUERY, provider="tencent")


def huanxin(**changes: Any) -> WebhookEvent:
    """A signed moderation result callback, shaped like Easemob's documented example."""
    body: dict[str, Any] = {
        "callId": "org#app_54ae7e93-1111-2222-92f5-323e33187243",
        "eventType": "moderation",
        "moderationResult": "REJECT",
        "providerResult": "REJECT",
        "riskType": "广告:联系方式",
        "messageType": "txt",
        "messageId": "m-1",
        "targetType": "chat",
        "appkey": "org#app",
        "source": {},
        "from": "u1",
        "to": "u2",
        "url": "",
        "msg": "加我微信 abc",
        "timestamp": 1668766253245,
        **changes,
    }
    secret = secrets.HUANXIN_CALLBACK_SECRET
    body["security"] = callback_signature(body["callId"], secret, body["timestamp"])
    sent_at = int(body["timestamp"]) / 1000  # read when it was sent: inside the window
    return read_callback(json.dumps(body), secret, provider="huanxin", now=sent_at)


def test_one_handler_reads_both_vendors_the_same() -> None:
    expected = {
        "decision": Decision.BLOCK,
        "label": Label.AD,
        "flagged": True,
        "from": "u1",
        "where": "to u2",
        "message": "m-1",
        "type": ContentType.TEXT,
        "contents": ("加我微信 abc",),
        "pending": None,
    }
    assert handle(tencent()) == expected
    assert handle(huanxin()) == expected


def test_group_messages_read_the_same() -> None:
    group_tencent = tencent(Scene="Group", ContactItem={"ContactType": 2, "ToGroupId": "g1"})
    group_huanxin = huanxin(targetType="groupchat", to="g1")
    for event in (group_tencent, group_huanxin):
        assert (event.group, event.receiver) == ("g1", None)
        assert handle(event)["where"] == "group g1"


def test_media_reads_the_same() -> None:
    url = "https://cdn.example.com/v.mp4"
    media_tencent = tencent(ContentType="Video", TextContent=None, FileURL=url)
    media_huanxin = huanxin(messageType="video", msg="", url=url)
    assert handle(media_tencent) == handle(media_huanxin)
    assert (media_huanxin.content_type, media_huanxin.contents) == (ContentType.VIDEO, (url,))


def test_a_pending_check_is_answered_by_its_request_id() -> None:
    emu = make_emulator(sdkappid=1400000000, secret_key=secrets.TENCENT_SECRET_KEY)
    cfg = {
        "providers": {
            "tencent": {
                "type": "tencent_chat",
                "sdkappid": 1400000000,
                "identifier": "admin",
                "secret_key": secrets.TENCENT_SECRET_KEY,
                "base_url": "http://tencent-chat.test",
            }
        }
    }
    with Moderator.from_config(cfg, transport=httpx.MockTransport(emu)) as mod:
        pending = mod.check(Content.video("https://cdn.example.com/weapon.mp4"), sender="u1")
    assert pending.decision is Decision.PENDING
    query, body = emu.result_notify(pending.request_id or "")
    event = parse_result_notify(body, query=query, provider="tencent")
    assert event.answers_pending
    assert handle(event)["pending"] == pending.request_id
    # Messages moderated on delivery answer no earlier check, whichever the vendor.
    assert handle(tencent())["pending"] is None
    assert handle(huanxin())["pending"] is None


def test_what_the_vendor_did_and_when_is_none_unless_it_says() -> None:
    tencent_event, huanxin_event = tencent(), huanxin()
    assert (tencent_event.provider_type, huanxin_event.provider_type) == ("tencent_chat", "huanxin")
    # Huanxin delivers each event with a callId and says what it did with the message.
    assert huanxin_event.event_id == "org#app_54ae7e93-1111-2222-92f5-323e33187243"
    assert huanxin_event.action is not None
    assert huanxin_event.timestamp == pytest.approx(1668766253.245)
    # Tencent's result notice says neither what IM did nor when.
    assert (tencent_event.action, tencent_event.timestamp) == (None, None)


def test_every_vendor_gives_a_stable_dedupe_key() -> None:
    # Item 24: event_id is the documented dedupe key; Tencent sends no delivery id, so
    # it is a hash of the request id and the body (None on the old code).
    for make in (tencent, huanxin):
        first, again = make(), make()
        assert first.event_id is not None
        assert first.event_id == again.event_id
    tencent_id = tencent().event_id
    assert tencent_id is not None
    assert tencent_id.startswith("tencent_chat:")
    assert tencent(CtxcbRequestId="another").event_id != tencent_id
    assert tencent(TextContent=["other text"]).event_id != tencent_id


def test_vendor_only_fields_stay_in_raw() -> None:
    event = huanxin()
    assert event.raw["appkey"] == "org#app"
    assert event.raw["riskType"] == event.verdict.vendor_label == event.verdict.sublabel
    assert "raw" not in repr(event)
    assert "appkey" not in repr(event)


FIELDS = [field.name for field in attrs.fields(WebhookEvent)]


@pytest.mark.parametrize("name", FIELDS)
def test_every_field_is_documented(name: str) -> None:
    assert f"``{name}``" in (WebhookEvent.__doc__ or "")
    labels = (ROOT / "docs" / "labels.md").read_text(encoding="utf-8")
    webhooks = labels.split("## Webhooks", 1)[1]
    assert re.search(rf"^\| `{name}` \|", webhooks, flags=re.MULTILINE), name
