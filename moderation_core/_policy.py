"""Policy: from verdicts to what the app does with a message (``evaluate``).

The ``[policy]`` table, per scene with a global default, is structured here. The
decision logic is written once, as a generator (``Policy.evaluate``) that yields what
it needs done - a vendor check, a merged-context check, a state operation - and
receives the answer; ``run_sync`` and ``run_async`` do the IO for ``Moderator`` and
``AsyncModerator``. In order, for one message:

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
import logging
import math
import re
import time
import unicodedata
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Final, NewType, TypeAlias

import ahocorasick_rs
import attrs
import pluggy

from ._config import Config, make_config_converter, structure_config
from ._errors import AllProvidersFailed, ConfigError, InvalidContent, ModerationError
from ._masking import mask_keywords
from ._model import (
    Action,
    CheckContext,
    Content,
    ContentType,
    Decision,
    Label,
    Outcome,
    Verdict,
    check_call_string,
)
from ._state import (
    AnyOp,
    GetMutes,
    ListMutes,
    MemoryState,
    Mute,
    Recent,
    RecordBlock,
    RedisState,
    Remember,
    SetMute,
    SharedRedis,
    Unmute,
    drive_redis_async,
    drive_redis_sync,
    mute_at,
)

__all__ = [
    "Band",
    "ContextRule",
    "Mute",
    "MuteRule",
    "Policy",
    "PolicySettings",
    "Rules",
    "parse_duration",
    "term_key",
]

log = logging.getLogger("moderation_core.policy")

Duration = NewType("Duration", float)  # seconds, written "60s", "1h", "1h30m" or a number

ACTIONS: Final = ("allow", "review", "block", "mask")
ON_FAILURE: Final = ("allow", "review", "block", "raise")
DEFAULT_PREFIX: Final = "moderation_core:policy"
_DECISION_KEYS: Final = ("REVIEW", "BLOCK")  # an actions key for any label so decided
_RANK: Final = {Action.ALLOW: 0, Action.MASK: 1, Action.REVIEW: 2, Action.BLOCK: 3}
_BY_DECISION: Final = {
    Decision.PASS: Action.ALLOW,
    Decision.PENDING: Action.REVIEW,  # held until the vendor's webhook answers
    Decision.REVIEW: Action.REVIEW,
    Decision.BLOCK: Action.BLOCK,
}
_UNITS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART: Final = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
# The longest duration: 100 years. A longer mute is a mute until unmuted (no duration).
MAX_DURATION: Final = 36525 * 86400.0


# -- config --------------------------------------------------------------------------


def parse_duration(value: object) -> float:
    """Seconds from ``"90s"``, ``"15m"``, ``"1h30m"``, ``"7d"``, a timedelta or a
    positive number, at most ``MAX_DURATION`` (a ValueError otherwise)."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # an int past float's range
            seconds = math.inf
    elif isinstance(value, str):
        compact = value.replace(" ", "")
        parts = _DURATION_PART.findall(compact)
        if not parts or "".join(n + u for n, u in parts) != compact:
            raise ValueError(
                f"expected a duration like '60s', '1h' or '1h30m', got {_shown(value)}"
            )
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    else:
        kind = type(value).__name__
        raise ValueError(f"expected a duration like '60s' or '1h', got {kind} {_shown(value)}")
    if not seconds > 0:  # also NaN
        raise ValueError(f"a duration must be positive, got {_shown(value)}")
    if seconds > MAX_DURATION:  # also inf; past it, datetime overflows
        raise ValueError(
            f"a duration must be at most {format_duration(MAX_DURATION)}, got {_shown(value)}"
        )
    return seconds


