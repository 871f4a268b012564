"""Media results that arrive later, in ``moderation serve`` (docs/store.md, "Media
results and the webhook"): the vendors' callbacks recorded in the store, and the app
told by the ``check_completed`` plugin hook and the signed webhook of ``[serve.notify]``.

    /v1/hooks/<platform> -> HookReply.event -> MediaResults.record -> store.complete
                                                  -> check_completed hook, outbox woken
    lifespan: MediaResults.run  -- every poll: adopt orphans whose check arrived late,
                                   deliver the outbox to [serve.notify] url

Without a ``[store]`` nothing here runs (the hooks acknowledge results as before).
Every worker runs the loop; the outbox's row locks make one of them send each event.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import attrs
import sqlalchemy as sa

from moderation_core._config import Config, check_http_url, make_config_converter, structure_config
from moderation_core._model import Secret, WebhookEvent

from ._hooks_runner import HookUnavailable

if TYPE_CHECKING:
    from moderation_core.store._outbox import OutboxDelivery
    from moderation_core.store._results import Completion
    from moderation_core.store._store import Store

    from ._state import AppState

__all__ = [
    "ADOPT_WINDOW",
    "MediaResults",
    "NotifySettings",
    "media_results",
    "notify_settings",
    "outbox_written",
]

log = logging.getLogger("moderation_core.service.notify")

# An orphaned result is matched to a late check for this long (the journal may hold the
# check while the database is away), and looked for this often.
ADOPT_WINDOW = 24 * 3600.0
# A result first waits this long for this worker's own unwritten records to reach the
# store (its check may be among them).
_FLUSH_WAIT = 2.0


def _check_url(_inst: object, _attr: object, value: str) -> None:
    check_http_url("url", value)


def _check_secret(_inst: object, _attr: object, value: Secret) -> None:
    if not value.get():
        raise ValueError("secret must not be empty: the receiver verifies each event with it")


@attrs.frozen(kw_only=True)
class NotifySettings:
    """``[serve.notify]``: where the signed events go. ``timeout`` (seconds) bounds one
    POST; ``poll_interval`` (seconds) is how often each worker looks for due events
    and late checks (an event enqueued by this worker is sent at once)."""

    url: str = attrs.field(validator=_check_url)
    secret: Secret = attrs.field(repr=False, validator=_check_secret)
    timeout: float = attrs.field(default=10.0, validator=attrs.validators.gt(0.0))
    poll_interval: float = attrs.field(default=1.0, validator=attrs.validators.gt(0.0))


def notify_settings(config: Config) -> NotifySettings | None:
    """The checked ``[serve.notify]`` table, or None without one (ConfigError naming
    each problem)."""
    table = config.serve.notify
    if not table:
        return None
    where = config.where("serve", "notify")
    return structure_config(make_config_converter(), NotifySettings, table, where)


class MediaResults:
    """Records the vendors' results for one app in its store and runs its delivery
    loop. Built by ``media_results``."""

    def __init__(self, state: AppState, notify: NotifySettings | None) -> None:
        self._state = state
        self._notify = notify
        self._delivery: OutboxDelivery | None = None
        self._stop = asyncio.Event()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.passes = 0  # the loop's passes done (tests wait for the first)
        by_type: dict[str, list[str]] = {}
        for provider in state.moderator.providers:
            by_type.setdefault(provider.provider_type, []).append(provider.name)
        self._names = by_type

    def __repr__(self) -> str:
        return f"<MediaResults notify={'on' if self._notify else 'off'}>"

    @property
    def store(self) -> Store | None:
        return self._state.store

    # -- a callback ----------------------------------------------------------------------

    async def record(self, event: WebhookEvent) -> str:
        """The hooks' result sink: complete the check in the store; the answer's kind
        ("ack", "duplicate", "orphaned"), or HookUnavailable when the store is away."""
        from moderation_core.store._results import complete  # noqa: PLC0415 - store extra

        store = self.store
        if store is None:  # closed
            raise HookUnavailable("the result could not be recorded: the store is closed")
        # This worker's own check may still be queued for the store: let it land first.
        await asyncio.to_thread(store.flush, _FLUSH_WAIT)
        # The result's provider type names the providers its check may have come from;
        # an unconfigured type matches on the request id alone.
        names = self._names.get(event.provider_type)
        try:
            completion = await asyncio.to_thread(
                complete, store.engine, event, clock=store.clock, providers=names
            )
        except sa.exc.SQLAlchemyError as exc:
            log.warning(
                "media result from %s not recorded: the store did not answer (%s)",
                event.provider_type,
                type(exc).__name__,
            )
            raise HookUnavailable(
                f"the result could not be recorded: the store did not answer "
                f"({type(exc).__name__}); send it again"
            ) from None
        self._announce([completion])
        if completion.outcome == "duplicate":
            return "duplicate"
        if completion.outcome == "orphaned":
            log.info(
                "media result from %s matches no check (yet): kept as an orphan",
                event.provider_type,
            )
            return "orphaned"
        return "ack"

    def _announce(self, completions: list[Completion]) -> None:
        hook = self._state.plugin_manager.hook.check_completed
        woke = False
        for completion in completions:
            for done in completion.checks:
                woke = True
                try:
                    hook(check_id=done.check_id, verdict=done.verdict, event=completion.event)
                except Exception as exc:  # a plugin's bug must not undo a recorded result
                    log.error("check_completed hook raised %s", type(exc).__name__)
        if woke:
            self.wake()

    def wake(self) -> None:
        """Run the loop's pass now rather than at the next poll: an event was just
        enqueued (a check completed, a review decided). Call on the event loop."""
        if self._wake is not None:
            self._wake.set()

    # -- the loop ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the loop (the app's lifespan, at startup); nothing without a store."""
        store = self.store
        if store is None:
            return
        if self._notify is not None:
            from moderation_core.store._outbox import OutboxDelivery  # noqa: PLC0415

            self._delivery = OutboxDelivery(
                store.engine,
                url=self._notify.url,
                secret=self._notify.secret,
                clock=store.clock,
                timeout=self._notify.timeout,
            )
        self._wake = asyncio.Event()
        self._stop.clear()
        self._task = asyncio.create_task(self._run(store), name="moderation-media-results")

    async def stop(self) -> None:
        """Stop the loop (at shutdown); an event being sent is finished first."""
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self._delivery is not None:
            self._delivery.close()
            self._delivery = None

    async def _run(self, store: Store) -> None:
        from moderation_core.store._results import adopt_orphans  # noqa: PLC0415

        assert self._wake is not None  # noqa: S101 - set by start
        poll = self._notify.poll_interval if self._notify is not None else 1.0
        while not self._stop.is_set():
            self._wake.clear()
            try:
                since = store.clock() - ADOPT_WINDOW
                adopted = await asyncio.to_thread(
                    adopt_orphans,
                    store.engine,
                    clock=store.clock,
                    since=since,
                    providers=self._names,  # an orphan completes its own vendor's check
                )
                self._announce(adopted)
                if self._delivery is not None:
                    await asyncio.to_thread(self._delivery.deliver_due)
            except sa.exc.SQLAlchemyError as exc:
                log.warning("media results: a pass failed (%s); retrying", type(exc).__name__)
            except Exception as exc:  # the loop outlives one bad pass
                log.error("media results: a pass failed with %s", type(exc).__name__)
            self.passes += 1
            await _first(self._stop, self._wake, timeout=poll)


async def _first(*events: asyncio.Event, timeout: float) -> None:
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def media_results(state: AppState) -> MediaResults | None:
    """The app's MediaResults, its start and stop added to the lifespan (``on_start``,
    ``before_close``); None without a store (results are acknowledged, not kept).
    ``[serve.notify]`` is checked here either way: a bad table is a ConfigError before
    anything listens."""
    notify = notify_settings(state.config)
    if state.store is None:
        if notify is not None:
            log.warning("[serve.notify] is set but there is no [store]: no event will be sent")
        return None
    results = MediaResults(state, notify)
    state.on_start.append(results.start)
    state.before_close.append(results.stop)
    state.outbox_wakers.append(results.wake)
    return results


def outbox_written(state: AppState) -> None:
    """Tell the delivery loop an event is waiting in the outbox (after a review was
    decided), so ``review.decided`` goes out now, not at the next poll."""
    for wake in state.outbox_wakers:
        wake()
