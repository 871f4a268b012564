"""IM pre-send hooks without the web framework: the types a platform adapter speaks and
the runner that answers within a budget (SERVICE.md, "IM pre-send hooks").

What is platform-specific - checking who sent the callback, reading its message into
contents, wording the answer - lives with the platform's package, which registers a
``PreSendHook`` class through the ``register_presend_hooks`` plugin hook; the core
names no platform. This module holds what every platform shares: the budget,
``on_timeout``, ``review``, the replay check and the late results.

    request -> hook.read() -> HookReply (answered at once: ack, unknown command)
                           -> HookForbidden (403: app id, signature, window, replay)
                           -> HookMessage -> evaluate under budget_ms -> HookDecision
                                          -> hook.answer() -> HookReply
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, ClassVar, Literal, Protocol

import attrs
import pluggy

from moderation_core._async import AsyncModerator
from moderation_core._errors import ConfigError, InvalidContent, ModerationError
from moderation_core._model import Action, Content, ContentType, Outcome, WebhookEvent
from moderation_core._plugins import hookspec
from moderation_core._replay import MemoryReplayCache, ReplayCache

__all__ = [
    "Cause",
    "Delivery",
    "HookDecision",
    "HookEnvironment",
    "HookForbidden",
    "HookMessage",
    "HookObserver",
    "HookReply",
    "HookRequest",
    "HookRunner",
    "HookUnavailable",
    "OnTimeout",
    "PreSendHook",
    "PreSendHookSpecs",
    "PreSendRegistry",
    "ResultSink",
    "ReviewAnswer",
    "check_budget",
    "presend_registry",
]

log = logging.getLogger("moderation_core.service.hooks")

OnTimeout = Literal["allow", "block"]
ReviewAnswer = Literal["allow", "block", "discard"]
# What the platform is told to do with the message.
Delivery = Literal["deliver", "reject", "discard"]
# Why: the policy decided, the budget ran out, every provider failed, the message
# cannot be checked (invalid content), or there was nothing to check.
Cause = Literal["policy", "timeout", "failed", "invalid", "empty"]

# At shutdown, late evaluations get this long to finish before they are cancelled.
_SHUTDOWN_GRACE = 5.0


class HookForbidden(ModerationError):
    """The callback failed a check (app id, signature, time window, replay): answered
    HTTP 403 and never acted on. The message names the check, never a secret."""


class HookUnavailable(ModerationError):
    """A vendor's result could not be recorded (the store did not answer): answered
    HTTP 503, so a platform that retries sends it again; nothing was acted on."""


# Records a vendor's result (``HookReply.event``) durably and names the answer's kind
# for metrics: "ack" (recorded), "duplicate" (received before) or "orphaned" (no known
# check). Raises HookUnavailable when it cannot record it.
ResultSink = Callable[[WebhookEvent], Awaitable[str]]


@attrs.frozen(kw_only=True)
class HookRequest:
    """One callback as it arrived: the query, the raw body and the Unix time it
    arrived (signature windows are checked against it)."""

    query: Mapping[str, str]
    body: bytes
    received_at: float


@attrs.frozen(kw_only=True)
class HookReply:
    """The JSON the platform gets with HTTP 200; ``kind`` names it for metrics
    (deliver, rewrite, reject, discard, ack, ignored, duplicate, unreadable).
    ``replay_key``, when set, is remembered: the same key again is a duplicate,
    answered ``duplicate_reply``, or 403 when that is None. ``event``, a vendor's
    moderation result, is recorded by the runner's ``results`` sink when the service
    has a store (which then dedupes durably, instead of ``replay_key``)."""

    body: Mapping[str, Any]
    kind: str = "ack"
    replay_key: str | None = None
    duplicate_reply: Mapping[str, Any] | None = None
    event: WebhookEvent | None = attrs.field(default=None, repr=False)


@attrs.frozen(kw_only=True)
class HookMessage:
    """A message to evaluate: its contents (each ``id`` names the part of the
    platform's message it came from, so ``answer`` can rewrite exactly those), the
    context for ``evaluate``, and the parsed callback for the adapter's own use. A
    ``replay_key`` seen before is refused (403): evaluating a replay would count a
    repeat offence twice."""

    contents: tuple[Content, ...]
    scene: str | None
    sender: str | None
    receiver: str | None
    source: Mapping[str, Any] = attrs.field(repr=False)
    replay_key: str | None = None


@attrs.frozen(kw_only=True)
class HookDecision:
    """What the hook tells the platform. ``masks`` (content id -> masked text) is set
    only for a ``deliver`` that rewrites; ``reason`` is for the platform's error text."""

    delivery: Delivery
    reason: str
    cause: Cause = "policy"
    masks: Mapping[str | int, str] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class HookEnvironment:
    """What an adapter may know of the service: ``checks(type)`` is True when a
    configured provider checks that content type (images are sent only then)."""

    checks: Callable[[ContentType], bool]


class PreSendHook(Protocol):
    """A platform's adapter. ``name`` is its ``[serve.hooks.NAME]`` table and its
    ``/v1/hooks/NAME`` path; ``settings_class`` is the attrs class that table is
    structured into, with ``budget_ms``, ``on_timeout`` and ``review`` among its
    fields; ``replay_ttl`` is how long a replay key is remembered (twice the signature
    window, which is symmetric). ``read`` raises ``HookForbidden`` for a request that
    fails a check; neither method raises anything else, whatever the input."""

    name: ClassVar[str]
    settings_class: ClassVar[type[Any]]
    replay_ttl: ClassVar[float]

    def __init__(self, settings: Any, environment: HookEnvironment) -> None: ...

    @property
    def settings(self) -> Any: ...

    def read(self, request: HookRequest) -> HookReply | HookMessage: ...

    def answer(self, message: HookMessage, decision: HookDecision) -> HookReply: ...


class PreSendRegistry:
    """Platform adapters by name; handed to ``register_presend_hooks``."""

    def __init__(self) -> None:
        self._by_name: dict[str, type[PreSendHook]] = {}

    def add(self, hook_class: type[PreSendHook]) -> None:
        name = hook_class.name
        existing = self._by_name.get(name)
        if existing is not None and existing is not hook_class:
            raise ConfigError(
                f"pre-send hook {name!r} is registered twice: by {existing.__module__} "
                f"and by {hook_class.__module__}"
            )
        self._by_name[name] = hook_class

    def get(self, name: str, where: str) -> type[PreSendHook]:
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(sorted(self._by_name)) or "none"
            raise ConfigError(
                f"{where}: no pre-send hook named {name!r}; installed: {known}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._by_name))


class PreSendHookSpecs:
    """The plugin hook the service adds to the plugin manager. Platform packages
    implement it with ``@hookimpl(optionalhook=True)``: without the service the hook
    has no spec, and an optional implementation is not reported as unknown."""

    @hookspec
    def register_presend_hooks(self, registry: PreSendRegistry) -> None:
        """Add pre-send hook adapters: ``registry.add(MyPlatformHook)``."""


def presend_registry(pm: pluggy.PluginManager) -> PreSendRegistry:
    """Every installed platform adapter (the hook spec is added once per manager)."""
    caller = getattr(pm.hook, "register_presend_hooks", None)
    if caller is None or not caller.has_spec():
        pm.add_hookspecs(PreSendHookSpecs)
    registry = PreSendRegistry()
    pm.hook.register_presend_hooks(registry=registry)
    return registry


def check_budget(_inst: object, attribute: attrs.Attribute[int], value: int) -> None:
    """A validator for ``budget_ms``: a positive whole number of milliseconds."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("must be a positive number of milliseconds")


# -- observing -------------------------------------------------------------------------


class HookObserver(Protocol):
    """Where answers and late results are counted (the service's metrics)."""

    def answered(self, hook: str, kind: str, cause: str, seconds: float) -> None: ...

    def late(self, hook: str, outcome: str, seconds: float) -> None: ...


class _Unobserved:
    def answered(self, hook: str, kind: str, cause: str, seconds: float) -> None:
        pass

    def late(self, hook: str, outcome: str, seconds: float) -> None:
        pass


# -- deciding --------------------------------------------------------------------------


def _on_timeout(setting: OnTimeout, cause: Cause, why: str) -> HookDecision:
    delivery: Delivery = "deliver" if setting == "allow" else "reject"
    return HookDecision(delivery=delivery, reason=f"{why}; on_timeout = {setting}", cause=cause)


_REVIEW_DELIVERY: dict[ReviewAnswer, Delivery] = {
    "allow": "deliver",
    "block": "reject",
    "discard": "discard",
}


def _review(setting: ReviewAnswer, outcome: Outcome) -> HookDecision:
    delivery = _REVIEW_DELIVERY[setting]
    return HookDecision(delivery=delivery, reason=f"{outcome.reason}; review = {setting}")


class HookRunner:
    """One configured hook: its adapter, the moderator and the budget. ``handle``
    raises nothing but ``HookForbidden`` (and ``HookUnavailable`` from ``results``),
    and answers within ``budget_ms`` of its start plus the adapter's own (bounded,
    CPU-only) reading and wording."""

    def __init__(
        self,
        hook: PreSendHook,
        moderator: AsyncModerator,
        replay: ReplayCache,
        *,
        observer: HookObserver | None = None,
        clock: Callable[[], float] = time.time,
        results: ResultSink | None = None,
    ) -> None:
        self.hook = hook
        self.results = results
        self.name = hook.name
        self.moderator = moderator
        self.replay = replay
        self.observer: HookObserver = observer or _Unobserved()
        self.clock = clock
        self.budget = hook.settings.budget_ms / 1000
        self._late: set[asyncio.Task[Any]] = set()
        # A shared (Redis) replay cache does network IO: kept off the event loop.
        self._replay_in_thread = not isinstance(replay, MemoryReplayCache)

    @property
    def pending_late(self) -> int:
        """Evaluations still running after their budget ran out."""
        return len(self._late)

    def request(self, query: Mapping[str, str], body: bytes) -> HookRequest:
        """A callback arriving now (by this runner's clock)."""
        return HookRequest(query=query, body=body, received_at=self.clock())

    async def handle(self, request: HookRequest) -> HookReply:
        loop = asyncio.get_running_loop()
        started = loop.time()
        read = self.hook.read(request)
        if isinstance(read, HookReply):
            if read.event is not None and self.results is not None:
                # Recorded durably first: a replay cache that saw a result the store
                # then failed to take would drop the vendor's retry of it.
                kind = await self.results(read.event)
                if kind == "duplicate" and read.duplicate_reply is not None:
                    read = attrs.evolve(read, body=read.duplicate_reply)
                read = attrs.evolve(read, kind=kind)
                self.observer.answered(self.name, read.kind, "none", loop.time() - started)
                return read
            if read.replay_key is not None and not await self._first_seen(read.replay_key):
                if read.duplicate_reply is None:
                    raise HookForbidden("replay check failed: this callback was already received")
                read = HookReply(body=read.duplicate_reply, kind="duplicate")
            self.observer.answered(self.name, read.kind, "none", loop.time() - started)
            return read
        if read.replay_key is not None and not await self._first_seen(read.replay_key):
            raise HookForbidden("replay check failed: this callback was already answered")
        decision = await self._decide(read, started + self.budget)
        reply = self.hook.answer(read, decision)
        self.observer.answered(self.name, reply.kind, decision.cause, loop.time() - started)
        return reply

    async def _first_seen(self, key: str) -> bool:
        if self._replay_in_thread:
            return await asyncio.to_thread(self.replay.first_seen, key)
        return self.replay.first_seen(key)

    async def _decide(self, message: HookMessage, deadline: float) -> HookDecision:
        if not message.contents:
            return HookDecision(delivery="deliver", reason="nothing to check", cause="empty")
        outcome = await self._evaluate(message.contents, message, deadline)
        if isinstance(outcome, HookDecision):
            return outcome
        if outcome.action is Action.ALLOW:
            return HookDecision(delivery="deliver", reason=outcome.reason)
        if outcome.action is Action.BLOCK:
            return HookDecision(delivery="reject", reason=outcome.reason)
        if outcome.action is Action.REVIEW:
            return _review(self.hook.settings.review, outcome)
        return await self._masks(outcome, message, deadline)

    async def _evaluate(
        self,
        contents: tuple[Content, ...],
        message: HookMessage,
        deadline: float,
        *,
        with_sender: bool = True,
    ) -> Outcome | HookDecision:
        """The outcome; or, when there is none in time or no provider answered, the
        ``on_timeout`` decision; or a reject when the message cannot be checked."""
        settings = self.hook.settings
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(
            self.moderator.evaluate(
                contents,
                scene=message.scene,
                sender=message.sender if with_sender else None,
                receiver=message.receiver,
            )
        )
        done, _ = await asyncio.wait({task}, timeout=max(deadline - loop.time(), 0.0))
        if not done:
            # Not cancelled: a vendor call cut off midway is billed all the same, and
            # its outcome (a mute counted, a late result counted) is worth keeping.
            self._keep_late(task, deadline)
            return _on_timeout(settings.on_timeout, "timeout", "the budget ran out")
        try:
            return task.result()
        except InvalidContent as exc:
            why = f"the message cannot be checked: {exc}"
            return HookDecision(delivery="reject", reason=why, cause="invalid")
        except ModerationError as exc:
            why = f"no provider answered ({type(exc).__name__})"
            return _on_timeout(settings.on_timeout, "failed", why)
        except Exception as exc:  # the platform gets an answer whatever went wrong
            log.error("hook %s: evaluate failed with %s", self.name, type(exc).__name__)
            return _on_timeout(settings.on_timeout, "failed", "the policy failed")

    async def _masks(self, outcome: Outcome, message: HookMessage, deadline: float) -> HookDecision:
        """Which texts to rewrite, and how. One text: the outcome's own. Several: the
        outcome names only the harshest, so each text is judged alone - without the
        sender, whose trust, mutes and context the whole message already settled and
        must not be counted twice."""
        texts = [c for c in message.contents if c.type is ContentType.TEXT]
        if len(texts) == 1 and outcome.text is not None:
            return HookDecision(
                delivery="deliver", reason=outcome.reason, masks={_id(texts[0]): outcome.text}
            )
        judged = await asyncio.gather(
            *(self._evaluate((text,), message, deadline, with_sender=False) for text in texts)
        )
        masks: dict[str | int, str] = {}
        for text, result in zip(texts, judged, strict=True):
            if isinstance(result, HookDecision):
                return result
            if result.action is Action.BLOCK:
                return HookDecision(delivery="reject", reason=result.reason)
            if result.action is Action.REVIEW:
                return _review(self.hook.settings.review, result)
            if result.action is Action.MASK and result.text is not None:
                masks[_id(text)] = result.text
        if not masks:  # masked as a whole but not part by part: never deliver it unmasked
            return HookDecision(delivery="reject", reason=f"{outcome.reason}; cannot rewrite")
        return HookDecision(delivery="deliver", reason=outcome.reason, masks=masks)

    def _keep_late(self, task: asyncio.Task[Any], deadline: float) -> None:
        self._late.add(task)
        loop = asyncio.get_running_loop()

        def record(done: asyncio.Task[Any]) -> None:
            self._late.discard(done)
            after = max(loop.time() - deadline, 0.0)
            if done.cancelled():
                outcome = "cancelled"
            elif (error := done.exception()) is not None:
                outcome = type(error).__name__
            else:
                outcome = done.result().action.value
            # The action only: never the message text.
            log.info("hook %s: outcome %s came %.3f s after the budget", self.name, outcome, after)
            self.observer.late(self.name, outcome, after)

        task.add_done_callback(record)

    async def aclose(self) -> None:
        """Let late evaluations finish (for a while), then cancel what is left."""
        if not self._late:
            return
        _, pending = await asyncio.wait(set(self._late), timeout=_SHUTDOWN_GRACE)
        for task in pending:
            task.cancel()


def _id(content: Content) -> str | int:
    return content.id if content.id is not None else 0
