"""What the provider sends: one signed form POST per text, the service for the scene,
ServiceParameters with the content, the sender and the content id."""

from __future__ import annotations

import json

import pytest

from moderation_aliyun._signing import parse_acs3_authorization
from moderation_core import Content, Decision, Label
from moderation_core.testing import RecordingTransport

from .helpers import emulator, form, moderator, service_parameters


@pytest.mark.parametrize("scheme", ["acs3", "v1"])
def test_one_request_per_text_with_its_parameters(scheme: str) -> None:
    recording = RecordingTransport(emulator())
    items: list[Content | str] = [
        Content.text("hello", id="m-1"),
        Content.text("你这个傻逼", id=7),
        "加我微信",
    ]
    with moderator(recording, signature=scheme) as mod:
        verdicts = mod.check_many(items, sender="user-1", scene="Group")
    assert recording.paths() == ["/"] * 3
    sent = [service_parameters(r) for r in recording.requests]
    assert sent == [
        {"content": "hello", "accountId": "user-1", "dataId": "m-1"},
        {"content": "你这个傻逼", "accountId": "user-1", "dataId": "7"},
        {"content": "加我微信", "accountId": "user-1"},
    ]
    assert [form(r)["Service"] for r in recording.requests] == ["chat_detection_pro"] * 3
    assert [v.decision for v in verdicts] == [Decision.PASS, Decision.BLOCK, Decision.REVIEW]
    assert [v.content_id for v in verdicts] == ["m-1", 7, None]


def test_nonces_differ_and_the_body_is_a_form() -> None:
    recording = RecordingTransport(emulator())
    with moderator(recording) as mod:
        mod.check_many(["a", "b", "c"])
    nonces = {r.headers["x-acs-signature-nonce"] for r in recording.requests}
    assert len(nonces) == 3
    for request in recording.requests:
        assert request.method == "POST"
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        assert request.headers["x-acs-action"] == "TextModerationPlus"
        assert parse_acs3_authorization(request.headers["Authorization"])


def test_no_sender_no_account_id() -> None:
    recording = RecordingTransport(emulator())
    with moderator(recording) as mod:
        mod.check("hello")
    assert service_parameters(recording.requests[0]) == {"content": "hello"}


def test_the_scene_picks_the_service() -> None:
    recording = RecordingTransport(emulator())
    services = {"Group": "comment_detection_pro", "nick": "nickname_detection_pro"}
    with moderator(recording, services=services) as mod:
        mod.check("hello", scene="group")
        mod.check("hello", scene="NICK")
        mod.check("hello", scene="C2C")
        mod.check("hello")
    assert [form(r)["Service"] for r in recording.requests] == [
        "comment_detection_pro",
        "nickname_detection_pro",
        "chat_detection_pro",
        "chat_detection_pro",
    ]


def test_text_moderation_action() -> None:
    recording = RecordingTransport(emulator())
    with moderator(recording, action="TextModeration", signature="v1") as mod:
        verdict = mod.check("你这个傻逼")
    (request,) = recording.requests
    assert request.url.params["Action"] == "TextModeration"
    assert form(request)["Service"] == "chat_detection"
    assert (verdict.decision, verdict.label) == (Decision.BLOCK, Label.ABUSE)


def test_the_json_string_keeps_chinese_as_is() -> None:
    recording = RecordingTransport(emulator())
    with moderator(recording) as mod:
        mod.check('中文 "quoted" \\ text')
    raw = form(recording.requests[0])["ServiceParameters"]
    assert "中文" in raw
    assert json.loads(raw)["content"] == '中文 "quoted" \\ text'


def test_long_text_is_split_under_the_limit() -> None:
    recording = RecordingTransport(emulator())
    text = "ab " * 1500 + "颠覆国家"  # 4,504 characters
    with moderator(recording) as mod:
        verdict = mod.check(text)
    sizes = [len(service_parameters(r)["content"]) for r in recording.requests]
    assert len(sizes) >= 3
    assert max(sizes) <= 2000
    assert (verdict.decision, verdict.label) == (Decision.BLOCK, Label.POLITICS)


@pytest.mark.parametrize(
    ("action", "length", "limit", "parts"),
    # The old byte stand-in took 8 and 4 requests: a third of the limit in CJK.
    [("TextModerationPlus", 5_000, 2_000, 3), ("TextModeration", 700, 600, 2)],
)
def test_cjk_is_split_by_the_vendor_s_characters(
    action: str, length: int, limit: int, parts: int
) -> None:
    recording = RecordingTransport(emulator())
    with moderator(recording, action=action) as mod:
        verdict = mod.check("好" * length)
    sizes = [len(service_parameters(r)["content"]) for r in recording.requests]
    assert (len(sizes), max(sizes)) == (parts, limit)
    assert verdict.decision is Decision.PASS