def _shown(value: object) -> str:
    """The value for an error message, cut short: it may be anything a caller passed."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def format_duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _structure_duration(value: object, _type: object) -> Duration:
    if isinstance(value, timedelta):
        raise ValueError("expected a duration like '60s' or '1h'")
    return Duration(parse_duration(value))


def _one_of(choices: tuple[str, ...]) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None and value not in choices:
            raise ValueError(f"{attribute.name} must be one of {', '.join(choices)}; got {value!r}")

    return check


def _at_least(minimum: int) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None and value < minimum:
            raise ValueError(f"{attribute.name} must be at least {minimum}; got {value}")

    return check


def _score(_inst: Any, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and not 0 <= value <= 100:
        raise ValueError(f"{attribute.name} must be a score from 0 to 100; got {value}")


@attrs.define(kw_only=True)
class Band:
    """Score bands for one label: ``review`` and/or ``block``, scores 0-100."""

    review: int | None = attrs.field(default=None, validator=_score)
    block: int | None = attrs.field(default=None, validator=_score)


@attrs.define(kw_only=True)
class MuteRule:
    """``mute = { after = 3, within = "1h", for = "24h" }``."""

    after: int = attrs.field(validator=_at_least(1))
    within: Duration
    for_: Duration


@attrs.define(kw_only=True)
class ContextRule:
    """``context = { messages = 5, within = "60s", provider = "local" }``."""

    messages: int = attrs.field(default=5, validator=_at_least(2))
    within: Duration = Duration(60.0)
    provider: str = "local"


@attrs.define(kw_only=True)
class Rules:
    """The keys a scene may set. None: not set here (the global value applies); in a
    scene, ``mute = false`` / ``context = false`` turn a global one off."""

    actions: dict[str, str] | None = None
    thresholds: dict[str, Band] | None = None
    trusted_senders: list[str] | None = None
    blocked_terms: list[str] | None = None
    allowed_terms: list[str] | None = None
    on_failure: str | None = attrs.field(default=None, validator=_one_of(ON_FAILURE))
    mute: MuteRule | bool | None = None
    context: ContextRule | bool | None = None


@attrs.define(kw_only=True)
class PolicySettings(Rules):
    """The ``[policy]`` table: the global rules, per-scene overrides and where shared
    state lives in Redis."""

    scenes: dict[str, Rules] = attrs.field(factory=dict)
    redis_prefix: str = DEFAULT_PREFIX


def _converter() -> Any:
    converter = make_config_converter()
    converter.register_structure_hook(Duration, _structure_duration)
    converter.register_structure_hook(
        MuteRule,
        _forbid_extra(converter, MuteRule, for_="for"),
    )
    for rule in (MuteRule, ContextRule):

        def structure_toggle(value: object, _type: object, rule: type = rule) -> object:
            if value is False:
                return False
            if isinstance(value, bool) or not isinstance(value, Mapping):
                raise ValueError("expected a table, or false to turn it off in a scene")
            return converter.structure(value, rule)

        converter.register_structure_hook_func(_is(rule | bool | None), structure_toggle)
    converter.register_structure_hook_func(_is(list[str]), _strict_str_list)
    return converter


def _is(wanted: object) -> Callable[[object], bool]:
    def matches(kind: object) -> bool:
        return kind == wanted

    return matches


def _strict_str_list(value: object, _type: object) -> list[str]:
    # A lone string would otherwise become a list of its characters.
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a list of strings, got {value!r}")
    return list(value)


def _forbid_extra(converter: Any, cls: type, **renames: str) -> Any:
    from cattrs.gen import make_dict_structure_fn, override  # noqa: PLC0415 - setup only

    overrides: dict[str, Any] = {name: override(rename=key) for name, key in renames.items()}
    return make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=True, **overrides)


# -- terms ---------------------------------------------------------------------------


class _KeyTable(dict[int, int | None]):
    """str.translate table filled on first sight of each character: separators,
    punctuation, symbols and controls are dropped, so ``违 规`` and ``违-规`` match ``违规``."""

    def __missing__(self, code: int) -> int | None:
        kept = unicodedata.category(chr(code))[0] not in "PZCS"
        self[code] = code if kept else None
        return self[code]


_KEYS = _KeyTable()


def term_key(text: str) -> str:
    """The form terms and texts are compared in: NFKC, case folded, no separators."""
    return unicodedata.normalize("NFKC", text).casefold().translate(_KEYS)


class TermList:
    """Terms compiled into one Aho-Corasick automaton over their keys."""

    def __init__(self, terms: Sequence[str], where: str) -> None:
        keys: dict[str, str] = {}
        for term in terms:
            key = term_key(term)
            if not key:
                raise ConfigError(
                    f"{where}: {term!r} has nothing left to match once spaces and punctuation go"
                )
            keys.setdefault(key, term)
        self._keys = list(keys)
        self._terms = list(keys.values())
        self.keys = frozenset(keys)
        self._automaton = ahocorasick_rs.AhoCorasick(self._keys)

    def first(self, text: str) -> str | None:
        """The first term found in text, as configured."""
        found = self._automaton.find_matches_as_indexes(term_key(text))
        return self._terms[found[0][0]] if found else None

    def found_keys(self, text: str) -> set[str]:
        return {
            self._keys[i]
            for i, _, _ in self._automaton.find_matches_as_indexes(term_key(text), overlapping=True)
        }


# -- compiled rules ------------------------------------------------------------------


@attrs.frozen
class SceneRules:
    """The rules in force in one scene, compiled."""

    scene: str | None
    actions: Mapping[str, Action]
    thresholds: Mapping[Label, Band]
    trusted: tuple[str, ...]
    blocked: TermList | None
    allowed: TermList | None
    on_failure: str | None
    mute: MuteRule | None
    context: ContextRule | None


def _compile(
    settings: PolicySettings, scene: str | None, where: str, providers: Sequence[str]
) -> SceneRules:
    own = settings.scenes[scene] if scene is not None else Rules()
    prefix = f"scenes.{scene}." if scene is not None else ""

    def pick(name: str) -> tuple[Any, str]:
        value = getattr(own, name)
        return (getattr(settings, name), name) if value is None else (value, prefix + name)

    actions, key = pick("actions")
    compiled_actions = {}
    for name, action in (actions or {}).items():
        if action.lower() not in ACTIONS:
            raise ConfigError(
                f"{where} {key}.{name}: must be one of {', '.join(ACTIONS)}; got {action!r}"
            )
        label = _label_key(name, f"{where} {key}", allow_decisions=True)
        compiled_actions[label] = Action[action.upper()]
    thresholds, key = pick("thresholds")
    compiled_bands = {}
    for name, band in (thresholds or {}).items():
        if band.review is None and band.block is None:
            raise ConfigError(f"{where} {key}.{name}: give review, block or both")
        if band.review is not None and band.block is not None and band.review > band.block:
            raise ConfigError(
                f"{where} {key}.{name}: review ({band.review}) is above block ({band.block})"
            )
        compiled_bands[Label[_label_key(name, f"{where} {key}", allow_decisions=False)]] = band
    blocked, blocked_key = pick("blocked_terms")
    allowed, allowed_key = pick("allowed_terms")
    mute, _ = pick("mute")
    context, context_key = pick("context")
    if isinstance(context, ContextRule) and context.provider not in providers:
        raise ConfigError(
            f"{where} {context_key}.provider: no provider named {context.provider!r} "
            f"(configured: {', '.join(providers)})"
        )
    trusted, _ = pick("trusted_senders")
    on_failure, _ = pick("on_failure")
    return SceneRules(
        scene=scene,
        actions=compiled_actions,
        thresholds=compiled_bands,
        trusted=tuple(trusted or ()),
        blocked=TermList(blocked, f"{where} {blocked_key}") if blocked else None,
        allowed=TermList(allowed, f"{where} {allowed_key}") if allowed else None,
        on_failure=on_failure,
        mute=mute if isinstance(mute, MuteRule) else None,
        context=context if isinstance(context, ContextRule) else None,
    )


def _label_key(name: str, where: str, *, allow_decisions: bool) -> str:
    upper = name.upper()
    if upper in Label.__members__ or (allow_decisions and upper in _DECISION_KEYS):
        return upper
    extra = "; or REVIEW / BLOCK for any label so decided" if allow_decisions else ""
    raise ConfigError(
        f"{where}: unknown label {name!r} (labels: {', '.join(Label.__members__)}{extra})"
    )


# -- requests the flow yields --------------------------------------------------------


@attrs.frozen
class VendorCheck:
    """Check these contents with the configured providers (errors in place)."""

    contents: list[Content]
    context: CheckContext


@attrs.frozen
class ContextCheck:
    """Check the merged text with one provider; answers a Verdict, or None on failure."""

    provider: str
    text: str
    context: CheckContext


Request: TypeAlias = VendorCheck | ContextCheck | AnyOp
Flow: TypeAlias = Generator[Request, Any, Any]


def _where(scene: str | None) -> str:
    return f" in scene {scene}" if scene is not None else ""


def _by(verdict: Verdict) -> str:
    who = verdict.provider or "the provider"
    if verdict.failed_over:  # say so: the reason is what a moderator reads
        return f"{who} (after {_tried(verdict.errors)})"
    return who


def _harshest(outcomes: Iterable[Outcome]) -> Outcome:
    return max(outcomes, key=lambda o: _RANK[o.action])  # first of the harshest on ties


def _text_of(content: Content) -> str:
    return content.value


# -- the policy ----------------------------------------------------------------------


class Policy:
    """The compiled ``[policy]`` of one moderator, its state and the rule hook."""

    def __init__(self, config: Config, pm: pluggy.PluginManager) -> None:
        where = config.where("policy")
        try:
            self.settings = structure_config(
                _converter(), PolicySettings, dict(config.policy), where
            )
        except ConfigError as exc:  # cattrs names a missing key by its attribute
            raise ConfigError(str(exc).replace(".for_:", ".for:")) from None
        providers = config.order
        self._default = _compile(self.settings, None, where, providers)
        self._scenes = {
            s: _compile(self.settings, s, where, providers) for s in self.settings.scenes
        }
        self._hook = pm.hook.policy_rule
        self.redis_url = config.moderation.redis_url
        self.memory = MemoryState()
        self.redis = RedisState(self.settings.redis_prefix)
        self.clock: Callable[[], float] = time.time

    def rules(self, scene: str | None) -> SceneRules:
        return self._scenes.get(scene, self._default) if scene is not None else self._default

    # -- the decision, written once ----------------------------------------------

    def evaluate(
        self, message: Content | str | Iterable[Content | str], context: CheckContext
    ) -> Flow:
        contents = _contents(message)
        rules = self.rules(context.scene)
        now = self.clock()
        sender, scene = context.sender, context.scene
        where = _where(scene)
        texts = [c.value for c in contents if c.type is ContentType.TEXT]
        first = _text_of(contents[0])
        if sender is not None:
            for pattern in rules.trusted:
                if fnmatch.fnmatchcase(sender, pattern):
                    return Outcome(
                        Action.ALLOW,
                        first,
                        f"sender {sender} is trusted (trusted_senders {pattern!r}){where}",
                    )
            mutes: list[Mute] = yield GetMutes(sender, scene, now)
            if mutes:
                mute = min(mutes, key=lambda m: m.scene is None)  # the scene's own first
                return Outcome(Action.BLOCK, None, _muted_reason(mute))
        if rules.blocked is not None:
            for text in texts:
                term = rules.blocked.first(text)
                if term is not None:
                    outcome = Outcome(
                        Action.BLOCK, None, f"blocked term {term!r} (blocked_terms){where}"
                    )
                    return (yield from self._count_block(outcome, rules, context, now))
        results = yield VendorCheck(contents, context)
        outcome = _harshest(
            self._judge(c, r, rules, context) for c, r in zip(contents, results, strict=True)
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
        *,
        hook: bool = True,
    ) -> Outcome:
        where = _where(context.scene)
        if isinstance(result, InvalidContent):
            raise result  # the caller's mistake, never a provider failure for on_failure
        failed = isinstance(result, ModerationError) or result.fallback
        if failed and rules.on_failure is not None:
            return self._on_failure(content, result, rules.on_failure, where)
        if isinstance(result, ModerationError):
            raise result
        if hook:
            answer = self._hook(content=content, verdict=result, context=context)
            if answer is not None:
                if not isinstance(answer, Outcome):
                    raise TypeError(f"policy_rule returned {answer!r}; expected an Outcome or None")
                return answer
        if result.fallback:
            action = _BY_DECISION[result.decision]
            why = f"every provider failed ({_tried(result.errors)}); fail_mode decided"
            text = None if action is Action.BLOCK else content.value
            return Outcome(action, text, f"{why} {result.decision.value}{where}", result)
        return _apply_rules(content, result, rules, where)

    def _on_failure(
        self, content: Content, result: Verdict | ModerationError, on_failure: str, where: str
    ) -> Outcome:
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

    def _merge_context(
        self, outcome: Outcome, text: str, rules: SceneRules, context: CheckContext, now: float
    ) -> Flow:
        rule = rules.context
        assert rule is not None  # noqa: S101 - the caller checked
        conversation = (context.scene or "", context.sender or "", context.receiver or "")
        previous: list[str] = yield Recent(conversation, rule.messages - 1, rule.within, now)
        if previous:
            merged = "".join([*previous, text])
            verdict: Verdict | None = yield ContextCheck(rule.provider, merged, context)
            if verdict is not None:
                joined = self._judge(Content.text(merged), verdict, rules, context, hook=False)
                action, shown = joined.action, text
                if action is Action.MASK:
                    # The mask fits this message only when it leaves the earlier ones alone.
                    head, masked = len(merged) - len(text), joined.text or ""
                    if len(masked) == len(merged) and masked[:head] == merged[:head]:
                        shown = masked[head:]
                    else:
                        action = _BY_DECISION[verdict.decision]
                if _RANK[action] > _RANK[outcome.action]:
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
    ) -> Flow:
        rule, sender = rules.mute, context.sender
        if rule is None or sender is None:
            return outcome
        count: int = yield RecordBlock(sender, context.scene, rule.within, now)
        if count < rule.after:
            return outcome
        why = f"{count} blocks within {format_duration(rule.within)}"
        mute = mute_at(sender, context.scene, now + rule.for_, why)
        yield SetMute(mute, now)
        scope = _where(context.scene) or " in every scene"
        muted = f"sender {sender} is now muted{scope} for {format_duration(rule.for_)} ({why})"
        return attrs.evolve(outcome, reason=f"{outcome.reason}; {muted}")

    # -- mute management ----------------------------------------------------------

    def mute(
        self,
        sender: str,
        scene: str | None,
        duration: float | str | timedelta | None,
        reason: str | None,
    ) -> Flow:
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

    def unmute(self, sender: str, scene: str | None) -> Flow:
        check_call_string(sender, "sender")
        check_call_string(scene, "scene")
        return (yield Unmute(sender, scene, self.clock()))

    def muted(self, scene: str | None) -> Flow:
        check_call_string(scene, "scene")
        mutes: list[Mute] = yield ListMutes(scene, self.clock())
        return sorted(mutes, key=lambda m: (m.sender, m.scene or ""))

    # -- the IO, once per driver --------------------------------------------------

    def run_sync(self, moderator: Any, flow: Flow) -> Any:
        try:
            request = next(flow)
            while True:
                request = flow.send(self._serve_sync(moderator, request))
        except StopIteration as done:
            return done.value

    def _serve_sync(self, moderator: Any, request: Request) -> Any:
        if isinstance(request, VendorCheck):
            c = request.context
            return moderator.check_many(
                request.contents,
                scene=c.scene,
                sender=c.sender,
                receiver=c.receiver,
                return_exceptions=True,
            )
        if isinstance(request, ContextCheck):
            try:
                return moderator._check_with((request.provider,), request.text, request.context)
            except ModerationError as exc:
                log.warning("context check with %s failed: %s", request.provider, exc)
                return None
        shared = self._shared(moderator)
        if shared is None:
            return self.memory.apply(request)
        return shared.run(
            lambda: drive_redis_sync(shared.client, self.redis.plan(request)),
            lambda: self.memory.apply(request),
        )

    def _shared(self, moderator: Any) -> SharedRedis | None:
        """The moderator's Redis (with ``redis_url``): state lives there while it
        answers, and in ``self.memory`` while it does not."""
        if self.redis_url is None:
            return None
        shared: SharedRedis | None = getattr(moderator, "_redis", None)
        return shared

    async def run_async(self, moderator: Any, flow: Flow) -> Any:
        try:
            request = next(flow)
            while True:
                request = flow.send(await self._serve_async(moderator, request))
        except StopIteration as done:
            return done.value

    async def _serve_async(self, moderator: Any, request: Request) -> Any:
        if isinstance(request, VendorCheck):
            c = request.context
            return await moderator.check_many(
                request.contents,
                scene=c.scene,
                sender=c.sender,
                receiver=c.receiver,
                return_exceptions=True,
            )
        if isinstance(request, ContextCheck):
            try:
                return await moderator._check_with(
                    (request.provider,), request.text, request.context
                )
            except ModerationError as exc:
                log.warning("context check with %s failed: %s", request.provider, exc)
                return None
        shared = self._shared(moderator)
        if shared is None:
            return self.memory.apply(request)
        return await shared.run_async(
            lambda: drive_redis_async(shared.client, self.redis.plan(request)),
            lambda: self.memory.apply(request),
        )


def _contents(message: Content | str | Iterable[Content | str]) -> list[Content]:
    if isinstance(message, Content | str):
        return [Content.coerce(message)]
    if isinstance(message, bytes | Mapping):
        raise InvalidContent(
            f"expected a str, a Content or several, got {type(message).__name__} "
            "(Content.from_custom reads custom messages)"
        )
    items = list(message)
    if not items:
        raise InvalidContent("nothing to evaluate: the message has no contents")
    contents = []
    for index, item in enumerate(items):
        try:
            contents.append(Content.coerce(item))
        except InvalidContent as exc:
            raise InvalidContent(f"item {index}: {exc}") from None
    return contents


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


def _apply_rules(content: Content, verdict: Verdict, rules: SceneRules, where: str) -> Outcome:
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


def _muted_reason(mute: Mute) -> str:
    scope = f" in scene {mute.scene}" if mute.scene is not None else " in every scene"
    until = f" until {mute.until.isoformat()}" if mute.until is not None else " until unmuted"
    return f"sender {mute.sender} is muted{scope}{until} ({mute.reason}); no provider was asked"
