"""evaluate() and the [policy] rules through the public API, sync and async: each rule,
the rule hook, on_failure, the mute cycle, context merge, config errors and the docs."""

from __future__ import annotations

import inspect
import json
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs
import httpx
import pluggy
import pytest

from moderation_core import (
    Action,
    AllProvidersFailed,
    AsyncModerator,
    CheckContext,
    ConfigError,
    Content,
    Decision,
    InvalidContent,
    Moderator,
    Outcome,
    Verdict,
    hookimpl,
)
from moderation_core._policy import Band, ContextRule, MuteRule, PolicySettings, parse_duration
from moderation_core._provider import Flow
from moderation_core.testing import Clock
from tests.fakes import FakeProvider, FakeVendor

AnyModerator = Moderator | AsyncModerator


async def call(value: Any) -> Any:
    """The result of a Moderator call, or of an AsyncModerator call once awaited."""
    return await value if inspect.isawaitable(value) else value


def build(
    kind: str,
    config: dict[str, Any],
    pm: pluggy.PluginManager | None = None,
    handler: Any = None,
    clock: Clock | None = None,
) -> AnyModerator:
    transport = httpx.MockTransport(handler) if handler is not None else None
    cls = Moderator if kind == "sync" else AsyncModerator
    return cls(config, plugin_manager=pm, transport=transport, clock=clock)  # no sleeping


async def close(mod: AnyModerator) -> None:
    await call(mod.close())


def fake_config(
    policy: dict[str, Any] | None = None, *, local: bool = True, **moderation: Any
) -> dict[str, Any]:
    """The fake vendor first, and the local engine (for the merged context) second."""
    providers: dict[str, Any] = {"fake": {"type": "fake", "base_url": "http://vendor.fake"}}
    if local:
        providers["local"] = {"type": "local"}
    return {
        "moderation": {"providers": list(providers), **moderation},
        "providers": providers,
        "policy": policy or {},
    }


def scored_config(policy: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "moderation": {"providers": ["scored"]},
        "providers": {"scored": {"type": "scored", "base_url": "http://vendor.fake"}},
        "policy": policy or {},
    }


class ScoredProvider(FakeProvider):
    """The fake provider, keeping the score the vendor sent."""

    provider_type: ClassVar[str] = "scored"

    def flow(self, contents: Sequence[Content], context: CheckContext) -> Flow:
        results = yield from super().flow(contents, context)
        return [
            attrs.evolve(r, score=r.raw.get("score"))
            if isinstance(r, Verdict) and r.raw is not None
            else r
            for r in results
        ]


class ScoredPlugin:
    @hookimpl
    def register_providers(self, registry: Any) -> None:
        registry.add(ScoredProvider)


class ScriptedVendor:
    """Answers by the first marker found in each text: ``{"ad85": {"decision": ...}}``;
    PASS otherwise. Counts the check requests it saw."""

    def __init__(self, answers: dict[str, dict[str, Any]]) -> None:
        self.answers = answers
        self.checks: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.checks.append(body)
        results = []
        for text in body["items"]:
            answer = next((a for m, a in self.answers.items() if m in text), None)
            results.append(answer or {"decision": "PASS", "label": "NORMAL"})
        return httpx.Response(200, json={"results": results})


# -- fixtures ------------------------------------------------------------------------


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def scored_pm(plugin_manager: pluggy.PluginManager) -> pluggy.PluginManager:
    plugin_manager.register(ScoredPlugin(), name="scored")
    return plugin_manager


async def evaluate_once(
    kind: str,
    config: dict[str, Any],
    pm: pluggy.PluginManager,
    handler: Any,
    message: Any,
    **where: Any,
) -> Outcome:
    mod = build(kind, config, pm, handler)
    try:
        return await call(mod.evaluate(message, **where))  # type: ignore[no-any-return]
    finally:
        await close(mod)


# -- the default: the decision decides ------------------------------------------------


