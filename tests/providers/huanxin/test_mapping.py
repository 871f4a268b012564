"""txt/check answers map onto Verdicts exactly as the DESIGN crosswalk says."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from moderation_core import Content, Decision, Label, ProtocolError
from moderation_huanxin import score_from_probability
from tests.support.providers import failure

from .helpers import CHECK_PATH, answering, data_answer, emulator, moderator, sent_json


def verdict_for(data: Any, **extra: Any):  # type: ignore[no-untyped-def]
    with moderator(answering(data_answer(data, **extra))) as mod:
        return mod.check("some text")


def item(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "REJECT",
        "riskType": "x",
        "riskLabel": "NONE",
        "exchangeText": "*********",
        "sensitiveWords": [],
    }
    base.update(fields)
    return base


@pytest.mark.parametrize(
    ("vendor_type", "decision"),
    [
        ("PASS", Decision.PASS),
        ("REVIEWED", Decision.REVIEW),
        ("REJECT", Decision.BLOCK),
        ("UNKNOWN", Decision.REVIEW),
        ("SOMETHING_NEW", Decision.REVIEW),
        ("REVIEW", Decision.REVIEW),
    ],
)
def test_type_maps_to_decision_never_silently_pass(vendor_type: str, decision: Decision) -> None:
    assert verdict_for(item(type=vendor_type, riskLabel="AD")).decision is decision


@pytest.mark.parametrize(
    ("risk_label", "label"),
    [
        ("NONE", Label.NORMAL),
        ("POLITICS", Label.POLITICS),
        ("VIOLENCE", Label.VIOLENCE),
        ("PORN", Label.PORN),
        ("BAN", Label.ILLEGAL),
        ("ABUSE", Label.ABUSE),
        ("AD", Label.AD),
        ("QR", Label.AD),
        ("UNKNOWN", Label.UNKNOWN),
        ("HATE_SPEECH", Label.OTHER),
        ("SEXY", Label.OTHER),
    ],
)
def test_risk_label_maps_per_crosswalk(risk_label: str, label: Label) -> None:
    verdict = verdict_for(item(riskLabel=risk_label, riskType="风险"))
    assert verdict.label is label
    assert verdict.vendor_label == risk_label


def test_risk_type_is_the_sublabel() -> None:
    verdict = verdict_for(item(riskLabel="AD", riskType="广告:联系方式:网址"))
    assert verdict.sublabel == "广告:联系方式:网址"


def test_qr_is_ad_with_qrcode_sublabel() -> None:
    verdict = verdict_for(item(type="REVIEWED", riskLabel="QR", riskType="二维码"))
    assert (verdict.label, verdict.sublabel, verdict.vendor_label) == (Label.AD, "QRCode", "QR")


def test_clean_answer_has_no_sublabel() -> None:
    verdict = verdict_for(item(type="PASS", riskLabel="NONE", riskType="无风险"))
    assert (verdict.decision, verdict.label, verdict.sublabel) == (
        Decision.PASS,
        Label.NORMAL,
        None,
    )


def test_missing_risk_label_is_normal_on_pass_unknown_otherwise() -> None:
    assert verdict_for({"type": "PASS"}).label is Label.NORMAL
    flagged = verdict_for({"type": "REJECT"})
    assert (flagged.label, flagged.vendor_label) == (Label.UNKNOWN, None)


def test_sensitive_words_exchange_text_and_raw() -> None:
    data = item(riskLabel="ABUSE", sensitiveWords=["傻逼", "", "傻逼", "滚"], exchangeText="**")
    verdict = verdict_for(data)
    assert verdict.keywords == ("傻逼", "滚")
    assert verdict.masked_text == "**"
    assert verdict.raw is not None
    assert verdict.raw["data"] == data


def test_keywords_without_exchange_text_are_masked_by_the_core() -> None:
    data = {"type": "REJECT", "riskLabel": "ABUSE", "sensitiveWords": ["text"]}
    assert verdict_for(data).masked_text == "some ****"


@pytest.mark.parametrize(
    ("probability", "score"),
    [
        (None, None),
        (0.0, 0),
        (0.874, 87),
        (1.0, 100),
        (1, 100),
        (42.4, 42),
        (87, 87),
        (250, 100),
        (-0.3, 0),
    ],
)
def test_probability_scaled_to_score(probability: float | None, score: int | None) -> None:
    data = item(riskLabel="PORN")
    if probability is not None:
        data["probability"] = probability
    assert verdict_for(data).score == score


def test_score_helper_refuses_non_numbers() -> None:
    assert score_from_probability(float("nan")) is None
    assert score_from_probability(float("inf")) is None


@pytest.mark.parametrize(("request_id", "expected"), [("", None), ("req-9", "req-9"), (None, None)])
def test_request_id_from_meta(request_id: str | None, expected: str | None) -> None:
    verdict = verdict_for(item(), meta={"timestamp": 1, "requestId": request_id})
    assert verdict.request_id == expected


def test_no_meta_at_all() -> None:
    with moderator(answering(lambda _r: httpx.Response(200, json={"data": item()}))) as mod:
        assert mod.check("x").request_id is None


def test_data_as_one_element_list_is_accepted() -> None:
    assert verdict_for([item(riskLabel="PORN")]).label is Label.PORN


@pytest.mark.parametrize(
    "data",
    [
        [],
        [item(), item()],
        {"riskLabel": "AD"},  # no type
        "REJECT",
        {"type": "REJECT", "sensitiveWords": "not a list"},
        {"type": 5},
    ],
)
def test_malformed_data_is_protocol_error(data: Any) -> None:
    with moderator(answering(data_answer(data))) as mod:
        assert isinstance(failure(mod), ProtocolError)


@pytest.mark.parametrize(
    "body", [b"<html>502 Bad Gateway</html>", b"", b"[1, 2]", b'{"code": 200}', b"null"]
)
def test_body_that_does_not_parse_is_protocol_error(body: bytes) -> None:
    with moderator(answering(lambda _r: httpx.Response(200, content=body))) as mod:
        error = failure(mod)
    assert isinstance(error, ProtocolError)
    assert "502" not in str(error)  # the vendor's body is not quoted back


def test_provider_and_content_id_on_verdict() -> None:
    with moderator(answering(data_answer(item()))) as mod:
        verdict = mod.check(Content.text("hi", id="m-7"))
    assert (verdict.provider, verdict.content_id) == ("huanxin", "m-7")


def test_request_sent_is_the_documented_one() -> None:
    recording = answering(data_answer(item()))
    with moderator(recording) as mod:
        mod.check("你好 world")
    check = recording.requests[-1]
    assert check.method == "POST"
    assert str(check.url) == f"http://huanxin.test{CHECK_PATH}"
    assert check.headers["Content-Type"] == "application/json"
    assert check.headers["Accept"] == "application/json"
    assert check.headers["Authorization"].startswith("Bearer YWMt")
    assert sent_json(check) == {"content": "你好 world"}


def test_every_emulator_rule_maps() -> None:
    """The emulator covers every riskLabel and all four types; each lands as designed."""
    cases = {
        "今天天气不错": (Decision.PASS, Label.NORMAL, None),
        "颠覆国家": (Decision.BLOCK, Label.POLITICS, "涉政"),
        "炸弹": (Decision.BLOCK, Label.VIOLENCE, "暴恐"),
        "裸聊": (Decision.BLOCK, Label.PORN, "色情"),
        "毒品": (Decision.BLOCK, Label.ILLEGAL, "违禁"),
        "你这个傻逼": (Decision.BLOCK, Label.ABUSE, "辱骂"),
        "加微信": (Decision.REVIEW, Label.AD, "广告:联系方式"),
        "扫码加群": (Decision.REVIEW, Label.AD, "QRCode"),
        "unknown-test": (Decision.REVIEW, Label.UNKNOWN, "未知"),
        "种族歧视": (Decision.REVIEW, Label.HATE, "仇恨言论"),
        "see https://x.example/a": (Decision.BLOCK, Label.AD, "广告:联系方式:网址"),
    }
    with moderator(emulator()) as mod:
        verdicts = mod.check_many(list(cases))
    got = {text: (v.decision, v.label, v.sublabel) for text, v in zip(cases, verdicts, strict=True)}
    assert got == cases
