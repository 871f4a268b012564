"""The crosswalk, the risk-level bands, scores, keywords and the rest of the Verdict, for
both actions; and the docs that show the crosswalk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from moderation_aliyun import LABELS, classify
from moderation_core import Decision, Label

from .helpers import answering, classic_answer, moderator, plus_answer

DOCS = Path(__file__).resolve().parents[3] / "docs"

# What docs/labels.md and docs/providers/aliyun.md say, row by row.
CROSSWALK: dict[str, Label] = {
    "nonLabel": Label.NORMAL,
    "ad": Label.AD,
    "profanity": Label.ABUSE,
    "contraband": Label.ILLEGAL,
    "sexual_content": Label.PORN,
    "porn": Label.PORN,
    "violence": Label.VIOLENCE,
    "political_content": Label.POLITICS,
    "nonsense": Label.OTHER,
    "spam": Label.OTHER,
    "negative_content": Label.OTHER,
    "cyberbullying": Label.ABUSE,
    "C_customized": Label.OTHER,
    "pornographic_adult": Label.PORN,
    "sexual_terms": Label.SEXY,
    "sexual_suggestive": Label.SEXY,
    "political_figure": Label.POLITICS,
    "political_entity": Label.POLITICS,
    "political_n": Label.POLITICS,
    "political_p": Label.POLITICS,
    "political_a": Label.POLITICS,
    "violent_extremist": Label.VIOLENCE,
    "violent_incidents": Label.VIOLENCE,
    "violent_weapons": Label.VIOLENCE,
    "contraband_drug": Label.ILLEGAL,
    "contraband_gambling": Label.ILLEGAL,
    "contraband_act": Label.ILLEGAL,
    "contraband_entity": Label.ILLEGAL,
    "inappropriate_discrimination": Label.HATE,
    "inappropriate_ethics": Label.OTHER,
    "inappropriate_profanity": Label.ABUSE,
    "inappropriate_oral": Label.ABUSE,
    "inappropriate_superstition": Label.OTHER,
    "inappropriate_nonsense": Label.OTHER,
    "pt_to_sites": Label.AD,
    "pt_by_recruitment": Label.AD,
    "pt_to_contact": Label.AD,
    "religion_b": Label.OTHER,
    "religion_t": Label.OTHER,
    "religion_c": Label.OTHER,
    "religion_i": Label.OTHER,
    "religion_h": Label.OTHER,
    "customized": Label.OTHER,
}


def test_the_crosswalk_is_the_documented_one() -> None:
    assert dict(LABELS) == CROSSWALK


@pytest.mark.parametrize(
    ("vendor_label", "label"),
    [
        ("political_new_kind", Label.POLITICS),
        ("pt_by_livestream", Label.AD),
        ("contraband_weapons_x", Label.ILLEGAL),
        ("violent_blood", Label.VIOLENCE),
        ("pornographic_minor", Label.PORN),
        ("sexual_other", Label.SEXY),
        ("inappropriate_new", Label.OTHER),
        ("religion_x", Label.OTHER),
        ("regional_sensitive", Label.OTHER),
        ("AD", Label.OTHER),  # the vendor's labels are case-exact
    ],
)
def test_unknown_labels_by_category_else_other(vendor_label: str, label: Label) -> None:
    assert classify(vendor_label) is label


@pytest.mark.parametrize("doc", ["labels.md", "providers/aliyun.md"])
def test_the_docs_show_every_row(doc: str) -> None:
    text = (DOCS / doc).read_text(encoding="utf-8")
    for vendor_label in CROSSWALK:
        assert f"{vendor_label}" in text, vendor_label


def _plus(level: str | None, *results: dict[str, Any], **overrides: Any) -> Any:
    with moderator(answering(plus_answer(level, results)), **overrides) as mod:
        return mod.check("some text")


def _result(label: str, confidence: float | None = 90.0, **fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"Label": label, **fields}
    if confidence is not None:
        result["Confidence"] = confidence
    return result


@pytest.mark.parametrize(
    ("level", "decision"),
    [
        ("none", Decision.PASS),
        ("low", Decision.REVIEW),
        ("medium", Decision.REVIEW),
        ("high", Decision.BLOCK),
        ("max", Decision.BLOCK),
        ("HIGH", Decision.BLOCK),  # compared without case
        ("maybe", Decision.REVIEW),  # unknown: never a silent PASS, never a BLOCK on a guess
    ],
)
def test_default_bands(level: str, decision: Decision) -> None:
    assert _plus(level, _result("pt_to_contact")).decision is decision


@pytest.mark.parametrize(
    ("bands", "expected"),
    [
        ({"review_at": "medium"}, ["PASS", "PASS", "REVIEW", "BLOCK", "BLOCK"]),
        (
            {"review_at": "medium", "block_at": "medium"},
            ["PASS", "PASS", "BLOCK", "BLOCK", "BLOCK"],
        ),
        ({"block_at": "max"}, ["PASS", "REVIEW", "REVIEW", "REVIEW", "BLOCK"]),
        ({"review_at": "high", "block_at": "max"}, ["PASS", "PASS", "PASS", "REVIEW", "BLOCK"]),
    ],
)
def test_configurable_bands(bands: dict[str, str], expected: list[str]) -> None:
    levels = ["none", "low", "medium", "high", "max"]
    got = [_plus(level, _result("pt_to_contact"), **bands).decision.value for level in levels]
    assert got == expected


def test_the_most_confident_risk_label_speaks() -> None:
    verdict = _plus(
        "high",
        _result("pt_to_contact", 60.0, RiskWords="加我"),
        _result("inappropriate_profanity", 95.25, RiskWords="傻逼,笨蛋"),
        _result("nonLabel", 99.0),
    )
    assert (verdict.label, verdict.vendor_label, verdict.score) == (
        Label.ABUSE,
        "inappropriate_profanity",
        95,
    )
    # Every risk label's words: the decision rests on all of them.
    assert verdict.keywords == ("加我", "傻逼", "笨蛋")
    assert verdict.sublabel is None


def test_a_clean_answer() -> None:
    verdict = _plus("none", _result("nonLabel", None, Description="未检测出风险"))
    assert (verdict.decision, verdict.label, verdict.vendor_label) == (
        Decision.PASS,
        Label.NORMAL,
        "nonLabel",
    )
    assert (verdict.score, verdict.keywords, verdict.masked_text) == (None, (), None)


def test_flagged_without_a_risk_label_is_unknown() -> None:
    verdict = _plus("high", _result("nonLabel"))
    assert (verdict.decision, verdict.label) == (Decision.BLOCK, Label.UNKNOWN)
    assert _plus("medium").label is Label.UNKNOWN


def test_a_low_risk_pass_keeps_its_label_for_policy() -> None:
    verdict = _plus("low", _result("sexual_terms", 40.0), review_at="medium")
    assert (verdict.decision, verdict.label, verdict.score) == (Decision.PASS, Label.SEXY, 40)


def test_custom_library_hits() -> None:
    hit = {"LibName": "黑名单", "KeyWords": "badword,other"}
    verdict = _plus("high", _result("customized", 100.0, CustomizedHit=[hit]))
    assert (verdict.label, verdict.sublabel, verdict.keywords) == (
        Label.OTHER,
        "黑名单",
        ("badword", "other"),
    )


def test_keywords_are_masked_by_the_core() -> None:
    with moderator(
        answering(plus_answer("high", [_result("pt_to_contact", RiskWords="微信")]))
    ) as mod:
        verdict = mod.check("加我微信好吗")
    assert verdict.masked_text == "加我**好吗"


def test_request_id_and_raw() -> None:
    body = plus_answer("high", [_result("pt_to_contact")], DataId="m-1")
    with moderator(answering(body)) as mod:
        verdict = mod.check("x")
    assert verdict.request_id == "r-1"
    assert verdict.raw == body
    assert verdict.provider == "aliyun"


# -- TextModeration ------------------------------------------------------------------


def _classic(labels: str, reason: Any = "", **overrides: Any) -> Any:
    with moderator(
        answering(classic_answer(labels, reason)), action="TextModeration", **overrides
    ) as mod:
        return mod.check("some text")


@pytest.mark.parametrize(
    ("labels", "label"),
    [
        (name, label)
        for name, label in CROSSWALK.items()
        if "_" not in name
        or name in ("sexual_content", "political_content", "negative_content", "C_customized")
    ]
    + [("ad,profanity", Label.AD), ("profanity,ad", Label.ABUSE)],
)
def test_classic_labels(labels: str, label: Label) -> None:
    verdict = _classic(labels, {"riskLevel": "high", "riskTips": "tips", "riskWords": "w1,w2"})
    assert (verdict.decision, verdict.label) == (Decision.BLOCK, label)
    assert verdict.vendor_label == labels.split(",", maxsplit=1)[0]
    assert verdict.sublabel == "tips"
    assert verdict.keywords == ("w1", "w2")
    assert verdict.score is None  # TextModeration answers no confidence


def test_classic_clean() -> None:
    verdict = _classic("", "")
    assert (verdict.decision, verdict.label, verdict.vendor_label) == (
        Decision.PASS,
        Label.NORMAL,
        None,
    )


def test_classic_levels_in_the_reason_go_through_the_bands() -> None:
    assert _classic("ad", {"riskLevel": "low"}).decision is Decision.REVIEW
    assert _classic("ad", {"riskLevel": "low"}, review_at="medium").decision is Decision.PASS
    assert _classic("ad", {"riskLevel": "medium"}).decision is Decision.REVIEW


def test_classic_labels_without_a_level_are_review() -> None:
    verdict = _classic("ad", {"riskTips": "广告"})
    assert (verdict.decision, verdict.label) == (Decision.REVIEW, Label.AD)
    assert _classic("profanity", "").decision is Decision.REVIEW


def test_classic_level_without_labels_is_unknown_not_pass() -> None:
    verdict = _classic("", {"riskLevel": "high"})
    assert (verdict.decision, verdict.label) == (Decision.BLOCK, Label.UNKNOWN)


def test_classic_custom_library() -> None:
    reason = {"riskLevel": "high", "customizedWords": "abc", "customizedLibs": "我的词库"}
    verdict = _classic("C_customized", reason)
    assert (verdict.label, verdict.sublabel, verdict.keywords) == (
        Label.OTHER,
        "我的词库",
        ("abc",),
    )


def test_the_official_classic_example_reason() -> None:
    reason = '{"riskLevel":"high","riskTips":"色情_低俗词","riskWords":"色情服务"}'
    verdict = _classic("porn", reason)
    assert (verdict.decision, verdict.label, verdict.sublabel, verdict.keywords) == (
        Decision.BLOCK,
        Label.PORN,
        "色情_低俗词",
        ("色情服务",),
    )