async def test_decisions_map_to_actions_by_default(
    kind: str, plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    mod = build(kind, fake_config(), plugin_manager, vendor)
    fine = await call(mod.evaluate("fine", scene="Group", sender="u1"))
    held = await call(mod.evaluate("please review", scene="Group", sender="u1"))
    blocked = await call(mod.evaluate("a block here", scene="Group", sender="u1"))
    await close(mod)
    assert (fine.action, fine.text) == (Action.ALLOW, "fine")
    assert fine.reason == "fake passed it in scene Group"
    assert fine.verdict.decision is Decision.PASS
    assert (held.action, held.text) == (Action.REVIEW, "please review")
    assert (blocked.action, blocked.text) == (Action.BLOCK, None)
    assert blocked.reason == "fake decided BLOCK for label ABUSE, keywords 'block' in scene Group"


async def test_several_contents_take_the_harshest_outcome(
    kind: str, plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    message = ["fine", "please review", Content.text("also fine", id="m-3")]
    outcome = await evaluate_once(kind, fake_config(), plugin_manager, vendor, message)
    assert outcome.action is Action.REVIEW
    assert outcome.text == "please review"
    assert len(vendor.checks) == 3  # batch_size 1: one request per content


async def test_evaluate_refuses_an_empty_message(kind: str) -> None:
    mod = build(kind, {"providers": {"local": {"type": "local"}}})
    with pytest.raises(InvalidContent, match="no contents"):
        await call(mod.evaluate([]))
    with pytest.raises(InvalidContent, match="empty"):
        await call(mod.evaluate("   "))
    await close(mod)


# -- actions ---------------------------------------------------------------------------


async def test_actions_map_a_label_to_mask(
    kind: str, plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    config = fake_config({"actions": {"ABUSE": "mask"}})
    outcome = await evaluate_once(
        kind, config, plugin_manager, vendor, "a block here", scene="Group"
    )
    assert outcome.action is Action.MASK
    assert outcome.text == "a ***** here"
    assert outcome.reason.endswith("; actions ABUSE = mask in scene Group")


async def test_mask_with_nothing_to_mask_keeps_the_decision(
    kind: str, plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    config = fake_config({"actions": {"AD": "mask"}})  # the fake's REVIEW/AD has no keywords
    outcome = await evaluate_once(kind, config, plugin_manager, vendor, "please review")
    assert outcome.action is Action.REVIEW
    assert "nothing to mask, so REVIEW" in outcome.reason


async def test_actions_by_decision_cover_any_label(
    kind: str, plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    config = fake_config({"actions": {"REVIEW": "allow", "ABUSE": "review"}})
    mod = build(kind, config, plugin_manager, vendor)
    held = await call(mod.evaluate("please review"))
    abuse = await call(mod.evaluate("a block here"))
    await close(mod)
    assert (held.action, held.text) == (Action.ALLOW, "please review")
    assert held.reason.endswith("; actions REVIEW = allow")
    assert (abuse.action, abuse.text) == (Action.REVIEW, "a block here")


async def test_a_scene_overrides_a_key_and_other_scenes_keep_the_default(
    kind: str, plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    policy = {"actions": {"ABUSE": "review"}, "scenes": {"Group": {"actions": {"ABUSE": "block"}}}}
    mod = build(kind, fake_config(policy), plugin_manager, vendor)
    group = await call(mod.evaluate("a block here", scene="Group"))
    c2c = await call(mod.evaluate("a block here", scene="C2C"))
    await close(mod)
    assert group.action is Action.BLOCK
    assert c2c.action is Action.REVIEW
    assert c2c.reason.endswith("; actions ABUSE = review in scene C2C")


# -- thresholds ------------------------------------------------------------------------

SCORED = {
    "ad85": {"decision": "REVIEW", "label": "AD", "score": 85},
    "ad70": {"decision": "PASS", "label": "AD", "score": 70},
    "ad40": {"decision": "BLOCK", "label": "AD", "score": 40},
    "porn90": {"decision": "REVIEW", "label": "PORN", "score": 90},
}


async def test_a_score_over_the_block_threshold_raises_the_decision(
    kind: str, scored_pm: pluggy.PluginManager
) -> None:
    config = scored_config({"thresholds": {"AD": {"review": 60, "block": 80}}})
    vendor = ScriptedVendor(SCORED)
    outcome = await evaluate_once(kind, config, scored_pm, vendor, "ad85", scene="Group")
    assert outcome.action is Action.BLOCK
    assert outcome.reason == "label AD scored 85 >= block threshold 80 in scene Group"
    assert outcome.verdict is not None
    assert outcome.verdict.decision is Decision.REVIEW  # the vendor's own answer, kept


async def test_score_bands_raise_a_pass_and_lower_a_block(
    kind: str, scored_pm: pluggy.PluginManager
) -> None:
    config = scored_config({"thresholds": {"AD": {"review": 60, "block": 80}}})
    mod = build(kind, config, scored_pm, ScriptedVendor(SCORED))
    raised = await call(mod.evaluate("ad70"))
    lowered = await call(mod.evaluate("ad40"))
    other_label = await call(mod.evaluate("porn90"))
    await close(mod)
    assert raised.action is Action.REVIEW
    assert raised.reason == "label AD scored 70 >= review threshold 60"
    assert (lowered.action, lowered.text) == (Action.ALLOW, "ad40")
    assert lowered.reason == "label AD scored 40 < review threshold 60"
    assert other_label.action is Action.REVIEW  # no band for PORN: the vendor decides


async def test_a_block_only_band_lowers_a_block_to_review(
    kind: str, scored_pm: pluggy.PluginManager
) -> None:
    config = scored_config({"thresholds": {"AD": {"block": 80}}})
    outcome = await evaluate_once(kind, config, scored_pm, ScriptedVendor(SCORED), "ad40")
    assert outcome.action is Action.REVIEW
    assert outcome.reason == "label AD scored 40 < block threshold 80"


# -- trusted senders and blocked terms: no vendor call ----------------------------------


async def test_trusted_senders_are_allowed_without_any_vendor_call(
    kind: str, plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    config = fake_config({"trusted_senders": ["system", "ops-*"]})
    mod = build(kind, config, plugin_manager, vendor)
    ops = await call(mod.evaluate("a block here", scene="Group", sender="ops-7"))
    system = await call(mod.evaluate("a block here", sender="system"))
    other = await call(mod.evaluate("a block here", sender="systemd"))
    await close(mod)
    assert (ops.action, ops.text, ops.verdict) == (Action.ALLOW, "a block here", None)
    assert ops.reason == "sender ops-7 is trusted (trusted_senders 'ops-*') in scene Group"
    assert system.action is Action.ALLOW
    assert other.action is Action.BLOCK
    assert len(vendor.checks) == 1  # only systemd's message reached the vendor


async def test_blocked_terms_block_locally_without_any_vendor_call(
    kind: str, plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    config = fake_config({"blocked_terms": ["坏词", "Bad Word"]})
    mod = build(kind, config, plugin_manager, vendor)
    spaced = await call(mod.evaluate("这是 坏 . 词", scene="Group", sender="u1"))
    folded = await call(mod.evaluate("ＢＡＤ-word!", sender="u1"))
    several = await call(mod.evaluate(["fine", "bad word"], sender="u1"))
    clean = await call(mod.evaluate("a good word"))
    await close(mod)
    assert (spaced.action, spaced.text, spaced.verdict) == (Action.BLOCK, None, None)
    assert spaced.reason == "blocked term '坏词' (blocked_terms) in scene Group"
    assert folded.action is Action.BLOCK
    assert "'Bad Word'" in folded.reason
    assert several.action is Action.BLOCK
    assert clean.action is Action.ALLOW
    assert len(vendor.checks) == 1  # only the clean message was sent


# -- allowed terms ------------------------------------------------------------------------


async def test_allowed_terms_drop_keyword_hits_and_lower_the_flag(
    kind: str, plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    config = fake_config({"allowed_terms": ["blockchain"]})
    outcome = await evaluate_once(kind, config, plugin_manager, vendor, "learn blockchain today")
    assert (outcome.action, outcome.text) == (Action.ALLOW, "learn blockchain today")
    assert outcome.reason == "fake flagged only keyword hits 'block', which are allowed terms"
    assert outcome.verdict is not None
    assert outcome.verdict.decision is Decision.BLOCK


async def test_allowed_terms_do_not_lower_what_a_score_supports(
    kind: str, scored_pm: pluggy.PluginManager
) -> None:
    answers = {"x": {"decision": "BLOCK", "label": "AD", "score": 90, "keywords": ["blockchain"]}}
    config = scored_config({"allowed_terms": ["blockchain"], "thresholds": {"AD": {"block": 80}}})
    outcome = await evaluate_once(kind, config, scored_pm, ScriptedVendor(answers), "x blockchain")
    assert outcome.action is Action.BLOCK
    assert outcome.reason == "label AD scored 90 >= block threshold 80"


async def test_allowed_terms_keep_other_keyword_hits(
    kind: str, scored_pm: pluggy.PluginManager
) -> None:
    answers = {"x": {"decision": "BLOCK", "label": "ABUSE", "keywords": ["blockchain", "jerk"]}}
    config = scored_config({"allowed_terms": ["Block Chain"], "actions": {"ABUSE": "mask"}})
    outcome = await evaluate_once(
        kind, config, scored_pm, ScriptedVendor(answers), "x blockchain jerk"
    )
    assert outcome.action is Action.MASK
    assert outcome.text == "x blockchain ****"
    assert "keyword hits 'blockchain' dropped as allowed terms" in outcome.reason


# -- when every provider failed ----------------------------------------------------------


@pytest.mark.parametrize(
    ("on_failure", "action"),
    [("review", Action.REVIEW), ("allow", Action.ALLOW), ("block", Action.BLOCK)],
)
async def test_on_failure_decides_when_every_provider_failed(
    kind: str, plugin_manager: pluggy.PluginManager, on_failure: str, action: Action
) -> None:
    config = fake_config({"on_failure": on_failure}, local=False)
    outcome = await evaluate_once(
        kind, config, plugin_manager, FakeVendor(fail=True), "hello", scene="Group"
    )
    assert outcome.action is action
    failed = "every provider failed (fake: ProviderUnavailable)"
    assert outcome.reason == f"{failed}; on_failure = {on_failure} in scene Group"


async def test_without_on_failure_a_failure_raises(
    kind: str, plugin_manager: pluggy.PluginManager
) -> None:
    mod = build(kind, fake_config(local=False), plugin_manager, FakeVendor(fail=True))
    with pytest.raises(AllProvidersFailed):
        await call(mod.evaluate("hello"))
    await close(mod)


async def test_on_failure_overrides_fail_mode_and_raise_raises(
    kind: str, plugin_manager: pluggy.PluginManager
) -> None:
    failing = FakeVendor(fail=True)
    config = fake_config(
        {"scenes": {"Strict": {"on_failure": "raise"}}}, local=False, fail_mode="review"
    )
    mod = build(kind, config, plugin_manager, failing)
    default = await call(mod.evaluate("hello"))
    with pytest.raises(AllProvidersFailed):
        await call(mod.evaluate("hello", scene="Strict"))
    await close(mod)
    assert default.action is Action.REVIEW
    assert default.reason.startswith(
        "every provider failed (fake: ProviderUnavailable); fail_mode decided"
    )


# -- the app's own rule -------------------------------------------------------------------


class VipRule:
    def __init__(self) -> None:
        self.seen: list[tuple[Content, Verdict, CheckContext]] = []

    @hookimpl
    def policy_rule(
        self, content: Content, verdict: Verdict, context: CheckContext
    ) -> Outcome | None:
        self.seen.append((content, verdict, context))
        if context.sender == "vip":
            return Outcome(Action.ALLOW, content.value, "vip senders may say anything", verdict)
        return None


async def test_the_policy_rule_hook_decides_first_and_none_falls_through(
    kind: str, plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    rule = VipRule()
    plugin_manager.register(rule, name="vip")
    config = fake_config({"actions": {"ABUSE": "review"}})
    mod = build(kind, config, plugin_manager, vendor)
    vip = await call(mod.evaluate("a block here", scene="Group", sender="vip"))
    other = await call(mod.evaluate("a block here", scene="Group", sender="u1"))
    await close(mod)
    assert (vip.action, vip.reason) == (Action.ALLOW, "vip senders may say anything")
    assert other.action is Action.REVIEW  # the hook said None: the [policy] rules decide
    content, verdict, context = rule.seen[0]
    assert (content.value, verdict.decision, context.scene) == (
        "a block here",
        Decision.BLOCK,
        "Group",
    )


async def test_a_policy_rule_hook_registered_after_the_moderator_is_built_is_asked(
    kind: str, plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    # Whether the hook has an implementation is looked up per message, not once.
    mod = build(kind, fake_config({}), plugin_manager, vendor)
    before = await call(mod.evaluate("hello", sender="vip"))
    rule = VipRule()
    plugin_manager.register(rule, name="vip")
    after = await call(mod.evaluate("hello", sender="vip"))
    plugin_manager.unregister(rule)
    again = await call(mod.evaluate("hello", sender="vip"))
    await close(mod)
    assert before.reason != after.reason == "vip senders may say anything"
    assert again.reason == before.reason
    assert [content.value for content, _, _ in rule.seen] == ["hello"]


# -- repeat offenders -----------------------------------------------------------------------

MUTE = {"mute": {"after": 2, "within": "1h", "for": "24h"}}


async def test_mute_cycle_mute_after_n_blocks_unmute_and_expiry(
    kind: str, plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    clock = Clock()
    mod = build(kind, fake_config(MUTE), plugin_manager, vendor, clock)
    first = await call(mod.evaluate("a block here", scene="Group", sender="u1"))
    clock.advance(60)
    second = await call(mod.evaluate("block again", scene="Group", sender="u1"))
    assert first.action is second.action is Action.BLOCK
    assert "muted" not in first.reason
    assert second.reason.endswith(
        "; sender u1 is now muted in scene Group for 1d (2 blocks within 1h)"
    )

    sent = len(vendor.checks)
    muted = await call(mod.evaluate("hello", scene="Group", sender="u1"))
    assert (muted.action, muted.text, muted.verdict) == (Action.BLOCK, None, None)
    assert muted.reason.startswith("sender u1 is muted in scene Group until ")
    assert "(2 blocks within 1h); no provider was asked" in muted.reason
    assert len(vendor.checks) == sent  # no vendor call for a muted sender
    elsewhere = await call(mod.evaluate("hello", scene="C2C", sender="u1"))
    assert elsewhere.action is Action.ALLOW  # mutes are per scene

    (listed,) = await call(mod.muted_senders())
    assert (listed.sender, listed.scene, listed.reason) == ("u1", "Group", "2 blocks within 1h")
    assert listed.until is not None
    assert listed.until.timestamp() == clock.now - 60 + 86400 + 60
    assert await call(mod.muted_senders(scene="C2C")) == []

    assert await call(mod.unmute_sender("u1", scene="Group")) == 1
    assert (await call(mod.evaluate("hello", scene="Group", sender="u1"))).action is Action.ALLOW
    assert await call(mod.unmute_sender("u1")) == 0

    # Muted again; a day later the mute has run out by itself.
    await call(mod.evaluate("block", scene="Group", sender="u1"))
    await call(mod.evaluate("block", scene="Group", sender="u1"))
    assert (await call(mod.evaluate("hello", scene="Group", sender="u1"))).action is Action.BLOCK
    clock.advance(86400 + 1)
    assert (await call(mod.evaluate("hello", scene="Group", sender="u1"))).action is Action.ALLOW
    assert await call(mod.muted_senders()) == []
    await close(mod)


async def test_blocks_outside_the_window_do_not_mute(
    kind: str, plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    clock = Clock()
    mod = build(kind, fake_config(MUTE), plugin_manager, vendor, clock)
    await call(mod.evaluate("block", scene="Group", sender="u1"))
    clock.advance(3601)
    late = await call(mod.evaluate("block", scene="Group", sender="u1"))
    assert "muted" not in late.reason
    assert await call(mod.muted_senders()) == []
    await close(mod)


async def test_blocked_terms_count_towards_a_mute(
    kind: str, plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    policy = {**MUTE, "blocked_terms": ["spam"]}
    mod = build(kind, fake_config(policy), plugin_manager, vendor)
    await call(mod.evaluate("spam", sender="u1"))
    second = await call(mod.evaluate("more spam", sender="u1"))
    await close(mod)
    assert second.reason.endswith(
        "sender u1 is now muted in every scene for 1d (2 blocks within 1h)"
    )
    assert vendor.checks == []


async def test_mute_by_hand_in_every_scene_and_unmute(
    kind: str, plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    clock = Clock()
    mod = build(kind, fake_config(), plugin_manager, vendor, clock)
    mute = await call(mod.mute_sender("u2", duration="2h", reason="spam wave"))
    assert (mute.sender, mute.scene, mute.reason) == ("u2", None, "spam wave")
    for scene in ("Group", "C2C", None):
        outcome = await call(mod.evaluate("hello", scene=scene, sender="u2"))
        assert outcome.action is Action.BLOCK
        assert "muted in every scene" in outcome.reason
    assert vendor.checks == []
    forever = await call(mod.mute_sender("u3", scene="Group"))
    assert forever.until is None
    clock.advance(10 * 86400)
    assert [m.sender for m in await call(mod.muted_senders())] == ["u3"]
    assert await call(mod.unmute_sender("u3")) == 1
    assert await call(mod.muted_senders()) == []
    with pytest.raises(InvalidContent, match="mute duration"):
        await call(mod.mute_sender("u4", duration="soon"))
    await close(mod)


# -- context merge -----------------------------------------------------------------------

CONTEXT = {"context": {"messages": 3, "within": "60s"}}


async def test_a_phone_number_split_over_three_messages_is_caught(
    kind: str, plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    clock = Clock()
    mod = build(kind, fake_config(CONTEXT), plugin_manager, vendor, clock)
    where = {"scene": "Group", "sender": "u1", "receiver": "g1"}
    one = await call(mod.evaluate("电话 138", **where))
    two = await call(mod.evaluate("0013", **where))
    three = await call(mod.evaluate("8000", **where))
    await close(mod)
    assert one.action is two.action is Action.ALLOW
    assert (three.action, three.text) == (Action.REVIEW, "8000")
    assert three.reason.startswith(
        "context: the last 3 messages joined: local decided REVIEW for label AD"
    )
    assert three.verdict.provider == "local"
    assert len(vendor.checks) == 3  # the merged text went to the local engine, not the vendor


async def test_three_unrelated_messages_are_not_flagged(
    kind: str, plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    mod = build(kind, fake_config(CONTEXT), plugin_manager, vendor)
    where = {"scene": "Group", "sender": "u1", "receiver": "g1"}
    outcomes = [
        await call(mod.evaluate(t, **where)) for t in ("今天天气不错", "我们去吃饭吧", "好的明天见")
    ]
    await close(mod)
    assert [o.action for o in outcomes] == [Action.ALLOW] * 3
    assert not any("context" in o.reason for o in outcomes)


async def test_context_is_per_conversation_and_within_the_window(
    kind: str, plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    clock = Clock()
    mod = build(kind, fake_config(CONTEXT), plugin_manager, vendor, clock)
    await call(mod.evaluate("电话 138", scene="Group", sender="u1", receiver="g1"))
    await call(mod.evaluate("0013", scene="Group", sender="u1", receiver="g1"))
    other_group = await call(mod.evaluate("8000", scene="Group", sender="u1", receiver="g2"))
    other_sender = await call(mod.evaluate("8000", scene="Group", sender="u9", receiver="g1"))
    clock.advance(61)
    too_late = await call(mod.evaluate("8000", scene="Group", sender="u1", receiver="g1"))
    await close(mod)
    assert other_group.action is other_sender.action is too_late.action is Action.ALLOW


async def test_a_scene_can_turn_context_and_mute_off(
    kind: str, plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    policy = {**CONTEXT, **MUTE, "scenes": {"Quiet": {"context": False, "mute": False}}}
    mod = build(kind, fake_config(policy), plugin_manager, vendor)
    where = {"scene": "Quiet", "sender": "u1", "receiver": "g1"}
    outcomes = [
        await call(mod.evaluate(t, **where)) for t in ("电话 138", "0013", "8000", "block", "block")
    ]
    await close(mod)
    assert [o.action for o in outcomes] == [Action.ALLOW] * 3 + [Action.BLOCK] * 2
    assert not any("muted" in o.reason for o in outcomes)


# -- custom messages through evaluate ---------------------------------------------------------


async def test_a_custom_message_is_evaluated_by_its_harshest_content(
    kind: str, plugin_manager: pluggy.PluginManager, vendor: FakeVendor
) -> None:
    payload = {
        "IMAuditContents": [
            {"IMAuditContentType": "Text", "IMAuditContent": "fine"},
            {"IMAuditContentType": "Text", "IMAuditContent": "a block here"},
            {"IMAuditContentType": "Image", "IMAuditContent": "https://example.com/1.jpg"},
        ],
        "key1": "value1",
    }
    outcome = await evaluate_once(
        kind,
        fake_config(),
        plugin_manager,
        vendor,
        Content.from_custom(payload),
        scene="GroupCustom",
    )
    assert outcome.action is Action.BLOCK
    assert [c["items"] for c in vendor.checks] == [
        ["fine"],
        ["a block here"],
        ["https://example.com/1.jpg"],
    ]


# -- config errors name the key ------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (
            {"actions": {"AD": "hide"}},
            "actions.AD: must be one of allow, review, block, mask; got 'hide'",
        ),
        ({"actions": {"ADS": "mask"}}, "actions: unknown label 'ADS'"),
        (
            {"thresholds": {"PORN": {"review": 90, "block": 80}}},
            "thresholds.PORN: review (90) is above block (80)",
        ),
        ({"thresholds": {"PORN": {"review": 101}}}, "review must be a score from 0 to 100"),
        ({"thresholds": {"PORN": {}}}, "thresholds.PORN: give review, block or both"),
        ({"trusted_senders": "ops-*"}, "trusted_senders"),
        ({"blocked_terms": ["..."]}, "blocked_terms: '...' has nothing left to match"),
        (
            {"on_failure": "ignore"},
            "on_failure must be one of allow, review, block, raise; got 'ignore'",
        ),
        ({"mute": {"after": 0, "within": "1h", "for": "1h"}}, "after must be at least 1"),
        (
            {"mute": {"after": 3, "within": "1 hour", "for": "1h"}},
            "mute.within: expected a duration like",
        ),
        ({"mute": {"after": 3, "within": "1h"}}, "mute.for: required field missing"),
        (
            {"mute": {"after": 3, "within": "1h", "for": "1h", "forever": True}},
            "unknown key(s) forever in mute",
        ),
        ({"context": {"messages": 1}}, "messages must be at least 2"),
        ({"context": {"provider": "tencent"}}, "context.provider: no provider named 'tencent'"),
        ({"context": True}, "context: expected a table, or false"),
        (
            {"scenes": {"Group": {"mute": {"after": 2, "within": "0s", "for": "1h"}}}},
            "scenes['Group'].mute.within",
        ),
        (
            {"scenes": {"Group": {"actions": {"XX": "block"}}}},
            "scenes.Group.actions: unknown label 'XX'",
        ),
        (
            {"scenes": {"Group": {"redis_prefix": "x"}}},
            "unknown key(s) redis_prefix in scenes['Group']",
        ),
        ({"blocked": ["x"]}, "unknown key(s) blocked"),
    ],
)
def test_bad_policy_config_is_a_config_error_naming_the_key(
    policy: dict[str, Any], message: str
) -> None:
    config = {"providers": {"local": {"type": "local"}}, "policy": policy}
    with pytest.raises(ConfigError) as caught:
        Moderator(config)
    assert "<dict> [policy]" in str(caught.value)
    assert message in str(caught.value)


def test_durations() -> None:
    assert [parse_duration(v) for v in ("90s", "15m", "1h30m", "7d", "250ms", 5)] == [
        90,
        900,
        5400,
        604800,
        0.25,
        5,
    ]
    for bad in ("", "1 hour", "h", "-5s", 0, True, float("nan"), float("inf"), "36526d"):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)


# -- docs: every key is in docs/policy.md ---------------------------------------------------

POLICY_DOC = Path(__file__).resolve().parents[1] / "docs" / "policy.md"


@pytest.mark.parametrize("cls", [PolicySettings, Band, MuteRule, ContextRule])
def test_every_policy_key_is_documented(cls: type) -> None:
    reference = POLICY_DOC.read_text(encoding="utf-8")
    for field in attrs.fields(cls):
        key = "for" if field.name == "for_" else field.name
        assert f"| `{key}` |" in reference, f"{cls.__name__}.{key}"


def test_the_cookbook_config_is_a_valid_config(monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(
        r"```toml\n(.*?)```", POLICY_DOC.read_text(encoding="utf-8"), flags=re.DOTALL
    )
    assert blocks
    for block in blocks:
        # The examples read credentials from the environment, as a real config does.
        for name in re.findall(r"\$\{(\w+)\}", block):
            value = "http://127.0.0.1:9" if name.endswith("_URL") else "a-test-secret-value"
            monkeypatch.setenv(name, value)
        config = tomllib.loads(block)
        config.setdefault("providers", {"local": {"type": "local"}})
        Moderator(config).close()
