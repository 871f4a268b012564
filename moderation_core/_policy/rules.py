"""The decision rules: from one content's verdict, or its failure, to an Outcome with
a reason a moderator can read (allowed terms, then thresholds, then actions)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from moderation_core._errors import AllProvidersFailed, ModerationError
from moderation_core._masking import mask_keywords
from moderation_core._model import Action, Content, ContentType, Decision, Outcome, Verdict
from moderation_core._state import Mute

from .config import Band, SceneRules
from .terms import TermList, term_key

__all__ = [
    "RANK",
    "apply_rules",
    "by_decision",
    "fail_mode_outcome",
    "harshest",
    "muted_reason",
    "on_failure_outcome",
    "where",
]

RANK: Final = {Action.ALLOW: 0, Action.MASK: 1, Action.REVIEW: 2, Action.BLOCK: 3}
_BY_DECISION: Final = {
    Decision.PASS: Action.ALLOW,
    Decision.PENDING: Action.REVIEW,  # held until the vendor's webhook answers
    Decision.REVIEW: Action.REVIEW,
    Decision.BLOCK: Action.BLOCK,
}


def by_decision(decision: Decision) -> Action:
    return _BY_DECISION[decision]


def where(scene: str | None) -> str:
    return f" in scene {scene}" if scene is not None else ""


def _by(verdict: Verdict) -> str:
    who = verdict.provider or "the provider"
    if verdict.failed_over:  # say so: the reason is what a moderator reads
        return f"{who} (after {_tried(verdict.errors)})"
    return who


def harshest(outcomes: Sequence[Outcome]) -> Outcome:
    if len(outcomes) == 1:  # most messages: one content
        return outcomes[0]
    return max(outcomes, key=lambda o: RANK[o.action])  # first of the harshest on ties


def fail_mode_outcome(content: Content, verdict: Verdict, where: str) -> Outcome:
    """The outcome of a verdict that ``fail_mode`` gave because every provider failed."""
    action = _BY_DECISION[verdict.decision]
    why = f"every provider failed ({_tried(verdict.errors)}); fail_mode decided"
    text = None if action is Action.BLOCK else content.value
    return Outcome(action, text, f"{why} {verdict.decision.value}{where}", verdict)


def on_failure_outcome(
    content: Content, result: Verdict | ModerationError, on_failure: str, where: str
) -> Outcome:
    """What ``on_failure`` makes of a content no provider could check."""
    errors = (
        list(result.errors)
        if isinstance(result, Verdict)
        else list(getattr(result, "exceptions", ()))
    )
    if on_failure == "raise":
        if isinstance(result, ModerationError):
            raise result
        raise AllProvidersFailed(f"every provider failed ({_tried(errors)})", errors)
    action = Action[on_failure.upper()]
    text = None if action is Action.BLOCK else content.value
    verdict = result if isinstance(result, Verdict) else None
    return Outcome(
        action,
        text,
        f"every provider failed ({_tried(errors)}); on_failure = {on_failure}{where}",
        verdict,
    )


def _tried(errors: Sequence[Any]) -> str:
    return (
        ", ".join(f"{getattr(e, 'provider', None)}: {type(e).__name__}" for e in errors)
        or "none tried"
    )


def _plain(verdict: Verdict) -> str:
    if verdict.decision is Decision.PASS:
        return f"{_by(verdict)} passed it"
    if verdict.decision is Decision.PENDING:
        return f"{_by(verdict)} answers later by webhook (PENDING), held for review"
    hits = f", keywords {', '.join(repr(k) for k in verdict.keywords)}" if verdict.keywords else ""
    score = f", score {verdict.score}" if verdict.score is not None else ""
    label = verdict.label.value
    return f"{_by(verdict)} decided {verdict.decision.value} for label {label}{score}{hits}"


def apply_rules(content: Content, verdict: Verdict, rules: SceneRules, where: str) -> Outcome:
    """allowed_terms, then thresholds, then actions, on one verdict."""
    decision, keywords, why = verdict.decision, verdict.keywords, _plain(verdict)
    if rules.allowed is not None and keywords and content.type is ContentType.TEXT:
        kept = _drop_allowed(content.value, keywords, rules.allowed)
        if len(kept) < len(keywords):
            shown = ", ".join(repr(k) for k in keywords if k not in kept)
            if not kept and verdict.flagged:
                decision = Decision.PASS
                why = f"{_by(verdict)} flagged only keyword hits {shown}, which are allowed terms"
            else:
                why += f" (keyword hits {shown} dropped as allowed terms)"
            keywords = kept
    band = rules.thresholds.get(verdict.label)
    if band is not None and verdict.score is not None and decision is not Decision.PENDING:
        decision, why = _apply_band(band, decision, verdict)
    action = _BY_DECISION[decision]
    text: str | None = content.value
    if decision is Decision.REVIEW or decision is Decision.BLOCK:
        key = verdict.label.value if verdict.label.value in rules.actions else decision.value
        mapped = rules.actions.get(key)
        if mapped is not None:
            why += f"; actions {key} = {mapped.value.lower()}"
            masked = _masked(content, verdict, keywords) if mapped is Action.MASK else None
            if mapped is not Action.MASK:
                action = mapped
            elif masked is None:
                why += f", but there is nothing to mask, so {action.value}"
            else:
                action, text = Action.MASK, masked
    return Outcome(action, None if action is Action.BLOCK else text, why + where, verdict)


def _apply_band(band: Band, decision: Decision, verdict: Verdict) -> tuple[Decision, str]:
    score, label = verdict.score, verdict.label.value
    assert score is not None  # noqa: S101 - the caller checked
    if band.block is not None and score >= band.block:
        return Decision.BLOCK, f"label {label} scored {score} >= block threshold {band.block}"
    if band.review is not None and score >= band.review:
        return Decision.REVIEW, f"label {label} scored {score} >= review threshold {band.review}"
    if band.review is not None:
        return Decision.PASS, f"label {label} scored {score} < review threshold {band.review}"
    lowered = min(decision, Decision.REVIEW)
    return lowered, f"label {label} scored {score} < block threshold {band.block}"


def _drop_allowed(text: str, keywords: Sequence[str], allowed: TermList) -> tuple[str, ...]:
    """The keywords that are not allowed terms nor inside one found in the text."""
    present = allowed.found_keys(text)
    kept = []
    for keyword in keywords:
        key = term_key(keyword)
        if key in allowed.keys or any(key in term for term in present):
            continue
        kept.append(keyword)
    return tuple(kept)


def _masked(content: Content, verdict: Verdict, keywords: Sequence[str]) -> str | None:
    if content.type is not ContentType.TEXT:
        return None
    if tuple(keywords) == verdict.keywords and verdict.masked_text is not None:
        masked = verdict.masked_text
    else:
        masked = mask_keywords(content.value, keywords)
    return masked if masked != content.value else None


def muted_reason(mute: Mute) -> str:
    scope = f" in scene {mute.scene}" if mute.scene is not None else " in every scene"
    until = f" until {mute.until.isoformat()}" if mute.until is not None else " until unmuted"
    return f"sender {mute.sender} is muted{scope}{until} ({mute.reason}); no provider was asked"
