"""What is sent (headers, base64 text, BizType, DataId, User) and how an answer becomes
a Verdict (Suggestion, the Tencent Chat crosswalk, SubLabel, Score, Keywords)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from moderation_core import Content, ContentType, Decision, Label, Verdict
from moderation_tencent_tms import LABELS, MAX_TEXT_CHARS
from moderation_tencent_tms.emulator import DEMO_SECRET_ID

from .helpers import REGION, answering, moderator, ok_body, sent_json


def _sent(
    item: str | Content = "hello", scene: str | None = None, **overrides: object
) -> dict[str, Any]:
    recording = answering(ok_body())
    with moderator(recording, **overrides) as mod:
        mod.check(item, scene=scene, sender="u1", receiver="g1")
    (request,) = recording.requests
    return {"request": request, "body": sent_json(request)}


def test_text_request_headers_and_body() -> None:
    sent = _sent("加我微信 abc", scene="Group")
    request, body = sent["request"], sent["body"]
    assert request.method == "POST"
    assert str(request.url) == "http://tms.test/"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Host"] == "tms.test"
    assert request.headers["X-TC-Action"] == "TextModeration"
    assert request.headers["X-TC-Version"] == "2020-12-29"
    assert request.headers["X-TC-Region"] == REGION
    assert request.headers["X-TC-Timestamp"].isdigit()
    assert "X-TC-Token" not in request.headers
    assert request.headers["Authorization"].startswith("TC3-HMAC-SHA256 Credential=")
    assert body == {
        "Content": base64.b64encode("加我微信 abc".encode()).decode(),
        "BizType": "Group",
        "User": {"UserId": "u1", "ReceiverId": "g1"},
    }


def test_image_request_goes_to_ims_by_url() -> None:
    sent = _sent(Content.image("https://cdn.example.com/a.png", id="img-7"), scene="C2C")
    assert sent["request"].headers["X-TC-Action"] == "ImageModeration"
    assert "/ims/tc3_request" in sent["request"].headers["Authorization"]
    assert sent["body"] == {
        "FileUrl": "https://cdn.example.com/a.png",
        "BizType": "C2C",
        "DataId": "img-7",
        "User": {"UserId": "u1", "ReceiverId": "g1"},
    }


def test_default_hosts_per_service_and_the_intl_domain() -> None:
    for root, host in [(None, "tencentcloudapi.com"), ("intl.tencentcloudapi.com", None)]:
        recording = answering(ok_body())
        options = {"base_url": None, "root_domain": root}
        with moderator(recording, **options) as mod:
            mod.check("hi")
            mod.check(Content.image("https://x.example/a.png"))
        domain = root or host
        assert [str(r.url) for r in recording.requests] == [
            f"https://tms.{domain}/",
            f"https://ims.{domain}/",
        ]
        assert recording.requests[0].headers["Host"] == f"tms.{domain}"


def test_base_url_with_a_port_is_the_host_signed() -> None:
    request = _sent(base_url="http://127.0.0.1:9000")["request"]
    assert request.headers["Host"] == "127.0.0.1:9000"


def test_biz_type_config_wins_over_the_scene() -> None:
    assert _sent(scene="Group", biz_type="my_policy_1")["body"]["BizType"] == "my_policy_1"


@pytest.mark.parametrize("scene", [None, "ab", "vip room", "x" * 33, "群聊"])
def test_a_scene_that_cannot_be_a_biz_type_is_left_out(scene: str | None) -> None:
    assert "BizType" not in _sent(scene=scene)["body"]


@pytest.mark.parametrize(
    ("content_id", "sent"),
    [("m-7", "m-7"), (42, "42"), ("a@b#c_d", "a@b#c_d"), ("has space", None), ("x" * 65, None)],
)
def test_data_id_from_the_content_id_when_the_vendor_takes_it(
    content_id: str | int, sent: str | None
) -> None:
    body = _sent(Content.text("hello", id=content_id))["body"]
    assert body.get("DataId") == sent


def test_no_user_without_sender_or_receiver() -> None:
    recording = answering(ok_body())
    with moderator(recording) as mod:
        mod.check("hello")
    assert "User" not in sent_json(recording.requests[0])


def test_temporary_credentials_send_their_token() -> None:
    request = _sent(token="session-token-abc")["request"]
    assert request.headers["X-TC-Token"] == "session-token-abc"


def _verdict(**fields: Any) -> Verdict:
    with moderator(answering(ok_body(**fields))) as mod:
        return mod.check("some text here", scene="Group")


@pytest.mark.parametrize(
    ("vendor", "label"),
    [
        ("Polity", Label.POLITICS),
        ("Porn", Label.PORN),
        ("Sexy", Label.SEXY),
        ("Abuse", Label.ABUSE),
        ("Ad", Label.AD),
        ("Illegal", Label.ILLEGAL),
        ("Terror", Label.VIOLENCE),
        ("Teenager", Label.OTHER),
        ("Custom", Label.OTHER),
        ("Composite", Label.OTHER),
        ("SomethingNew", Label.OTHER),
        ("", Label.OTHER),
        ("Normal", Label.OTHER),  # a finding is never NORMAL
    ],
)
def test_labels_of_a_finding(vendor: str, label: Label) -> None:
    verdict = _verdict(Suggestion="Block", Label=vendor, SubLabel="Sub", Score=91)
    assert (verdict.decision, verdict.label, verdict.sublabel, verdict.score) == (
        Decision.BLOCK,
        label,
        "Sub",
        91,
    )
    assert verdict.vendor_label == (vendor or None)


def test_the_crosswalk_is_tencent_chats() -> None:
    assert {k: v.name for k, v in LABELS.items()} == {
        "normal": "NORMAL",
        "polity": "POLITICS",
        "porn": "PORN",
        "sexy": "SEXY",
        "abuse": "ABUSE",
        "terror": "VIOLENCE",
        "illegal": "ILLEGAL",
        "ad": "AD",
    }


@pytest.mark.parametrize(
    ("suggestion", "decision"),
    [
        ("Pass", Decision.PASS),
        ("Review", Decision.REVIEW),
        ("Block", Decision.BLOCK),
        ("block", Decision.BLOCK),
        ("Unheard", Decision.REVIEW),
    ],
)
def test_suggestions(suggestion: str, decision: Decision) -> None:
    assert _verdict(Suggestion=suggestion, Label="Porn").decision is decision


def test_a_pass_is_normal_whatever_its_label() -> None:
    verdict = _verdict(Suggestion="Pass", Label="Porn", Score=3)
    assert (verdict.label, verdict.vendor_label, verdict.score) == (Label.NORMAL, "Porn", 3)


def test_keywords_null_or_missing_and_score_missing_are_tolerated() -> None:
    assert _verdict(Keywords=None).keywords == ()
    verdict = _verdict(drop=("Keywords", "Score", "SubLabel", "Label", "RequestId"))
    assert (verdict.decision, verdict.label, verdict.score, verdict.request_id) == (
        Decision.PASS,
        Label.NORMAL,
        None,
        None,
    )


def test_keywords_are_masked_by_the_core() -> None:
    verdict = _verdict(Suggestion="Block", Label="Abuse", Keywords=["text"], Score=90)
    assert verdict.keywords == ("text",)
    assert verdict.masked_text == "some **** here"


def test_raw_request_id_and_provider() -> None:
    verdict = _verdict(Suggestion="Review", Label="Ad", RequestId="rid-9", DetailResults=[])
    assert verdict.request_id == "rid-9"
    assert verdict.provider == "tms"
    assert verdict.raw is not None
    assert verdict.raw["DetailResults"] == []


def test_text_over_ten_thousand_characters_is_split_by_the_core() -> None:
    recording = answering(ok_body())
    with moderator(recording) as mod:
        verdict = mod.check("字" * 25_000)
    assert verdict.decision is Decision.PASS
    sizes = [len(base64.b64decode(sent_json(r)["Content"]).decode()) for r in recording.requests]
    # Split by the 10,000 characters TMS counts: three requests, not the eight that
    # 10,000 UTF-8 bytes (about 3,333 Chinese characters each) would take.
    assert len(sizes) == 3
    assert max(sizes) == 10_000


def test_capabilities() -> None:
    with moderator(answering(ok_body())) as mod:
        (prov,) = mod.providers
        caps = prov.capabilities
        described = prov.describe()
    assert caps.content_types == frozenset({ContentType.TEXT, ContentType.IMAGE})
    assert caps.batch_size == 1
    assert (caps.max_text_chars, caps.max_text_bytes) == (MAX_TEXT_CHARS, None)
    assert MAX_TEXT_CHARS == 10_000
    assert (described["max_text_chars"], described["max_text_bytes"]) == (10_000, None)
    assert described["hosts"] == ["tms.test"]
    assert DEMO_SECRET_ID not in str(described)
