"""From Azure's severities and blocklist matches to a Verdict: the crosswalk, the
decision from the highest severity (review_at / block_at), scores on either scale, and
blocklist hits; each checked on the request sent as well."""

from __future__ import annotations

from typing import Any

import pytest

from moderation_azure import CATEGORIES, label_for
from moderation_core import Decision, Label
from tests.support.providers import answer

from .helpers import analysis, emulator, moderator, sent_json


@pytest.mark.parametrize(
    ("category", "severity", "decision", "label", "score"),
    [
        ("Hate", 2, Decision.REVIEW, Label.HATE, 33),
        ("Hate", 4, Decision.BLOCK, Label.HATE, 67),
        ("SelfHarm", 6, Decision.BLOCK, Label.SELF_HARM, 100),
        ("Violence", 2, Decision.REVIEW, Label.VIOLENCE, 33),
        ("Violence", 4, Decision.BLOCK, Label.VIOLENCE, 67),
        # Sexual: PORN at block severity, SEXY below it.
        ("Sexual", 2, Decision.REVIEW, Label.SEXY, 33),
        ("Sexual", 4, Decision.BLOCK, Label.PORN, 67),
        ("Sexual", 6, Decision.BLOCK, Label.PORN, 100),
    ],
)
def test_each_category_on_the_four_level_scale(
    category: str, severity: int, decision: Decision, label: Label, score: int
) -> None:
    with moderator(answer(analysis({category: severity}))) as mod:
        verdict = mod.check("text")
    assert (verdict.decision, verdict.label, verdict.score) == (decision, label, score)
    assert (verdict.sublabel, verdict.vendor_label) == (category, category)


def test_all_zero_is_a_pass_with_label_normal() -> None:
    with moderator(answer(analysis())) as mod:
        verdict = mod.check("hello")
    assert (verdict.decision, verdict.label, verdict.score, verdict.sublabel) == (
        Decision.PASS,
        Label.NORMAL,
        0,
        None,
    )
    assert verdict.raw == analysis()


def test_the_highest_severity_decides_and_ties_go_in_the_spec_order() -> None:
    with moderator(answer(analysis({"Violence": 4, "Hate": 4, "Sexual": 2}))) as mod:
        verdict = mod.check("text")
    assert (verdict.decision, verdict.label) == (Decision.BLOCK, Label.HATE)


@pytest.mark.parametrize(
    ("severity", "decision", "score"),
    [(0, Decision.PASS, 0), (1, Decision.PASS, 14), (2, Decision.REVIEW, 29),
     (3, Decision.REVIEW, 43), (4, Decision.BLOCK, 57), (7, Decision.BLOCK, 100)],
)  # fmt: skip
def test_eight_levels_score_severity_times_100_over_7(
    severity: int, decision: Decision, score: int
) -> None:
    handler = answer(analysis({"Violence": severity}))
    with moderator(handler, output_type="EightSeverityLevels") as mod:
        verdict = mod.check("text")
    assert (verdict.decision, verdict.score) == (decision, score)
    assert sent_json(handler.requests[0])["outputType"] == "EightSeverityLevels"


def test_a_pass_keeps_how_close_it_came_in_the_score() -> None:
    with moderator(answer(analysis({"Hate": 1})), output_type="EightSeverityLevels") as mod:
        verdict = mod.check("text")
    assert (verdict.decision, verdict.label, verdict.score) == (Decision.PASS, Label.NORMAL, 14)


@pytest.mark.parametrize(
    ("review_at", "block_at", "severity", "decision"),
    [(4, 6, 2, Decision.PASS), (4, 6, 4, Decision.REVIEW), (4, 6, 6, Decision.BLOCK),
     (1, 2, 2, Decision.BLOCK), (6, 6, 6, Decision.BLOCK)],
)  # fmt: skip
def test_review_at_and_block_at_are_configurable(
    review_at: int, block_at: int, severity: int, decision: Decision
) -> None:
    handler = answer(analysis({"Sexual": severity}))
    with moderator(handler, review_at=review_at, block_at=block_at) as mod:
        verdict = mod.check("text")
    assert verdict.decision is decision
    if decision is Decision.REVIEW:
        assert verdict.label is Label.SEXY  # below block severity


def test_a_blocklist_hit_blocks_with_label_other_and_the_items_as_keywords() -> None:
    body = analysis({"Hate": 2}, [("Profanity", "heck"), ("Profanity", "darn it")])
    handler = answer(body)
    with moderator(handler, blocklists=["Profanity"]) as mod:
        verdict = mod.check("heck, darn it")
    assert (verdict.decision, verdict.label, verdict.sublabel) == (
        Decision.BLOCK,
        Label.OTHER,
        "Profanity",
    )
    assert verdict.keywords == ("heck", "darn it")
    assert verdict.masked_text == "****, *******"  # the core masks keyword hits
    assert sent_json(handler.requests[0]) == {
        "text": "heck, darn it",
        "outputType": "FourSeverityLevels",
        "blocklistNames": ["Profanity"],
        "haltOnBlocklistHit": False,
    }


