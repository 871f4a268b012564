"""From Yidun's answer to a Verdict: suggestion, every label code of the crosswalk
(through the emulator's content rules), sublabels, rate as score, keywords."""

from __future__ import annotations

from typing import Any

import pytest

from moderation_core import Decision, Label
from moderation_yidun import LABELS
from moderation_yidun.emulator import TEXT_RULES

from .helpers import answer, antispam, emulator, moderator


def hit(label: int, *, level: int = 2, rate: float | None = 0.9, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"label": label, "level": level, "subLabels": []}
    if rate is not None:
        entry["rate"] = rate
    entry.update(extra)
    return entry


def verdict_of(body: dict[str, Any], text: str = "some text") -> Any:
    with moderator(answer(body)) as mod:
        return mod.check(text)


# -- every label code, end to end through the emulator -----------------------------------


def _rule_text(code: int) -> str:
    rule = next(r for r in TEXT_RULES if r.label == code)
    return f"message with {rule.terms[0]} inside"


@pytest.mark.parametrize("code", sorted(code for code in LABELS if code), ids=str)
def test_every_label_code_maps_through_the_emulator(code: int) -> None:
    label, folded = LABELS[code]
    with moderator(emulator()) as mod:
        verdict = mod.check(_rule_text(code))
    assert verdict.decision in (Decision.REVIEW, Decision.BLOCK)
    assert verdict.label is label
    assert verdict.vendor_label == str(code)
    # The crosswalk's sublabel for a folded code, else the emulator's secondLabel.
    assert verdict.sublabel == (folded or f"{code}001")
    assert verdict.request_id


def test_the_crosswalk_is_the_documented_one() -> None:
    assert {code: label for code, (label, _) in LABELS.items()} == {
        0: Label.NORMAL,
        100: Label.PORN,
        110: Label.SEXY,
        200: Label.AD,
        210: Label.AD,
        260: Label.AD,
        300: Label.VIOLENCE,
        400: Label.ILLEGAL,
        500: Label.POLITICS,
        600: Label.ABUSE,
        700: Label.OTHER,
        800: Label.OTHER,
        900: Label.OTHER,
        1020: Label.OTHER,
        1030: Label.OTHER,
        1040: Label.OTHER,
        1050: Label.OTHER,
        1100: Label.OTHER,
    }


@pytest.mark.parametrize(
    ("code", "sublabel"),
    [(210, "QRCode"), (260, "AdLaw"), (700, "Flooding"), (800, "Disgusting"), (1100, "Values")],
)
def test_a_folded_code_carries_the_crosswalk_s_sublabel(code: int, sublabel: str) -> None:
    body = antispam(suggestion=1, label=code, secondLabel=f"{code}001", labels=[hit(code)])
    verdict = verdict_of(body)
    assert verdict.sublabel == sublabel
    assert verdict.vendor_label == str(code)


def test_a_pass_is_normal() -> None:
    with moderator(emulator()) as mod:
        verdict = mod.check("今天天气不错")
    assert (verdict.decision, verdict.label) == (Decision.PASS, Label.NORMAL)
    assert verdict.keywords == ()
    assert verdict.score is None


# -- suggestion ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suggestion", "decision"),
    [(0, Decision.PASS), (1, Decision.REVIEW), (2, Decision.BLOCK), (3, Decision.REVIEW)],
)
def test_suggestion_is_the_decision(suggestion: int, decision: Decision) -> None:
    verdict = verdict_of(antispam(suggestion=suggestion, label=600, labels=[hit(600)]))
    assert verdict.decision is decision


def test_an_unknown_label_code_is_other_with_the_code_kept() -> None:
    verdict = verdict_of(antispam(suggestion=2, label=4242, labels=[hit(4242)]))
    assert (verdict.label, verdict.vendor_label) == (Label.OTHER, "4242")


