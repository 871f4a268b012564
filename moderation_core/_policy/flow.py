"""The policy's decision for one message, written once as a generator (``evaluate``)
that yields typed requests - a vendor check, a merged-context check, a state operation
(``_state``) - and receives their answers. The moderator serves the requests (its
checks, its state store), so the policy never sees a moderator and the moderator never
sees the policy's rules. In order, for one message:

1. a trusted sender is allowed, asking nobody;
2. a muted sender is blocked, asking nobody;
3. blocked terms, matched locally, block, asking nobody;
4. the providers check every content; per content the app's ``policy_rule`` hook, or
   else allowed terms, thresholds and actions turn the verdict into an outcome;
   ``on_failure`` decides when every provider failed;
5. the harshest content's outcome wins; with ``context``, the conversation's recent
   messages joined with this one are checked too, and win when harsher;
6. a BLOCK counts towards ``mute``.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, TypeAlias, TypeVar

import attrs
import pluggy

from moderation_core._config import Config
from moderation_core._errors import InvalidContent, ModerationError
from moderation_core._model import (
    Action,
    CheckContext,
    Content,
    ContentType,
    Outcome,
    Verdict,
    _text_content,
    check_call_string,
)
from moderation_core._state import (
    AnyOp,
    GetMutes,
    ListMutes,
    Mute,
    Recent,
    RecordBlock,
    Remember,
    SetMute,
    Unmute,
    mute_at,
)

from .config import SceneRules, compile_rules, format_duration, load_settings, parse_duration
from .rules import (
    RANK,
    apply_rules,
    by_decision,
    fail_mode_outcome,
    harshest,
    muted_reason,
    on_failure_outcome,
    where,
)

__all__ = ["ContextCheck", "Policy", "PolicyFlow", "PolicyRequest", "VendorCheck"]

T = TypeVar("T")
Clock = Callable[[], float]


# -- requests the flow yields --------------------------------------------------------


@attrs.frozen
class VendorCheck:
    """Check these contents with the configured providers; answers one Verdict or
    ModerationError per content, in order (``check_many(..., return_exceptions=True)``)."""

    contents: list[Content]
    context: CheckContext


@attrs.frozen
class ContextCheck:
    """Check the merged text with one provider; answers a Verdict, or None on failure."""

    provider: str
    text: str
    context: CheckContext


PolicyRequest: TypeAlias = VendorCheck | ContextCheck | AnyOp
PolicyFlow: TypeAlias = Generator[PolicyRequest, Any, T]


class Policy:
    """The compiled ``[policy]`` of one moderator and the rule hook. ``clock`` gives
    the wall-clock seconds that mutes, block counts and context windows are measured
    in (``time.time``; a test passes a clock it moves by hand)."""

    def __init__(
        self, config: Config, pm: pluggy.PluginManager, *, clock: Clock | None = None
    ) -> None:
        self.settings = load_settings(config)
        where_ = config.where("policy")
        providers = config.order
        self._default = compile_rules(self.settings, None, where_, providers)
        self._scenes = {
            s: compile_rules(self.settings, s, where_, providers) for s in self.settings.scenes
        }
        self._hook = pm.hook.policy_rule
        self.clock: Clock = time.time if clock is None else clock

    @property
    def redis_prefix(self) -> str:
        """Where this policy's state lives in a shared Redis."""
        return self.settings.redis_prefix

    def rules(self, scene: str | None) -> SceneRules:
        return self._scenes.get(scene, self._default) if scene is not None else self._default

    # -- the decision, written once ----------------------------------------------

    def evaluate(
        self, message: Content | str | Iterable[Content | str], context: CheckContext
    ) -> PolicyFlow[Outcome]:
        contents = _contents(message)
        rules = self.rules(context.scene)
        now = self.clock()
        sender, scene = context.sender, context.scene
        here = where(scene)
        texts = [c.value for c in contents if c.type is ContentType.TEXT]
        first = contents[0].value
        if sender is not None:
            for pattern in rules.trusted:
                if fnmatch.fnmatchcase(sender, pattern):
                    return Outcome(
                        Action.ALLOW,
                        first,
                        f"sender {sender} is trusted (trusted_senders {pattern!r}){here}",
                    )
            mutes: list[Mute] = yield GetMutes(sender, scene, now)
            if mutes:
                mute = min(mutes, key=lambda m: m.scene is None)  # the scene's own first
                return Outcome(Action.BLOCK, None, muted_reason(mute))
        if rules.blocked is not None:
            for text in texts:
                term = rules.blocked.first(text)
                if term is not None:
                    outcome = Outcome(
                        Action.BLOCK, None, f"blocked term {term!r} (blocked_terms){here}"
                    )
                    return (yield from self._count_block(outcome, rules, context, now))
        results = yield VendorCheck(contents, context)
        # Looked up per message: a policy_rule plugin may be registered at any time.
        hook = bool(self._hook.get_hookimpls())
        outcome = harshest(
            [
                self._judge(c, r, rules, context, here, hook=hook)
                for c, r in zip(contents, results, strict=True)
            ]
        )
        if (
            rules.context is not None
            and sender is not None
            and texts
            and outcome.action is not Action.BLOCK
        ):
            outcome = yield from self._merge_context(outcome, "".join(texts), rules, context, now)
        if outcome.action is Action.BLOCK:
            outcome = yield from self._count_block(outcome, rules, context, now)
        return outcome

    def _judge(
        self,
        content: Content,
        result: Verdict | ModerationError,
        rules: SceneRules,
        context: CheckContext,
        here: str,
        *,
        hook: bool,
    ) -> Outcome:
        """One content's outcome; ``here`` is ``where(context.scene)``, ``hook`` whether
        the policy_rule hook has an implementation to ask."""
        if isinstance(result, InvalidContent):
            raise result  # the caller's mistake, never a provider failure for on_failure
        failed = isinstance(result, ModerationError) or result.fallback
        if failed and rules.on_failure is not None:
            return on_failure_outcome(content, result, rules.on_failure, here)
        if isinstance(result, ModerationError):
            raise result
        if hook:
            answer = self._hook(content=content, verdict=result, context=context)
            if answer is not None:
                if not isinstance(answer, Outcome):
                    raise TypeError(f"policy_rule returned {answer!r}; expected an Outcome or None")
                return answer
        if result.fallback:
            return fail_mode_outcome(content, result, here)
        return apply_rules(content, result, rules, here)

    def _merge_context(
        self, outcome: Outcome, text: str, rules: SceneRules, context: CheckContext, now: float
    ) -> PolicyFlow[Outcome]:
        rule = rules.context
        assert rule is not None  # noqa: S101 - the caller checked
        conversation = (context.scene or "", context.sender or "", context.receiver or "")
        previous: list[str] = yield Recent(conversation, rule.messages - 1, rule.within, now)
        if previous:
            merged = "".join([*previous, text])
            verdict: Verdict | None = yield ContextCheck(rule.provider, merged, context)
            if verdict is not None:
                joined = self._judge(
                    Content.text(merged), verdict, rules, context, where(context.scene), hook=False
                )
                action, shown = joined.action, text
                if action is Action.MASK:
                    # The mask fits this message only when it leaves the earlier ones alone.
                    head, masked = len(merged) - len(text), joined.text or ""
                    if len(masked) == len(merged) and masked[:head] == merged[:head]:
                        shown = masked[head:]
                    else:
                        action = by_decision(verdict.decision)
                if RANK[action] > RANK[outcome.action]:
                    outcome = Outcome(
                        action,
                        None if action is Action.BLOCK else shown,
                        f"context: the last {len(previous) + 1} messages joined: {joined.reason}",
                        verdict,
                    )
        if outcome.action is Action.ALLOW or outcome.action is Action.MASK:
            yield Remember(conversation, text, rule.messages - 1, rule.within, now)
        return outcome

    def _count_block(
        self, outcome: Outcome, rules: SceneRules, context: CheckContext, now: float
    ) -> PolicyFlow[Outcome]:
        rule, sender = rules.mute, context.sender
        if rule is None or sender is None:
            return outcome
        count: int = yield RecordBlock(sender, context.scene, rule.within, now)
        if count < rule.after:
            return outcome
        why = f"{count} blocks within {format_duration(rule.within)}"
        mute = mute_at(sender, context.scene, now + rule.for_, why)
        yield SetMute(mute, now)
        scope = where(context.scene) or " in every scene"
        muted = f"sender {sender} is now muted{scope} for {format_duration(rule.for_)} ({why})"
        return attrs.evolve(outcome, reason=f"{outcome.reason}; {muted}")

    # -- mute management ----------------------------------------------------------

    def mute(
        self,
        sender: str,
        scene: str | None,
        duration: float | str | timedelta | None,
        reason: str | None,
    ) -> PolicyFlow[Mute]:
        now = self.clock()
        check_call_string(sender, "sender")
        check_call_string(scene, "scene")
        check_call_string(reason, "mute reason")
        if sender is None:
            raise InvalidContent("sender must be a string, got None")
        try:
            seconds = None if duration is None else parse_duration(duration)
        except ValueError as exc:
            raise InvalidContent(f"mute duration: {exc}") from None
        mute = mute_at(
            sender, scene, None if seconds is None else now + seconds, reason or "muted by hand"
        )
        yield SetMute(mute, now)
        return mute

    def unmute(self, sender: str, scene: str | None) -> PolicyFlow[int]:
        check_call_string(sender, "sender")
        check_call_string(scene, "scene")
        lifted: int = yield Unmute(sender, scene, self.clock())
        return lifted

    def muted(self, scene: str | None) -> PolicyFlow[list[Mute]]:
        check_call_string(scene, "scene")
        mutes: list[Mute] = yield ListMutes(scene, self.clock())
        return sorted(mutes, key=lambda m: (m.sender, m.scene or ""))


def _contents(message: Content | str | Iterable[Content | str]) -> list[Content]:
    # Tuples of types, not unions: a union is built anew at every call.
    if isinstance(message, (Content, str)):
        return [Content.coerce(message)]
    if isinstance(message, (list, tuple)):  # the usual message: neither bytes nor a Mapping
        items: Sequence[Content | str] = message
    elif isinstance(message, bytes | Mapping):
        raise InvalidContent(
            f"expected a str, a Content or several, got {type(message).__name__} "
            "(Content.from_custom reads custom messages)"
        )
    else:
        items = list(message)
    if not items:
        raise InvalidContent("nothing to evaluate: the message has no contents")
    contents = []
    for index, item in enumerate(items):
        try:
            contents.append(_text_content(item) if type(item) is str else Content.coerce(item))
        except InvalidContent as exc:
            raise InvalidContent(f"item {index}: {exc}") from None
    return contents