def test_a_harm_category_that_blocks_too_keeps_its_label_and_the_keywords() -> None:
    body = analysis({"Violence": 6}, [("TestBlocklist", "blocked-term")])
    with moderator(answer(body), blocklists=["TestBlocklist"]) as mod:
        verdict = mod.check("blocked-term")
    assert (verdict.decision, verdict.label, verdict.keywords) == (
        Decision.BLOCK,
        Label.VIOLENCE,
        ("blocked-term",),
    )


def test_a_halted_analysis_without_severities_is_still_a_blocklist_block() -> None:
    body = {
        "blocklistsMatch": [
            {"blocklistName": "B", "blocklistItemId": "1", "blocklistItemText": "bad"}
        ],
        "categoriesAnalysis": [],
    }
    handler = answer(body)
    with moderator(handler, blocklists=["B"], halt_on_blocklist_hit=True) as mod:
        verdict = mod.check("bad")
    assert (verdict.decision, verdict.label, verdict.sublabel) == (Decision.BLOCK, Label.OTHER, "B")
    assert sent_json(handler.requests[0])["haltOnBlocklistHit"] is True


def test_keywords_are_bounded_and_deduplicated() -> None:
    matches = [("B", f"item-{n % 150}") for n in range(300)]
    with moderator(answer(analysis(None, matches)), blocklists=["B"]) as mod:
        verdict = mod.check("text")
    assert len(verdict.keywords) == 100
    assert len(set(verdict.keywords)) == 100


def test_configured_categories_are_sent_and_only_they_are_expected() -> None:
    handler = answer(
        {"blocklistsMatch": [], "categoriesAnalysis": [{"category": "Hate", "severity": 2}]}
    )
    with moderator(handler, categories=["Hate"]) as mod:
        verdict = mod.check("text")
    assert verdict.decision is Decision.REVIEW
    assert sent_json(handler.requests[0])["categories"] == ["Hate"]


def test_an_unknown_category_is_other_with_the_vendor_label_kept() -> None:
    body = analysis()
    body["categoriesAnalysis"].append({"category": "Jailbreak", "severity": 6})
    with moderator(answer(body)) as mod:
        verdict = mod.check("text")
    assert (verdict.decision, verdict.label, verdict.vendor_label) == (
        Decision.BLOCK,
        Label.OTHER,
        "Jailbreak",
    )


def test_label_for_covers_every_category() -> None:
    assert {c: label_for(c, blocking=True) for c in CATEGORIES} == {
        "Hate": Label.HATE,
        "SelfHarm": Label.SELF_HARM,
        "Sexual": Label.PORN,
        "Violence": Label.VIOLENCE,
    }
    assert label_for("Sexual", blocking=False) is Label.SEXY
    assert label_for("Hate", blocking=False) is Label.HATE


# -- against the emulator's rules ---------------------------------------------------------

EVERY_CATEGORY: list[tuple[str, Decision, Label, Any]] = [
    ("hello", Decision.PASS, Label.NORMAL, None),
    ("you idiot", Decision.REVIEW, Label.HATE, "Hate"),
    ("those people are vermin", Decision.BLOCK, Label.HATE, "Hate"),
    ("I want to kill myself", Decision.BLOCK, Label.SELF_HARM, "SelfHarm"),
    ("sexy pics", Decision.REVIEW, Label.SEXY, "Sexual"),
    ("porn", Decision.BLOCK, Label.PORN, "Sexual"),
    ("I will punch you", Decision.REVIEW, Label.VIOLENCE, "Violence"),
    ("kill them", Decision.BLOCK, Label.VIOLENCE, "Violence"),
]


@pytest.mark.parametrize(("text", "decision", "label", "sublabel"), EVERY_CATEGORY)
def test_every_category_from_the_emulator(
    text: str, decision: Decision, label: Label, sublabel: str | None
) -> None:
    with moderator(emulator()) as mod:
        verdict = mod.check(text)
    assert (verdict.decision, verdict.label, verdict.sublabel) == (decision, label, sublabel)
    assert verdict.request_id  # apim-request-id


def test_the_emulator_blocklist_and_the_severity_marker() -> None:
    with moderator(emulator(), blocklists=["TestBlocklist"]) as mod:
        blocked = mod.check("see spam-link.example now")
        marked = mod.check("[[severity:Violence=5]] text")
    assert (blocked.decision, blocked.label, blocked.keywords) == (
        Decision.BLOCK,
        Label.OTHER,
        ("spam-link.example",),
    )
    assert (marked.decision, marked.score) == (Decision.BLOCK, 67)  # 5 -> 4 on four levels