@pytest.mark.parametrize("label", [0, None], ids=["zero", "absent"])
def test_a_finding_without_a_label_is_other_never_normal(label: int | None) -> None:
    body = antispam(suggestion=2, label=label)
    verdict = verdict_of(body)
    assert (verdict.decision, verdict.label) == (Decision.BLOCK, Label.OTHER)


def test_an_older_answer_without_a_top_level_label_uses_the_surest_hit() -> None:
    body = antispam(suggestion=1, labels=[hit(200, level=1, rate=0.6), hit(600, level=2, rate=0.8)])
    body["result"]["antispam"].pop("label")
    verdict = verdict_of(body)
    assert (verdict.label, verdict.vendor_label, verdict.score) == (Label.ABUSE, "600", 80)


def test_the_score_is_the_rate_of_the_named_label() -> None:
    labels = [hit(200, rate=0.99), hit(600, rate=0.42)]
    verdict = verdict_of(antispam(suggestion=2, label=600, labels=labels))
    assert verdict.score == 42


@pytest.mark.parametrize(
    ("rate", "score"),
    [(0.0, 0), (0.5, 50), (1, 100), (0.999, 100), (87.5, 88), (250, 100), (-3, 0), (None, None)],
)
def test_rate_scales_to_a_score(rate: float | None, score: int | None) -> None:
    verdict = verdict_of(antispam(suggestion=1, label=200, labels=[hit(200, rate=rate)]))
    assert verdict.score == score


def test_second_label_is_the_sublabel_else_the_first_sub_label() -> None:
    subs = [{"subLabel": "200123"}, {"subLabel": "200456"}]
    verdict = verdict_of(antispam(suggestion=1, label=200, labels=[hit(200, subLabels=subs)]))
    assert verdict.sublabel == "200123"
    body = antispam(
        suggestion=1, label=200, secondLabel="200999", labels=[hit(200, subLabels=subs)]
    )
    assert verdict_of(body).sublabel == "200999"


def test_keywords_come_from_every_sub_label_s_details_once_each() -> None:
    def sub(*words: str) -> dict[str, Any]:
        return {"subLabel": "x", "details": {"keywords": [{"word": w} for w in words]}}

    labels = [
        hit(200, subLabels=[sub("加我微信", "vx"), sub("vx")]),
        hit(600, subLabels=[sub("傻逼"), {"subLabel": "y", "details": None}, {"subLabel": "z"}]),
    ]
    text = "加我微信 vx 傻逼"
    verdict = verdict_of(antispam(suggestion=2, label=600, labels=labels), text)
    assert verdict.keywords == ("加我微信", "vx", "傻逼")
    assert verdict.masked_text == "**** ** **"  # masked by the core from the keywords


def test_keywords_from_the_emulator_are_as_written() -> None:
    with moderator(emulator()) as mod:
        verdict = mod.check("You IDIOT")
    assert verdict.keywords == ("IDIOT",)
    assert verdict.masked_text == "You *****"


def test_a_model_hit_has_no_keywords() -> None:
    with moderator(emulator()) as mod:
        verdict = mod.check("join my online casino")
    assert (verdict.decision, verdict.label, verdict.keywords) == (
        Decision.REVIEW,
        Label.ILLEGAL,
        (),
    )


def test_the_task_id_is_the_request_id_and_raw_is_the_item() -> None:
    body = antispam(taskId="t-77", suggestion=0)
    verdict = verdict_of(body)
    assert verdict.request_id == "t-77"
    assert verdict.raw == body["result"]


def test_nulls_where_the_sdk_has_pointers_are_absent_values() -> None:
    body = antispam(
        suggestion=1,
        label=200,
        secondLabel=None,
        taskId=None,
        labels=[{"label": 200, "level": None, "rate": None, "subLabels": None}],
    )
    verdict = verdict_of(body)
    assert (verdict.label, verdict.sublabel, verdict.score, verdict.request_id) == (
        Label.AD,
        None,
        None,
        None,
    )
