"""From Shumei's answer to a Verdict: riskLevel, the riskLabel1 crosswalk, riskLabel2,
filteredText, matched words and probability."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from moderation_core import Decision, Label, Moderator, Verdict
from moderation_shumei import RISK_LABELS
from moderation_shumei.emulator import OFFICIAL_EXAMPLE, OFFICIAL_EXAMPLE_ANSWER, RULES, Rule

from .helpers import answer, answering, config, emulator, moderator

DECISIONS = {"PASS": Decision.PASS, "REVIEW": Decision.REVIEW, "REJECT": Decision.BLOCK}
# docs/labels.md, the Shumei column.
CROSSWALK = {
    "normal": Label.NORMAL,
    "politics": Label.POLITICS,
    "violence": Label.VIOLENCE,
    "porn": Label.PORN,
    "ban": Label.ILLEGAL,
    "abuse": Label.ABUSE,
    "ad_law": Label.AD,
    "ad": Label.AD,
    "blacklist": Label.OTHER,
    "meaningless": Label.OTHER,
    "privacy": Label.OTHER,
    "fraud": Label.ILLEGAL,
    "minor": Label.OTHER,
    "Politics": Label.POLITICS,
    "Violence": Label.VIOLENCE,
    "Erotic": Label.PORN,
    "Prohibit": Label.ILLEGAL,
    "Abuse": Label.ABUSE,
    "Ads": Label.AD,
    "Blacklist": Label.OTHER,
}
ALL_TYPES = "TEXTRISK_FRUAD_TEXTMINOR"


def check(text: str, **overrides: Any) -> Verdict:
    with Moderator.from_config(
        config(**overrides), transport=httpx.MockTransport(emulator())
    ) as mod:
        return mod.check(text)


def test_the_official_example() -> None:
    verdict = check(OFFICIAL_EXAMPLE)
    assert verdict.decision is Decision.BLOCK
    assert verdict.label is Label.AD
    assert verdict.vendor_label == "ad"
    assert verdict.sublabel == "lianxifangshi"
    assert verdict.score == 100  # the allLabels entry for ad/lianxifangshi says 1
    assert verdict.keywords == ("qq",)  # named in the ad/jiahaoyou entry
    assert verdict.masked_text == "加个好友吧 **12345"
    assert verdict.request_id == "bb917ec5fa11fd02d226fb384968feb1"
    assert verdict.raw == OFFICIAL_EXAMPLE_ANSWER
    assert verdict.provider == "shumei"


def test_every_documented_label_has_a_crosswalk_row_and_an_emulator_rule() -> None:
    documented = {label.lower() for label in CROSSWALK}
    assert documented == set(RISK_LABELS)
    ruled = {rule.risk_label1 for rule in RULES}
    assert set(CROSSWALK) - {"normal"} <= ruled


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.risk_label1)
def test_every_emulator_rule_maps(rule: Rule) -> None:
    trigger = rule.triggers[0]
    verdict = check(f"前文 {trigger} 后文", risk_type=ALL_TYPES)
    assert verdict.decision is DECISIONS[rule.risk_level]
    assert verdict.label is CROSSWALK.get(rule.risk_label1, Label.OTHER)
    assert verdict.vendor_label == rule.risk_label1
    assert verdict.sublabel == rule.risk_label2
    assert verdict.score == round(rule.probability * 100)
    assert verdict.keywords == (trigger,)
    assert verdict.masked_text == f"前文 {'*' * len(trigger)} 后文"


def test_an_unlisted_label_is_other_with_the_vendor_label_kept() -> None:
    verdict = check("newlabel-test")
    assert (verdict.label, verdict.vendor_label, verdict.sublabel) == (
        Label.OTHER,
        "gambling",
        "dubo",
    )


def test_pass() -> None:
    verdict = check("今天天气不错")
    assert verdict.decision is Decision.PASS
    assert verdict.label is Label.NORMAL
    assert verdict.vendor_label == "normal"
    assert (verdict.sublabel, verdict.score, verdict.keywords) == (None, None, ())
    assert verdict.request_id


def test_the_type_asked_for_decides_what_is_detected() -> None:
    # fraud needs FRUAD and minor TEXTMINOR; TEXTRISK alone lets them pass.
    assert check("刷单返利").decision is Decision.PASS
    assert check("刷单返利", risk_type="TEXTRISK_FRUAD").label is Label.ILLEGAL
    assert check("未成年交友").decision is Decision.PASS
    assert check("未成年交友", risk_type="TEXTMINOR").vendor_label == "minor"
    assert check("你这个傻逼", risk_type="POLITY").decision is Decision.PASS


def crafted(**fields: Any) -> Verdict:
    with moderator(answering(answer(**fields))) as mod:
        return mod.check("some text")


@pytest.mark.parametrize(
    ("level", "decision"),
    [
        ("PASS", Decision.PASS),
        ("REVIEW", Decision.REVIEW),
        ("REJECT", Decision.BLOCK),
        ("reject", Decision.BLOCK),
        ("MAYBE", Decision.REVIEW),  # unknown: never a silent PASS
    ],
)
def test_risk_levels(level: str, decision: Decision) -> None:
    assert crafted(riskLevel=level, riskLabel1="ad").decision is decision


def test_a_flag_without_a_label_is_unknown_never_normal() -> None:
    verdict = crafted(riskLevel="REVIEW", riskLabel1="")
    assert (verdict.label, verdict.vendor_label) == (Label.UNKNOWN, None)
    assert crafted(riskLevel="PASS").label is Label.NORMAL


def test_score_prefers_the_entry_behind_the_verdict() -> None:
    all_labels = [
        {"riskLabel1": "politics", "riskLabel2": "shezheng", "probability": 0.99},
        {"riskLabel1": "ad", "riskLabel2": "jiahaoyou", "probability": 0.9},
        {"riskLabel1": "ad", "riskLabel2": "lianxifangshi", "probability": 0.42},
    ]
    exact = crafted(
        riskLevel="REJECT", riskLabel1="ad", riskLabel2="lianxifangshi", allLabels=all_labels
    )
    assert exact.score == 42
    same_label = crafted(
        riskLevel="REJECT", riskLabel1="ad", riskLabel2="other", allLabels=all_labels
    )
    assert same_label.score == 90
    unmatched = crafted(riskLevel="REJECT", riskLabel1="porn", allLabels=all_labels)
    assert unmatched.score is None


def test_keywords_from_matched_lists_and_risk_segments_without_repeats() -> None:
    detail = {
        "matchedLists": [
            {"name": "l", "words": [{"word": "aa", "position": [0, 1]}, {"word": "bb"}]}
        ],
        "riskSegments": [{"segment": "cc dd", "position": [3, 7]}, {"segment": "aa"}],
    }
    other = {"matchedLists": [{"name": "l", "words": [{"word": "not-this-label"}]}]}
    verdict = crafted(
        riskLevel="REJECT",
        riskLabel1="abuse",
        riskDetail=detail,
        allLabels=[
            {"riskLabel1": "ABUSE", "riskDetail": {"riskSegments": [{"segment": "ee"}]}},
            {"riskLabel1": "ad", "riskDetail": other},
        ],
    )
    assert verdict.keywords == ("aa", "bb", "cc dd", "ee")


def test_masked_text_is_filtered_text_else_the_core_masks_keywords() -> None:
    given = crafted(riskLevel="REJECT", riskLabel1="abuse", auxInfo={"filteredText": "so** text"})
    assert given.masked_text == "so** text"
    detail = {"riskSegments": [{"segment": "text"}]}
    derived = crafted(riskLevel="REJECT", riskLabel1="abuse", riskDetail=detail, auxInfo={})
    assert derived.masked_text == "some ****"


def test_nulls_where_lists_and_objects_go_are_read_as_absent() -> None:
    verdict = crafted(
        riskLevel="REVIEW",
        riskLabel1="ad",
        riskLabel2=None,
        riskDetail={"matchedLists": None, "riskSegments": None},
        auxInfo=None,
        allLabels=None,
    )
    assert (verdict.decision, verdict.label, verdict.keywords, verdict.score) == (
        Decision.REVIEW,
        Label.AD,
        (),
        None,
    )
